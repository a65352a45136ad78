"""Chapter 09's experiments: RMT on BABILong-lite (curriculum, extrapolation, controls), AHN's
recall of evicted pairs (untrained, analytic), HMT's recall on a topic-switching stream.

Every function takes its sizes and a seed and returns plain numbers, so the notebook, the claim
tests and the mutant checks run the same code.
"""

from __future__ import annotations

import functools
import time

import numpy as np
import torch
import torch.nn.functional as F

from memlab.segment.ahn import ahn_mix
from memlab.segment.rmt import RMT
from memlab.tasks import babilong as BL
from memlab.train import TinyLM, accuracy, lr_at

__all__ = [
    "TASK",
    "ahn_capacity_curve",
    "ahn_recall",
    "ahn_stream",
    "cache_fraction",
    "eval_lengths",
    "hmt_topic_recall",
    "make_rmt_lm",
    "rmt_experiment",
    "rmt_of",
    "test_data",
    "topic_stream",
    "train_curriculum",
]

# BABILong-lite qa1 at CPU size: one actor moving 2-3 times among 6 places (chance 1/6). With
# 2 actors a 2-layer d = 32 RMT did not learn the binding within the budget (0.67 at 1-2
# segments after 600 steps); the `full` profile uses bAbI's 6 actors.
TASK = {"n_facts": (2, 3), "n_people": 1, "n_places": 6, "n_filler": 200}


def make_rmt_lm(vocab_size: int, d_model: int = 32, n_mem: int = 4, segment_size: int = 16,
                n_layers: int = 2, n_heads: int = 4, k2: int = -1) -> TinyLM:
    """TinyLM (embeddings, one block, head) whose mixer is an :class:`RMT` (its own backbone)."""
    return TinyLM(vocab_size, d_model, mixer=lambda d: RMT(
        d, n_mem=n_mem, segment_size=segment_size, n_layers=n_layers, n_heads=n_heads, k2=k2),
        n_layers=1, mlp_ratio=0)


def rmt_of(model: TinyLM) -> RMT:
    return model.blocks[0].mixer


