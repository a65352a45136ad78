"""Chapter 05's mutants: realistic one-line slips in HiPPO, S4D, Mamba and the B'MOJO hybrid.

Most are made by editing one line of the library's own source (:func:`edited`): the function is
recompiled with the slip and patched in for the ``with`` block, so the bug is exactly the line a
student would get wrong. Where a slip appears in two places that must agree (a recurrence and
its parallel form), both are edited, so only a claim or an independent reference can see it.
The checks that kill them are in ``_checks.py`` (``memlab mutants 05``).

Sources: the state not carried across chunks (fla #494, here for the scan, S4D and B'MOJO);
Euler used where ZOH is claimed (state-spaces/mamba#114 discusses the public code's choice);
the rest are one-line slips (a HiPPO sign, a reversed kernel, Mamba's D skip dropped...).
"""

from __future__ import annotations

import inspect
import textwrap
from contextlib import ExitStack, contextmanager
from unittest import mock

from memlab.fastweights.mutants import replace
from memlab.ssm import bmojo, hippo, mamba, s4d, scan
from memlab.testing.mutants import mutant

HIP, S4, MAM, BMJ = ("HiPPO-LegS online projection", "S4D diagonal SSM",
                     "Mamba selective scan / block", "B'MOJO-style fading + eidetic hybrid")


def _recompiled(func, edits):
    src = textwrap.dedent(inspect.getsource(func))
    for old, new in edits:
        if old not in src:
            raise ValueError(f"mutant edit {old!r} not found in {func.__qualname__}")
        src = src.replace(old, new)
    ns = dict(func.__globals__)
    exec(compile(src, f"<mutant of {func.__qualname__}>", "exec"), ns)  # noqa: S102
    return ns[func.__name__]


@contextmanager
def edited(*targets):
    """``edited((owner, name, [(old, new), ...]), ...)``: recompile each function with the
    slips and patch it in (a module function everywhere it was imported, a method on its class)."""
    with ExitStack() as st:
        for owner, name, edits in targets:
            new = _recompiled(getattr(owner, name), edits)
            st.enter_context(replace(owner, name, new) if inspect.ismodule(owner)
                             else mock.patch.object(owner, name, new))
        yield


def _m(mech, name, doc, *targets):
    @contextmanager
    def factory():
        with edited(*targets):
            yield
    factory.__doc__ = doc
    return mutant("05", mech, name=name)(factory)


# ------------------------------------------------------------------ HiPPO-LegS
_m(HIP, "hippo_sign_flipped", "HiPPO-LegS A with the sign of its lower triangle flipped "
   "(+sqrt(2n+1) sqrt(2k+1) below the diagonal).",
   (hippo, "legs_matrices", [("A = -torch.tril(", "A = torch.tril(")]))
_m(HIP, "hippo_B_unnormalised", "B_n = 1 instead of sqrt(2n+1) (the normalisation forgotten).",
   (hippo, "legs_matrices", [("return A, r.clone()", "return A, torch.ones_like(r)")]))
_m(HIP, "hippo_zoh_is_euler", "Euler used where ZOH is claimed: A_bar = I + dt A, "
   "B_bar = dt B.",
   (hippo, "discretize", [("A_bar = torch.linalg.matrix_exp(d * A)", "A_bar = eye + d * A"),
                          (("B_bar = torch.linalg.solve(A.expand_as(A_bar), ((A_bar - eye) @ B)"
                           ".unsqueeze(-1)).squeeze(-1)"), "B_bar = d[:, :, 0] * B")]))
_m(HIP, "hippo_bilinear_full_step", "Bilinear with dt where dt/2 belongs: "
   "A_bar = (I - dt A)^-1 (I + dt A).",
   (hippo, "discretize", [("left = eye - d / 2 * A", "left = eye - d * A"),
                          ("eye + d / 2 * A", "eye + d * A")]))

# ------------------------------------------------------------------ S4D
_m(S4, "s4d_zoh_is_euler", "Euler used where ZOH is claimed: B_bar = dt instead of "
   "(exp(dt A) - 1) / A.",
   (s4d.S4D, "discrete", [("return A_bar, (A_bar - 1) / A",
                           "return A_bar, torch.exp(self.log_dt)[:, None] + 0 * A")]))
