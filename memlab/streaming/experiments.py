"""Chapter 18's measurements, shared by the notebook, the claim tests and the mutant checks."""

from __future__ import annotations

import numpy as np

from memlab.report import seed_spread  # re-exported: one helper for every chapter
from memlab.streaming.framebank import POLICIES, FrameBank
from memlab.tasks.streams import SceneStream, scene_stream

__all__ = ["bank_metrics", "compare_policies", "seed_spread"]

SCENE_TAU = 0.6      # a scene counts as recalled when the read's mean token cosine >= this
N_CONTROLS = 20      # never-shown random directions that calibrate the event detector


def bank_metrics(bank, stream: SceneStream, early_frac: float = 0.5, seed: int = 0) -> dict:
    """What a (flushed) bank still knows about the stream, read position by position.

    scene_recall: fraction of scenes whose read (mean over positions of the best token cosine)
    is >= SCENE_TAU ("was it shown?"); early_recall: the same over the scenes that started in
    the first ``early_frac`` of the stream; when_acc: fraction of recalled scenes whose read
    span overlaps the scene's frames ("roughly when?"); early_err: mean over early scenes and
    positions of min_entry ||entry[n] - scene[n]|| / ||scene[n]||; event_recall: fraction of
    events whose dot-product read beats every one of N_CONTROLS never-shown directions
    ("did it occur?", a detector with a false-positive rate of about 1 / (N_CONTROLS + 1)).
    """
    T = len(stream.scene_of)
    ends = np.append(stream.starts[1:], T) - 1
    rec, when, errs, early = [], [], [], []
    for s, tmpl in enumerate(stream.scenes):
        score, _, (a, b) = bank.read(tmpl)
        ok = score >= SCENE_TAU
        rec.append(ok)
        if ok:
            when.append(a <= ends[s] and b >= stream.starts[s])
        if stream.starts[s] < early_frac * T:
            early.append(ok)
            d = np.linalg.norm(bank.feats - tmpl[None], axis=-1).min(0)       # [N]
            errs.append(float((d / np.linalg.norm(tmpl, axis=-1)).mean()))
    rng = np.random.default_rng(10_000 + seed)
    ctrl = rng.standard_normal((N_CONTROLS,) + stream.events.shape[1:])
    ctrl /= np.linalg.norm(ctrl, axis=-1, keepdims=True)
    thr = max(bank.read(c, "dot")[0] for c in ctrl)
    ev = [bank.read(e, "dot")[0] > thr for e in stream.events]
    return {"scene_recall": float(np.mean(rec)), "early_recall": float(np.mean(early)),
            "last_scene_recall": float(rec[-1]),
            "when_acc": float(np.mean(when)) if when else 0.0, "early_err": float(np.mean(errs)),
            "event_recall": float(np.mean(ev)) if ev else 0.0, "state_bytes": bank.state_size(),
            "entries": len(bank)}


def compare_policies(n_frames=2000, n_tokens=16, d=64, n_scenes=20, n_events=10, budget=64,
                     policies=POLICIES + ("malmm_unweighted",), seed=0, noise=0.1,
                     event_amp=0.6) -> dict:
    """Every policy on one stream at one budget: ``{policy: bank_metrics}`` (+ the banks)."""
    st = scene_stream(n_frames, n_tokens, d, n_scenes, n_events, noise, event_amp, seed)
    out, banks = {}, {}
    for p in policies:
        bank = (FrameBank(budget, "malmm", weighted=False, seed=seed) if p == "malmm_unweighted"
                else FrameBank(budget, p, seed=seed))
        bank.write_stream(st.frames).flush()
        out[p], banks[p] = bank_metrics(bank, st, seed=seed), bank
    return {"metrics": out, "banks": banks, "stream": st}




# ---------------------------------------------------------------- small, fast versions (checks)
AVERAGING = ("malmm", "flash_merge", "kmeans")
SMALL = {"n_frames": 600, "n_tokens": 8, "d": 64, "n_scenes": 10, "n_events": 8, "budget": 24}


def bank_claims(seed=0, small=False, **kw) -> dict:
    """The four frame-bank claim values from one :func:`compare_policies` run."""
    cfg = {**(SMALL if small else {}), **kw}
    run = compare_policies(seed=seed, **cfg)
    m = run["metrics"]
    return {"merge_early_recall": m["malmm"]["early_recall"],
            "fifo_early_recall": m["fifo"]["early_recall"],
            "fifo_last_scene_recall": m["fifo"]["last_scene_recall"],
            "weighted_merge_error_ratio": m["flash_merge"]["early_err"] / m["malmm"]["early_err"],
            "events_lost_by_averaging": float(np.mean([m[p]["event_recall"]
                                                       for p in AVERAGING])),
            "metrics": m, "stream": run["stream"]}


