"""Chapter 09's mutants (realistic bugs in RMT, HMT, AHN) and the fast checks that kill them."""

from __future__ import annotations

import math
from contextlib import contextmanager
from unittest import mock

import torch

from memlab.report import at_least, at_most
from memlab.segment import ahn, hmt, rmt
from memlab.segment import experiments as E
from memlab.testing import check_sequence_memory, rel_err
from memlab.testing.mutants import check, mutant

# ------------------------------------------------------------------------------ RMT


@mutant("09", "Recurrent memory transformer (RMT)")
@contextmanager
def rmt_write_from_read_positions():
    """The new memory is taken from the read copy (first m outputs) instead of the write copy:
    under causal attention those positions never see the segment, so nothing is written."""
    def cell(self, memory, x, write, need_weights=False):
        m = self.n_mem
        out = self.backbone(torch.cat([memory, x, memory] if write else [memory, x], 1),
                            need_weights=need_weights)
        h, w = out if need_weights else (out, None)
        new = self.norm_mem(h[:, :m]) if write else memory
        return h[:, m:m + x.shape[1]], new, w
    with mock.patch.object(rmt.RMT, "cell", cell):
        yield


@mutant("09", "Recurrent memory transformer (RMT)")
@contextmanager
def rmt_fixed_write_slots():
    """The write copy holds the fixed initial memory M_0 instead of the carried M_tau (a
    reimplementation once did this: lucidrains/recurrent-memory-transformer-pytorch #17)."""
    orig = rmt.RMT.cell

    def cell(self, memory, x, write, need_weights=False):
        if not write:
            return orig(self, memory, x, write, need_weights)
        m0 = self.M0.to(x.dtype).expand(x.shape[0], -1, -1)
        out = self.backbone(torch.cat([memory, x, m0], 1), need_weights=need_weights)
        h, w = out if need_weights else (out, None)
        return h[:, self.n_mem:self.n_mem + x.shape[1]], self.norm_mem(h[:, -self.n_mem:]), w
    with mock.patch.object(rmt.RMT, "cell", cell):
        yield


@mutant("09", "Recurrent memory transformer (RMT)")
@contextmanager
def rmt_always_detach():
    """The memory is detached between every pair of segments whatever k2 (no BPTT at all)."""
    with mock.patch.object(rmt, "detach_memory", lambda seg_num, n, k2: seg_num > 0):
        yield


@mutant("09", "Recurrent memory transformer (RMT)")
@contextmanager
def rmt_memory_not_carried():
    """Every segment reads M_0: the written memory is computed but never passed on."""
    with mock.patch.object(rmt.RMT, "_memory_in", lambda self, state, n: self.init_state(
            state.memory.shape[0], state.memory.device, state.memory.dtype).memory):
        yield


def _small_rmt(k2=-1):
    torch.manual_seed(0)
    return rmt.RMT(16, n_mem=2, segment_size=4, n_layers=1, n_heads=2, k2=k2).double()


@check("09", "rmt_forward_equals_recurrent", target=at_most(1e-10))
def _rmt_equal():
    """forward == step loop == chunks with the state carried (float64)."""
    x = torch.randn(2, 11, 16, dtype=torch.float64)
    return max(check_sequence_memory(_small_rmt(), x, [3, 5, 3], rtol=1.0).values())


@check("09", "rmt_memory_carries_segment", target=at_least(1e-3))
def _rmt_carries():
    """Changing segment 0 changes the outputs of segment 2 (only the memory connects them)."""
    mem = _small_rmt()
    x = torch.randn(1, 12, 16, dtype=torch.float64)
    x2 = x.clone()
    x2[:, :4] = torch.randn(1, 4, 16, dtype=torch.float64)
    with torch.no_grad():
        return rel_err(mem(x2)[0][:, 8:], mem(x)[0][:, 8:])


@check("09", "rmt_write_copy_is_memory", target=at_most(1e-12))
def _rmt_layout():
    """The cell's new memory == LN(backbone([M; X; M]) at the last m positions), by hand."""
    mem = _small_rmt()
    M, x = torch.randn(1, 2, 16, dtype=torch.float64), torch.randn(1, 4, 16, dtype=torch.float64)
    with torch.no_grad():
        _, new, _ = mem.cell(M, x, write=True)
        ref = mem.norm_mem(mem.backbone(torch.cat([M, x, M], 1))[:, -2:])
    return rel_err(new, ref)


