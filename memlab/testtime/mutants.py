"""Chapter 06's mutants: realistic bugs in the Titans rule, its architectures and the Omega rule.

Each mutant patches one library function for the duration of a ``with`` block (see
:mod:`memlab.testing.mutants`); the checks at the end of this file are chapter 06's claims at
test size plus its equalities, and every mutant must make at least one of them fail::

    from memlab.testing.mutants import MUTANTS
    with MUTANTS["titans_momentum_sign"].apply():
        ...   # the needle claim now fails

Most rule bugs are a gate used wrongly (a sign, a swap, 1 - g for g): they are applied by
wrapping ``titans_recurrent`` / ``titans_chunked`` wherever they are looked up, so that every
form (loop, chunk, layer) carries the same bug and no equality between forms can see it; only
a claim, the delta-rule equality or a hand-computed case can.
"""

from __future__ import annotations

import importlib
import math
from contextlib import ExitStack, contextmanager
from unittest import mock

import torch

import memlab.testtime.titans as T
from memlab.testing.mutants import mutant

_USERS = ("memlab.testtime.titans", "memlab.testtime.experiments",
          "memlab.testtime.neural_memory", "memlab.testtime.omega")


@contextmanager
def _rule(transform):
    """Wrap the Titans rule in every module that looks it up: gates -> transform(gates)."""
    real = {"titans_recurrent": T.titans_recurrent, "titans_chunked": T.titans_chunked}

    def wrap(fn):
        def broken(q, k, v, theta, eta, alpha, state, **kw):
            theta, eta, alpha, kw = transform(theta, eta, alpha, state, dict(kw))
            return fn(q, k, v, theta, eta, alpha, state, **kw)
        return broken

    with ExitStack() as stack:
        for mod in _USERS:
            m = importlib.import_module(mod)
            for name, fn in real.items():
                if getattr(m, name, None) is fn:
                    stack.enter_context(mock.patch.object(m, name, wrap(fn)))
        yield


# --------------------------------------------------------------------------- the Titans rule
M_TITANS = "Titans neural long-term memory"


@mutant("06", M_TITANS)
def titans_gradient_not_negated():
    """Surprise gradient not negated: S_t = eta S_{t-1} + theta grad (gradient ascent)."""
    return _rule(lambda th, et, al, st, kw: (-th, et, al, kw))


@mutant("06", M_TITANS)
def titans_momentum_sign():
    """Momentum sign flipped: S_t = -eta S_{t-1} - theta grad (past surprise subtracted)."""
    return _rule(lambda th, et, al, st, kw: (th, -et, al, kw))


@mutant("06", M_TITANS)
def titans_theta_eta_swapped():
    """theta and eta swapped (one public docstring names them the other way round)."""
    return _rule(lambda th, et, al, st, kw: (et, th, al, kw))


@mutant("06", M_TITANS)
def titans_momentum_as_ema():
    """Momentum kept as 1 - eta (an EMA written the other way): S_t = (1 - eta) S - theta grad."""
    return _rule(lambda th, et, al, st, kw: (th, 1 - et, al, kw))


@mutant("06", M_TITANS)
def titans_alpha_as_retention():
    """ATLAS's retention read as Titans' forget gate: M_t = alpha M_{t-1} + S_t."""
    return _rule(lambda th, et, al, st, kw: (th, et, 1 - al, kw))


@mutant("06", M_TITANS)
def titans_read_before_write():
    """The read is taken before the token's write while the text (and the delta rule) read
    after it: y_t = M_{t-1}(q_t)."""
    def tr(th, et, al, st, kw):
        kw["read_after_write"] = not kw.get("read_after_write", True)
        return th, et, al, kw
    return _rule(tr)


