"""Test helpers shared by every mechanism: relative errors and the three equalities.

Every ``SequenceMemory`` is checked on random inputs for
  1. parallel / chunked ``forward`` == the token-by-token recurrence (``forward_recurrent``);
  2. ``forward`` over the whole sequence == ``forward`` over chunks with the state carried
     (this is where public implementations break);
  3. the final states of 1 and 2 agree too.
Compare by relative error; use float64 where the comparison must be tight.
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["rel_err", "assert_close", "flatten_state", "check_sequence_memory"]


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    """max|a-b| / max(max|b|, tiny): one number, scale-free."""
    a, b = torch.as_tensor(a).detach(), torch.as_tensor(b).detach()
    if a.shape != b.shape:
        raise ValueError(f"shape mismatch: {tuple(a.shape)} vs {tuple(b.shape)}")
    if b.numel() == 0:
        return 0.0
    denom = b.abs().max().clamp_min(1e-12)
    return float((a - b).abs().max() / denom)


def assert_close(a: torch.Tensor, b: torch.Tensor, rtol: float, what: str = "values") -> None:
    err = rel_err(a, b)
    if not err <= rtol:
        raise AssertionError(f"{what}: relative error {err:.3e} > {rtol:.1e}")


def flatten_state(state: Any) -> list[torch.Tensor]:
    """All tensors in a state (tensor, tuple/list/dict or dataclass), in a fixed order."""
    if state is None:
        return []
    if isinstance(state, torch.Tensor):
        return [state]
    if isinstance(state, dict):
        return [t for k in sorted(state) for t in flatten_state(state[k])]
    if isinstance(state, (list, tuple)):
        return [t for s in state for t in flatten_state(s)]
    if hasattr(state, "__dataclass_fields__"):
        return [t for k in state.__dataclass_fields__ for t in flatten_state(getattr(state, k))]
    return []


def check_sequence_memory(mem, x: torch.Tensor, chunks: list[int], rtol: float = 1e-5) -> dict:
    """Run the three equalities; return the relative errors (raises AssertionError on failure).

    ``chunks`` are the lengths the sequence is cut into (they must sum to ``x.shape[1]``).
    """
    if sum(chunks) != x.shape[1]:
        raise ValueError(f"chunks {chunks} must sum to the sequence length {x.shape[1]}")
    with torch.no_grad():
        y_par, s_par = mem(x)
        y_rec, s_rec = mem.forward_recurrent(x)
        ys, state, start = [], None, 0
        for n in chunks:
            y_c, state = mem(x[:, start:start + n], state)
            ys.append(y_c)
            start += n
        y_chunk = torch.cat(ys, dim=1)
    errs = {"forward_vs_recurrent": rel_err(y_par, y_rec),
            "whole_vs_chunked": rel_err(y_chunk, y_par)}
    n_par, n_rec, n_chunk = (len(flatten_state(s)) for s in (s_par, s_rec, state))
    if not n_par == n_rec == n_chunk:
        raise AssertionError(f"{type(mem).__name__} returns states of different structure: "
                             f"{n_par} tensors (forward), {n_rec} (recurrent), {n_chunk} (chunked)")
    for i, (a, b) in enumerate(zip(flatten_state(s_par), flatten_state(s_rec))):
        errs[f"state{i}_forward_vs_recurrent"] = rel_err(a, b)
    for i, (a, b) in enumerate(zip(flatten_state(state), flatten_state(s_par))):
        errs[f"state{i}_chunked_vs_whole"] = rel_err(a, b)
    bad = {k: v for k, v in errs.items() if not v <= rtol}
    if bad:
        raise AssertionError(f"{type(mem).__name__} equalities fail (rtol={rtol:g}): {bad}")
    return errs
