"""Chapter 04's mutants (realistic bugs in the fast-weight rules) and the fast checks that kill them.

Each mutant patches one library function for the duration of a ``with`` block, in every memlab
module that imported it (a bug in a function is seen by all its callers). Two kinds:

* *rule* bugs change the recurrence AND the chunked form the same way (the chunked form runs the
  broken recurrence), so the two forms still agree: only a claim can catch them (the erase term
  dropped / halved / scaled, beta scaled, decay after the write, transposed outer product...);
* *kernel* bugs break the chunked form only (the state not carried across chunks, fla #494; a
  causal mask off by one; an off-by-one decay): the equalities chunked == loop and
  whole == chunks-with-state catch them.

Checks (``memlab mutants 04``): the chapter's claims at test size, plus equalities with explicit
targets. Sources: fla issue #494 (state dropped between chunks); the rest are one-line slips.
"""

from __future__ import annotations

import inspect
import sys
from contextlib import ExitStack, contextmanager
from unittest import mock

import torch

from memlab.fastweights import delta_rule as DR
from memlab.fastweights import gated_delta as GD
from memlab.fastweights import linear_attention as LA
from memlab.fastweights import mom as MOM
from memlab.testing.mutants import mutant

LIN, DEL, GAT, MIX = ("Linear attention", "Delta rule (DeltaNet)", "Gated delta rule",
                      "Mixture of memories (MoM)")


@contextmanager
def replace(module, name, new):
    """Patch ``module.name`` and every memlab module that bound the same object by import."""
    old = getattr(module, name)
    mods = [m for k, m in list(sys.modules.items())
            if k.startswith("memlab") and m is not None and getattr(m, name, None) is old]
    with ExitStack() as st:
        for m in mods:
            st.enter_context(mock.patch.object(m, name, new))
        yield


@contextmanager
def rule(module, step_name, step, chunked_name, recurrent_name):
    """A rule bug: the step is broken and the chunked form runs the (broken) recurrence."""
    rec, sig = getattr(module, recurrent_name), inspect.signature(getattr(module, chunked_name))

    def chunked(*args, **kw):                  # same signature; chunk_size is ignored
        bound = sig.bind(*args, **kw).arguments
        bound.pop("chunk_size", None)
        return rec(**bound)

    with replace(module, step_name, step), replace(module, chunked_name, chunked):
        yield


def _outer(k, u):
    return k.unsqueeze(-1) * u.unsqueeze(-2)


def _read(q, S):
    return torch.einsum("bhk,bhkv->bhv", q, S)


# ------------------------------------------------------------------ linear attention
@mutant("04", LIN)
@contextmanager
def linear_state_not_carried():
    """The chunked form ignores the state S0 handed in (fla #494): a sequence fed in pieces
    forgets everything before the current piece."""
    real = LA.linear_attention_chunked
    with replace(LA, "linear_attention_chunked",
                 lambda q, k, v, S0=None, chunk_size=64: real(q, k, v, None, chunk_size)):
        yield


@mutant("04", LIN)
@contextmanager
def linear_read_before_write():
    """The step reads S_{t-1} before adding k_t v_t^T (the chunked form writes then reads)."""
    def step(q_t, k_t, v_t, S):
        return _read(q_t, S), S + _outer(k_t, v_t)
    with replace(LA, "linear_attention_step", step):
        yield


@mutant("04", LIN)
@contextmanager
def linear_outer_transposed():
    """The write adds v_t k_t^T instead of k_t v_t^T (same shape when d_k = d_v)."""
    def step(q_t, k_t, v_t, S):
        S = S + _outer(v_t, k_t)
        return _read(q_t, S), S
    with rule(LA, "linear_attention_step", step, "linear_attention_chunked",
              "linear_attention_recurrent"):
        yield


# ------------------------------------------------------------------ delta rule
def _delta_step(erase=1.0, beta_scale=1.0):
    def step(q_t, k_t, v_t, beta_t, S):
        u = beta_scale * beta_t.unsqueeze(-1) * (v_t - erase * _read(k_t, S))
        S = S + _outer(k_t, u)
        return _read(q_t, S), S
    return step


def _delta_mutant(doc, **kw):
    @contextmanager
    def m():
        with rule(DR, "delta_rule_step", _delta_step(**kw), "delta_rule_chunked",
                  "delta_rule_recurrent"):
            yield
    m.__doc__ = doc
    return m


delta_no_erase = mutant("04", DEL, name="delta_no_erase")(_delta_mutant(
    "The erase term -beta k k^T S dropped: the delta rule becomes linear attention.", erase=0.0))
delta_erase_halved = mutant("04", DEL, name="delta_erase_halved")(_delta_mutant(
    "The erase term halved: S += beta k (v - S^T k / 2)^T.", erase=0.5))
delta_erase_scaled = mutant("04", DEL, name="delta_erase_scaled")(_delta_mutant(
    "The erase term scaled 1.3x: S += beta k (v - 1.3 S^T k)^T.", erase=1.3))
