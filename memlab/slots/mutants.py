"""Chapter 02's mutants (realistic bugs in the slot memories) and the fast checks that kill them.

``memlab mutants 02`` prints the kill matrix. Every check runs in well under a second.
"""

from __future__ import annotations

from contextlib import contextmanager
from unittest import mock

import torch

from memlab.report import at_most
from memlab.slots import analytic as A
from memlab.slots import lm2, memn2n, ntm
from memlab.testing.mutants import check, mutant

# ------------------------------------------------------------------------- MemN2N
_MECH_MEMN2N = "End-to-end memory network (MemN2N)"


@mutant("02", _MECH_MEMN2N)
@contextmanager
def memn2n_no_padding_mask():
    """Empty memory slots are not masked before the softmax (``domluna/memn2n`` had to push
    their logits to -1000: "empty memories ... will have a larger and larger impact")."""
    def hop_attention(self, u, m, mask):
        logits = (m @ u[:, :, None]).squeeze(-1)
        return logits if self.linear_start else torch.softmax(logits, dim=-1)
    with mock.patch.object(memn2n.MemN2N, "hop_attention", hop_attention):
        yield


@mutant("02", _MECH_MEMN2N)
@contextmanager
def memn2n_time_from_oldest():
    """Temporal encoding indexed from the oldest sentence instead of the most recent one (the
    code counts ``size(d,2):-1:1``): the same age then means different things in short and
    long stories."""
    def ages(n_mem, M):
        return torch.arange(M, device=n_mem.device).expand(n_mem.shape[0], M).clone()
    with mock.patch.object(memn2n, "ages", ages):
        yield


@mutant("02", _MECH_MEMN2N)
@contextmanager
def memn2n_pe_padded_length():
    """The paper's position encoding evaluated with J = the padded sentence length instead of
    the sentence's own number of words (a mix of the paper's and the code's forms)."""
    real = memn2n.position_weights

    def position_weights(words, d, form="paper", dtype=torch.float32):
        if form != "paper":
            return real(words, d, form, dtype)
        J = words.shape[-1]
        j = torch.arange(1, J + 1, dtype=torch.float32)[:, None]
        k = torch.arange(1, d + 1, dtype=torch.float32)[None, :]
        return ((1 - j / J) - (k / d) * (1 - 2 * j / J)).to(dtype) * (words != 0).unsqueeze(-1).to(dtype)
    with mock.patch.object(memn2n, "position_weights", position_weights):
        yield


@mutant("02", _MECH_MEMN2N)
@contextmanager
def memn2n_no_residual():
    """The controller is replaced by the read (``u^{k+1} = o^k``) instead of ``u^k + o^k``: the
    question is forgotten after the first hop."""
    with mock.patch.object(memn2n, "next_controller", lambda u, o: o):
        yield


def _tiny_memn2n_error() -> float:
    """Max relative |fast - loop reference| over logits (and abs over attention), float64: padded
    stories of different
    lengths, both PE forms, with and without linear start."""
    g = torch.Generator().manual_seed(0)
    story = torch.randint(1, 9, (3, 5, 4), generator=g)
    story[:, :, 3] = 0                       # every sentence shorter than the padding
    story[0, :, 2] = 0
    n_mem = torch.tensor([5, 3, 2])
    story[1, 3:] = 0
    story[2, 2:] = 0
    query = torch.randint(1, 9, (3, 4), generator=g)
    query[:, 3] = 0
    worst = 0.0
    for pe in ("paper", "code"):
        for linear in (False, True):
            torch.manual_seed(1)
            model = memn2n.MemN2N(10, memory_size=6, d=6, hops=3, pe=pe, init_std=0.5).double()
            model.linear_start = linear
            with torch.no_grad():
                lo, att = model(story, query, n_mem)
            lr, ar = memn2n.memn2n_reference(model, story, query, n_mem)
            worst = max(worst, float((lo[:, 1:] - lr[:, 1:]).abs().max() / lr[:, 1:].abs().max()),
                        float((att - ar).abs().max()))
    return worst


check("02", "memn2n_matches_reference", target=at_most(1e-9))(_tiny_memn2n_error)


# ------------------------------------------------------------------------- NTM
_MECH_NTM = "NTM-style content and location addressing, erase/add"


