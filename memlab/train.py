"""A tiny language model into which any ``SequenceMemory`` plugs, and a CPU-fast trainer.

``TinyLM`` = token embedding (+ learned positions when ``max_len`` is given), ``n_layers``
pre-norm blocks ``x + mixer(norm(x))``, ``x + mlp(norm(x))``, a final norm and a linear head.
The *mixer* is the memory under study: pass a factory ``d_model -> SequenceMemory`` (or a list
of factories, one per layer). ``train`` runs AdamW with linear warmup and cosine decay on the
answer positions of a :class:`memlab.tasks.TaskBatch`; ``accuracy`` scores the answers.

Plugging a new mixer in takes a few lines: any ``SequenceMemory`` whose ``forward(x, state)``
returns ``(y, state)`` will do. Here, a toy memory that carries a running mean of its inputs
(it cannot solve recall tasks, but it trains and decodes like any other)::

    >>> import torch
    >>> from memlab.memory import SequenceMemory
    >>> from memlab.tasks import mqar
    >>> from memlab.train import TinyLM, train, accuracy
    >>> class RunningMean(SequenceMemory):
    ...     def __init__(self, d_model):
    ...         super().__init__()
    ...         self.d_model, self.proj = d_model, torch.nn.Linear(d_model, d_model)
    ...     def init_state(self, batch, device=None, dtype=None):
    ...         return (torch.zeros(batch, self.d_model, device=device, dtype=dtype), 0)
    ...     def step(self, x_t, state):
    ...         s, n = state
    ...         s = s + (x_t - s) / (n + 1)          # write: update the running mean
    ...         return self.proj(s), (s, n + 1)       # read: project it
    ...     def state_size(self, seq_len=None):
    ...         return self.d_model
    >>> data = mqar(200, seq_len=16, n_pairs=2, vocab_size=16, seed=0)
    >>> model = TinyLM(vocab_size=16, d_model=16, mixer=RunningMean, n_layers=1, max_len=16)
    >>> res = train(model, data, steps=5, batch_size=32, progress=False)
    >>> len(res.losses), 0.0 <= accuracy(model, data) <= 1.0
    (5, True)

The same with softmax attention: ``mixer=lambda d: CausalSelfAttention(d, n_heads=2)``.

Stateful decoding: ``logits, st = model(inputs, return_states=True)`` then
``model(more, st, return_states=True)`` continues the sequence (an :class:`LMState` holds each
mixer's state, the number of tokens seen -- for positions -- and the last token).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from memlab.memory import SequenceMemory
from memlab.tasks import IGNORE, TaskBatch

__all__ = ["Block", "LMState", "TinyLM", "TrainResult", "accuracy", "correct", "train"]

MixerFactory = Callable[[int], SequenceMemory]


class Block(nn.Module):
    """Pre-norm block: ``x + mixer(norm1(x))`` then ``x + mlp(norm2(x))`` (no MLP if ratio 0)."""

    def __init__(self, d_model: int, mixer: SequenceMemory, mlp_ratio: float = 2):
        super().__init__()
        self.norm1, self.mixer = nn.LayerNorm(d_model), mixer
        hidden = round(mlp_ratio * d_model)
        self.norm2 = nn.LayerNorm(d_model) if hidden else None
        self.mlp = nn.Sequential(nn.Linear(d_model, hidden), nn.GELU(),
                                 nn.Linear(hidden, d_model)) if hidden else None

    def forward(self, x, state=None):
        y, state = self.mixer(self.norm1(x), state)
        x = x + y
        if self.mlp is not None:
            x = x + self.mlp(self.norm2(x))
        return x, state


@dataclass
class LMState:
    """What :class:`TinyLM` carries between calls: one state per mixer, tokens seen, last token."""

    mixers: list
    seen: int = 0
    last_token: torch.Tensor | None = None


class TinyLM(nn.Module):
    """Embeddings, ``n_layers`` blocks with the given mixer, a norm and a linear head.

    ``token_shift=True`` adds an embedding of the *previous* token to each position (the
    smallest form of the short convolution Zoology gives every mixer, "the BASED recipe"): a
    value token then carries its key, and one attention layer can solve MQAR, which a tiny model
    learns in seconds on a CPU instead of waiting for an induction head to form.
    """

    def __init__(self, vocab_size: int, d_model: int,
                 mixer: MixerFactory | Sequence[MixerFactory], n_layers: int = 2,
                 max_len: int | None = None, mlp_ratio: float = 2, token_shift: bool = False):
        super().__init__()
        for name, v in (("vocab_size", vocab_size), ("d_model", d_model), ("n_layers", n_layers)):
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        if max_len is not None and (not isinstance(max_len, int) or max_len < 1):
            raise ValueError(f"max_len must be None or a positive int, got {max_len!r}")
        if not mlp_ratio >= 0:
            raise ValueError(f"mlp_ratio must be >= 0, got {mlp_ratio!r}")
        factories = list(mixer) if isinstance(mixer, (list, tuple)) else [mixer] * n_layers
        if len(factories) != n_layers:
            raise ValueError(f"got {len(factories)} mixer factories for n_layers={n_layers}")
        if not all(callable(f) for f in factories):
            raise TypeError("mixer must be a callable d_model -> SequenceMemory (or a list of them)")
        mixers = [f(d_model) for f in factories]
        for m in mixers:
            if not isinstance(m, nn.Module):
                raise TypeError(f"the mixer factory returned {type(m).__name__}, "
                                "expected a SequenceMemory (an nn.Module)")
        self.vocab_size, self.d_model, self.max_len = vocab_size, d_model, max_len
        self.embed = nn.Embedding(vocab_size, d_model)
        self.pos = nn.Embedding(max_len, d_model) if max_len else None
        self.prev = nn.Embedding(vocab_size, d_model) if token_shift else None
        self.blocks = nn.ModuleList(Block(d_model, m, mlp_ratio) for m in mixers)
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab_size, bias=False)
        nn.init.normal_(self.embed.weight, std=0.02)
        for emb in (self.pos, self.prev):
            if emb is not None:
                nn.init.normal_(emb.weight, std=0.02)

    @property
    def mixers(self) -> list[SequenceMemory]:
        return [b.mixer for b in self.blocks]

    def embed_tokens(self, inputs: torch.Tensor, start: int = 0,
                     last_token: torch.Tensor | None = None) -> torch.Tensor:
        """Token (+ position) (+ previous-token, when ``token_shift``) embeddings ``[B, T, d]``.

        ``last_token: [B]`` is the token before ``inputs[:, 0]`` when continuing a sequence.
        """
        if inputs.dim() != 2 or inputs.dtype not in (torch.long, torch.int, torch.int32):
            raise ValueError(f"inputs must be an integer tensor [batch, time], got "
                             f"{tuple(inputs.shape)} {inputs.dtype}")
        x = self.embed(inputs)
        if self.pos is not None:
            T = inputs.shape[1]
            if start + T > self.max_len:
                raise ValueError(f"positions {start}..{start + T - 1} exceed max_len={self.max_len}")
            x = x + self.pos(torch.arange(start, start + T, device=inputs.device))
        if self.prev is not None:
            before = (last_token[:, None] if last_token is not None
                      else torch.zeros_like(inputs[:, :1]))       # token 0 before the start
            x = x + self.prev(torch.cat([before, inputs[:, :-1]], dim=1))
        return x

    def forward(self, inputs: torch.Tensor, states: LMState | None = None, *,
                return_states: bool = False):
        """``logits [B, T, V]``; with ``return_states`` also the :class:`LMState` to continue.

        Continuing: ``logits2, st = model(more, st, return_states=True)`` equals running the
        concatenated sequence at once (positions and the token shift are carried in ``st``).
        """
        if states is not None and not isinstance(states, LMState):
            raise TypeError(f"states must be an LMState returned by this model, "
                            f"got {type(states).__name__}")
        st = states or LMState([None] * len(self.blocks), 0, None)
        if len(st.mixers) != len(self.blocks):
            raise ValueError(f"states must hold one mixer state per layer ({len(self.blocks)}), "
                             f"got {len(st.mixers)}")
        x = self.embed_tokens(inputs, st.seen, st.last_token)
        new = []
        for block, s in zip(self.blocks, st.mixers):
            x, s = block(x, s)
            new.append(s)
        logits = self.head(self.norm(x))
        if not return_states:
            return logits
        return logits, LMState(new, st.seen + inputs.shape[1], inputs[:, -1])


@dataclass
class TrainResult:
    losses: list[float] = field(default_factory=list)
    wall_s: float = 0.0
    steps: int = 0

    @property
    def final_loss(self) -> float:
        tail = self.losses[-max(1, len(self.losses) // 20):]
        return float(sum(tail) / len(tail)) if tail else float("nan")


def _device_of(model: nn.Module) -> torch.device:
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


def lr_at(step: int, steps: int, lr: float, warmup: int, min_ratio: float = 0.1) -> float:
    """Linear warmup to ``lr`` over ``warmup`` steps, then cosine decay to ``min_ratio * lr``."""
    if step < warmup:
        return lr * (step + 1) / warmup
    frac = (step - warmup) / max(1, steps - warmup)
    return lr * (min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * min(1.0, frac))))


def train(model: nn.Module, batch: TaskBatch, steps: int = 1000, batch_size: int = 64,
          lr: float = 1e-3, weight_decay: float = 0.1, warmup: int | None = None,
          device: torch.device | str | None = None, seed: int = 0, progress: bool = True,
          grad_clip: float | None = 1.0) -> TrainResult:
    """Train ``model`` on ``batch`` (cross-entropy at answer positions) with AdamW.

    Minibatches are drawn from shuffled epochs of ``batch`` (a fixed training set, as in
    Zoology). ``warmup`` defaults to 10% of ``steps``; weight decay applies to matrices only.
    ``device=None`` keeps the model where it is.
    """
    if not isinstance(batch, TaskBatch):
        raise TypeError(f"batch must be a memlab.tasks.TaskBatch, got {type(batch).__name__}")
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    if not lr > 0:
        raise ValueError(f"lr must be > 0, got {lr!r}")
    from tqdm.auto import tqdm

    if device is not None:
        from memlab.device import resolve_device
        model.to(resolve_device(device))
    dev = _device_of(model)
    warmup = max(1, steps // 10) if warmup is None else max(1, int(warmup))
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=lr, betas=(0.9, 0.98))
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    n = len(batch)
    inputs, targets = batch.inputs.to(dev), batch.targets.to(dev)
    res, perm, cursor = TrainResult(), torch.randperm(n, generator=g), 0
    model.train()
    t0 = time.perf_counter()
    bar = tqdm(range(steps), disable=not progress, desc="train", leave=False)
    for step in bar:
        if cursor + batch_size > n:
            perm, cursor = torch.randperm(n, generator=g), 0
        idx = perm[cursor:cursor + batch_size].to(dev)
        cursor += batch_size
        for group in opt.param_groups:
            group["lr"] = lr_at(step, steps, lr, warmup)
        logits = model(inputs[idx])
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets[idx].reshape(-1),
                               ignore_index=IGNORE)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if grad_clip:
            nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        opt.step()
        res.losses.append(loss.item())
        if progress and step % 50 == 0:
            bar.set_postfix(loss=f"{res.losses[-1]:.3f}")
    res.wall_s, res.steps = time.perf_counter() - t0, steps
    model.eval()
    return res


@torch.no_grad()
def correct(model: nn.Module, batch: TaskBatch, batch_size: int = 256):
    """``(hits, mask)``: bool ``[n, T]`` -- argmax == target, and where targets are asked."""
    was_training = model.training
    model.eval()
    dev = _device_of(model)
    hits = []
    for i in range(0, len(batch), batch_size):
        logits = model(batch.inputs[i:i + batch_size].to(dev))
        hits.append((logits.argmax(-1) == batch.targets[i:i + batch_size].to(dev)).cpu())
    model.train(was_training)
    mask = batch.targets != IGNORE
    return torch.cat(hits) & mask, mask


def accuracy(model: nn.Module, batch: TaskBatch, batch_size: int = 256) -> float:
    """Fraction of answer positions (targets != -100) where the argmax is the target."""
    hits, mask = correct(model, batch, batch_size)
    if not mask.any():
        raise ValueError("the batch has no answer positions (all targets are -100)")
    return float(hits.sum()) / float(mask.sum())
