"""EMAT: a key-value memory of question-answer pairs, read by maximum inner product search.

Paper: Wu, Zhao, Sun, Lewis, Stenetorp, Riedel, "An Efficient Memory-Augmented Transformer for
Knowledge-Intensive NLP Tasks" (EMNLP 2022). Knowledge is a large table of QA pairs; each
question is encoded once into a key, each answer into a value. At inference the input question
is encoded into a query, the top-k keys by inner product are found (MIPS, fast with faiss), and
the retrieved values are fed to the reader: "1000 queries/s on NQ", "25.8 -> 44.3 EM on NQ".

Glossary (paper -> code)
    (q_i, a_i)            a stored question-answer pair          questions[i], answers[i]
    f_k(q_i), f_v(a_i)    key and value encoders                 encoder (one, shared here)
    f_q(x)                query encoder                          encoder
    top-k MIPS            retrieved pairs                        KeyValueMemory.read(..., k)

Equations
    keys  K_i = f_k(q_i),  values V_i = f_v(a_i)
    read  I = top-k_i f_q(x) . K_i ;  return (V_I, answers_I, scores)
    MIPS -> nearest neighbour (Bachrach et al. 2014): with M = max_i ||K_i||,
        K'_i = [K_i ; sqrt(M^2 - ||K_i||^2)],  x' = [x ; 0]
        ||x' - K'_i||^2 = ||x||^2 + M^2 - 2 x . K_i   (so the L2-nearest K'_i is the MIPS answer)

The encoder is a deterministic hashing bag-of-words embedder (no model download): each word
gets a fixed random unit vector from a hash; a text is the normalised sum of its words.

Not included: the paper's T5 encoders trained jointly with the reader, the reader's fusion of
retrieved values into the encoder layers, pre-training objectives.
"""

from __future__ import annotations

import hashlib

import torch

from memlab.retrieval.knn import KNNMemory

__all__ = ["HashingEncoder", "KeyValueMemory", "mips_to_nn"]


class HashingEncoder:
    """Text -> unit vector: normalised sum of per-word random vectors seeded by a hash."""

    def __init__(self, dim: int = 64):
        self.dim = dim
        self._cache: dict[str, torch.Tensor] = {}

    def word(self, w: str) -> torch.Tensor:
        if w not in self._cache:
            seed = int.from_bytes(hashlib.sha1(w.encode()).digest()[:8], "little")
            g = torch.Generator().manual_seed(seed % (2**63))
            v = torch.randn(self.dim, generator=g)
            self._cache[w] = v / v.norm()
        return self._cache[w]

    def __call__(self, texts: list[str]) -> torch.Tensor:
        out = torch.zeros(len(texts), self.dim)
        for i, t in enumerate(texts):
            words = t.lower().replace("?", " ").split()
            if words:
                v = torch.stack([self.word(w) for w in words]).sum(0)
                out[i] = v / v.norm().clamp_min(1e-12)
        return out


def mips_to_nn(keys: torch.Tensor, queries: torch.Tensor):
    """The MIPS -> L2 nearest-neighbour reduction: ``(keys' [n, d+1], queries' [q, d+1])``."""
    norms = keys.norm(dim=-1)
    M = norms.max()
    extra = (M ** 2 - norms ** 2).clamp_min(0).sqrt()
    return (torch.cat([keys, extra[:, None]], -1),
            torch.cat([queries, queries.new_zeros(queries.shape[0], 1)], -1))


class KeyValueMemory:
    """QA pairs as (key = encoded question, value = encoded answer), read by MIPS."""

    def __init__(self, encoder=None, dim: int = 64, index: str = "exact", **index_kw):
        self.encoder = encoder or HashingEncoder(dim)
        self.dim = self.encoder.dim
        self.index, self.index_kw = index, index_kw
        self.questions: list[str] = []
        self.answers: list[str] = []
        self.store: KNNMemory | None = None

    def add(self, questions: list[str], answers: list[str]) -> None:
        """Encode and store the pairs (the store is rebuilt to fit: EMAT's table is static)."""
        if len(questions) != len(answers):
            raise ValueError(f"got {len(questions)} questions but {len(answers)} answers")
        self.questions += list(questions)
        self.answers += list(answers)
        K = self.encoder(self.questions)
        V = self.encoder(self.answers)
        self.store = KNNMemory(self.dim, len(self.questions), metric="ip", index=self.index,
                               **self.index_kw)
        self.store.write(K, V)

    def __len__(self) -> int:
        return len(self.questions)

    def state_size(self) -> int:
        return 0 if self.store is None else self.store.state_size()

    def read(self, questions: list[str], k: int = 1):
        """``(answers [q][k], scores [q, k], value vectors [q, k, d])`` for the questions."""
        if self.store is None:
            raise RuntimeError("the memory is empty: add() some QA pairs first")
        scores, values, ids = self.store.read(self.encoder(questions), k)
        answers = [[self.answers[i] if i >= 0 else None for i in row] for row in ids.tolist()]
        return answers, scores, values