@mutant("02", _MECH_NTM)
@contextmanager
def ntm_cosine_no_eps():
    """Cosine similarity without an epsilon in the denominator: a zero slot (or key) gives
    0/0 = NaN (``carpedm20/NTM-tensorflow`` issue #2)."""
    def cosine(M, k, eps=ntm.EPS):
        return torch.einsum("...nw,...w->...n", M, k) / (
            M.norm(dim=-1) * k.norm(dim=-1, keepdim=True))
    with mock.patch.object(ntm, "cosine", cosine):
        yield


@mutant("02", _MECH_NTM)
@contextmanager
def ntm_add_before_erase():
    """Add, then erase (``(M + w a) * (1 - w e)``): with e = 1 the new content is erased too."""
    def write(M, w, e, a):
        return (M + w[..., :, None] * a[..., None, :]) * (1 - w[..., :, None] * e[..., None, :])
    with mock.patch.object(ntm, "ntm_write", write):
        yield


@mutant("02", _MECH_NTM)
@contextmanager
def ntm_shift_reversed():
    """The circular convolution indexed the wrong way: s = (0, 0, 1) moves the focus backwards."""
    def shift(w, s):
        return (s[..., 0:1] * torch.roll(w, 1, dims=-1) + s[..., 1:2] * w
                + s[..., 2:3] * torch.roll(w, -1, dims=-1))
    with mock.patch.object(ntm, "shift", shift):
        yield


@mutant("02", _MECH_NTM)
@contextmanager
def ntm_gate_swapped():
    """Interpolation gate on the wrong side: ``g w_prev + (1 - g) w_c``."""
    with mock.patch.object(ntm, "interpolate", lambda w_c, w_prev, g: g * w_prev + (1 - g) * w_c):
        yield


@mutant("02", _MECH_NTM)
@contextmanager
def ntm_sharpen_unnormalised():
    """Sharpening without renormalising: ``w^gamma`` no longer sums to 1."""
    with mock.patch.object(ntm, "sharpen", lambda w, gamma, eps=ntm.EPS: w.clamp_min(0) ** gamma):
        yield


check("02", "ntm_location_addressing", target=at_most(1e-6))(A.ntm_location_example)
check("02", "ntm_zero_memory_uniform", target=at_most(1e-12))(A.ntm_zero_memory)


@check("02", "ntm_recall")
def _ntm_recall():
    return A.ntm_recall(32, 32, seed=0)["recalled"]


@check("02", "ntm_rewrite_erase")
def _ntm_rewrite_erase():
    return A.ntm_rewrite(16, seed=0)["e1_vs_new"]


@check("02", "ntm_rewrite_add")
def _ntm_rewrite_add():
    return A.ntm_rewrite(16, seed=0)["e0_vs_sum"]


@check("02", "ntm_equals_outer_product")
def _ntm_outer():
    return A.ntm_vs_outer_product(seed=0)


# ------------------------------------------------------------------------- LM2
_MECH_LM2 = "LM2-style gated slot memory"


@mutant("02", _MECH_LM2)
@contextmanager
def lm2_gates_swapped():
    """Input and forget gates exchanged: ``g_forget * tanh(c) + g_in * M``."""
    with mock.patch.object(lm2, "gated_update", lambda M, c, g_in, g_forget:
                           g_forget * torch.tanh(c) + g_in * M):
        yield


@mutant("02", _MECH_LM2)
@contextmanager
def lm2_no_tanh():
    """The candidate written without its tanh squashing (the bank can grow without bound)."""
    with mock.patch.object(lm2, "gated_update", lambda M, c, g_in, g_forget: g_in * c + g_forget * M):
        yield


@mutant("02", _MECH_LM2)
@contextmanager
def lm2_output_ungated():
    """The read added to the residual stream without the output gate (``x + E_mem``): the
    memory can no longer be switched off, the base model is not recovered at g_out = 0."""
    real = lm2.LM2Memory.read

    def read(self, x, M=None, gates=None):
        gates = {k: v for k, v in (gates or {}).items() if k != "g_out"}
        gates["g_out"] = 1.0
        return real(self, x, M, gates)
    with mock.patch.object(lm2.LM2Memory, "read", read):
        yield


@check("02", "lm2_gate_algebra")
def _lm2_gates():
    return max(A.lm2_gate_algebra(seed=0).values())
