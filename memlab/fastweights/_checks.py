"""Chapter 04's fast checks for the kill matrix (``memlab mutants 04``); see ``mutants.py``.

Claims at test size (targets from the chapter) and equalities (explicit targets): the chunked
kernels equal the loops with a state carried in, every layer's forward equals its recurrence and
its forward over pieces with the state carried, a gated-delta case worked by hand, and MoM equal
to its equations written as loops (with its own routing, so a routing bug cannot hide).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from memlab.fastweights import delta_rule as DR
from memlab.fastweights import experiments as E
from memlab.fastweights import gated_delta as GD
from memlab.fastweights import linear_attention as LA
from memlab.fastweights import mom as MOM
from memlab.report import at_most
from memlab.testing import check_sequence_memory, rel_err
from memlab.testing.mutants import check

EXACT = at_most(1e-9)
D = torch.float64


# ------------------------------------------------------------------ claims at test size
@check("04", "delta_overwrites_any_state")
def _overwrite():
    """Delta rule, beta = 1, d = 12: n in (1, 6, 12) orthonormal pairs written over a random S0."""
    return max(E.overwrite_recall(n, 12, "delta", seed=i) for i, n in enumerate([1, 6, 12]))


@check("04", "rewrite_delta_new_value")
def _rewrite_delta():
    return E.rewrite_recall(10, n_other=3, seed=1)["delta_vs_new"]


@check("04", "rewrite_linear_sum")
def _rewrite_linear():
    return E.rewrite_recall(10, n_other=3, seed=1)["linear_vs_sum"]


@check("04", "delta_below_linear")
def _below():
    ns = E.powers_of_two(2, 32)
    c = E.recall_error_curve(8, ns, n_seeds=3, seed=0)
    return sum(d < li for d, li in zip(c["mean"]["delta"], c["mean"]["linear"])) / len(ns)


@check("04", "read_twice_error_ratio")
def _twice():
    return E.read_twice_ratio(8, n_seeds=3, seed=0)["ratio"]


# ------------------------------------------------------------------ equalities
def _qkv(T=13, H=2, d=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    q, v = (torch.randn(2, T, H, d, generator=g, dtype=D) for _ in range(2))
    k = F.normalize(torch.randn(2, T, H, d, generator=g, dtype=D), dim=-1)
    S0 = torch.randn(2, H, d, d, generator=g, dtype=D)
    gates = [torch.rand(2, T, H, generator=g, dtype=D) * 0.9 + 0.1 for _ in range(2)]
    return q, k, v, S0, gates


def _kernel_err(rec, chk, *gates):
    q, k, v, S0, _ = _qkv()
    o_r, S_r = rec(q, k, v, *gates, S0)
    o_c, S_c = chk(q, k, v, *gates, S0, chunk_size=4)
    return max(rel_err(o_c, o_r), rel_err(S_c, S_r))


@check("04", "linear_chunked_equals_loop", target=EXACT)
def _lin_eq():
    """Raw kernels, S0 carried in, T = 13 in chunks of 4: max relative error (outputs, state)."""
    return _kernel_err(LA.linear_attention_recurrent, LA.linear_attention_chunked)


@check("04", "delta_chunked_equals_loop", target=EXACT)
def _del_eq():
    return _kernel_err(DR.delta_rule_recurrent, DR.delta_rule_chunked, _qkv()[4][0])


@check("04", "gated_delta_chunked_equals_loop", target=EXACT)
def _gat_eq():
    return _kernel_err(GD.gated_delta_rule_recurrent, GD.gated_delta_rule_chunked, *_qkv()[4])


def _layer_err(mem):
    torch.manual_seed(0)
    mem = mem.double()
    x = torch.randn(2, 19, 8, dtype=D)
    errs = check_sequence_memory(mem, x, chunks=[5, 1, 9, 4], rtol=float("inf"))
    return max(errs.values())


@check("04", "layers_whole_equals_pieces", target=EXACT)
def _layers():
    """Every layer (chunk_size 4): forward == recurrence == forward over pieces, state carried."""
    torch.manual_seed(0)
    layers = [LA.LinearAttention(8, 2, chunk_size=4), DR.DeltaNet(8, 2, chunk_size=4),
              GD.GatedDeltaNet(8, 2, chunk_size=4),
              MOM.MixtureOfMemories(8, 2, n_memories=3, top_k=2, chunk_size=4)]
    return max(_layer_err(m) for m in layers)


@check("04", "gated_delta_hand_case", target=EXACT)
def _gated_hand():
    """Worked by hand: S0 random, token 1 writes (e1, v1) with alpha = 1/2, beta = 1 and reads e1
    -> exactly v1 (decay first, then overwrite); token 2 writes nothing (beta = 0), alpha = 1/4,
    reads e2 -> S0^T e2 / 8. Both kernels."""
    g = torch.Generator().manual_seed(0)
    S0 = torch.randn(1, 1, 3, 3, generator=g, dtype=D)
    v1 = torch.randn(3, generator=g, dtype=D)
    e = torch.eye(3, dtype=D)
    q = torch.stack([e[0], e[1]]).view(1, 2, 1, 3)
    k = torch.stack([e[0], e[0]]).view(1, 2, 1, 3)
    v = torch.stack([v1, torch.randn(3, generator=g, dtype=D)]).view(1, 2, 1, 3)
    alpha, beta = torch.tensor([[[0.5], [0.25]]], dtype=D), torch.tensor([[[1.0], [0.0]]], dtype=D)
    want = torch.stack([v1, S0[0, 0].T @ e[1] / 8])
    errs = []
    for f in (GD.gated_delta_rule_recurrent, GD.gated_delta_rule_chunked):
        o, _ = f(q, k, v, alpha, beta, S0)
        errs.append(rel_err(o[0, :, 0], want))
    return max(errs)


def _mom_equations(mem, x):
    """MoM as the paper's equations, loops over tokens and memories, its own top-k routing."""
    xc, _, _ = mem._prepare(x, None)
    B, T, _ = x.shape
    H, dk, dv, M, Mt = mem.n_heads, mem.d_key, mem.d_value, mem.n_memories, mem.n_mem_total
    q, k, v = super(MOM.MixtureOfMemories, mem)._qkv(xc)
    k, v = k.view(B, T, Mt, H, dk), v.view(B, T, Mt, H, dv)
    logits = mem.router(xc)
    top, idx = logits.topk(mem.top_k, dim=-1)
    g = torch.zeros_like(logits).scatter(-1, idx, top.softmax(-1))
    beta = torch.sigmoid(mem.b_proj(xc)).view(B, T, Mt, H)
    S = x.new_zeros(B, Mt, H, dk, dv)
    o = x.new_zeros(B, T, H, dv)
    for t in range(T):
        for m in range(Mt):
            w = torch.ones(B, dtype=x.dtype) if m == M else g[:, t, m]
            on = (w > 0).to(x.dtype)[:, None, None, None]
            kk, vv = k[:, t, m], v[:, t, m]
            u = beta[:, t, m, :, None] * (vv - torch.einsum("bhk,bhkv->bhv", kk, S[:, m]))
            S[:, m] = S[:, m] + on * kk[..., None] * u[..., None, :]
            o[:, t] += w[:, None, None] * torch.einsum("bhk,bhkv->bhv", q[:, t], S[:, m])
    return mem._out(o)


@check("04", "mom_matches_equations", target=EXACT)
def _mom():
    """MoM layer (delta rule, 3 memories + shared, top-2) vs its equations as loops."""
    torch.manual_seed(0)
    mem = MOM.MixtureOfMemories(8, 2, n_memories=3, top_k=2, conv_size=2, chunk_size=4).double()
    x = torch.randn(2, 9, 8, dtype=D)
    with torch.no_grad():
        y, _ = mem(x)
        return rel_err(y, _mom_equations(mem, x))


@check("04", "linear_error_falls_with_dk")
def _dk():
    """Untrained linear memory, n = 16 random pairs, d_k in (8, 16, 32, 64), 3 seeds."""
    return E.error_vs_dk(16, (8, 16, 32, 64), "linear", n_seeds=3, seed=0)["falls"]
