"""Plots and widgets of chapter 18 (streaming and embodied memory). Plain functions -> Figures."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from memlab.streaming.framebank import POLICIES, FrameBank
from memlab.viz import new_figure

__all__ = ["plot_karma", "plot_policies", "render_bank", "render_tracker"]

COLORS = {"fifo": "tab:gray", "uniform": "tab:olive", "malmm": "tab:blue",
          "flash_merge": "tab:orange", "kmeans": "tab:green", "malmm_unweighted": "tab:cyan"}


@lru_cache(maxsize=8)
def _snapshots(budget: int, seed: int, n_frames: int, step: int):
    from memlab.tasks.streams import scene_stream

    st = scene_stream(n_frames, 8, 32, max(2, n_frames // 60), max(1, n_frames // 100), seed=seed)
    snaps = {}
    for p in POLICIES:
        bank, out = FrameBank(budget, p, seed=seed), []
        for t, f in enumerate(st.frames):
            bank.write(f)
            if (t + 1) % step == 0:
                b = FrameBank(budget, p, seed=seed)
                b.feats, b.sizes, b.start, b.end = (x.copy() for x in bank._state())
                b.flush()
                out.append((b.start[:, 0].copy(), b.end[:, 0].copy(), b.sizes[:, 0].copy()))
        snaps[p] = out
    return st, snaps


def render_bank(t: int = 300, budget: int = 16, seed: int = 0, n_frames: int = 600,
                step: int = 20):
    """Widget: the stream up to frame ``t`` (scenes as coloured bands, events as ticks) and,
    for every policy, the entries its bank holds then: each bar spans the frames it covers
    (token position 0), its thickness grows with the number of frames merged into it."""
    if not 0 <= t < n_frames:
        raise ValueError(f"t must be in [0, {n_frames - 1}], got {t}")
    if budget < 2:
        raise ValueError(f"budget must be >= 2, got {budget}")
    st, snaps = _snapshots(budget, seed, n_frames, step)
    k = max(0, min(len(snaps["fifo"]) - 1, (t + 1) // step - 1))
    now = (k + 1) * step
    fig, ax = new_figure(width=9, height=3.6)
    cmap = __import__("matplotlib").colormaps["tab20"]
    for s, a in enumerate(st.starts):
        b = st.starts[s + 1] if s + 1 < len(st.starts) else n_frames
        if a < now:
            ax.axvspan(a, min(b, now), ymin=0.92, ymax=1.0, color=cmap(s % 20), lw=0)
    for e in st.event_frames[st.event_frames < now]:
        ax.axvline(e, color="red", lw=0.6, alpha=0.5)
    for row, p in enumerate(POLICIES):
        a, b, sz = snaps[p][k]
        for lo, hi, n in zip(a, b, sz):
            ax.plot([lo, hi + 0.8], [row, row], lw=2 + 3 * np.log10(n), solid_capstyle="butt",
                    color=cmap(int(st.scene_of[lo]) % 20))
        ax.text(now + 5, row, f"{len(a)} entries", va="center", fontsize=8)
    ax.set_yticks(range(len(POLICIES)), POLICIES)
    ax.set_ylim(-0.7, len(POLICIES) + 0.1)
    ax.set_xlim(0, n_frames * 1.12)
    ax.set_xlabel("frame (top band: scene; red lines: events)")
    ax.set_title(f"what each bank holds after {now} frames (budget {budget}); thick = merged")
    return fig


def plot_policies(metrics: dict):
    """Bars per policy: early-scene recall, early reconstruction error, event recall."""
    names = list(metrics)
    fig, axes = new_figure(ncols=3, width=3.6, height=3.0)
    for ax, key, label in zip(axes[0], ("early_recall", "early_err", "event_recall"),
                              ("early-scene recall", "early-scene error (lower = better)",
                               "event recall")):
        ax.bar(range(len(names)), [metrics[n][key] for n in names],
               color=[COLORS.get(n, "k") for n in names])
        ax.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=8)
        ax.set_title(label)
        ax.set_ylabel(key)
        if "recall" in key:
            ax.set_ylim(0, 1.05)
    return fig


def render_tracker(video: int = 0, P: int = 3, hard: bool = True, n_frames: int = 80):
    """Widget: one tracking video. Black: the target (dotted while occluded); grey: the
    look-alike; red: greedy's track; dots: the P pathways' positions every frame; blue: the
    tree's answer (the pathway with the best cumulative score at the end)."""
    from memlab.streaming import tree as TR
    from memlab.tasks.streams import tracking_video

    if P < 1:
        raise ValueError(f"P must be >= 1, got {P}")
    vid = tracking_video(n_frames, distractor=hard, occlusion=hard, seed=video)
    g, _ = TR.greedy_track(vid, seed=video)
    tr, tree = TR.tree_track(vid, P, seed=video)
    ts = np.arange(n_frames)
    fig, ax = new_figure(width=8, height=3.6)
    occ = ~vid.visible
    if occ.any():
        ax.axvspan(ts[occ].min(), ts[occ].max(), color="0.9", label="occlusion")
    ax.plot(ts, vid.target, "k-", lw=1.5, label="target")
    if hard:
        ax.plot(ts, vid.distractor, "--", color="0.5", label="look-alike")
    for t, row in enumerate(tree.trace, start=1):
        ax.plot([t] * len(row), row, ".", color="tab:blue", alpha=0.25, ms=4)
    ax.plot(ts, g, "-", color="tab:red", lw=1, label=f"greedy (hit {TR.hit_rate(g, vid):.2f})")
    ax.plot(ts, tr, "-", color="tab:blue", lw=1.5,
            label=f"P = {P} best pathway (hit {TR.hit_rate(tr, vid):.2f})")
    ys = np.concatenate([vid.target, vid.distractor if hard else vid.target])
    ax.set_ylim(np.nanmin(ys) - 5, np.nanmax(ys) + 5)
    ax.set_xlabel("frame")
    ax.set_ylabel("position")
    ax.set_title("memory pathways over time (dots: every pathway's position)")
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8)
    return fig


def plot_karma(table: dict):
    """Success rate and mean steps of each agent on the composite tasks."""
    names = list(table)
    fig, axes = new_figure(ncols=2, width=4.2, height=3.0)
    for ax, key, label in zip(axes[0], ("success", "steps"), ("success rate", "mean steps")):
        ax.bar(range(len(names)), [table[n][key] for n in names],
               color=["0.6", "tab:olive", "tab:blue", "tab:green"][:len(names)])
        ax.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=8)
        ax.set_title(label)
        ax.set_ylabel(key)
    return fig