@check("09", "rmt_k2_gradients", target=at_least(1.0))
def _rmt_k2():
    """1 when full BPTT reaches segment 0 and k2 = 1 stops the gradient before it; else 0."""
    def grad_first(k2):
        mem = _small_rmt(k2)
        x = torch.randn(1, 12, 16, dtype=torch.float64, requires_grad=True)
        mem(x)[0][:, -1].sum().backward()
        return float(x.grad[:, :4].abs().max())
    return float(grad_first(-1) > 1e-8 and grad_first(1) == 0.0)


# ------------------------------------------------------------------------------ HMT


@mutant("09", "Hierarchical memory transformer (HMT)")
@contextmanager
def hmt_recall_last_only():
    """Recall returns the most recent cached memory (an RMT-like single memory), not attention."""
    orig = hmt.recall

    def last(s, cache, W_q, W_k, return_weights=False):
        if cache.shape[1] == 0:
            return orig(s, cache, W_q, W_k, return_weights)
        w = torch.zeros(cache.shape[:2], dtype=s.dtype)
        w[:, -1] = 1.0
        return (cache[:, -1], w) if return_weights else cache[:, -1]
    with mock.patch.object(hmt, "recall", last):
        yield


@mutant("09", "Hierarchical memory transformer (HMT)")
@contextmanager
def hmt_summary_full_segment():
    """The summary reads the whole segment instead of its first half (outputs see the future)."""
    def summarize(self, x_seg):
        tok = self.summary_token.to(x_seg.dtype).expand(x_seg.shape[0], 1, -1)
        return self.backbone(torch.cat([x_seg, tok], dim=1))[:, -1]
    with mock.patch.object(hmt.HMT, "summarize", summarize):
        yield


@mutant("09", "Hierarchical memory transformer (HMT)")
@contextmanager
def hmt_recall_no_scale():
    """The 1/sqrt(h) of the recall softmax forgotten."""
    def recall(s, cache, W_q, W_k, return_weights=False):
        if cache.shape[1] == 0:
            p, w = torch.zeros_like(s), s.new_zeros(s.shape[0], 0)
        else:
            w = torch.softmax(torch.einsum("bh,bnh->bn", W_q(s), W_k(cache)), dim=-1)
            p = torch.einsum("bn,bnd->bd", w, cache)
        return (p, w) if return_weights else p
    with mock.patch.object(hmt, "recall", recall):
        yield


@check("09", "hmt_recall_above_chance")
def _hmt_topic():
    """Untrained HMT: top-1 recalled memory from the same topic, minus chance."""
    r = E.hmt_topic_recall(n_examples=64, seed=0)
    return r["hmt_top1_same_topic"] - r["chance"]


@check("09", "hmt_summary_reads_first_half", target=at_most(1e-12))
def _hmt_half():
    """Changing the second half of segment 2 leaves the outputs of its first half unchanged
    (segment 2: two memories are cached, so the recall weights depend on the summary)."""
    torch.manual_seed(0)
    m = hmt.HMT(16, segment_size=8, n_sensory=2, ltm_context=2, n_layers=1, n_heads=2).double()
    x = torch.randn(1, 24, 16, dtype=torch.float64)
    x2 = x.clone()
    x2[:, 20:24] = torch.randn(1, 4, 16, dtype=torch.float64)
    with torch.no_grad():
        return rel_err(m(x2)[0][:, 16:20], m(x)[0][:, 16:20])


@check("09", "hmt_recall_matches_formula", target=at_most(1e-12))
def _hmt_formula():
    """recall() == softmax((s W_q)(M W_k)^T / sqrt(h)) M, computed by hand."""
    torch.manual_seed(0)
    W_q, W_k = (torch.nn.Linear(6, 4, bias=False).double() for _ in range(2))
    s, M = torch.randn(2, 6, dtype=torch.float64), torch.randn(2, 3, 6, dtype=torch.float64)
    with torch.no_grad():
        ref = torch.softmax((W_q(s)[:, None] * W_k(M)).sum(-1) / math.sqrt(4), -1)
        return rel_err(hmt.recall(s, M, W_q, W_k), (ref[..., None] * M).sum(1))


