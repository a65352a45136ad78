"""Chapter 06's mutants and checks for PERK (test-time LoRA) and the Nested Learning CMS.

Imported by :mod:`memlab.testtime.mutants` (which registers the rest of the chapter's)."""

from __future__ import annotations

from contextlib import ExitStack, contextmanager
from unittest import mock

import torch

from memlab.report import at_most as _at_most
from memlab.testing.mutants import check as _check
from memlab.testing.mutants import mutant

# --------------------------------------------------------------------------- PERK (test-time LoRA)

M_PERK = "PERK test-time LoRA (frozen LM + adapter trained on the context)"


@mutant("06", M_PERK)
@contextmanager
def perk_inner_step_ascends():
    """The inner step's sign flipped: phi <- phi + alpha grad (the context's loss goes up)."""
    import memlab.testtime.perk as P
    real = P.inner_loop

    def broken(model, context, phi0, steps=4, lr=0.1, seg_len=8):
        return real(model, context, phi0, steps, -lr, seg_len)

    with ExitStack() as st:
        st.enter_context(mock.patch.object(P, "inner_loop", broken))
        import memlab.testtime.perk_experiments as PX
        st.enter_context(mock.patch.object(PX, "inner_loop", broken))
        yield


@mutant("06", M_PERK)
@contextmanager
def perk_adapter_shared_across_batch():
    """One adapter for the whole batch (the examples' gradients summed into a shared phi): every
    context is written into every other example's memory."""
    import memlab.testtime.perk as P
    real = P.inner_loop

    def broken(model, context, phi0, steps=4, lr=0.1, seg_len=8):
        out = real(model, context, phi0, steps, lr, seg_len)
        n = context.shape[0]
        ts = [t0.expand(n, *t0.shape[1:]) if t0.shape[0] == 1 else t0 for t0 in phi0.tensors()]
        shared = [t0 + (t - t0).sum(0, keepdim=True) for t0, t in zip(ts, out.tensors())]
        return P.Adapter.from_tensors(shared)

    with mock.patch.object(P, "inner_loop", broken):
        yield


@mutant("06", M_PERK)
@contextmanager
def perk_lora_scale_not_divided_by_rank():
    """LoRA's update scaled by s, not s / r (a common slip when porting LoRA by hand)."""
    import memlab.testtime.perk as P

    def _lin(self, x, lin, A, B):
        y = lin(x)
        if A is not None:
            y = y + self.lora_scale * torch.bmm(torch.bmm(x, A.transpose(1, 2)), B.transpose(1, 2))
        return y

    with mock.patch.object(P.TinyLM, "_lin", _lin):
        yield


@mutant("06", M_PERK)
@contextmanager
def perk_adapter_b_random_init():
    """Both LoRA factors drawn at random (B != 0): the adapter no longer starts as the identity."""
    import memlab.testtime.perk as P
    real = P.TinyLM.init_adapter

    def init_adapter(self, generator=None):
        a = real(self, generator)
        return P.Adapter(a.A, [torch.randn(b.shape, generator=generator) * 0.1 for b in a.B])

    with mock.patch.object(P.TinyLM, "init_adapter", init_adapter):
        yield


@mutant("06", M_PERK)
@contextmanager
def perk_segments_not_overlapping():
    """Segments cut end to end (stride = seg_len): a fact split across a boundary is never
    seen as a pair by the inner loop."""
    import memlab.testtime.perk as P

    def segments(context, seg_len):
        L = context.shape[1]
        return torch.stack([context[:, s:s + seg_len] for s in range(0, L - seg_len + 1, seg_len)], 1)

    with mock.patch.object(P, "segments", segments):
        yield


@_check("06", "perk_inner_loop_rel_err")
def _perk_inner():
    from memlab.testtime import perk_experiments as PX
    return PX.inner_loop_rel_err(0)


@_check("06", "perk_write_loss_ratio")
def _perk_write():
    from memlab.testtime import perk_experiments as PX
    return PX.write_loss_ratio(0)


@_check("06", "perk_identity_at_init_err", target=_at_most(1e-6))
def _perk_identity():
    from memlab.testtime import perk_experiments as PX
    return PX.identity_at_init_err(0)


@_check("06", "perk_lora_hand_err", target=_at_most(1e-12))
def _perk_hand():
    from memlab.testtime import perk_experiments as PX
    return PX.lora_hand_err()