@mutant("06", M_TITANS)
@contextmanager
def titans_decay_after_write():
    """The forgetting decay applied after the write: M_t = (1 - alpha)(M_{t-1} + S_t) in the
    per-token fast path (``_token``, used by every chunk_size=1 run)."""
    real = T._token

    def broken(q, k, v, theta, eta, alpha, st, gamma, read_after_write, act):
        _, new = real(q, k, v, theta, eta, torch.zeros_like(alpha), st,
                      gamma, read_after_write, act)
        W = [(1 - alpha[..., None]) * w for w in new.W]          # decay (M + S), after
        y = T.mlp_apply(W if read_after_write else st.W, q, act)
        return y, T.replace(new, W=W)

    with mock.patch.object(T, "_token", broken):
        yield


@mutant("06", M_TITANS)
@contextmanager
def titans_chunk_drops_momentum():
    """The surprise S not carried from one chunk to the next (reset to zero at each chunk
    boundary): the chunk form's version of a state not carried across chunks (fla #494)."""
    real = T._chunk

    def broken(*a):
        y, st = real(*a)
        return y, T.replace(st, S=[torch.zeros_like(s) for s in st.S])

    with mock.patch.object(T, "_chunk", broken):
        yield


# --------------------------------------------------------------------------- MAC / MAG / MAL
M_ARCH = "Titans MAC / MAG / MAL (persistent tokens, sliding-window attention)"


@mutant("06", M_ARCH)
@contextmanager
def mag_mal_memory_reads_x_only():
    """MAG / MAL's memory reads x, not [p || x]: the persistent tokens never reach it (this was
    memlab's own code before chapter 06 was reviewed)."""
    import memlab.testtime.mag_mal as mm

    def init_state(self, batch, device=None, dtype=None):
        mem = self.memory.init_state(batch, device, dtype)
        return mm.SWAState(mem, mem.W[0].new_zeros(batch, 0, self.d_model))

    with mock.patch.object(mm._SWAMemory, "init_state", init_state):
        yield


def _swa_variant(extra=0, causal=True):
    """_SWAMemory._swa with a window ``extra`` tokens too long, or without the causal mask."""
    import math as _m

    def _swa(self, x, cache):
        B, T_, D = x.shape
        H, dh, Np, r = self.n_heads, D // self.n_heads, self.persistent.shape[0], cache.shape[1]
        xx = torch.cat([cache, x], 1)
        ctx = torch.cat([self.persistent.to(x.dtype).expand(B, Np, D), xx], 1)
        q = self.qkv(x)[..., :D].view(B, T_, H, dh).transpose(1, 2)
        _, k, v = self.qkv(ctx).view(B, -1, 3, H, dh).permute(2, 0, 3, 1, 4)
        i = torch.arange(T_)[:, None] + r
        j = torch.arange(r + T_)[None, :]
        seen = ((j <= i) if causal else (j >= 0)) & (j > i - self.window - extra)
        mask = torch.cat([seen.new_ones(T_, Np), seen], 1)
        att = ((q @ k.transpose(-1, -2)) / _m.sqrt(dh)).masked_fill(~mask, float("-inf"))
        y = self.o_proj((att.softmax(-1) @ v).transpose(1, 2).reshape(B, T_, D))
        return y, xx[:, max(xx.shape[1] - (self.window - 1), 0):]
    return _swa


@mutant("06", M_ARCH)
def swa_window_off_by_one():
    """The sliding window lets each query see window + 1 tokens while the cache keeps
    window - 1: the layer fed in pieces no longer equals the layer on the whole sequence."""
    import memlab.testtime.mag_mal as mm
    return mock.patch.object(mm._SWAMemory, "_swa", _swa_variant(extra=1))


@mutant("06", M_ARCH)
def swa_not_causal():
    """The sliding-window attention's causal mask dropped: tokens read the future."""
    import memlab.testtime.mag_mal as mm
    return mock.patch.object(mm._SWAMemory, "_swa", _swa_variant(causal=False))


