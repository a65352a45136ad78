"""Chapter 02's untrained checks: the NTM slot memory as a key-value store, and LM2's gate algebra.

NTM as a key -> value store: slot i holds ``[k_i ; v_i]``; a new pair goes to the next free slot
(location addressing: g = 0, shift +1), a read addresses by content on the key part
(beta = 50) and returns the value part; a rewrite addresses the old slot by content and
writes with erase e (e = 1 replaces, e = 0 adds: chapter 04's delta rule vs linear attention).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from memlab.slots import ntm as N
from memlab.slots.lm2 import LM2Memory

__all__ = [
    "lm2_gate_algebra",
    "ntm_location_example",
    "ntm_read_value",
    "ntm_recall",
    "ntm_rewrite",
    "ntm_store_pairs",
    "ntm_vs_outer_product",
    "ntm_zero_memory",
]


def ntm_store_pairs(keys: torch.Tensor, values: torch.Tensor, n_slots: int | None = None) -> N.NTMMemory:
    """Write each ``[k; v]`` into the next slot (location addressing), erase e = 1."""
    n, dk = keys.shape
    mem = N.NTMMemory(n_slots or 2 * n, dk + values.shape[1], dtype=keys.dtype)
    for k, v in zip(keys, values):
        mem.write(mem.next_slot(), 1.0, torch.cat([k, v]))
    return mem


def ntm_read_value(mem: N.NTMMemory, k: torch.Tensor, beta: float = 50.0) -> torch.Tensor:
    """Content-address on the key part, return the value part of the read vector."""
    dk = k.shape[-1]
    w = N.content_weights(mem.M[:, :dk], k, beta)
    return N.ntm_read(mem.M, w)[dk:]


def _unit(n, d, g, dtype=torch.float64):
    return F.normalize(torch.randn(n, d, generator=g, dtype=dtype), dim=-1)


def ntm_recall(n_pairs: int = 32, d_key: int = 32, beta: float = 50.0, seed: int = 0) -> dict:
    """Store ``n_pairs`` random unit-key pairs; fraction read back within 1% relative error."""
    g = torch.Generator().manual_seed(seed)
    keys, values = _unit(n_pairs, d_key, g), _unit(n_pairs, d_key, g)
    mem = ntm_store_pairs(keys, values)
    reads = torch.stack([ntm_read_value(mem, k, beta) for k in keys])
    err = (reads - values).norm(dim=-1) / values.norm(dim=-1)
    return {"recalled": float((err < 0.01).double().mean()), "max_error": float(err.max()),
            "state_size": mem.state_size()}


def ntm_rewrite(d_key: int = 16, n_other: int = 8, beta: float = 50.0, seed: int = 0) -> dict:
    """Rewrite one key with e = 1 and with e = 0; relative errors vs the new value / the sum."""
    g = torch.Generator().manual_seed(seed)
    keys, values = _unit(n_other + 1, d_key, g), _unit(n_other + 1, d_key, g)
    v_new = _unit(1, d_key, g)[0]
    out = {}
    for e in (1.0, 0.0):
        mem = ntm_store_pairs(keys, values)
        k = keys[0]
        w = N.content_weights(mem.M[:, :d_key], k, beta)
        mem.write(w, e, torch.cat([k, v_new]))
        r = ntm_read_value(mem, k, beta)
        target = v_new if e == 1.0 else v_new + values[0]
        out["e1_vs_new" if e == 1.0 else "e0_vs_sum"] = float((r - target).norm() / target.norm())
    return out


def ntm_vs_outer_product(n: int = 12, n_slots: int = 8, width: int = 5, seed: int = 0) -> float:
    """Relative difference between NTM writes with e = 0, a = v, weighting w_t = k_t (memory
    starting at 0) and the outer-product memory S = sum_t k_t v_t^T of chapter 04, reads too."""
    from memlab.fastweights import experiments as FW

    g = torch.Generator().manual_seed(seed)
    w = torch.randn(n, n_slots, generator=g, dtype=torch.float64)
    v = torch.randn(n, width, generator=g, dtype=torch.float64)
    q = torch.randn(3, n_slots, generator=g, dtype=torch.float64)
    M = torch.zeros(n_slots, width, dtype=torch.float64)
    for w_t, v_t in zip(w, v):
        M = N.ntm_write(M, w_t, torch.zeros(width, dtype=torch.float64), v_t)
    S = FW.store(w, v, "linear")
    err_state = float((M - S).norm() / S.norm())
    err_read = float((N.ntm_read(M[None].expand(3, -1, -1), q) - FW.recall(S, q)).norm()
                     / FW.recall(S, q).norm())
    return max(err_state, err_read)


def lm2_gate_algebra(d: int = 8, n_slots: int = 4, seed: int = 0) -> dict:
    """Max abs errors of the three gate identities (float64, random weights and inputs)."""
    torch.manual_seed(seed)
    mem = LM2Memory(d, n_slots).double()
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2, 5, d, generator=g, dtype=torch.float64)
    M = torch.randn(2, n_slots, d, generator=g, dtype=torch.float64)
    with torch.no_grad():
        c = mem.candidates(x, M)
        frozen = mem.write(x, M, {"g_in": 0.0, "g_forget": 1.0})
        over = mem.write(x, M, {"g_in": 1.0, "g_forget": 0.0})
        y0 = mem.read(x, M, {"g_out": 0.0})
        gi = torch.rand(2, n_slots, d, generator=g, dtype=torch.float64)
        gf = torch.rand(2, n_slots, d, generator=g, dtype=torch.float64)
        mixed = mem.write(x, M, {"g_in": gi, "g_forget": gf})
    return {"freeze": float((frozen - M).abs().max()),
            "overwrite": float((over - torch.tanh(c)).abs().max()),
            "output_gate_off": float((y0 - x).abs().max()),
            "mixed": float((mixed - (gi * torch.tanh(c) + gf * M)).abs().max())}


def ntm_location_example() -> float:
    """Hand-computed addressing: 4 slots, beta = 0 (uniform content), w_prev = e_0, g = 0.75,
    shift +1, gamma = 2 gives w = (9, 49, 9, 9) / 76. Returns the max abs error."""
    M = torch.randn(4, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    w = N.address(M, torch.ones(3, dtype=torch.float64), beta=0.0,
                  w_prev=torch.tensor([1.0, 0, 0, 0], dtype=torch.float64), g=0.75,
                  s=torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64), gamma=2.0)
    return float((w - torch.tensor([9.0, 49.0, 9.0, 9.0], dtype=torch.float64) / 76).abs().max())


def ntm_zero_memory() -> float:
    """Content weights on an all-zero memory must be uniform (finite): max abs error vs 1/N."""
    w = N.content_weights(torch.zeros(5, 4, dtype=torch.float64), torch.ones(4, dtype=torch.float64), 10.0)
    return float((w - 0.2).abs().max())
