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

# ============================================================ MemMamba (notes + cross-token attn)
import torch

from memlab.report import at_most
from memlab.ssm import memmamba
from memlab.testing.mutants import check

MEM = "MemMamba note pool + cross-token attention"
_MM = memmamba.MemMamba

_m(MEM, "memmamba_threshold_flipped", "The note is written when the salience is BELOW tau: "
   "filler fills the pool, the passkey never gets a note.",
   (_MM, "_notes_step", [("p, s > self.tau)", "p, s < self.tau)")]),
   (_MM, "notes_scan", [("p, s[:, t] > self.tau)", "p, s[:, t] < self.tau)")]))
_m(MEM, "memmamba_empty_slots_unmasked", "Empty pool slots are not masked: the attention "
   "spreads its weight over zero notes.",
   (memmamba, "read_notes", [('scores = scores.masked_fill(~filled, float("-inf"))',
                              "scores = scores"),
                             (".nan_to_num(0.0) * filled", ".nan_to_num(0.0)")]))
_m(MEM, "memmamba_evicts_highest", "A full pool replaces its HIGHEST-priority note "
   "(argmax for argmin): the most salient note is the first to go.",
   (memmamba, "insert_note", [("slot = prio.argmin(dim=1)", "slot = prio.argmax(dim=1)")]))
_m(MEM, "memmamba_pool_not_carried", "The note pool is not carried across chunks (forward "
   "starts from an empty pool).",
   (_MM, "forward", [("self.notes_scan(x, (notes, prio, clock))",
                      "self.notes_scan(x, self.init_state(x.shape[0], x.device, x.dtype)[1:])")]))
_m(MEM, "memmamba_probe_sums_all_outputs", "The attribution probe differentiates the sum of "
   "ALL outputs, not the last one: every token looks remembered by its own output.",
   (memmamba, "attribution", [("y[:, -1, j].sum()", "y[..., j].sum()")]))


@check("05", "memmamba_attribution_ratio")
def _mm_attr():
    """Attribution at distance 256 over distance 16, random-init Mamba, T = 300, 4 sequences."""
    return memmamba.attribution_ratio(T=300, batch=4)["ratio"]


def _mm_passkey():
    return memmamba.passkey_curve(distances=(64,), n_train=200, n_test=100, seed=0)


@check("05", "memmamba_notes_gain")
def _mm_gain():
    """Passkey at distance 64: MemMamba minus plain Mamba (same weights), 300 sequences."""
    out = _mm_passkey()
    return out["memmamba"][0] - out["mamba"][0]


@check("05", "memmamba_plain_far_above_chance")
def _mm_plain():
    """Passkey at distance 64: plain Mamba minus chance."""
    out = _mm_passkey()
    return out["mamba"][0] - out["chance"]


def _mm_model(pool_size=3, seed=0):
    torch.manual_seed(seed)
    return memmamba.MemMamba(8, 4, pool_size=pool_size).double()


@check("05", "memmamba_step_equals_chunked_forward", target=at_most(1e-12))
def _mm_equal():
    """Max |y| difference: step loop vs forward over 3 chunks (state carried); pool of 3
    overflows (every token salient)."""
    m = _mm_model()
    with torch.no_grad():
        m.score.bias.fill_(5.0)
        x = torch.randn(2, 15, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
        st, ys = m.init_state(2), []
        for t in range(15):
            y, st = m.step(x[:, t], st)
            ys.append(y)
        st2, parts = None, []
        for a, b in ((0, 4), (4, 5), (5, 15)):
            y, st2 = m(x[:, a:b], st2)
            parts.append(y)
    return float((torch.stack(ys, 1) - torch.cat(parts, 1)).abs().max())


@check("05", "memmamba_pool_hand_computed", target=at_most(0.0))
def _mm_pool():
    """Pool of 2, priorities 0.9, 0.6, 0.8 then 0.7 written: kept {0.9, 0.8} (priority); FIFO
    clock 0..3 keeps {2, 3}. Returns the number of wrong slots."""
    wrong = 0
    for ps, want in (([0.9, 0.6, 0.8, 0.7], [0.8, 0.9]), ([0.0, 1.0, 2.0, 3.0], [2.0, 3.0])):
        slots, prio = (torch.zeros(1, 2, 1),), torch.full((1, 2), float("-inf"))
        for p in ps:
            slots, prio = memmamba.insert_note(slots, prio, (torch.tensor([[p]]),),
                                               torch.tensor([p]), torch.tensor([True]))
        wrong += int((prio.sort().values[0] != torch.tensor(want)).sum())
        wrong += int((slots[0][0, :, 0].sort().values != torch.tensor(want)).sum())
    return float(wrong)


@check("05", "memmamba_single_note_read", target=at_most(1e-12))
def _mm_read():
    """One salient token then a filler token: the read is 0 at t = 0 (read before write) and
    W_o W_v W_n x_0 at t = 1 (softmax over one note = 1). Max abs error."""
    m = _mm_model(pool_size=4)
    with torch.no_grad():
        m.score.weight.zero_()
        m.score.weight[0, 0] = 10.0
        x = torch.randn(1, 2, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
        x[0, 0, 0], x[0, 1, 0] = 1.0, -1.0
        st = m.init_state(1)
        reads, _ = m.notes_scan(x, st[1:])
        want = m.W_o(m.W_v(m.W_n(x[:, 0])))
    return max(float(reads[:, 0].abs().max()), float((reads[:, 1] - want).abs().max()))


from memlab.ssm import _checks  # noqa: F401  (registers the checks)
