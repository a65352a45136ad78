"""SORT-lite: Sequence Order Recall Tasks on a generated "book" (chapter 10).

After Pink, Vo, Wu, Mu, Turek, Hasson, Norman, Michelmann, Huth, Toneva, "Assessing Episodic
Memory in LLMs with Sequence Order Recall Tasks" (2024; ``bridge-ai-neuro/SORT``,
``sort/dataset_creation/create_sort_dataset.py``). Protocol: sample excerpts of ``L_E``
words spread over the book; inside an excerpt sample pairs of segments of ``L_S`` words that
start at sentence boundaries, with start-to-start distance in one of four bins with edges
``L_S, L_E/4, L_E/3, L_E/2, L_E/0.8`` (Book-SORT's standard edges); present the two segments in
an order permuted so that **exactly half** of the trials show the earlier one first; ask which
came first.

The book: scenes of 80-300 words, each scene drawing its words from its own topic (a subset of
a shared vocabulary, Zipf weights) in sentences of 6-14 words ending with ".".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Book", "SortTrial", "bin_edges", "make_book", "sort_trials"]

SYLL = ["ka", "lo", "mi", "ren", "sa", "tu", "vor", "el", "dan", "pi", "gor", "ne", "ash",
        "bri", "cu", "fen", "hol", "jo", "mar", "ost", "pul", "qui", "sed", "tam", "ul", "wex"]


@dataclass
class Book:
    words: list[str]
    sentence_starts: np.ndarray      # word indices where a sentence starts
    scene_starts: list[int]


@dataclass
class SortTrial:
    excerpt_start: int               # in the book
    excerpt: list[str]               # L_E words
    seg_a: list[str]                 # presented first
    seg_b: list[str]                 # presented second
    pos_a: int                       # start inside the excerpt
    pos_b: int
    answer: int                      # 0: "A came first", 1: "B came first"
    bin: int


def bin_edges(L_E: int, L_S: int) -> list[float]:
    """Book-SORT's standard distance-bin edges ``L_S, L_E/4, L_E/3, L_E/2, L_E/0.8``."""
    edges = [L_S, L_E / 4, L_E / 3, L_E / 2, L_E / 0.8]
    if edges[0] >= edges[1]:
        raise ValueError(f"L_S={L_S} must be below L_E/4={L_E / 4} (segments would overlap)")
    return edges


def make_book(n_words: int = 2000, vocab: int = 400, topic_size: int = 60, seed: int = 0) -> Book:
    if n_words < 100 or vocab < topic_size or topic_size < 5:
        raise ValueError(f"need n_words >= 100 and vocab >= topic_size >= 5; got n_words={n_words}, "
                         f"vocab={vocab}, topic_size={topic_size}")
    rng = np.random.default_rng(seed)
    lex, seen = [], set()
    while len(lex) < vocab:
        w = "".join(rng.choice(SYLL, size=rng.integers(2, 4)))
        if w not in seen:
            seen.add(w), lex.append(w)
    zipf = 1 / np.arange(1, topic_size + 1)
    words, starts, scenes = [], [], []
    while len(words) < n_words:
        scenes.append(len(words))
        topic = rng.choice(vocab, size=topic_size, replace=False)
        scene_len = rng.integers(80, 301)
        end = len(words) + scene_len
        while len(words) < end:
            starts.append(len(words))
            n = rng.integers(6, 15)
            words += [lex[i] for i in rng.choice(topic, size=n, p=zipf / zipf.sum())]
            words[-1] = words[-1] + "."
    return Book(words[:n_words], np.array([s for s in starts if s < n_words]), scenes)


def sort_trials(book: Book, n_trials: int = 400, L_E: int = 200, L_S: int = 10,
                n_excerpts: int = 20, seed: int = 0) -> list[SortTrial]:
    """``n_trials`` trials, equally many per distance bin, exactly half with answer 0."""
    edges = bin_edges(L_E, L_S)
    if n_trials % (2 * (len(edges) - 1)):
        raise ValueError(f"n_trials must be a multiple of {2 * (len(edges) - 1)} for exact "
                         f"balance over bins and answers, got {n_trials}")
    if L_E > len(book.words):
        raise ValueError(f"L_E={L_E} is longer than the book ({len(book.words)} words)")
    rng = np.random.default_rng(seed)
    # excerpts start at sentence boundaries, spread uniformly over the book
    ok = book.sentence_starts[book.sentence_starts <= len(book.words) - L_E]
    grid = np.linspace(0, len(ok) - 1, n_excerpts).round().astype(int)
    ex_starts = ok[grid]
    per_bin = n_trials // (len(edges) - 1)
    trials = []
    for b in range(len(edges) - 1):
        answers = rng.permutation([0] * (per_bin // 2) + [1] * (per_bin // 2))
        made = 0
        while made < per_bin:
            e0 = int(rng.choice(ex_starts))
            ss = book.sentence_starts[(book.sentence_starts >= e0) &
                                      (book.sentence_starts <= e0 + L_E - L_S)] - e0
            i, j = sorted(rng.choice(ss, size=2, replace=False))
            if not edges[b] <= j - i < edges[b + 1]:
                continue
            exc = book.words[e0:e0 + L_E]
            first, second = (i, j) if answers[made] == 0 else (j, i)
            trials.append(SortTrial(e0, exc, exc[first:first + L_S], exc[second:second + L_S],
                                    first, second, int(answers[made]), b))
            made += 1
    return trials
