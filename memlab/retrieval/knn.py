"""A kNN memory: a FIFO store of (key, value) pairs searched by nearest neighbours.

Paper: Wu, Rabe, Hutchins, Szegedy, "Memorizing Transformers" (ICLR 2022). A transformer layer
keeps the (key, value) pairs of past tokens in a large, non-differentiable store and reads the
top-k of them by inner product with the current query. The store is first-in first-out: when it
is full, the oldest entries go.

Glossary (paper -> code)
    (k_i, v_i)      one stored pair              keys[slot], values[slot]
    M               memory size (capacity)        capacity
    q               a query                       query  [n_queries, dim]
    top-k           number of neighbours read     k
    i (age)         global write counter          ids    (the i-th pair ever written has id i)

Equations
    write:   id <- n_written;  slot = id mod M;  (keys, values)[slot] <- (k, v)
             (so the pair written M writes ago is the one overwritten: FIFO)
    read:    I = top-k_i  q . k_i            (metric "ip", maximum inner product search)
             I = top-k_i -||q - k_i||^2      (metric "l2")
             returns the scores, the values v_I and the ids I

Search backends (``index=``)
    "exact"  torch: one matrix product and ``topk`` on the keys' device (the reference).
    "flat"   faiss ``IndexFlat`` behind an ``IndexIDMap2``: exact, on CPU.
    "ivf"    faiss ``IndexIVFFlat``: approximate. k-means cuts the keys into ``nlist`` cells;
             a query scans only the ``nprobe`` nearest cells. Trained on the keys present the
             first time ``train_min`` keys are stored; exact torch search is used before that.
faiss is an optional extra (``pip install 'memlab[ann]'`` or ``pip install faiss-cpu``). Do not
depend on the PyPI ``faiss-gpu`` wheel: it is archived (old Pythons only); faiss-cpu is enough
here, and GPU faiss comes from conda.

Every write is searchable at once: ``write`` updates the faiss index before it returns, and
evicted ids are removed from it in the same call. (A public implementation lost its writes
because parallel workers updated copies of the index; ``tests/test_retrieval_knn.py`` checks
this property for every backend.)

Not included: the paper's per-head, per-batch-element memories (use one store per sequence
and head), memmapped storage on disk, HNSW (faiss's HNSW cannot remove entries, so FIFO would
need rebuilds).
"""

from __future__ import annotations

from pathlib import Path

import torch

from memlab.memory import check_shape

__all__ = ["KNNMemory", "exact_topk", "have_faiss", "recall_at_k", "require_faiss"]

INDEXES = ("exact", "flat", "ivf")
METRICS = ("ip", "l2")


def require_faiss(what: str = "approximate search"):
    """Import faiss or raise an ImportError that says how to get it."""
    try:
        import faiss
    except ImportError as err:  # pragma: no cover - faiss is installed in the dev env
        raise ImportError(
            f"faiss is needed for {what}. Install the optional extra: pip install 'memlab[ann]' "
            "(or pip install faiss-cpu; the PyPI faiss-gpu wheel is archived, do not use it). "
            "index='exact' needs nothing beyond torch.") from err
    return faiss


def have_faiss() -> bool:
    """Whether the optional faiss extra is importable (``index='flat'|'ivf'`` need it)."""
    try:
        import faiss  # noqa: F401
    except ImportError:
        return False
    return True


def exact_topk(query: torch.Tensor, keys: torch.Tensor, k: int, metric: str = "ip"):
    """Brute-force top-k: ``(scores [q, k], indices [q, k])`` of ``keys`` rows for each query."""
    if metric == "ip":
        scores = query @ keys.T
    else:
        scores = -torch.cdist(query, keys).pow(2)
    k = min(k, keys.shape[0])
    return scores.topk(k, dim=-1)


def recall_at_k(found: torch.Tensor, truth: torch.Tensor) -> float:
    """Mean fraction of the true top-k ids (``truth [q, k]``) that ``found [q, k']`` contains."""
    hits = (found.unsqueeze(-1) == truth.unsqueeze(-2)).any(-2) & (truth >= 0)
    return float(hits.float().sum() / (truth >= 0).sum().clamp_min(1))


