"""Dense (and sparse) passage retrieval: the baseline a graph memory must beat.

A retriever embeds every passage once, embeds the query, and ranks passages by a score;
retrieval-augmented generation (Lewis et al. 2020) then reads the top k. "Dense" at CPU size
here means TF-IDF vectors of words and character 3-grams (scikit-learn), or Okapi BM25
(Robertson & Zaragoza 2009); a real sentence encoder (all-MiniLM-L6-v2 through
:class:`memlab.agents.embed.MiniLMEmbedder`, optional extra ``embed``) plugs in behind the same
protocol (:class:`EmbedderRetriever`).

Glossary (formula -> code)
    tf(t, d), |d|, avgdl        term count, passage length, mean length   counts, dl, avgdl
    N, n(t)                     passages, passages containing t          N, df
    k1, b                       BM25 saturation and length constants     k1=1.5, b=0.75

Equations
    TF-IDF:  s(q, d) = cos(v_q, v_d),  v = tf * (ln((1 + N) / (1 + n(t))) + 1), L2-normalised
    BM25:    s(q, d) = sum_{t in q} idf(t) * tf(t,d) (k1 + 1) / (tf(t,d) + k1 (1 - b + b |d| / avgdl))
             idf(t) = ln((N - n(t) + 0.5) / (n(t) + 0.5) + 1)       (Lucene's non-negative idf)

Not included: learned dense encoders trained contrastively (no weights offline), approximate
search (exact numpy search is enough for a few thousand passages; faiss in chapter 07).
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer

__all__ = [
    "BM25Retriever",
    "EmbedderRetriever",
    "TfidfRetriever",
    "bm25_idf",
    "bm25_weights",
    "rank",
    "recall_at_k",
]


def rank(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` highest scores per row, best first (stable on ties) ``[q, k]``."""
    scores = np.atleast_2d(scores)
    if k >= scores.shape[1] // 4:
        return np.argsort(-scores, axis=1, kind="stable")[:, :k]
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]          # the k best, unordered
    part.sort(axis=1)                                              # index order, then stable
    order = np.argsort(-np.take_along_axis(scores, part, 1), axis=1, kind="stable")
    return np.take_along_axis(part, order, 1)


class TfidfRetriever:
    """TF-IDF over words + character 3-grams, cosine score."""

    def __init__(self, char_weight: float = 1.0):
        if char_weight < 0:
            raise ValueError(f"char_weight must be >= 0, got {char_weight}")
        self.char_weight = char_weight
        self.word = TfidfVectorizer(lowercase=True, token_pattern=r"[A-Za-z0-9]+")
        self.char = TfidfVectorizer(lowercase=True, analyzer="char_wb", ngram_range=(3, 3))

    def _vec(self, texts, fit=False):
        f = (lambda v: v.fit_transform) if fit else (lambda v: v.transform)
        m = sparse.hstack([f(self.word)(texts), self.char_weight * f(self.char)(texts)]).tocsr()
        norm = np.sqrt(np.asarray(m.multiply(m).sum(1))).ravel()
        return sparse.diags(1 / np.maximum(norm, 1e-12)) @ m

    def fit(self, passages: list[str]) -> TfidfRetriever:
        if not passages:
            raise ValueError("passages must be a non-empty list of strings")
        self.D = self._vec(list(passages), fit=True)
        return self

    def scores(self, queries: list[str]) -> np.ndarray:
        """Cosine similarity ``[n_queries, n_passages]``."""
        return np.asarray((self._vec(list(queries)) @ self.D.T).todense())


def bm25_idf(df: np.ndarray, N: int) -> np.ndarray:
    return np.log((N - df + 0.5) / (df + 0.5) + 1.0)


def bm25_weights(counts: np.ndarray, k1: float = 1.5, b: float = 0.75) -> np.ndarray:
    """Per (passage, term) BM25 weight ``idf * tf (k1+1) / (tf + k1 (1 - b + b dl/avgdl))``
    from a dense count matrix ``[N, V]``."""
    counts = np.asarray(counts, dtype=np.float64)
    N = counts.shape[0]
    dl = counts.sum(1, keepdims=True)
    avgdl = dl.mean()
    df = (counts > 0).sum(0)
    tf = counts
    return bm25_idf(df, N)[None, :] * tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl))


class BM25Retriever:
    """Okapi BM25 (k1 = 1.5, b = 0.75, the ``rank-bm25`` defaults) over lower-cased words."""

    def __init__(self, k1: float = 1.5, b: float = 0.75):
        if k1 < 0 or not 0 <= b <= 1:
            raise ValueError(f"need k1 >= 0 and b in [0, 1], got k1={k1}, b={b}")
        self.k1, self.b = k1, b
        self.cv = CountVectorizer(lowercase=True, token_pattern=r"[A-Za-z0-9]+")

    def fit(self, passages: list[str]) -> BM25Retriever:
        if not passages:
            raise ValueError("passages must be a non-empty list of strings")
        counts = self.cv.fit_transform(list(passages)).toarray()
        self.W = bm25_weights(counts, self.k1, self.b)             # [N, V]
        return self

    def scores(self, queries: list[str]) -> np.ndarray:
        q = (self.cv.transform(list(queries)).toarray() > 0).astype(np.float64)
        return q @ self.W.T


class EmbedderRetriever:
    """Any :class:`memlab.agents.embed.Embedder` (hashing, MiniLM): cosine of unit vectors."""

    def __init__(self, embedder):
        self.embedder = embedder

    def fit(self, passages: list[str]) -> EmbedderRetriever:
        self.D = self.embedder.embed(list(passages))
        return self

    def scores(self, queries: list[str]) -> np.ndarray:
        return self.embedder.embed(list(queries)) @ self.D.T


def recall_at_k(ranked: np.ndarray, supports: list[list[int]], k: int) -> float:
    """Mean over questions of the fraction of supporting passages among the top ``k``."""
    if len(ranked) != len(supports):
        raise ValueError(f"ranked has {len(ranked)} rows, supports {len(supports)}")
    return float(np.mean([len(set(r[:k]) & set(s)) / len(s) for r, s in zip(ranked, supports)]))