# ------------------------------------------------------------------------------ AHN


@mutant("09", "Artificial hippocampus network (AHN)")
@contextmanager
def ahn_proj_not_zero():
    """The AHN output projection initialised like any other layer (random), not zero: training
    no longer starts from the sliding-window model."""
    with mock.patch.object(ahn, "init_output_projection",
                           lambda lin: torch.nn.init.normal_(lin.weight, std=0.02)):
        yield


@mutant("09", "Artificial hippocampus network (AHN)")
@contextmanager
def ahn_no_erase():
    """The delta rule's erase term dropped: the memory is plain linear attention."""
    with mock.patch.object(ahn, "delta_rule_chunked",
                           lambda q, k, v, beta, S0=None: ahn.linear_attention_chunked(
                               q, k, beta[..., None] * v, S0)):
        yield


@mutant("09", "Artificial hippocampus network (AHN)")
@contextmanager
def ahn_window_off_by_one():
    """The window mask uses q - k <= W: each query sees W + 1 tokens in the chunked form."""
    def mask(q_pos, k_pos, window, sinks=0):
        qp, kp = q_pos[:, None], k_pos[None, :]
        return (kp <= qp) & ((qp - kp <= window) | (kp < sinks))
    with mock.patch.object(ahn, "window_mask", mask):
        yield


@mutant("09", "Artificial hippocampus network (AHN)")
@contextmanager
def ahn_memory_not_carried():
    """The chunked form starts every chunk from an empty memory (the state S is dropped)."""
    orig = ahn.memory_chunk
    with mock.patch.object(ahn, "memory_chunk", lambda rule, q, k, v, b, a, S0: orig(
            rule, q, k, v, b, a, None)):
        yield


def _small_ahn(rule="delta", zero=True):
    torch.manual_seed(0)
    m = ahn.AHN(16, n_heads=2, window=4, sinks=1, rule=rule).double()
    if not zero:
        torch.nn.init.normal_(m.o_ahn.weight, std=0.3)
    return m


@check("09", "ahn_forward_equals_recurrent", target=at_most(1e-10))
def _ahn_equal():
    """forward == step loop == chunks with the state carried, memory on (float64)."""
    x = torch.randn(2, 19, 16, dtype=torch.float64)
    return max(check_sequence_memory(_small_ahn(zero=False), x, [5, 1, 9, 4], rtol=1.0).values())


@check("09", "ahn_zero_proj_equals_window", target=at_most(1e-12))
def _ahn_zero():
    """AHN as built (zero projection) == its sliding-window attention alone."""
    m = _small_ahn()
    x = torch.randn(1, 15, 16, dtype=torch.float64)
    with torch.no_grad():
        y, _ = m(x)
        q, k, v = m.attn.qkv(x)
        pos = torch.arange(15, dtype=torch.float64)
        o = ahn.window_attention(q, k, v, pos, pos, 4, 1)
        return rel_err(y, m.attn.W_o(o.flatten(-2)))


@check("09", "ahn_evicted_recall")
def _ahn_recall():
    """Window + delta memory, pairs evicted from the window (d = 32, W = 32, T = 256)."""
    return E.ahn_recall(8, d=32, window=32, T=256, seed=0)["ahn"]


@check("09", "ahn_delta_rewrite_acc")
def _ahn_rewrite():
    """Keys rewritten with new values: the delta memory returns the new ones."""
    return E.ahn_recall(8, d=32, window=32, T=256, rewrite=True, seed=0)["ahn"]


# ------------------------------------------------------ Contextual Memory Reweaving (ours)
import inspect
import textwrap

from memlab.segment import reweave

RWV = "Contextual Memory Reweaving (our interpretation)"


@contextmanager
def _edited(*targets):
    """Recompile methods of ``reweave.Reweave`` with one-line slips, patched for the block."""
    patches = []
    for name, edits in targets:
        src = textwrap.dedent(inspect.getsource(getattr(reweave.Reweave, name)))
        for old, new in edits:
            if old not in src:
                raise ValueError(f"mutant edit {old!r} not found in Reweave.{name}")
            src = src.replace(old, new)
        ns = dict(vars(reweave))
        exec(compile(src, f"<mutant of Reweave.{name}>", "exec"), ns)  # noqa: S102
        patches.append(mock.patch.object(reweave.Reweave, name, ns[name]))
    for p in patches:
        p.start()
    try:
        yield
    finally:
        for p in patches:
            p.stop()