_m(S4, "s4d_dt_not_exponentiated", "The step size wrong: log_dt used as dt in A_bar "
   "(the parameter is log Delta).",
   (s4d.S4D, "discrete", [("dtA = torch.exp(self.log_dt)[:, None] * A",
                           "dtA = self.log_dt[:, None] * A")]))
_m(S4, "s4d_kernel_reversed", "The convolution kernel reversed in time (K_{L-1-l} for K_l).",
   (s4d.S4D, "kernel", [("return 2 * (", "return 2 * torch.flip(("),
                        ("hnl->hl\", CB.imag, im))", "hnl->hl\", CB.imag, im)), [-1])")]))
_m(S4, "s4d_conj_pair_forgotten", "The kernel forgets the conjugate pair (no factor 2), "
   "the recurrence keeps it.",
   (s4d.S4D, "kernel", [("return 2 * (", "return 1 * (")]))
_m(S4, "s4d_state_not_carried", "The convolution view ignores the state carried in "
   "(fla #494 for S4D): a sequence fed in pieces restarts at each piece.",
   (s4d.S4D, "forward_conv", [("if state is not None:", "if False:")]))

# ------------------------------------------------------------------ Mamba
_m(MAM, "mamba_D_skip_dropped", "Mamba's skip D x_t dropped from both scans.",
   (scan, "selective_scan_ref", [("if D is not None:", "if False:")]),
   (scan, "selective_scan_chunked", [("if D is not None:", "if False:")]),
   (scan, "_cumsum_chunks", [("(y + u * D if D is not None else y)", "y")]))
_m(MAM, "mamba_zoh_is_euler", "Euler used where ZOH is claimed: b_bar_factor returns Delta "
   "for B_disc='zoh' too.",
   (scan, "b_bar_factor", [('if B_disc == "euler":', "if True:")]))
_m(MAM, "mamba_state_not_carried", "The chunked scan ignores h0 (fla #494 for the scan).",
   (scan, "selective_scan_chunked", [("start = h0 if h0 is not None else", "start =")]))
_m(MAM, "mamba_A_positive", "A = exp(A_log) (the minus sign forgotten): the state grows.",
   (mamba.Mamba, "forward", [("A = -torch.exp(self.A_log)", "A = torch.exp(self.A_log)")]),
   (mamba.Mamba, "step", [("A = -torch.exp(self.A_log)", "A = torch.exp(self.A_log)")]))
_m(MAM, "mamba_conv_reversed", "The causal depthwise conv kernel reversed (weights flipped).",
   (mamba.Mamba, "_conv", [("self.conv_weight[:, None, :]",
                            "self.conv_weight.flip(-1)[:, None, :]")]))

# ------------------------------------------------------------------ B'MOJO-style hybrid
_m(BMJ, "bmojo_store_keeps_least_innovative", "The store keeps the LEAST innovative tokens "
   "(comparison reversed, in both the step and the parallel form).",
   (bmojo.BMojo, "step", [("put = old_s > ss.gather", "put = old_s < ss.gather"),
                          ("worst = self.capacity - 1 - ss.flip(-1).argmin(-1)",
                           ("worst = self.capacity - 1 - torch.where(ss < 0, 1e9, ss)"
                           ".flip(-1).argmax(-1)"))]),
   (bmojo.BMojo, "forward", [("beats = (cs[:, :, None] > cs[:, None, :])",
                              "beats = (cs[:, :, None] < cs[:, None, :])")]))
_m(BMJ, "bmojo_fading_not_carried", "The fading (Mamba) state is not carried across chunks.",
   (bmojo.BMojo, "forward", [("self.fading(x, st.fading)", "self.fading(x, None)")]))
_m(BMJ, "bmojo_window_one_too_long", "The parallel form's window is one token longer "
   "(> became >=) than the step's.",
   (bmojo.BMojo, "forward", [("(pos[None, :] > tq - self.window)",
                              "(pos[None, :] >= tq - self.window)")]))

from memlab.ssm import _checks  # noqa: F401  (registers the checks)
