"""State-space benchmarks: Mamba's selective scan (loop vs chunked), S4D (recurrence vs FFT).

Reference point (issue 5): the readable public selective scan (mamba-minimal's
``selective_scan``: precompute ``exp(Delta A)`` and ``Delta B u``, then a Python loop over time)
takes about 137 ms at L = 4096, d_inner = 128, N = 16, fp32, 2 threads, batch 1 (31 us/step).
``public_loop_ms`` re-implements that loop here so the ratio is measured on *this* machine.
"""

from __future__ import annotations

import torch

from memlab.bench import entry, timeit
from memlab.ssm.s4d import S4D
from memlab.ssm.scan import selective_scan_chunked, selective_scan_ref

REFERENCE_MS_4096 = 137.0


def public_style_loop(u, delta, A, B, C, D):
    """mamba-minimal's ``selective_scan`` structure (precompute, then loop), for timing."""
    b, L, d_in = u.shape
    deltaA = torch.exp(torch.einsum("bld,dn->bldn", delta, A))
    deltaB_u = torch.einsum("bld,bln,bld->bldn", delta, B, u)
    x = u.new_zeros(b, d_in, A.shape[1])
    ys = []
    for i in range(L):
        x = deltaA[:, i] * x + deltaB_u[:, i]
        ys.append(torch.einsum("bdn,bn->bd", x, C[:, i, :]))
    return torch.stack(ys, dim=1) + u * D


def _scan_inputs(L, d_inner=128, N=16, batch=1, seed=0):
    g = torch.Generator().manual_seed(seed)
    u = torch.randn(batch, L, d_inner, generator=g)
    delta = torch.nn.functional.softplus(torch.randn(batch, L, d_inner, generator=g) - 3)
    A = -torch.arange(1, N + 1, dtype=torch.float32).repeat(d_inner, 1)
    B = torch.randn(batch, L, N, generator=g)
    C = torch.randn(batch, L, N, generator=g)
    D = torch.ones(d_inner)
    return u, delta, A, B, C, D


@entry("ssm_selective_scan", family="ssm")
def bench_selective_scan(quick: bool) -> list[dict]:
    """Mamba selective scan: chunked (memlab) vs the public-style loop, d_inner=128, N=16, fp32.

    ``chunked``: the blocked scan of scans with its inner loop (``inner="loop"``, the form
    used for long sequences; ``"auto"`` switches to the cumsum trick only for small inputs).
    Run alone, and compare ``OMP_NUM_THREADS=1`` too: on a busy 2-core machine, two OpenMP
    threads thrash the chunked form's vectorised steps while the public loop's tiny ops do
    not use threads at all.
    """
    rows = []
    for L in ([512, 4096] if quick else [256, 1024, 4096, 16384]):
        args = _scan_inputs(L)
        repeat = 3 if quick else 5
        with torch.no_grad():
            y_loop = public_style_loop(*args)
            y_fast, _ = selective_scan_chunked(*args, inner="loop")
            loop_ms = timeit(lambda a=args: public_style_loop(*a), repeat=repeat)
            fast_ms = timeit(lambda a=args: selective_scan_chunked(*a, inner="loop"),
                             repeat=repeat)
            ref_ms = (timeit(lambda a=args: selective_scan_ref(*a), repeat=1) if L <= 4096
                      else float("nan"))
        row = {"L": L, "public_loop_ms": loop_ms, "memlab_ref_ms": ref_ms, "chunked_ms": fast_ms,
               "ratio": loop_ms / fast_ms,
               "max_rel_diff": float((y_fast - y_loop).abs().max() / y_loop.abs().max()),
               "threads": torch.get_num_threads()}
        if L == 4096:
            row["vs_137ms_reference"] = REFERENCE_MS_4096 / fast_ms
        rows.append(row)
    return rows


@entry("ssm_s4d_conv", family="ssm")
def bench_s4d_conv(quick: bool) -> list[dict]:
    """S4D: FFT convolution vs the recurrence loop, H=128 channels, N=64, fp32, batch 1."""
    rows = []
    torch.manual_seed(0)
    m = S4D(128, 64)
    for L in ([512, 2048] if quick else [256, 1024, 4096, 16384]):
        x = torch.randn(1, L, 128)
        with torch.no_grad():
            y_rec, _ = m.forward_recurrent(x)
            y_conv, _ = m.forward_conv(x)
            rec_ms = timeit(lambda x=x: m.forward_recurrent(x), repeat=1)
            conv_ms = timeit(lambda x=x: m.forward_conv(x), repeat=3)
        rows.append({"L": L, "recurrent_ms": rec_ms, "conv_ms": conv_ms, "ratio": rec_ms / conv_ms,
                     "max_rel_diff": float((y_conv - y_rec).abs().max() / y_rec.abs().max())})
    return rows
