"""The one memory vocabulary shared by every chapter.

Two small protocols (DESIGN.md, "One vocabulary across every mechanism"):

``Memory`` -- a content-addressable store (Hopfield nets, kNN memory, product keys, agent stores)::

    write(...)             store something
    read(query, ...)       retrieve by content
    forget(...)            remove / decay, where the mechanism forgets
    state_size()           numbers stored (or bytes, for text stores)
    reset()                empty the store

``SequenceMemory`` -- a mixer that carries a state along a sequence (attention + KV cache,
linear attention, delta rule, SSMs, Titans, recurrent memory tokens)::

    forward(x, state=None) -> (y, state)   whole sequence (parallel / chunked form)
    step(x_t, state)       -> (y_t, state) one token: the recurrence as written in the paper
    init_state(batch)      the empty state
    state_size(seq_len)    numbers in the state of ONE sequence after ``seq_len`` tokens

Shape convention, everywhere in memlab:
    a mixer maps ``x: [batch, time, d_model] -> y: [batch, time, d_model]``;
    inside a mechanism, per-head tensors are ``[batch, time, heads, dim]``;
    one token is ``x_t: [batch, d_model]``.

``state_size`` is what makes chapters comparable: recall-vs-state-size plots put every
mechanism on the same x-axis. A fixed-size recurrent memory ignores ``seq_len``; softmax
attention's KV cache returns ``2 * d * seq_len``.

The three equalities every ``SequenceMemory`` is tested for live in :mod:`memlab.testing`.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import torch
from torch import nn

__all__ = ["Memory", "SequenceMemory", "check_shape"]


@runtime_checkable
class Memory(Protocol):
    """A content-addressable store. ``forget`` is optional (only where the mechanism forgets)."""

    def write(self, *args: Any, **kwargs: Any) -> Any: ...

    def read(self, query: Any, *args: Any, **kwargs: Any) -> Any: ...

    def state_size(self) -> int: ...

    def reset(self) -> None: ...


class SequenceMemory(nn.Module):
    """Base class for mixers that carry a state along a sequence.

    Subclasses implement :meth:`step` (the paper's recurrence, one token) and
    :meth:`init_state`; they usually override :meth:`forward` with a parallel or chunked form.
    The default :meth:`forward` is the naive loop over :meth:`step`, so that every mechanism
    has its recurrence as a reference.

    ``state`` may be any structure of tensors (a tensor, a tuple, a dataclass); ``forward``
    must accept the state it returned, so that ``forward(x)`` equals running
    ``forward`` chunk by chunk with the state carried.
    """

    d_model: int

    def init_state(self, batch: int, device: torch.device | str | None = None,
                   dtype: torch.dtype | None = None) -> Any:
        raise NotImplementedError

    def step(self, x_t: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
        raise NotImplementedError

    def state_size(self, seq_len: int | None = None) -> int:
        raise NotImplementedError

    def forward_recurrent(self, x: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        """Naive form: apply :meth:`step` token by token. ``x: [batch, time, d_model]``."""
        check_shape(x, "x", ndim=3, last=getattr(self, "d_model", None))
        if state is None:
            state = self.init_state(x.shape[0], device=x.device, dtype=x.dtype)
        ys = []
        for t in range(x.shape[1]):
            y_t, state = self.step(x[:, t], state)
            ys.append(y_t)
        return torch.stack(ys, dim=1), state

    def forward(self, x: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        return self.forward_recurrent(x, state)


def check_shape(t: Any, name: str, ndim: int | None = None, last: int | None = None) -> None:
    """Raise a ValueError naming ``name`` when ``t`` is not a tensor of the expected shape."""
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if ndim is not None and t.dim() != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {tuple(t.shape)}")
    if last is not None and t.shape[-1] != last:
        raise ValueError(
            f"{name} must have last dimension {last}, got shape {tuple(t.shape)}")
