"""Chapter 10's experiments: SORT-lite accuracy of three memories, surprise boundaries vs random
ones, HCAM vs flat and summary-only attention. The notebook, claim tests and mutant checks
call these."""

from __future__ import annotations

from functools import lru_cache

import torch

from memlab.episodic import boundaries as B
from memlab.episodic import hcam as H
from memlab.episodic import sort as S
from memlab.tasks.sort_lite import make_book, sort_trials

__all__ = [
    "binomial_band",
    "boundary_experiment",
    "hcam_experiment",
    "hcam_task",
    "sort_accuracy",
    "sort_data",
]


@lru_cache(maxsize=8)
def sort_data(n_words: int = 2000, n_trials: int = 400, L_E: int = 200, L_S: int = 10,
              seed: int = 0):
    book = make_book(n_words=n_words, seed=seed)
    return book, sort_trials(book, n_trials=n_trials, L_E=L_E, L_S=L_S, seed=seed)


def sort_accuracy(trials, chunk: int = 20, top_k: int = 3, seed: int = 0) -> dict:
    """Accuracy of in-context, order-blind chunk retrieval, chunks with indices, and the
    shuffled-sentences control."""
    return {"in_context": S.evaluate(S.InContextMemory(), trials, seed),
            "order_blind": S.evaluate(S.ChunkMemory(chunk, top_k, keep_index=False), trials, seed),
            "with_indices": S.evaluate(S.ChunkMemory(chunk, top_k, keep_index=True), trials, seed),
            "shuffled_in_context": S.evaluate(S.InContextMemory(), trials, seed, shuffle=True)}


def binomial_band(n: int, p: float = 0.5, z: float = 1.96) -> tuple[float, float]:
    """Normal-approximation 95 % band of an accuracy measured on ``n`` coin flips."""
    h = z * (p * (1 - p) / n) ** 0.5
    return p - h, p + h


def boundary_experiment(seed: int = 0, gamma: float = 3.0, window: int = 64, lam: float = 0.95,
                        tolerance: int = 3, single_topic: bool = False, refine: bool = False,
                        n_events: int = 20) -> dict:
    """F1 of surprise boundaries (optionally refined) and of as many random boundaries."""
    tok, truth = B.topic_stream(n_events=n_events, single_topic=single_topic, seed=seed)
    s = B.DecayingSurprise(200, lam=lam)(tok)
    keys = B.context_keys(tok, 200, seed=seed) if refine else None
    found = B.event_boundaries(s, keys, window=window, gamma=gamma, refine=refine)
    out = B.boundary_scores(found, truth, len(tok), tolerance, seed)
    out.update(margin=out["f1"] - out["f1_random"], surprise=s, truth=truth, found=found,
               tokens=tok)
    return out


@lru_cache(maxsize=8)
def hcam_task(M: int = 64, C: int = 16, D: int = 64, seed: int = 0):
    """Chunk ``m`` holds ``C`` items; token ``(m, c)`` has key normalise(item + tag part
    ``s_{m,c}``) and value = its item; the chunk's tag ``sum_c s_{m,c} / sqrt(C)`` appears only
    spread over its tokens. A query = tag of chunk ``m`` + the probed item."""
    g = torch.Generator().manual_seed(seed)
    unit = lambda *s: torch.nn.functional.normalize(torch.randn(*s, generator=g), dim=-1)
    items, parts = unit(M, C, D), unit(M, C, D)
    keys = torch.nn.functional.normalize(items + parts, dim=-1)
    tags = parts.sum(1) / C ** 0.5
    m = torch.randint(0, M, (256,), generator=g)
    c = torch.randint(0, C, (256,), generator=g)
    q = tags[m] + items[m, c]
    return q, keys, items, m * C + c


def _decode(out, items):
    return (out @ items.reshape(-1, items.shape[-1]).T).argmax(-1)


def hcam_experiment(M: int = 64, C: int = 16, D: int = 64, top_k: int = 2, beta: float = 16.0,
                    seed: int = 0) -> dict:
    """Accuracy (decoded item == probed item) and scores computed, per memory."""
    q, keys, items, target = hcam_task(M, C, D, seed)
    res = {}
    out, idx, n = H.hcam_read(q, keys, items, top_k, beta)
    res["hcam"] = (float((_decode(out, items) == target).float().mean()), n)
    res["hcam_chunk_hit"] = float((idx == (target // C)[:, None]).any(1).float().mean())
    out, idx, n = H.hcam_read(q, keys, items, top_k, beta, summary="first")
    res["hcam_first_token"] = (float((_decode(out, items) == target).float().mean()), n)
    out, n = H.flat_read(q, keys, items, beta)
    res["flat"] = (float((_decode(out, items) == target).float().mean()), n)
    out, n = H.summary_read(q, keys, items, beta)
    res["summary_only"] = (float((_decode(out, items) == target).float().mean()), n)
    return res