@mutant("06", M_ARCH)
@contextmanager
def mac_reads_future_memory():
    """MAC's memory read-outs h visible to every segment token (mask of ones, not causal):
    token j attends to h_i computed from later queries i > j."""
    from memlab.testtime import mac
    real_cat = torch.cat

    def _attend(self, x_s, h):
        B, C, D = x_s.shape
        H, dh, Np = self.n_heads, D // self.n_heads, self.persistent.shape[0]
        ctx = real_cat([self.persistent.to(x_s.dtype).expand(B, Np, D), h, x_s], 1)
        q = self.qkv(x_s)[..., :D].view(B, C, H, dh).transpose(1, 2)
        _, k, v = self.qkv(ctx).view(B, -1, 3, H, dh).permute(2, 0, 3, 1, 4)
        causal = torch.ones(C, C, dtype=torch.bool).tril()
        mask = real_cat([causal.new_ones(C, Np), torch.ones_like(causal), causal], 1)
        att = ((q @ k.transpose(-1, -2)) / math.sqrt(dh)).masked_fill(~mask, float("-inf"))
        return self.o_proj((att.softmax(-1) @ v).transpose(1, 2).reshape(B, C, D))

    with mock.patch.object(mac.MemoryAsContext, "_attend", _attend):
        yield


@mutant("06", M_ARCH)
@contextmanager
def mac_commits_partial_segment():
    """MAC writes the memory of an unfinished segment too (and again when it completes):
    feeding the sequence in pieces writes some tokens twice."""
    from memlab.testtime import mac

    def forward(self, x, state=None):
        if state is None:
            state = self.init_state(x.shape[0], x.device, x.dtype)
        r = state.pending.shape[1]
        xx = torch.cat([state.pending, x], 1)
        mem, outs, C = state.memory, [], self.segment_len
        for s in range(0, xx.shape[1], C):
            o, mem = self._segment(xx[:, s:s + C], mem)       # committed even when partial
            outs.append(o)
        n_full = (xx.shape[1] // C) * C
        return torch.cat(outs, 1)[:, r:], mac.MACState(mem, xx[:, n_full:])

    with mock.patch.object(mac.MemoryAsContext, "forward", forward):
        yield


# --------------------------------------------------------------------------- Omega
M_OMEGA = "ATLAS Omega rule"


@mutant("06", M_OMEGA)
def omega_window_summed():
    """The window's losses summed (gamma = 1), not averaged (gamma = 1/c): a c-times step."""
    def tr(th, et, al, st, kw):
        if st.kbuf is not None:
            kw["gamma"] = 1.0
        return th, et, al, kw
    return _rule(tr)


@mutant("06", M_OMEGA)
@contextmanager
def omega_window_not_shifted():
    """The window buffer of past keys / values never shifts (stays at its initial zeros):
    every step fits the current token only, with weight 1/c."""
    real = T._token

    def broken(q, k, v, theta, eta, alpha, st, gamma, raw, act):
        y, new = real(q, k, v, theta, eta, alpha, st, gamma, raw, act)
        return y, T.replace(new, kbuf=st.kbuf, vbuf=st.vbuf)

    with mock.patch.object(T, "_token", broken):
        yield


@mutant("06", M_OMEGA)
@contextmanager
def omega_retention_as_forget():
    """ATLAS's retention alpha_t passed as Titans' forget gate (should be 1 - retention)."""
    import memlab.testtime.omega as om

    def omega_rule(q, k, v, lr, retention, W0, c, gamma=None, chunk_size=1, parallel=True,
                   act="silu"):
        gamma = 1.0 / c if gamma is None else gamma
        state = T.init_state(W0, k.shape[0], window=c)
        fn = T.titans_chunked if parallel else T.titans_recurrent
        return fn(q, k, v, lr, torch.zeros_like(lr), retention, state, chunk_size=chunk_size,
                  gamma=gamma, act=act)

    with mock.patch.object(om, "omega_rule", omega_rule):
        yield


from memlab.testtime import checks as _checks  # noqa: F401 - registers the checks
from memlab.testtime import mutants_perk_nested as _perk_nested  # noqa: F401 - PERK, CMS