delta_beta_halved = mutant("04", DEL, name="delta_beta_halved")(_delta_mutant(
    "beta scaled by 1/2 (e.g. a sigmoid(x)/2 slip): the write only goes half way.",
    beta_scale=0.5))


@mutant("04", DEL)
@contextmanager
def delta_state_not_carried():
    """The chunked WY form starts every call from zeros, ignoring S0 (fla #494)."""
    real = DR.delta_rule_chunked
    with replace(DR, "delta_rule_chunked",
                 lambda q, k, v, beta, S0=None, chunk_size=64: real(q, k, v, beta, None,
                                                                     chunk_size)):
        yield


@mutant("04", DEL)
@contextmanager
def delta_beta_off_by_one():
    """The chunked form uses the previous token's beta (a shifted index)."""
    real = DR.delta_rule_chunked
    with replace(DR, "delta_rule_chunked",
                 lambda q, k, v, beta, S0=None, chunk_size=64: real(
                     q, k, v, torch.roll(beta, 1, dims=1), S0, chunk_size)):
        yield


# ------------------------------------------------------------------ gated delta rule
def _gated_step(order="before", use_alpha=True):
    def step(q_t, k_t, v_t, alpha_t, beta_t, S):
        a = alpha_t[..., None, None] if use_alpha else 1.0
        if order == "before":
            S = a * S
        S = S + _outer(k_t, beta_t.unsqueeze(-1) * (v_t - _read(k_t, S)))
        if order == "after":
            S = a * S
        return _read(q_t, S), S
    return step


@mutant("04", GAT)
@contextmanager
def gated_decay_after_write():
    """Gate order swapped: the decay alpha is applied after the write, not before it, so the
    value just written is already faded when it is read."""
    with rule(GD, "gated_delta_rule_step", _gated_step("after"), "gated_delta_rule_chunked",
              "gated_delta_rule_recurrent"):
        yield


@mutant("04", GAT)
@contextmanager
def gated_alpha_ignored():
    """The forget gate alpha is computed but never applied (alpha = 1): a plain delta rule."""
    with rule(GD, "gated_delta_rule_step", _gated_step(use_alpha=False),
              "gated_delta_rule_chunked", "gated_delta_rule_recurrent"):
        yield


@mutant("04", GAT)
@contextmanager
def gated_state_not_carried():
    """The chunked gated form ignores S0 (fla #494)."""
    real = GD.gated_delta_rule_chunked
    with replace(GD, "gated_delta_rule_chunked",
                 lambda q, k, v, alpha, beta, S0=None, chunk_size=64: real(
                     q, k, v, alpha, beta, None, chunk_size)):
        yield


@mutant("04", GAT)
@contextmanager
def gated_alpha_off_by_one():
    """The chunked form decays with the next token's alpha (an off-by-one in the cumsum)."""
    real = GD.gated_delta_rule_chunked
    with replace(GD, "gated_delta_rule_chunked",
                 lambda q, k, v, alpha, beta, S0=None, chunk_size=64: real(
                     q, k, v, torch.roll(alpha, -1, dims=1), beta, S0, chunk_size)):
        yield


# ------------------------------------------------------------------ mixture of memories
@mutant("04", MIX)
@contextmanager
def mom_shared_dropped():
    """The top-k routing also gates the shared memory: its weight is 0, so it is never written
    nor read (the router's top-k ignores the always-on shared memory)."""
    real = MOM.MixtureOfMemories._gates

    def gates(self, xc):
        g = real(self, xc)
        if self.shared:
            H = self.n_heads
            g["g"] = torch.cat([g["g"][..., :-1], torch.zeros_like(g["g"][..., -1:])], -1)
            for key in ("written", "beta"):
                if key in g:
                    g[key] = torch.cat([g[key][..., :-H], torch.zeros_like(g[key][..., -H:])], -1)
        return g
    with mock.patch.object(MOM.MixtureOfMemories, "_gates", gates):
        yield


@mutant("04", MIX)
@contextmanager
def mom_no_renormalisation():
    """The router takes the softmax over ALL memories, then keeps the top-k: the weights of the
    routed memories no longer sum to 1."""
    def route(logits, top_k):
        p = logits.softmax(-1)
        _, idx = logits.topk(top_k, dim=-1)
        return torch.zeros_like(p).scatter(-1, idx, p.gather(-1, idx))
    with replace(MOM, "route", route):
        yield


@mutant("04", MIX)
@contextmanager
def mom_all_memories_written():
    """Every memory is written by every token (the routing mask is applied to the read only)."""
    real = MOM.MixtureOfMemories._gates

    def gates(self, xc):
        g = real(self, xc)
        g["written"] = torch.ones_like(g["written"])
        if "beta" in g:
            g["beta"] = torch.sigmoid(self.b_proj(xc))
        return g
    with mock.patch.object(MOM.MixtureOfMemories, "_gates", gates):
        yield


# the checks live in a sibling module (kept short); importing it registers them
from memlab.fastweights import _checks  # noqa: F401
