"""Three memories asked "which of these two segments came first?" (SORT-lite).

Pink et al. (2024) show that LLMs answer Sequence Order Recall Tasks well when the text is in
context, and fall towards chance when the book is only in their weights or behind retrieval.
Here the three memories are written out so that the reason is visible:

* :class:`InContextMemory` keeps the excerpt with its positions; a segment is located by soft
  matching (the window of ``L_S`` words with most matching words) and positions are compared.
* :class:`ChunkMemory` cuts the excerpt into chunks of ``chunk`` words and retrieves, for each
  segment, the ``top_k`` chunks with most word overlap. With ``keep_index=False`` it is
  **order-blind**: the store is a set (kept in a random order), so the reader concatenates
  the retrieved chunks in store order; only order *inside* one chunk survives. With
  ``keep_index=True`` every chunk keeps its index (the temporal metadata EM-LLM's contiguity
  buffer relies on) and the reader sorts retrieved chunks by index.

Glossary
    L_E, L_S        excerpt and segment length (words)      len(excerpt), len(seg)
    c               chunk length                            chunk
    answer          0: the segment shown first came first    SortTrial.answer

Not included: language models answering from weights (the paper's fine-tuning condition; an
optional tiny-LM condition is left out at CPU size), prompt selection, human data.
"""

from __future__ import annotations

import itertools

import numpy as np

__all__ = ["ChunkMemory", "InContextMemory", "evaluate", "shuffle_sentences", "soft_locate"]


def soft_locate(words: list[str], segment: list[str]) -> int:
    """Start of the window of ``len(segment)`` words in ``words`` that matches most words."""
    L = len(segment)
    if L == 0 or len(words) < L:
        raise ValueError(f"segment must be non-empty and no longer than words ({L} > {len(words)})")
    w = np.array(words)
    match = np.stack([w[i:len(w) - L + 1 + i] == segment[i] for i in range(L)]).sum(0)
    return int(np.argmax(match))


class InContextMemory:
    """The excerpt in context: locate both segments, compare positions."""

    def answer(self, excerpt, seg_a, seg_b, rng=None) -> int:
        return int(soft_locate(excerpt, seg_b) < soft_locate(excerpt, seg_a))


class ChunkMemory:
    """Retrieval memory over chunks of the excerpt; ``keep_index`` = temporal metadata."""

    def __init__(self, chunk: int = 20, top_k: int = 3, keep_index: bool = False):
        if chunk < 1 or top_k < 1:
            raise ValueError(f"chunk and top_k must be >= 1, got {chunk}, {top_k}")
        self.chunk, self.top_k, self.keep_index = chunk, top_k, keep_index

    def write(self, excerpt: list[str], rng: np.random.Generator):
        """Store the chunks: as a set in random order, or with their indices."""
        c = self.chunk
        chunks = [(i, excerpt[s:s + c]) for i, s in enumerate(range(0, len(excerpt), c))]
        order = rng.permutation(len(chunks))
        self.store = [chunks[o] for o in order]                # storage order carries no time
        return self

    def retrieve(self, segment: list[str]) -> list[int]:
        """Store slots of the ``top_k`` chunks sharing most word bigrams (then words) with
        ``segment``."""
        seg, seg2 = set(segment), set(itertools.pairwise(segment))
        overlap = np.array([10 * len(seg2 & set(itertools.pairwise(words))) + len(seg & set(words))
                            for _, words in self.store])
        return list(np.argsort(-overlap, kind="stable")[:self.top_k])

    def context(self, slots: list[int]) -> list[str]:
        """What the reader sees: retrieved chunks in index order (with metadata) or in store
        order (order-blind)."""
        key = (lambda s: self.store[s][0]) if self.keep_index else (lambda s: s)
        words: list[str] = []
        for s in sorted(set(slots), key=key):
            words += self.store[s][1]
        return words

    def answer(self, excerpt, seg_a, seg_b, rng) -> int:
        self.write(excerpt, rng)
        ctx = self.context(self.retrieve(seg_a) + self.retrieve(seg_b))
        return int(soft_locate(ctx, seg_b) < soft_locate(ctx, seg_a))


def shuffle_sentences(words: list[str], rng: np.random.Generator) -> list[str]:
    """Negative control: the excerpt's sentences in random order."""
    sents, cur = [], []
    for w in words:
        cur.append(w)
        if w.endswith("."):
            sents.append(cur)
            cur = []
    if cur:
        sents.append(cur)
    return [w for i in rng.permutation(len(sents)) for w in sents[i]]


def evaluate(memory, trials, seed: int = 0, shuffle: bool = False) -> dict:
    """Accuracy overall and per distance bin (``shuffle``: the memory reads a
    sentence-shuffled excerpt)."""
    rng = np.random.default_rng(seed)
    hits, bins = [], []
    for t in trials:
        exc = shuffle_sentences(t.excerpt, rng) if shuffle else t.excerpt
        hits.append(memory.answer(exc, t.seg_a, t.seg_b, rng) == t.answer)
        bins.append(t.bin)
    hits, bins = np.array(hits), np.array(bins)
    return {"accuracy": float(hits.mean()),
            "by_bin": [float(hits[bins == b].mean()) for b in sorted(set(bins))],
            "n": len(hits)}