def _rw(name, doc, *targets):
    @contextmanager
    def factory():
        with _edited(*targets):
            yield
    factory.__doc__ = doc
    return mutant("09", RWV, name=name)(factory)


_rw("reweave_gate_sign_flipped", "The gate reads sigmoid(-(w_g h + b_g)): an open gate becomes "
    "a closed one.", ("_out", [("torch.sigmoid(top @ self.gate_w + self.gate_b)",
                                "torch.sigmoid(-(top @ self.gate_w + self.gate_b))")]))
_rw("reweave_caches_layer0_only", "Every cached slot holds the raw token (layer 0), whatever "
    "layers were asked for.",
    ("step", [("torch.stack([hs[l] for l in self.layers], dim=1)",
               "torch.stack([hs[0] for l in self.layers], dim=1)")]),
    ("remember", [("H[:, -M:, list(self.layers)]", "H[:, -M:, [0] * len(self.layers)]")]),
    ("forward", [("H[:, :, list(self.layers)]", "H[:, :, [0] * len(self.layers)]")]))
_rw("reweave_no_token_mixing", "Each base layer adds the token to itself, not its predecessor: "
    "no deeper state binds a value to its key.",
    ("step", [("h = h + self.w[l] * prev[:, l]", "h = h + self.w[l] * h")]),
    ("base", [("h = h + self.w[l] * before", "h = h + self.w[l] * h")]))
_rw("reweave_cache_not_carried", "forward starts every chunk from an empty cache.",
    ("forward", [("prev, cache, filled = state",
                  "prev, cache, filled = state[0], *self.init_state(b, x.device, x.dtype)[1:]")]))
_rw("reweave_sees_itself", "The parallel form lets a token read its own cached states "
    "(< became <=): it no longer equals the step.",
    ("forward", [("band = (j[None] < t) & (j[None] >= t - M)",
                  "band = (j[None] <= t) & (j[None] >= t - M)")]))


def _rw_run():
    return reweave.rare_token_recall(distances=(64,), n=60, seed=0)


@check("09", "reweave_recall")
def _rw_recall():
    """Rare key-value recall at distance 64 (cache 128, d = 256, 60 sequences)."""
    return _rw_run()["reweave"][0]


@check("09", "reweave_window_above_chance")
def _rw_window():
    """The same with the gate closed, minus chance."""
    out = _rw_run()
    return out["window"][0] - out["chance"]


@check("09", "reweave_layer0_above_chance")
def _rw_layer0():
    """The same with only layer 0 cached, minus chance."""
    out = _rw_run()
    return out["layer0"][0] - out["chance"]


@check("09", "reweave_forward_equals_step", target=at_most(1e-10))
def _rw_equal():
    """Relative errors of forward vs the step loop vs chunks (cache of 5 overflows)."""
    torch.manual_seed(0)
    m = reweave.Reweave(6, n_layers=2, layers=(0, 2), cache_size=5, beta=1.0).double()
    with torch.no_grad():
        m.gate_w.normal_()
    x = torch.randn(2, 13, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    return max(check_sequence_memory(m, x, chunks=[4, 1, 8], rtol=1e-10).values())


@check("09", "reweave_hand_computed", target=at_most(1e-12))
def _rw_hand():
    """d = 2, one layer, w = 1, beta large: x = e1, e2, then query e1 reads h^1 of token 2 =
    e2 + e1 (its score 1 ties h^0 of token 1 = e1; the read is their mean). Max abs error."""
    m = reweave.Reweave(2, n_layers=1, cache_size=4, beta=50.0, gate_b=float("inf")).double()
    e = torch.eye(2, dtype=torch.float64)
    with torch.no_grad():
        y, _ = m(torch.stack([e[0], e[1], e[0]])[None])
    # token 3: h^1 = e1 + e2; cache: (e1, e1), (e2, e2 + e1); scores e1.: 1, 1, 0, 1 -> three
    # entries tie: read = (e1 + e1 + (e1 + e2)) / 3; gate 1
    want = (e[0] + e[1]) + (3 * e[0] + e[1]) / 3
    return float((y[0, 2] - want).abs().max())