@_check("06", "perk_uncovered_bigrams", target=_at_most(0))
def _perk_cover():
    from memlab.testtime import perk_experiments as PX
    return PX.uncovered_bigrams()


# --------------------------------------------------------------------------- Nested Learning CMS
M_CMS = "Nested Learning continuum memory system (HOPE's levels)"


def _cms_patch(transform):
    """Replace ``nested.cms_step`` by ``transform(real)`` (cms_recurrent looks it up there)."""
    import memlab.testtime.nested as N
    return mock.patch.object(N, "cms_step", transform(N.cms_step))


@mutant("06", M_CMS)
@contextmanager
def cms_accumulator_not_reset():
    """A level's accumulated gradient not cleared after its update: every later update
    re-applies all the past chunks' gradients."""
    import memlab.testtime.nested as N

    def cms_step(k, v, state, chunks=(1, 16), etas=(0.1, 0.01 / 16), alphas=(0.05, 0.0),
                 combine="sum"):
        y, grads = N._read_and_grads(state.W, k, v, combine)
        t = state.t + 1
        W, G = [], []
        for w, acc, g, c, eta, a in zip(state.W, state.G, grads, chunks, etas, alphas):
            acc = acc + eta * g
            if t % c == 0:
                w = (1 - a) * w - acc
            W.append(w)
            G.append(acc)
        return y, N.replace(state, W=W, G=G, t=t)

    with mock.patch.object(N, "cms_step", cms_step):
        yield


@mutant("06", M_CMS)
@contextmanager
def cms_chunk_boundary_off_by_one():
    """Levels updated when t (tokens before this one) is a multiple of C: the slow level fires
    on the very first token, on a chunk of one gradient."""
    import memlab.testtime.nested as N

    def cms_step(k, v, state, chunks=(1, 16), etas=(0.1, 0.01 / 16), alphas=(0.05, 0.0),
                 combine="sum"):
        y, grads = N._read_and_grads(state.W, k, v, combine)
        W, G = [], []
        for w, acc, g, c, eta, a in zip(state.W, state.G, grads, chunks, etas, alphas):
            acc = acc + eta * g
            if state.t % c == 0:
                w, acc = (1 - a) * w - acc, torch.zeros_like(acc)
            W.append(w)
            G.append(acc)
        return y, N.replace(state, W=W, G=G, t=state.t + 1)

    with mock.patch.object(N, "cms_step", cms_step):
        yield


@mutant("06", M_CMS)
@contextmanager
def cms_chain_without_jacobian():
    """The chain's backward pass drops the (I + W_l)^T factor: lower levels get the output
    error as if the levels above were the identity."""
    import memlab.testtime.nested as N
    real = N._read_and_grads

    def broken(W, k, v, combine):
        if combine != "chain":
            return real(W, k, v, combine)
        hs = [k]
        for w in W:
            hs.append(hs[-1] + torch.einsum("bij,bj->bi", w, hs[-1]))
        g = 2 * (hs[-1] - v)
        return hs[-1], [torch.einsum("bi,bj->bij", g, h) for h in hs[:-1]]

    with mock.patch.object(N, "_read_and_grads", broken):
        yield


@mutant("06", M_CMS)
@contextmanager
def cms_levels_share_one_clock():
    """Every level updated at every token (the chunks ignored): a stack of fast memories."""
    import memlab.testtime.nested as N
    real = N.cms_step

    def cms_step(k, v, state, chunks=(1, 16), etas=(0.1, 0.01 / 16), alphas=(0.05, 0.0),
                 combine="sum"):
        return real(k, v, state, tuple(1 for _ in chunks), etas, alphas, combine)

    with mock.patch.object(N, "cms_step", cms_step):
        yield


@_check("06", "cms_hand_err", target=_at_most(1e-12))
def _cms_hand():
    from memlab.testtime import nested as N
    return N.hand_case_err()


@_check("06", "cms_pieces_err", target=_at_most(1e-12))
def _cms_pieces():
    from memlab.testtime import nested as N
    return N.pieces_err()


@_check("06", "cms_return_error_ratio")
def _cms_return():
    from memlab.testtime import nested as N
    return N.return_ratio(seed=0, **N.CHECK_KW)