def train_curriculum(model: TinyLM, stages=(1, 2), steps_per_stage: int = 200,
                     batch_size: int = 32, lr: float = 3e-3, vary_n_segments: bool = True,
                     n_train: int = 1000, task: dict | None = None, seed: int = 0,
                     progress: bool = False) -> dict:
    """RMT's curriculum: stage ``max_n`` trains on up to ``max_n`` segments, each stage with its
    own warm-up + cosine schedule, continuing from the previous stage (booydar's recipe restarts
    each stage from the previous best checkpoint). ``vary_n_segments``: each step draws its
    number of segments uniformly in ``1..max_n``. Loss: cross-entropy on the answer token.
    """
    if not stages or any(not isinstance(s, int) or s < 1 for s in stages):
        raise ValueError(f"stages must be positive ints, got {stages!r}")
    from tqdm.auto import tqdm

    task = {**TASK, **(task or {})}
    rmt = rmt_of(model)
    S = rmt.segment_size
    data = {n: _train_data(n_train, n, S, seed, tuple(sorted(task.items())))
            for n in range(1, max(stages) + 1)}
    # without memory tokens the segments are independent: only the last one reaches the answer
    crop = S if rmt.n_mem == 0 else None
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    dev = next(model.parameters()).device
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    losses, t0 = [], time.perf_counter()
    model.train()
    for max_n in stages:
        for step in tqdm(range(steps_per_stage), disable=not progress, desc=f"{max_n} seg",
                         leave=False):
            for g in opt.param_groups:
                g["lr"] = lr_at(step, steps_per_stage, lr, max(1, steps_per_stage // 10))
            n = int(rng.integers(1, max_n + 1)) if vary_n_segments else max_n
            idx = torch.from_numpy(rng.integers(0, n_train, batch_size))
            inputs = data[n].inputs[idx].to(dev)
            target = data[n].targets[idx, -1].to(dev)
            if crop:
                logits = model(inputs[:, -crop:])[:, -1]
            else:
                # with k2 >= 0 the gradient reaches only the last max(k2, 1) segments: run the
                # ones before without autograd (the same gradients, much less work)
                keep = n if rmt.k2 == -1 else min(n, max(rmt.k2, 1))
                states = None
                if keep < n:
                    with torch.no_grad():
                        _, states = model(inputs[:, :(n - keep) * S], return_states=True)
                logits = model(inputs[:, (n - keep) * S:], states)[:, -1]
            loss = F.cross_entropy(logits, target)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            losses.append(loss.item())
    model.eval()
    return {"losses": losses, "wall_s": time.perf_counter() - t0}


@functools.lru_cache(maxsize=16)
def _train_data(n_train, n, segment_size, seed, task_items):
    return BL.babilong_lite(n_train, n, segment_size, seed=seed * 1000 + n, **dict(task_items))


@functools.lru_cache(maxsize=32)
def test_data(n_test, n, segment_size, seed, task_items):
    """Test stories of ``n`` segments with every fact before the last segment (for n > 1)."""
    return BL.babilong_lite(n_test, n, segment_size, seed=10_000 + 97 * seed + n,
                            task_end_pct=(n - 1) / n if n > 1 else 1.0, **dict(task_items))


def eval_lengths(model: TinyLM, lengths, n_test: int = 200, task: dict | None = None,
                 seed: int = 0, reset_memory: bool = False) -> dict[int, float]:
    """Accuracy at each number of segments, every fact kept out of the last segment (for
    ``n > 1``), so that a model without memory is at chance (1 / n_places)."""
    task = {**TASK, **(task or {})}
    rmt = rmt_of(model)
    out = {}
    rmt.reset_memory = reset_memory
    try:
        for n in lengths:
            out[n] = accuracy(model, test_data(n_test, n, rmt.segment_size, seed,
                                               tuple(sorted(task.items()))))
    finally:
        rmt.reset_memory = False
    return out


def rmt_experiment(lengths=(2, 4, 8, 16), stages=(1, 2), steps_per_stage: int = 200,
                   d_model: int = 32, n_mem: int = 4, segment_size: int = 16, n_layers: int = 2,
                   batch_size: int = 32, lr: float = 3e-3, n_test: int = 200,
                   task: dict | None = None, controls: bool = True, seed: int = 0,
                   progress: bool = False, device=None) -> dict:
    """Train RMT (full BPTT) and, with ``controls``, segment-local attention (no memory tokens)
    and RMT with ``k2 = 0``; evaluate all at ``lengths``, and RMT with its memory reset."""
    task = {**TASK, **(task or {})}
    V = len(BL.make_vocab(task["n_people"], task["n_places"], task["n_filler"]))
    arms = {"rmt": {"n_mem": n_mem, "k2": -1}}
    if controls:
        arms.update({"segment_local": {"n_mem": 0, "k2": -1}, "k2_0": {"n_mem": n_mem, "k2": 0}})
    acc, wall, models = {}, {}, {}
    for name, kw in arms.items():
        torch.manual_seed(seed)
        model = make_rmt_lm(V, d_model, segment_size=segment_size, n_layers=n_layers, **kw)
        if device is not None:
            model.to(device)
        wall[name] = train_curriculum(model, stages, steps_per_stage, batch_size, lr,
                                      task=task, seed=seed, progress=progress)["wall_s"]
        acc[name] = eval_lengths(model, lengths, n_test, task, seed)
        models[name] = model
    if controls:
        acc["reset_every_segment"] = eval_lengths(models["rmt"], lengths, n_test, task, seed,
                                                  reset_memory=True)
    return {"accuracy": acc, "wall_s": wall, "models": models, "lengths": list(lengths),
            "trained": max(stages), "chance": 1.0 / task["n_places"]}


# ------------------------------------------------------------------------------ AHN (analytic)
def cache_fraction(T: int, window: int, d: int, sinks: int = 0) -> float:
    """(window + sinks) * 2d + d^2 numbers of window + AHN, over full attention's 2 d T."""
    return ((window + sinks) * 2 * d + d * d) / (2 * d * T)


def ahn_stream(n_pairs: int, d: int, T: int, rewrite: bool, g: torch.Generator):
    """MQAR-style stream of unit vectors: (key, value) tokens, blank tokens (zeros, as MQAR's
    zero fillers), then each key again as a query. With ``rewrite`` every key is first written
    with an old value, then with a new one (the answer). Returns q, k, v ``[1, T, 1, d]`` and
    the candidate values ``[n_cand, d]`` (the answers first)."""
    n_writes = 2 * n_pairs if rewrite else n_pairs
    if n_writes + n_pairs > T:
        raise ValueError(f"n_pairs={n_pairs} does not fit in T={T} tokens")
    keys = F.normalize(torch.randn(n_pairs, d, generator=g, dtype=torch.float64), dim=-1)
    new = F.normalize(torch.randn(n_pairs, d, generator=g, dtype=torch.float64), dim=-1)
    old = F.normalize(torch.randn(n_pairs, d, generator=g, dtype=torch.float64), dim=-1)
    blank = torch.zeros(T - n_writes - n_pairs, d, dtype=torch.float64)
    wk = torch.cat([keys, keys]) if rewrite else keys
    wv = torch.cat([old, new]) if rewrite else new
    k = torch.cat([wk, blank, keys])
    v = torch.cat([wv, blank, torch.zeros_like(keys)])
    cands = torch.cat([new, old]) if rewrite else new
    return k[None, :, None], k[None, :, None], v[None, :, None], cands


def ahn_recall(n_pairs: int = 16, d: int = 64, window: int = 64, T: int = 512,
               rule: str = "delta", rewrite: bool = False, scale: float = 32.0,
               seed: int = 0) -> dict:
    """Untrained AHN (no projections: q = k = the key, v = the value; :func:`ahn_mix`) on
    :func:`ahn_stream`. A query is right when the output's most similar candidate (cosine) is
    its own (new) value. Returns the accuracy of window + AHN, of the window alone and of full
    attention, chance, and the cache fraction (W 2d + d^2) / (2 d T)."""
    g = torch.Generator().manual_seed(seed)
    q, k, v, cands = ahn_stream(n_pairs, d, T, rewrite, g)
    res = {}
    for name, kw in (("ahn", {"window": window, "use_memory": True}),
                     ("window", {"window": window, "use_memory": False}),
                     ("full", {"window": T, "use_memory": False})):
        o = ahn_mix(q, k, v, rule=rule, scale=scale, **kw)[0, -n_pairs:, 0]
        sims = F.normalize(o, dim=-1) @ cands.T
        res[name] = float((sims.argmax(-1) == torch.arange(n_pairs)).double().mean())
    res["chance"] = 1.0 / len(cands)
    res["cache_fraction"] = cache_fraction(T, window, d)
    return res


def ahn_capacity_curve(pair_counts, d: int = 64, window: int = 64, T: int = 512,
                       rules=("delta", "linear"), n_seeds: int = 3, seed: int = 0,
                       rewrite: bool = False) -> dict:
    """Mean accuracy of window + AHN per rule, and of the window alone, vs the evicted pairs."""
    out = {r: [] for r in (*rules, "window")}
    for n in pair_counts:
        runs = {r: [ahn_recall(n, d, window, T, r, rewrite, seed=seed + s) for s in range(n_seeds)]
                for r in rules}
        for r in rules:
            out[r].append(float(np.mean([x["ahn"] for x in runs[r]])))
        out["window"].append(float(np.mean([x["window"] for x in runs[rules[0]]])))
    out["pairs"] = list(pair_counts)
    return out


# ------------------------------------------------------------------------------ HMT (untrained)
def topic_stream(n_examples: int, n_segments: int, segment_size: int, n_topics: int = 4,
                 words_per_topic: int = 8, seed: int = 0):
    """Token ids ``[n, n_segments * L]``: each segment is drawn from one topic's words (topics
    switch at random between segments; the last segment repeats an earlier topic) and the
    topic of each segment ``[n, n_segments]``."""
    rng = np.random.default_rng(seed)
    topics = rng.integers(0, n_topics, size=(n_examples, n_segments))
    topics[:, -1] = topics[np.arange(n_examples), rng.integers(0, n_segments - 1, n_examples)]
    words = topics[..., None] * words_per_topic + rng.integers(
        0, words_per_topic, size=(n_examples, n_segments, segment_size))
    return torch.from_numpy(words.reshape(n_examples, -1)), torch.from_numpy(topics)


@torch.no_grad()
def hmt_topic_recall(n_topics: int = 4, n_segments: int = 8, segment_size: int = 16,
                     d_model: int = 32, n_examples: int = 64, seed: int = 0) -> dict:
    """Untrained HMT (W_q = W_k = I, random backbone and embeddings) on :func:`topic_stream`:
    how often the cached memory that recall weights most comes from a segment of the same topic
    as the last segment, against a single recurrent memory (the most recent segment's) and
    chance (the share of same-topic segments in the cache)."""
    from memlab.segment.hmt import HMT

    torch.manual_seed(seed)
    hmt = HMT(d_model, segment_size=segment_size, n_sensory=0, ltm_context=n_segments)
    for W in (hmt.W_q, hmt.W_k):
        W.weight.copy_(torch.eye(d_model))
    emb = torch.nn.Embedding(n_topics * 8, d_model)
    tokens, topics = topic_stream(n_examples, n_segments, segment_size, n_topics, 8, seed)
    x = emb(tokens)
    state = hmt.init_state(n_examples)
    L = segment_size
    for i in range(n_segments - 1):
        _, state = hmt.step_segment(x[:, i * L:(i + 1) * L], state)
    _, _, w = hmt.step_segment(x[:, -L:], state, return_weights=True)
    same = topics[:, :-1] == topics[:, -1:]                            # [n, n_segments - 1]
    top1 = same.gather(1, w.argmax(1, keepdim=True))[:, 0].double().mean()
    return {"hmt_top1_same_topic": float(top1),
            "hmt_mass_same_topic": float((w * same).sum(1).mean()),
            "last_memory_same_topic": float(same[:, -1].double().mean()),
            "chance": float(same.double().mean())}
