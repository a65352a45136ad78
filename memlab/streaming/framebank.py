"""A fixed-budget frame bank for a video stream, with five compression policies.

Papers: He et al., *MA-LMM: Memory-Augmented Large Multimodal Model for Long-Term Video
Understanding* (CVPR 2024; code ``boheumd/MA-LMM``, ``lavis/models/blip2_models/blip2.py``,
``memory_bank_compress``); Zhang et al., *Flash-VStream: Memory-Based Real-Time Understanding for
Long Video Streams* (2024; code ``IVGSZ/Flash-VStream``,
``flash_vstream/model/compress_functions.py``: ``merge_feature``, ``weighted_kmeans_feature``).

Glossary (paper symbol -> variable)::

    f_t in R^{N x C}   frame t's N spatial token features          feats[t]      [T, N, d]
    s_t                frames already averaged into entry t         sizes[t]      [T, N]
    T0 / memory_bank_length / video_max_frames   the budget         budget

Equations. The bank appends every frame; when it holds more than ``budget`` entries:

* FIFO: drop the oldest entry.
* uniform subsampling (streaming form): keep frames whose index is a multiple of a stride; when
  the bank overflows, keep every other entry and double the stride.
* MA-LMM, per token position n independently::

      i_n = argmax_t cos(f_t[n], f_{t+1}[n])
      f_{i_n}[n] <- (s_{i_n} f_{i_n}[n] + s_{i_n+1} f_{i_n+1}[n]) / (s_{i_n} + s_{i_n+1}),
      s_{i_n}[n] <- s_{i_n}[n] + s_{i_n+1}[n];  drop entry i_n+1 at position n

  (a merged row can therefore mix token positions from different frame pairs: MA-LMM's code does
  exactly this).
* Flash-VStream ``merge_feature``: one similarity per whole frame (the flattened N*C vector),
  ``i = argmax cos(vec f_t, vec f_{t+1})``, ``f_{i+1} <- (f_i + f_{i+1}) / 2`` (unweighted: the
  newer half counts as much as all the frames already merged: a recency bias), drop entry i.
* Flash-VStream ``weighted_kmeans_feature``: k-means with k = budget on the flattened frames,
  sample weights = sizes (scikit-learn ``KMeans(sample_weight=...)``, random initial centroids and ``max_iter=10`` as in
  the code). Here it runs once every ``kmeans_every`` frames (clustering at every frame is
  what the paper's per-clip call amounts to and costs a k-means per frame); :meth:`flush`
  compresses to the budget before reading.

Each entry also keeps the span ``[start, end]`` of the frames it covers, per position, which
answers "roughly when?".

Not included: MA-LMM's query memory bank inside the Q-Former and the LLM on top; Flash-VStream's
drop/k-drop/k-merge/attention operators (same interface; only merge and weighted k-means here);
real visual features (the stream is synthetic, :mod:`memlab.tasks.streams`).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "POLICIES",
    "FrameBank",
    "adjacent_cos_per_position",
    "flash_merge",
    "malmm_merge",
    "malmm_merge_naive",
    "weighted_kmeans",
]

POLICIES = ("fifo", "uniform", "malmm", "flash_merge", "kmeans")


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    num = (a * b).sum(-1)
    return num / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1) + 1e-12)


def adjacent_cos_per_position(feats: np.ndarray) -> np.ndarray:
    """cos(f_t[n], f_{t+1}[n]) for t < T-1: ``[T-1, N]``."""
    return _cos(feats[:-1], feats[1:])


def malmm_merge_naive(feats, sizes, start, end, weighted: bool = True):
    """One MA-LMM compression step, a loop over token positions (reads like the equation)."""
    T, N, _ = feats.shape
    sim = adjacent_cos_per_position(feats)
    out = [np.empty((T - 1, N) + feats.shape[2:]), np.empty((T - 1, N)),
           np.empty((T - 1, N), int), np.empty((T - 1, N), int)]
    for n in range(N):
        i = int(np.argmax(sim[:, n]))
        f, s, a, b = feats[:, n].copy(), sizes[:, n].copy(), start[:, n].copy(), end[:, n].copy()
        w0, w1 = (s[i], s[i + 1]) if weighted else (1.0, 1.0)
        f[i] = (w0 * f[i] + w1 * f[i + 1]) / (w0 + w1)
        s[i] = s[i] + s[i + 1]
        a[i], b[i] = min(a[i], a[i + 1]), max(b[i], b[i + 1])
        for k, arr in enumerate((f, s, a, b)):
            out[k][:, n] = np.delete(arr, i + 1, axis=0)
    return tuple(out)


def malmm_merge(feats, sizes, start, end, weighted: bool = True):
    """One MA-LMM compression step, vectorised over positions (equal to the naive loop)."""
    T, N, _ = feats.shape
    i = np.argmax(adjacent_cos_per_position(feats), axis=0)          # [N]
    cols = np.arange(N)
    f, s = feats.copy(), sizes.astype(float).copy()
    a, b = start.copy(), end.copy()
    w0, w1 = (s[i, cols], s[i + 1, cols]) if weighted else (np.ones(N), np.ones(N))
    f[i, cols] = (w0[:, None] * f[i, cols] + w1[:, None] * f[i + 1, cols]) / (w0 + w1)[:, None]
    s[i, cols] = s[i, cols] + s[i + 1, cols]
    a[i, cols] = np.minimum(a[i, cols], a[i + 1, cols])
    b[i, cols] = np.maximum(b[i, cols], b[i + 1, cols])
    keep = np.ones((T, N), bool)
    keep[i + 1, cols] = False

    def drop(x):
        xt = np.swapaxes(x, 0, 1)[keep.T]
        return np.swapaxes(xt.reshape((N, T - 1) + x.shape[2:]), 0, 1)
    return drop(f), drop(s), drop(a), drop(b)


def flash_merge(feats, sizes, start, end):
    """Flash-VStream ``merge_feature`` step: whole-frame similarity, unweighted mean into i+1."""
    T = feats.shape[0]
    flat = feats.reshape(T, -1)
    i = int(np.argmax(_cos(flat[:-1], flat[1:])))
    f, s, a, b = feats.copy(), sizes.astype(float).copy(), start.copy(), end.copy()
    f[i + 1] = (f[i] + f[i + 1]) / 2.0
    s[i + 1] = s[i] + s[i + 1]
    a[i + 1], b[i + 1] = np.minimum(a[i], a[i + 1]), np.maximum(b[i], b[i + 1])
    return tuple(np.delete(x, i, axis=0) for x in (f, s, a, b))


def weighted_kmeans(feats, sizes, start, end, k: int, seed: int = 0, max_iter: int = 10):
    """Flash-VStream ``weighted_kmeans_feature``: k centroids of the flattened frames, weights =
    sizes; returns the centroids with their summed sizes and spans (empty clusters dropped)."""
    from sklearn.cluster import KMeans

    T, N = sizes.shape
    w = sizes[:, 0].astype(float)
    km = KMeans(n_clusters=k, n_init=1, max_iter=max_iter, random_state=seed, init="random")
    labels = km.fit_predict(feats.reshape(T, -1), sample_weight=w)
    used = [c for c in range(k) if (labels == c).any()]
    used.sort(key=lambda c: start[labels == c, 0].min())           # keep time order
    out_f = np.stack([(w[labels == c, None, None] * feats[labels == c]).sum(0) / w[labels == c].sum()
                      for c in used])
    out_s = np.stack([np.full(N, w[labels == c].sum()) for c in used])
    out_a = np.stack([start[labels == c].min(0) for c in used])
    out_b = np.stack([end[labels == c].max(0) for c in used])
    return out_f, out_s, out_a, out_b


class FrameBank:
    """A streaming frame bank: ``write(frame [N, d])``, ``read(query [N, d])``, ``state_size()``.

    ``policy`` in :data:`POLICIES`; ``budget`` = the most entries kept (MA-LMM's
    ``memory_bank_length``); ``weighted`` applies to ``malmm`` only (False = the unweighted
    ablation). State size in bytes counts the features, sizes and spans actually held.
    """

    def __init__(self, budget: int = 64, policy: str = "malmm", weighted: bool = True,
                 kmeans_every: int | None = None, seed: int = 0):
        if policy not in POLICIES:
            raise ValueError(f"policy={policy!r} is not known; use one of {POLICIES}")
        if budget < 2:
            raise ValueError(f"budget must be >= 2, got {budget}")
        self.budget, self.policy, self.weighted, self.seed = budget, policy, weighted, seed
        self.kmeans_every = kmeans_every or budget
        if self.kmeans_every < 1:
            raise ValueError(f"kmeans_every must be >= 1, got {kmeans_every}")
        self.reset()

    def reset(self) -> None:
        self.feats = self.sizes = self.start = self.end = None
        self.n_seen, self.stride = 0, 1

    def __len__(self) -> int:
        return 0 if self.feats is None else self.feats.shape[0]

    def write(self, frame: np.ndarray) -> None:
        frame = np.asarray(frame, dtype=float)
        if frame.ndim != 2:
            raise ValueError(f"frame must be [N, d], got shape {frame.shape}")
        if self.feats is not None and frame.shape != self.feats.shape[1:]:
            raise ValueError(f"frame must have shape {self.feats.shape[1:]}, got {frame.shape}")
        t, self.n_seen = self.n_seen, self.n_seen + 1
        if self.policy == "uniform" and t % self.stride:
            return
        N = frame.shape[0]
        row = (frame[None], np.ones((1, N)), np.full((1, N), t), np.full((1, N), t))
        if self.feats is None:
            self.feats, self.sizes, self.start, self.end = row
        else:
            self.feats, self.sizes, self.start, self.end = (
                np.concatenate([x, r]) for x, r in zip(self._state(), row))
        self.compress()

    def write_stream(self, frames: np.ndarray) -> FrameBank:
        for f in frames:
            self.write(f)
        return self

    def _state(self):
        return self.feats, self.sizes, self.start, self.end

    def compress(self, final: bool = False) -> None:
        """Bring the bank back to its budget (a bank within budget is left unchanged)."""
        if len(self) <= self.budget:
            return
        p = self.policy
        if p == "fifo":
            self.feats, self.sizes, self.start, self.end = (x[1:] for x in self._state())
        elif p == "uniform":
            self.feats, self.sizes, self.start, self.end = (x[::2] for x in self._state())
            self.stride *= 2
        elif p == "kmeans":
            if final or len(self) >= self.budget + self.kmeans_every:
                self.feats, self.sizes, self.start, self.end = weighted_kmeans(
                    *self._state(), k=self.budget, seed=self.seed + self.n_seen)
        else:
            while len(self) > self.budget:
                step = (malmm_merge(*self._state(), weighted=self.weighted) if p == "malmm"
                        else flash_merge(*self._state()))
                self.feats, self.sizes, self.start, self.end = step

    def flush(self) -> FrameBank:
        """Compress to the budget now (k-means runs in batches between flushes)."""
        self.compress(final=True)
        return self

    def token_scores(self, query: np.ndarray, kind: str = "cos") -> np.ndarray:
        """``[T, N]``: cos(entry_t[n], query[n]) (``kind='cos'``) or the dot product (``'dot'``,
        for a unit direction such as an event)."""
        if self.feats is None:
            return np.zeros((0, 0))
        q = np.asarray(query, dtype=float)
        if q.shape != self.feats.shape[1:]:
            raise ValueError(f"query must have shape {self.feats.shape[1:]}, got {q.shape}")
        if kind == "cos":
            return _cos(self.feats, q[None])
        if kind == "dot":
            return (self.feats * q[None]).sum(-1)
        raise ValueError(f"kind must be 'cos' or 'dot', got {kind!r}")

    def read(self, query: np.ndarray, kind: str = "cos"):
        """Read ``query [N, d]`` position by position (a merged row may mix frames, so each token
        position is matched on its own, as attention over all the bank's tokens would):
        ``(score, best entry per position [N], (first frame, last frame) of those entries)``,
        score = mean over positions of the best match."""
        sc = self.token_scores(query, kind)
        if not sc.size:
            return 0.0, np.zeros(0, int), (-1, -1)
        best = np.argmax(sc, axis=0)
        cols = np.arange(sc.shape[1])
        span = (int(np.median(self.start[best, cols])), int(np.median(self.end[best, cols])))
        return float(sc[best, cols].mean()), best, span

    def state_size(self) -> int:
        """Bytes held: features + sizes + spans."""
        return 0 if self.feats is None else int(sum(x.nbytes for x in self._state()))
