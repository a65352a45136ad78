"""Synthetic recall tasks: MQAR, selective copying, needle, n-back, serial recall.

All generators are deterministic given ``seed`` (NumPy ``default_rng``) and vectorised, so a few
thousand examples take milliseconds. Targets follow the LM convention of :mod:`memlab.tasks`:
``targets[i, t]`` is what the model must output at position ``t``; ``IGNORE`` (-100) elsewhere.

MQAR follows Zoology's ``multiquery_ar.py`` layout (Arora et al., "Zoology: Measuring and
Improving Recall in Efficient Language Models", 2023); the sampling is vectorised (Gumbel top-k
for the power-law gaps, which is sampling without replacement in proportion to ``p``), so the
numbers are not bit-identical to Zoology's for one seed, but the distribution is the same.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

__all__ = [
    "IGNORE",
    "TaskBatch",
    "mqar",
    "nback",
    "needle",
    "selective_copying",
    "serial_recall",
]

IGNORE = -100


@dataclass
class TaskBatch:
    """``inputs``/``targets``: ``LongTensor[n, T]``; ``targets`` is -100 except at answers.

    ``meta`` holds the generator's arguments and per-example tensors (first dimension ``n``),
    which slicing (``batch[i:j]``, ``batch[index_tensor]``) cuts along with the examples.
    """

    inputs: torch.Tensor
    targets: torch.Tensor
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if self.inputs.shape != self.targets.shape or self.inputs.dim() != 2:
            raise ValueError(f"inputs and targets must both be [n, T], got "
                             f"{tuple(self.inputs.shape)} and {tuple(self.targets.shape)}")

    def __len__(self) -> int:
        return self.inputs.shape[0]

    @property
    def seq_len(self) -> int:
        return self.inputs.shape[1]

    @property
    def answer_mask(self) -> torch.Tensor:
        """Bool ``[n, T]``: True at the positions that are scored."""
        return self.targets != IGNORE

    def _map_meta(self, fn) -> dict[str, Any]:
        n = len(self)
        return {k: (fn(v) if isinstance(v, torch.Tensor) and v.dim() > 0 and v.shape[0] == n
                    else v) for k, v in self.meta.items()}

    def __getitem__(self, idx) -> TaskBatch:
        if isinstance(idx, int):
            idx = slice(idx, idx + 1)
        return TaskBatch(self.inputs[idx], self.targets[idx], self._map_meta(lambda v: v[idx]))

    def to(self, device) -> TaskBatch:
        return TaskBatch(self.inputs.to(device), self.targets.to(device),
                         self._map_meta(lambda v: v.to(device)))


# ----------------------------------------------------------------------------- helpers
def _check_int(name: str, value: Any, lo: int) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < lo:
        raise ValueError(f"{name} must be >= {lo}, got {value}")
    return int(value)


def _distinct(rng: np.random.Generator, n: int, low: int, high: int, k: int) -> np.ndarray:
    """``n`` rows of ``k`` distinct integers from ``[low, high)``, uniformly (no replacement)."""
    return low + np.argsort(rng.random((n, high - low)), axis=1)[:, :k]


def _batch(inputs: np.ndarray, targets: np.ndarray, **meta: Any) -> TaskBatch:
    meta = {k: (torch.as_tensor(v) if isinstance(v, np.ndarray) else v) for k, v in meta.items()}
    return TaskBatch(torch.as_tensor(inputs, dtype=torch.long),
                     torch.as_tensor(targets, dtype=torch.long), meta)


# ----------------------------------------------------------------------------- MQAR
def mqar(n_examples: int, seq_len: int, n_pairs: int, vocab_size: int, *,
         power_a: float = 0.01, random_non_queries: bool = True, num_passes: int = 1,
         seed: int = 0) -> TaskBatch:
    """Multi-query associative recall, Zoology layout.

    Spec: positions ``0 .. 2*n_pairs-1`` hold ``k_1 v_1 k_2 v_2 ...``: keys drawn without
    replacement from the lower half of the vocabulary ``[1, V//2)``, values without replacement
    from the upper half ``[V//2, V)``. Every key is then asked once in the remaining space: the
    query slots are the even offsets ``2*g`` after the pairs, with gaps ``g`` drawn without
    replacement with ``p(g) ∝ power_a * g**(power_a - 1)`` (``g = 1 .. space``, a power law that
    favours short gaps). ``targets`` holds the value at each query's position, -100 elsewhere.
    Other positions are 0, or uniformly random tokens when ``random_non_queries`` (Zoology's
    default). ``meta["query_pair"]``: for every position, which pair it asks (-1 if none).

    ``num_passes``: the context ``k_1 v_1 ... k_n v_n`` is written ``num_passes`` times in a row
    before the questions (Arora et al., "Just read twice", 2024: JRT's ``[ctx; ctx; question]``
    layout at ``num_passes=2``); the query slots follow the last copy.

    Needs ``(2 * num_passes + 2) * n_pairs <= seq_len`` (pairs, their copies, one query slot per
    pair) and ``n_pairs < V//2``.
    """
    n_examples = _check_int("n_examples", n_examples, 1)
    seq_len = _check_int("seq_len", seq_len, 4)
    n_pairs = _check_int("n_pairs", n_pairs, 1)
    vocab_size = _check_int("vocab_size", vocab_size, 4)
    num_passes = _check_int("num_passes", num_passes, 1)
    need = (2 * num_passes + 2) * n_pairs
    if need > seq_len:
        raise ValueError(f"n_pairs={n_pairs} key-value pairs need seq_len >= 4*n_pairs = "
                         f"{4 * n_pairs} (the pairs plus a query slot each)"
                         + (f", {need} with num_passes={num_passes}" if num_passes > 1 else "")
                         + f", got seq_len={seq_len}")
    half = vocab_size // 2
    if n_pairs > half - 1 or n_pairs > vocab_size - half:
        raise ValueError(f"n_pairs={n_pairs} distinct keys need vocab_size//2 - 1 >= n_pairs, got "
                         f"vocab_size={vocab_size} (keys come from [1, {half}))")
    if not power_a > 0:
        raise ValueError(f"power_a must be > 0, got {power_a}")
    rng = np.random.default_rng(seed)
    ctx = 2 * n_pairs * num_passes
    keys = _distinct(rng, n_examples, 1, half, n_pairs)
    values = _distinct(rng, n_examples, half, vocab_size, n_pairs)
    space = (seq_len - ctx) // 2
    g = np.arange(1, space + 1, dtype=np.float64)
    logp = np.log(power_a * g ** (power_a - 1))
    gumbel = -np.log(-np.log(rng.random((n_examples, space))))
    gaps = np.argsort(-(logp + gumbel), axis=1)[:, :n_pairs]  # 0-based slot index
    inputs = np.zeros((n_examples, seq_len), dtype=np.int64)
    inputs[:, 0:ctx:2] = np.tile(keys, num_passes)
    inputs[:, 1:ctx:2] = np.tile(values, num_passes)
    if random_non_queries:
        inputs[:, ctx:] = rng.integers(0, vocab_size, (n_examples, seq_len - ctx))
    targets = np.full((n_examples, seq_len), IGNORE, dtype=np.int64)
    qpos = ctx + 2 * gaps
    rows = np.arange(n_examples)[:, None]
    inputs[rows, qpos] = keys
    targets[rows, qpos] = values
    query_pair = np.full((n_examples, seq_len), -1, dtype=np.int64)
    query_pair[rows, qpos] = np.arange(n_pairs)[None, :]
    return _batch(inputs, targets, task="mqar", n_pairs=n_pairs, vocab_size=vocab_size,
                  power_a=power_a, seed=seed, num_passes=num_passes, query_pair=query_pair)


# ----------------------------------------------------------------------------- selective copying
def selective_copying(n_examples: int, seq_len: int, n_tokens: int, vocab_size: int, *,
                      seed: int = 0) -> TaskBatch:
    """Selective copying (Gu & Dao, "Mamba", 2023, Figure 2).

    Spec: the first ``L = seq_len - n_tokens`` positions are noise (token 0) except ``n_tokens``
    data tokens from ``[2, V)`` at random sorted positions; the last ``n_tokens`` positions are
    the copy marker 1. At the ``j``-th marker the target is the ``j``-th data token (in order of
    appearance). ``meta["data_pos"]``: ``[n, n_tokens]`` positions of the data tokens.
    """
    n_examples = _check_int("n_examples", n_examples, 1)
    seq_len = _check_int("seq_len", seq_len, 2)
    n_tokens = _check_int("n_tokens", n_tokens, 1)
    vocab_size = _check_int("vocab_size", vocab_size, 3)
    if 2 * n_tokens > seq_len:
        raise ValueError(f"n_tokens={n_tokens} data tokens plus {n_tokens} copy markers need "
                         f"seq_len >= {2 * n_tokens}, got seq_len={seq_len}")
    rng = np.random.default_rng(seed)
    L = seq_len - n_tokens
    pos = np.sort(_distinct(rng, n_examples, 0, L, n_tokens), axis=1)
    data = rng.integers(2, vocab_size, (n_examples, n_tokens))
    inputs = np.zeros((n_examples, seq_len), dtype=np.int64)
    rows = np.arange(n_examples)[:, None]
    inputs[rows, pos] = data
    inputs[:, L:] = 1
    targets = np.full((n_examples, seq_len), IGNORE, dtype=np.int64)
    targets[:, L:] = data
    return _batch(inputs, targets, task="selective_copying", n_tokens=n_tokens,
                  vocab_size=vocab_size, seed=seed, data_pos=pos)


# ----------------------------------------------------------------------------- needle
def needle(n_examples: int, seq_len: int, depth: float, vocab_size: int, *,
           seed: int = 0) -> TaskBatch:
    """Needle / passkey retrieval at a controlled depth, in MQAR's vocabulary split.

    Spec: a haystack of filler tokens from the lower half ``[1, V//2)``; one key-value pair
    (the needle: key from the lower half, absent from the filler; value from the upper half
    ``[V//2, V)``) at position ``p = round(depth * (seq_len - 3))`` (key at ``p``, value at
    ``p+1``); the last position repeats the key and its target is the value. ``depth=0``: the
    needle opens the sequence (oldest); ``depth=1``: it sits just before the question.
    ``meta["needle_pos"]``: ``[n]`` position of the needle's value token.
    """
    n_examples = _check_int("n_examples", n_examples, 1)
    seq_len = _check_int("seq_len", seq_len, 3)
    vocab_size = _check_int("vocab_size", vocab_size, 6)
    if not (isinstance(depth, (int, float)) and 0.0 <= depth <= 1.0):
        raise ValueError(f"depth must be a number in [0, 1], got {depth!r}")
    rng = np.random.default_rng(seed)
    half = vocab_size // 2
    p = round(depth * (seq_len - 3))
    key = rng.integers(1, half, n_examples)
    value = rng.integers(half, vocab_size, n_examples)
    # filler from [1, half) minus the key: draw from half-2 symbols, shift those >= key up by one
    filler = rng.integers(1, half - 1, (n_examples, seq_len))
    filler = filler + (filler >= key[:, None])
    inputs = filler.astype(np.int64)
    inputs[:, p], inputs[:, p + 1], inputs[:, -1] = key, value, key
    targets = np.full((n_examples, seq_len), IGNORE, dtype=np.int64)
    targets[:, -1] = value
    return _batch(inputs, targets, task="needle", depth=float(depth), vocab_size=vocab_size,
                  seed=seed, needle_pos=np.full(n_examples, p + 1, dtype=np.int64))


# ----------------------------------------------------------------------------- n-back / serial recall
def nback(n_examples: int, seq_len: int, n: int, vocab_size: int, *, seed: int = 0) -> TaskBatch:
    """n-back recall: random tokens from ``[1, V)``; at every ``t >= n`` output ``inputs[t-n]``.

    ``n=1`` is the copy-previous-token skill an induction head is built from; a memory with a
    window shorter than ``n`` cannot do it.
    """
    n_examples = _check_int("n_examples", n_examples, 1)
    seq_len = _check_int("seq_len", seq_len, 2)
    n = _check_int("n", n, 1)
    vocab_size = _check_int("vocab_size", vocab_size, 2)
    if n >= seq_len:
        raise ValueError(f"n={n} must be < seq_len={seq_len} (nothing to recall otherwise)")
    rng = np.random.default_rng(seed)
    inputs = rng.integers(1, vocab_size, (n_examples, seq_len))
    targets = np.full((n_examples, seq_len), IGNORE, dtype=np.int64)
    targets[:, n:] = inputs[:, :-n]
    return _batch(inputs, targets, task="nback", n=n, vocab_size=vocab_size, seed=seed)


def serial_recall(n_examples: int, n_items: int, vocab_size: int, *, seed: int = 0) -> TaskBatch:
    """Serial recall: ``n_items`` tokens from ``[2, V)``, then ``n_items`` recall markers (1).

    Sequence length ``2 * n_items``; at the ``j``-th marker the target is the ``j``-th item.
    (Selective copying without the noise.)
    """
    n_examples = _check_int("n_examples", n_examples, 1)
    n_items = _check_int("n_items", n_items, 1)
    vocab_size = _check_int("vocab_size", vocab_size, 3)
    rng = np.random.default_rng(seed)
    items = rng.integers(2, vocab_size, (n_examples, n_items))
    inputs = np.concatenate([items, np.ones_like(items)], axis=1)
    targets = np.full_like(inputs, IGNORE)
    targets[:, n_items:] = items
    return _batch(inputs, targets, task="serial_recall", n_items=n_items, vocab_size=vocab_size,
                  seed=seed)