class KNNMemory:
    """FIFO (key, value) store with exact (torch) or approximate (faiss) top-k search.

    ``keys: [capacity, dim]``, ``values: [capacity, value_dim]``, ``ids: [capacity]`` (-1 = empty).
    """

    def __init__(self, dim: int, capacity: int, value_dim: int | None = None, metric: str = "ip",
                 index: str = "exact", nlist: int = 256, nprobe: int = 8,
                 train_min: int | None = None, device=None, dtype=torch.float32):
        if not isinstance(dim, int) or dim < 1:
            raise ValueError(f"dim must be a positive int, got {dim!r}")
        if not isinstance(capacity, int) or capacity < 1:
            raise ValueError(f"capacity must be a positive int, got {capacity!r}")
        if metric not in METRICS:
            raise ValueError(f"metric={metric!r} is not allowed: use one of {METRICS}")
        if index not in INDEXES:
            raise ValueError(f"index={index!r} is not allowed: use one of {INDEXES}")
        if nprobe < 1 or nlist < 1:
            raise ValueError(f"nlist and nprobe must be >= 1, got nlist={nlist}, nprobe={nprobe}")
        self.dim, self.capacity, self.metric, self.index_kind = dim, capacity, metric, index
        self.value_dim = dim if value_dim is None else value_dim
        self.nlist, self.nprobe = nlist, nprobe
        self.train_min = 39 * nlist if train_min is None else train_min   # faiss' rule of thumb
        self.device, self.dtype = torch.device(device or "cpu"), dtype
        self._faiss = require_faiss(f"index={index!r}") if index != "exact" else None
        self.reset()

    # ------------------------------------------------------------------ state
    def reset(self) -> None:
        """Empty the store (and the faiss index)."""
        self.keys = torch.zeros(self.capacity, self.dim, device=self.device, dtype=self.dtype)
        self.values = torch.zeros(self.capacity, self.value_dim, device=self.device,
                                  dtype=self.dtype)
        self.ids = torch.full((self.capacity,), -1, dtype=torch.long, device=self.device)
        self.n_written = 0
        self._removed_upto = 0                           # ids below this left the faiss index
        self._index = None
        if self.index_kind == "flat":
            self._index = self._new_index()

    def __len__(self) -> int:
        return int((self.ids >= 0).sum())

    def state_size(self) -> int:
        """Numbers stored: ``len * (dim + value_dim)``."""
        return len(self) * (self.dim + self.value_dim)

    @property
    def oldest_id(self) -> int:
        return max(0, self.n_written - self.capacity)

    def _new_index(self):
        faiss = self._faiss
        ftype = faiss.METRIC_INNER_PRODUCT if self.metric == "ip" else faiss.METRIC_L2
        if self.index_kind == "flat":
            flat = faiss.IndexFlatIP(self.dim) if self.metric == "ip" else faiss.IndexFlatL2(
                self.dim)
            return faiss.IndexIDMap2(flat)
        quantizer = faiss.IndexFlatIP(self.dim) if self.metric == "ip" else faiss.IndexFlatL2(
            self.dim)
        ivf = faiss.IndexIVFFlat(quantizer, self.dim, self.nlist, ftype)
        ivf.nprobe = self.nprobe
        self._quantizer = quantizer      # keep the quantizer alive as long as the index
        return ivf

    # ------------------------------------------------------------------ write / forget
    def write(self, keys: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        """Append pairs (``keys [n, dim]``, ``values [n, value_dim]``); return their ids ``[n]``.

        When the store is full the oldest pairs are overwritten (FIFO). No gradient is kept.
        """
        check_shape(keys, "keys", ndim=2, last=self.dim)
        check_shape(values, "values", ndim=2, last=self.value_dim)
        if keys.shape[0] != values.shape[0]:
            raise ValueError(f"keys and values must have the same length, got {keys.shape[0]} "
                             f"and {values.shape[0]}")
        n = keys.shape[0]
        new_ids = torch.arange(self.n_written, self.n_written + n, device=self.device)
        keep = slice(max(0, n - self.capacity), n)        # more than capacity: the last ones win
        ids_kept = new_ids[keep]
        slots = ids_kept % self.capacity
        self.keys[slots] = keys[keep].detach().to(self.device, self.dtype)
        self.values[slots] = values[keep].detach().to(self.device, self.dtype)
        self.ids[slots] = ids_kept
        self.n_written += n
        self._sync_index(ids_kept)
        return new_ids

    def forget(self, n_oldest: int) -> None:
        """Drop the ``n_oldest`` oldest pairs now (FIFO order), before they would be overwritten."""
        if n_oldest < 0:
            raise ValueError(f"n_oldest must be >= 0, got {n_oldest}")
        alive = self.ids >= 0
        cutoff = (self.ids[alive].min() if alive.any() else torch.tensor(0)) + n_oldest
        drop = alive & (self.ids < cutoff)
        if self._index is not None and bool(drop.any()):
            self._index.remove_ids(self._id_array(self.ids[drop]))
        self.ids[drop] = -1

    def _id_array(self, ids: torch.Tensor):
        return ids.detach().cpu().numpy().astype("int64")

    def _sync_index(self, new_ids: torch.Tensor) -> None:
        """Add the new pairs to the faiss index and remove the evicted ones: searchable at once."""
        if self.index_kind == "exact":
            return
        if self.index_kind == "ivf" and self._index is None:
            if len(self) < self.train_min:
                return                                   # untrained: exact search meanwhile
            self._index = self._new_index()
            alive = self.ids >= 0
            train = self.keys[alive]
            if train.shape[0] > 64 * self.nlist:         # a strided sample is enough for k-means
                train = train[:: train.shape[0] // (64 * self.nlist)]
            self._index.train(train.cpu().float().numpy())
            new_ids = self.ids[alive]                    # add everything stored so far
        lo = self.oldest_id
        # evicted ids are one contiguous range [0, lo): remove what the index still holds
        if lo > self._removed_upto:
            self._index.remove_ids(self._faiss.IDSelectorRange(self._removed_upto, lo))
            self._removed_upto = lo
        new_ids = new_ids[new_ids >= lo]
        if new_ids.numel():
            slots = new_ids % self.capacity
            self._index.add_with_ids(self.keys[slots].cpu().float().numpy(),
                                     self._id_array(new_ids))

    # ------------------------------------------------------------------ read
    def search(self, query: torch.Tensor, k: int):
        """Top-k ids: ``(scores [q, k], ids [q, k])``; missing neighbours get id -1, score -inf."""
        check_shape(query, "query", ndim=2, last=self.dim)
        if not isinstance(k, int) or k < 1:
            raise ValueError(f"k must be a positive int, got {k!r}")
        q = query.detach().to(self.device, self.dtype)
        if self._index is not None:
            if self.index_kind == "ivf":
                self._index.nprobe = self.nprobe           # may have been changed by the user
            scores, ids = self._index.search(q.cpu().float().numpy(), k)
            scores = torch.from_numpy(scores).to(self.device, self.dtype)
            ids = torch.from_numpy(ids).to(self.device)
            if self.metric == "l2":
                scores = -scores
        else:                 # score every slot (no copy of the keys), empty slots -> -inf
            alive = self.ids >= 0
            scores = torch.full((q.shape[0], k), float("-inf"), device=self.device,
                                dtype=self.dtype)
            ids = torch.full((q.shape[0], k), -1, dtype=torch.long, device=self.device)
            if bool(alive.any()):
                all_s = q @ self.keys.T if self.metric == "ip" else -torch.cdist(q, self.keys).pow(2)
                s, j = all_s.masked_fill(~alive, float("-inf")).topk(min(k, self.capacity), -1)
                scores[:, :s.shape[1]] = s
                ids[:, :s.shape[1]] = torch.where(alive[j], self.ids[j], torch.full_like(j, -1))
        scores = scores.masked_fill(ids < 0, float("-inf"))
        return scores, ids

    def read(self, query: torch.Tensor, k: int):
        """``(scores [q, k], values [q, k, value_dim], ids [q, k])``; empty slots read zeros."""
        scores, ids = self.search(query, k)
        values = self.values[ids.clamp_min(0) % self.capacity] * (ids >= 0).unsqueeze(-1)
        return scores, values, ids

    def get(self, ids: torch.Tensor):
        """The stored ``(keys, values)`` of ``ids`` (which must still be stored)."""
        slots = ids % self.capacity
        if not bool((self.ids[slots] == ids).all()):
            raise KeyError("some ids are no longer stored (evicted or forgotten)")
        return self.keys[slots], self.values[slots]

    # ------------------------------------------------------------------ save / load
    def save(self, path: str | Path) -> None:
        """Save the store (keys, values, ids, settings); the faiss index is rebuilt on load."""
        config = {"dim": self.dim, "capacity": self.capacity, "value_dim": self.value_dim,
                  "metric": self.metric, "index": self.index_kind, "nlist": self.nlist,
                  "nprobe": self.nprobe, "train_min": self.train_min}
        torch.save({"config": config,
                    "keys": self.keys.cpu(), "values": self.values.cpu(), "ids": self.ids.cpu(),
                    "n_written": self.n_written}, Path(path))

    @classmethod
    def load(cls, path: str | Path, device=None, index: str | None = None) -> KNNMemory:
        blob = torch.load(Path(path), map_location="cpu", weights_only=True)
        cfg = blob["config"]
        if index is not None:
            cfg["index"] = index
        mem = cls(**cfg, device=device, dtype=blob["keys"].dtype)
        mem.keys.copy_(blob["keys"])
        mem.values.copy_(blob["values"])
        mem.ids.copy_(blob["ids"])
        mem.n_written = int(blob["n_written"])
        alive = mem.ids[mem.ids >= 0]
        mem._sync_index(alive.sort().values)
        return mem

    def __repr__(self) -> str:
        return (f"KNNMemory(dim={self.dim}, capacity={self.capacity}, stored={len(self)}, "
                f"written={self.n_written}, metric={self.metric!r}, index={self.index_kind!r})")
