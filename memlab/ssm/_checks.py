"""Chapter 05's fast checks for the kill matrix (``memlab mutants 05``); see ``mutants.py``.

Claims at test size (targets from the chapter) and equalities with explicit targets: the
discretisations against closed forms, the scans and layers against their naive forms with the
state carried, the Mamba block against its equations written as loops, and a B'MOJO case.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from memlab.report import at_least, at_most
from memlab.ssm import bmojo, hippo, mamba, s4d, scan
from memlab.ssm import experiments as X
from memlab.testing import check_sequence_memory, rel_err
from memlab.testing.mutants import check

EXACT = at_most(1e-9)
D = torch.float64


@check("05", "hippo_vs_ema_error_ratio")
def _hippo():
    """N = 16, T = 300, 256 training signals for the EMA decoder."""
    return X.hippo_vs_ema(N=16, T=300, n_train=256, n_test=64, seed=0)["ratio"]


@check("05", "hippo_ramp_closed_form", target=at_most(1e-4))
def _ramp():
    """LegS (ZOH in log-time) on a ramp, T = 200: c = (T/2, T/(2 sqrt 3), 0, 0) up to the
    discretisation error (2e-5: ZOH holds each sample, the ramp moves); fast form == loop."""
    T = 200
    u = torch.arange(T, dtype=D) + 0.5
    c = hippo.legs_online(u, 4, "zoh")[-1]
    want = torch.tensor([T / 2, T / (2 * math.sqrt(3)), 0, 0], dtype=D)
    return max(rel_err(c, want), rel_err(hippo.legs_online_fast(u, 4, "zoh"), c))


def _err(got, want):
    return abs(complex(got) - want) / max(abs(want), 1e-300)


@check("05", "discretization_closed_form_err")
def _closed_form():
    return X.discretization_closed_form_err()


@check("05", "s4d_conv_vs_recurrence_rel_err")
def _conv_rec():
    return max(X.s4d_conv_vs_recurrence(T=128, seed=0, discretization=d)
               for d in ("zoh", "bilinear"))


@check("05", "mamba_theorem1_zoh_err")
def _theorem1():
    return X.theorem1_gap("zoh", T=64)


@check("05", "selection_probe_selective_acc")
def _probe_sel():
    return X.selection_probe(seq_len=32, n_tokens=4, vocab_size=8, N=8, seed=0, n_train=600,
                             n_test=200, lti_deltas=(0.03, 0.3))["selective"]


@check("05", "selection_probe_lti_acc")
def _probe_lti():
    return X.selection_probe(seq_len=32, n_tokens=4, vocab_size=8, N=8, seed=0, n_train=600,
                             n_test=200, lti_deltas=(0.03, 0.1, 0.3))["lti"]


@check("05", "selective_scan_chunked_equals_ref", target=EXACT)
def _scans():
    """Both B_disc, h0 and D given, chunks of 5 (loop and cumsum inner): vs the loop."""
    g = torch.Generator().manual_seed(0)
    b, L, Dn, N = 2, 23, 3, 4
    u = torch.randn(b, L, Dn, generator=g, dtype=D)
    delta = F.softplus(torch.randn(b, L, Dn, generator=g, dtype=D))
    A = -torch.rand(Dn, N, generator=g, dtype=D) - 0.5
    B, C = (torch.randn(b, L, N, generator=g, dtype=D) for _ in range(2))
    Dk, h0 = torch.randn(Dn, generator=g, dtype=D), torch.randn(b, Dn, N, generator=g, dtype=D)
    errs = []
    for disc in scan.B_DISCRETIZATIONS:
        y0, h = scan.selective_scan_ref(u, delta, A, B, C, Dk, h0, B_disc=disc)
        for inner in ("loop", "cumsum"):
            y1, h1 = scan.selective_scan_chunked(u, delta, A, B, C, Dk, h0, chunk=5, inner=inner,
                                                 B_disc=disc)
            errs += [rel_err(y1, y0), rel_err(h1, h)]
    # and one step by hand: h = exp(-0.5) * 2 + 0.5 * 3 * 4 (Euler), y = 1.5 h + 2 * 4
    y, h = scan.selective_scan_ref(torch.full((1, 1, 1), 4.0, dtype=D),
                                   torch.full((1, 1, 1), 0.5, dtype=D),
                                   -torch.ones(1, 1, dtype=D), torch.full((1, 1, 1), 3.0, dtype=D),
                                   torch.full((1, 1, 1), 1.5, dtype=D), torch.tensor([2.0], dtype=D),
                                   torch.full((1, 1, 1), 2.0, dtype=D))
    hh = 2 * math.exp(-0.5) + 6.0
    errs += [_err(h[0, 0, 0], hh), _err(y[0, 0, 0], 1.5 * hh + 8.0)]
    return max(errs)


def _layer_err(mem, d):
    torch.manual_seed(1)
    x = torch.randn(2, 17, d, dtype=D)
    return max(check_sequence_memory(mem.double(), x, [6, 1, 10], rtol=float("inf")).values())


@check("05", "layers_whole_equals_pieces", target=EXACT)
def _layers():
    """S4D, Mamba (selective, chunk 4; and the LTI block), B'MOJO: forward == recurrence ==
    forward over pieces with the state carried."""
    torch.manual_seed(0)
    mems = [(s4d.S4D(3, 4), 3), (mamba.Mamba(4, d_state=4, chunk=4), 4),
            (mamba.Mamba(4, d_state=4, ssm="s4d"), 4), (bmojo.BMojo(4, window=3, capacity=2), 4)]
    return max(_layer_err(m, d) for m, d in mems)


@check("05", "mamba_block_matches_equations", target=EXACT)
def _mamba_eq():
    """The Mamba block (selective, Euler B) against its equations as loops: causal conv
    sum_j w_j x_{t-K+1+j}, silu, Delta = softplus(dt_proj(x_proj)), A = -exp(A_log), the scan
    h = exp(Delta A) h + Delta B x, y = C h + D x, gate silu(z), out_proj."""
    torch.manual_seed(0)
    m = mamba.Mamba(4, d_state=3, d_conv=3).double()
    x = torch.randn(1, 6, 4, dtype=D)
    with torch.no_grad():
        y, _ = m(x)
        xi, z = m.in_proj(x[0]).chunk(2, -1)                    # [L, E]
        L, E, K = xi.shape[0], m.d_inner, m.d_conv
        A = -torch.exp(m.A_log)
        h, out = torch.zeros(E, 3, dtype=D), []
        for t in range(L):
            xc = m.conv_bias.clone()
            for j in range(K):
                if t - K + 1 + j >= 0:
                    xc = xc + m.conv_weight[:, j] * xi[t - K + 1 + j]
            xc = F.silu(xc)
            dt, B, C = torch.split(m.x_proj(xc), [m.dt_rank, 3, 3])
            delta = F.softplus(m.dt_proj(dt))
            h = torch.exp(delta[:, None] * A) * h + (delta * xc)[:, None] * B[None]
            out.append(m.out_proj(((h @ C) + m.D * xc) * F.silu(z[t])))
        return rel_err(y[0], torch.stack(out))


@check("05", "bmojo_store_keeps_spikes", target=at_least(1.0))
def _spikes():
    """A constant stream with three spikes: fraction of the spikes' keys found in the store."""
    torch.manual_seed(0)
    m = bmojo.BMojo(4, window=2, capacity=3).double()
    x = torch.ones(1, 40, 4, dtype=D)
    spikes = [5, 17, 30]
    for i, p in enumerate(spikes):
        x[0, p] = torch.tensor([4.0, -3.0, 2.0, 5.0], dtype=D) * (i + 1)
    with torch.no_grad():
        _, st = m(x)
        keys = m.k(x[0, spikes])
    return sum(float((st.store_k[0] - k).abs().sum(-1).min()) < 1e-9 for k in keys) / 3