def under_budget_change(n_frames=20, budget=24, seed=0) -> float:
    """Largest |bank - frames| over every policy after writing fewer frames than the budget
    (plus one explicit flush): a bank within its budget is unchanged by compression."""
    rng = np.random.default_rng(seed)
    frames = rng.standard_normal((n_frames, 4, 8))
    worst = 0.0
    for p in POLICIES:
        for n in (n_frames, budget):
            b = FrameBank(budget, p, seed=seed).write_stream(frames[:n] if n <= n_frames else
                                                              rng.standard_normal((n, 4, 8)))
            ref = frames[:n] if n <= n_frames else None
            b.flush()
            if ref is None:
                continue
            if len(b) != n:
                return float("inf")
            worst = max(worst, float(np.abs(b.feats - ref).max()),
                        float(np.abs(b.sizes - 1).max()))
    return worst


def at_budget_change(budget=12, seed=0) -> float:
    """The same with exactly ``budget`` frames (the edge where off-by-one bugs live)."""
    rng = np.random.default_rng(seed)
    frames = rng.standard_normal((budget, 4, 8))
    worst = 0.0
    for p in POLICIES:
        b = FrameBank(budget, p, seed=seed).write_stream(frames).flush()
        if len(b) != budget:
            return float("inf")
        worst = max(worst, float(np.abs(b.feats - frames).max()))
    return worst


def consolidation_metrics(seed=0, short_len=8, long_budget=16, **kw) -> dict:
    """STM -> LTM on a small scene stream: early-scene recall (from LTM), whether the STM holds
    exactly the last ``short_len`` frames, and the read score of the very last frame."""
    from memlab.streaming.consolidation import ShortLongMemory

    cfg = {**SMALL, **kw}
    cfg.pop("budget")
    st = scene_stream(cfg["n_frames"], cfg["n_tokens"], cfg["d"], cfg["n_scenes"],
                      cfg["n_events"], seed=seed)
    mem = ShortLongMemory(short_len, long_budget, seed=seed).write_stream(st.frames)
    T = len(st.frames)
    early = [mem.read(st.scenes[s])[0] >= SCENE_TAU for s in range(len(st.scenes))
             if st.starts[s] < T / 2]
    exact = float(np.abs(mem.short_frames() - st.frames[-short_len:]).max())
    return {"early_recall": float(np.mean(early)), "stm_error": exact,
            "last_frame_read": mem.read(st.frames[-1])[0], "state_bytes": mem.state_size(),
            "memory": mem, "stream": st}


def tree_claims(n_videos: int = 100, P: int = 3, seed: int = 0, n_frames: int = 80) -> dict:
    """Greedy vs P pathways on hard videos (look-alike crossing + occlusion) and clean ones,
    and the largest difference between the P = 1 tree's track and greedy's."""
    from memlab.streaming import tree as TR
    from memlab.tasks.streams import tracking_video

    hard = TR.benchmark(n_videos, P, True, n_frames, seed)
    clean = TR.benchmark(n_videos, P, False, n_frames, seed)
    worst = 0.0
    for i in range(min(n_videos, 20)):
        vid = tracking_video(n_frames, seed=seed * 7919 + i)
        a, b = TR.greedy_track(vid, seed=i)[0], TR.tree_track(vid, 1, seed=i)[0]
        same = a.shape == b.shape and np.array_equal(a, b, equal_nan=True)
        worst = max(worst, 0.0 if same else float(np.nanmax(np.abs(a - b))) if a.shape == b.shape
                    else float("inf"))
    return {"tree_gain_hard": hard["gain"], "tree_gap_clean": abs(clean["gain"]),
            "tree_p1_equals_greedy": worst, "hard": hard, "clean": clean}


def karma_claims(n_tasks: int = 50, seeds=(0, 1, 2), capacity: int = 6, budget: int = 14,
                 p_move: float = 0.05) -> dict:
    """Composite-task success of the four agents; ratio = graph + objects (LFU) / no memory."""
    from memlab.streaming.karma import success_table

    tab = success_table(n_tasks, seeds, capacity=capacity, budget=budget, p_move=p_move)
    base = tab["no memory"]["success"]
    full = tab["graph + objects (LFU)"]["success"]
    return {"karma_success_ratio": full / base if base else float("inf"),
            "object_memory_gain": full - tab["scene graph"]["success"], "table": tab}
