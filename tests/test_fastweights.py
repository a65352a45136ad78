"""Unit tests of memlab.fastweights: hand-computed cases, the three equalities, gradients, bad input."""

import pytest
import torch
import torch.nn.functional as F

from memlab.fastweights import (
    DeltaNet,
    GatedDeltaNet,
    LinearAttention,
    MixtureOfMemories,
    delta_rule_chunked,
    delta_rule_recurrent,
    delta_rule_step,
    gated_delta_rule_chunked,
    gated_delta_rule_recurrent,
    gated_delta_rule_step,
    linear_attention_chunked,
    linear_attention_recurrent,
    linear_attention_step,
)
from memlab.fastweights.mom import route
from memlab.testing import check_sequence_memory, rel_err

D = torch.float64


def _inputs(B=2, T=37, H=3, dk=8, dv=5, dtype=D, seed=0):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(B, T, H, dk, generator=g, dtype=dtype)
    k = F.normalize(torch.randn(B, T, H, dk, generator=g, dtype=dtype), dim=-1)
    v = torch.randn(B, T, H, dv, generator=g, dtype=dtype)
    beta = torch.rand(B, T, H, generator=g, dtype=dtype)
    alpha = 0.5 + 0.5 * torch.rand(B, T, H, generator=g, dtype=dtype)
    S0 = torch.randn(B, H, dk, dv, generator=g, dtype=dtype)
    return q, k, v, beta, alpha, S0


def _t(*rows):
    return torch.tensor(rows, dtype=D)


# ------------------------------------------------------------------ hand-computed 2x2 cases
def test_linear_attention_by_hand():
    # write k1=[1,0] -> v1=[2,3], then k2=[0,1] -> v2=[4,5]; S = [[2,3],[4,5]]; q=[1,1] -> [6,8]
    k = _t([1.0, 0.0], [0.0, 1.0]).view(1, 2, 1, 2)
    v = _t([2.0, 3.0], [4.0, 5.0]).view(1, 2, 1, 2)
    q = _t([1.0, 0.0], [1.0, 1.0]).view(1, 2, 1, 2)
    o, S = linear_attention_recurrent(q, k, v)
    assert torch.equal(S[0, 0], _t([2.0, 3.0], [4.0, 5.0]))
    assert torch.equal(o[0, :, 0], _t([2.0, 3.0], [6.0, 8.0]))      # write first, then read
    o2, S2 = linear_attention_chunked(q, k, v, chunk_size=2)
    assert torch.allclose(o2, o) and torch.allclose(S2, S)


def test_delta_rule_by_hand():
    # (k=[1,0], v=[1,0], beta=1): S = [[1,0],[0,0]]
    # (k=[1,0], v=[0,1], beta=.5): v_old=[1,0], u = .5([0,1]-[1,0]) = [-.5,.5], S = [[.5,.5],[0,0]]
    k = _t([1.0, 0.0], [1.0, 0.0]).view(1, 2, 1, 2)
    v = _t([1.0, 0.0], [0.0, 1.0]).view(1, 2, 1, 2)
    beta = _t([1.0], [0.5]).view(1, 2, 1)
    o, S = delta_rule_recurrent(k, k, v, beta)
    assert torch.allclose(S[0, 0], _t([0.5, 0.5], [0.0, 0.0]))
    assert torch.allclose(o[0, :, 0], _t([1.0, 0.0], [0.5, 0.5]))
    o2, S2 = delta_rule_chunked(k, k, v, beta, chunk_size=2)
    assert torch.allclose(o2, o) and torch.allclose(S2, S)


def test_gated_delta_rule_by_hand():
    # as above with alpha_2 = .5: S' = [[.5,0],[0,0]], v_old = [.5,0],
    # u = .5([0,1]-[.5,0]) = [-.25,.5], S = [[.25,.5],[0,0]]
    k = _t([1.0, 0.0], [1.0, 0.0]).view(1, 2, 1, 2)
    v = _t([1.0, 0.0], [0.0, 1.0]).view(1, 2, 1, 2)
    beta = _t([1.0], [0.5]).view(1, 2, 1)
    alpha = _t([1.0], [0.5]).view(1, 2, 1)
    o, S = gated_delta_rule_recurrent(k, k, v, alpha, beta)
    assert torch.allclose(S[0, 0], _t([0.25, 0.5], [0.0, 0.0]))
    o2, S2 = gated_delta_rule_chunked(k, k, v, alpha, beta, chunk_size=2)
    assert torch.allclose(o2, o) and torch.allclose(S2, S)


def test_delta_rule_is_one_sgd_step_titans_convention():
    # M = S^T ([d_v, d_k]); one SGD step of size beta on 1/2 ||M k - v||^2 == the delta rule
    q, k, v, beta, _, S0 = _inputs(B=1, T=1, H=1, dk=4, dv=3)
    M = S0[0, 0].T.clone().requires_grad_(True)
    loss = 0.5 * (M @ k[0, 0, 0] - v[0, 0, 0]).pow(2).sum()
    (grad,) = torch.autograd.grad(loss, M)
    M_next = M.detach() - beta[0, 0, 0] * grad
    _, S = delta_rule_step(q[:, 0], k[:, 0], v[:, 0], beta[:, 0], S0)
    assert rel_err(S[0, 0].T, M_next) < 1e-12


def test_delta_rule_with_unit_key_and_beta_one_returns_the_new_value():
    q, k, v, _, _, S0 = _inputs(B=1, T=1, H=1, dk=6, dv=4)
    _, S = delta_rule_step(q[:, 0], k[:, 0], v[:, 0], torch.ones(1, 1, dtype=D), S0)
    assert rel_err(torch.einsum("bhk,bhkv->bhv", k[:, 0], S), v[:, 0]) < 1e-12


def test_gated_with_alpha_one_is_the_delta_rule():
    q, k, v, beta, _, S0 = _inputs()
    ones = torch.ones_like(beta)
    a = gated_delta_rule_chunked(q, k, v, ones, beta, S0, 16)
    b = delta_rule_chunked(q, k, v, beta, S0, 16)
    assert rel_err(a[0], b[0]) < 1e-12 and rel_err(a[1], b[1]) < 1e-12


def test_step_functions_match_the_loops():
    q, k, v, beta, alpha, S0 = _inputs(T=1)
    assert torch.allclose(linear_attention_step(q[:, 0], k[:, 0], v[:, 0], S0)[0],
                          linear_attention_recurrent(q, k, v, S0)[0][:, 0])
    assert torch.allclose(gated_delta_rule_step(q[:, 0], k[:, 0], v[:, 0], alpha[:, 0],
                                                beta[:, 0], S0)[1],
                          gated_delta_rule_recurrent(q, k, v, alpha, beta, S0)[1])


# ------------------------------------------------------------------ chunked == recurrent
@pytest.mark.parametrize("chunk", [1, 5, 16, 64])
def test_chunked_equals_recurrent_float64(chunk):
    q, k, v, beta, alpha, S0 = _inputs()
    pairs = [
        (linear_attention_recurrent(q, k, v, S0), linear_attention_chunked(q, k, v, S0, chunk)),
        (delta_rule_recurrent(q, k, v, beta, S0), delta_rule_chunked(q, k, v, beta, S0, chunk)),
        (gated_delta_rule_recurrent(q, k, v, alpha, beta, S0),
         gated_delta_rule_chunked(q, k, v, alpha, beta, S0, chunk)),
    ]
    for (o1, s1), (o2, s2) in pairs:
        assert rel_err(o2, o1) < 1e-12
        assert rel_err(s2, s1) < 1e-12


def test_chunked_equals_recurrent_float32_long():
    q, k, v, beta, alpha, _ = _inputs(B=1, T=300, H=2, dk=16, dv=16, dtype=torch.float32)
    assert rel_err(delta_rule_chunked(q, k, v, beta, None, 64)[0],
                   delta_rule_recurrent(q, k, v, beta)[0]) < 1e-4
    assert rel_err(gated_delta_rule_chunked(q, k, v, alpha, beta, None, 64)[0],
                   gated_delta_rule_recurrent(q, k, v, alpha, beta)[0]) < 1e-4
    assert rel_err(linear_attention_chunked(q, k, v, None, 64)[0],
                   linear_attention_recurrent(q, k, v)[0]) < 1e-4


def test_gated_chunked_survives_tiny_alpha():
    # strong forgetting inside one chunk: cumulative decays underflow; no inf * 0 = nan allowed
    q, k, v, beta, _, S0 = _inputs(T=40)
    alpha = torch.full_like(beta, 1e-12)
    o1, s1 = gated_delta_rule_recurrent(q, k, v, alpha, beta, S0)
    o2, s2 = gated_delta_rule_chunked(q, k, v, alpha, beta, S0, 32)
    assert torch.isfinite(o2).all() and rel_err(o2, o1) < 1e-10 and rel_err(s2, s1) < 1e-10


@pytest.mark.parametrize("which", ["linear", "delta", "gated"])
def test_gradients_of_chunked_and_recurrent_agree(which):
    q, k, v, beta, alpha, S0 = _inputs(B=1, T=21, H=2, dk=4, dv=3)
    leaves = [t.clone().requires_grad_(True) for t in (q, k, v, beta, alpha, S0)]

    def run(fn):
        for t in leaves:
            t.grad = None
        q_, k_, v_, b_, a_, s_ = leaves
        k_ = F.normalize(k_, dim=-1)
        if which == "linear":
            o, S = fn[0](q_, k_, v_, s_, *fn[1])
        elif which == "delta":
            o, S = fn[0](q_, k_, v_, b_, s_, *fn[1])
        else:
            o, S = fn[0](q_, k_, v_, a_, b_, s_, *fn[1])
        (o.pow(2).sum() + S.sin().sum()).backward()
        return [None if t.grad is None else t.grad.clone() for t in leaves]

    kernels = {"linear": (linear_attention_recurrent, linear_attention_chunked),
               "delta": (delta_rule_recurrent, delta_rule_chunked),
               "gated": (gated_delta_rule_recurrent, gated_delta_rule_chunked)}[which]
    g_rec = run((kernels[0], ()))
    g_chk = run((kernels[1], (8,)))
    for name, a, b in zip(["q", "k", "v", "beta", "alpha", "S0"], g_chk, g_rec):
        if b is None:
            assert a is None
            continue
        assert rel_err(a, b) < 1e-10, name


# ------------------------------------------------------------------ layers: three equalities
LAYERS = {
    "linear": lambda: LinearAttention(16, 2, chunk_size=8),
    "linear_elu_normalised": lambda: LinearAttention(16, 2, feature_map="elu1", normalize=True,
                                                     chunk_size=8, conv_size=3),
    "linear_relu_qknorm": lambda: LinearAttention(16, 4, feature_map="relu", qk_norm=True,
                                                  out_norm=False, chunk_size=16),
    "deltanet": lambda: DeltaNet(16, 2, chunk_size=8),
    "deltanet_dk_dv": lambda: DeltaNet(16, 3, d_key=4, d_value=6, chunk_size=7),
    "gated_deltanet": lambda: GatedDeltaNet(16, 2, chunk_size=8),
    "mom_delta": lambda: MixtureOfMemories(16, 2, n_memories=4, top_k=2, chunk_size=8),
    "mom_linear_noshared": lambda: MixtureOfMemories(16, 1, n_memories=3, top_k=1,
                                                     rule="linear", shared=False, chunk_size=8),
}


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_three_equalities(name):
    torch.manual_seed(0)
    mem = LAYERS[name]().double()
    x = torch.randn(2, 50, 16, dtype=D)
    errs = check_sequence_memory(mem, x, [10, 1, 25, 14], rtol=1e-10)
    assert errs["whole_vs_chunked"] < 1e-10


@pytest.mark.parametrize("name", ["linear", "deltanet", "gated_deltanet", "mom_delta"])
def test_layer_shapes_state_and_gradients(name):
    torch.manual_seed(0)
    mem = LAYERS[name]()
    x = torch.randn(3, 20, 16, requires_grad=True)
    y, state = mem(x)
    assert y.shape == x.shape
    assert sum(t.numel() for t in state) // 3 == mem.state_size()
    y.pow(2).mean().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    assert all(p.grad is not None for n, p in mem.named_parameters() if n != "router.weight"
               or name == "mom_delta")


@pytest.mark.parametrize("name", ["linear_elu_normalised", "deltanet", "gated_deltanet",
                                  "mom_delta"])
def test_layer_parameter_gradients_chunked_vs_recurrent(name):
    torch.manual_seed(1)
    mem = LAYERS[name]().double()
    x = torch.randn(2, 19, 16, dtype=D)
    grads = []
    for run in (mem.forward, mem.forward_recurrent):
        mem.zero_grad()
        y, _ = run(x)
        y.pow(2).sum().backward()
        grads.append({n: p.grad.clone() for n, p in mem.named_parameters() if p.grad is not None})
    assert grads[0].keys() == grads[1].keys() and len(grads[0]) >= 5
    for n in grads[0]:
        assert rel_err(grads[0][n], grads[1][n]) < 1e-9, n


def test_state_size_formulas():
    assert LinearAttention(16, 2).state_size() == 2 * 8 * 8
    assert LinearAttention(16, 2, feature_map="elu1", normalize=True).state_size() == 2 * 8 * 9
    assert DeltaNet(16, 2, conv_size=4).state_size() == 2 * 8 * 8 + 3 * 16
    assert DeltaNet(32, 4, d_key=4, d_value=6, conv_size=0).state_size() == 4 * 4 * 6
    assert MixtureOfMemories(16, 1, n_memories=4, conv_size=0).state_size() == 5 * 16 * 16
    assert MixtureOfMemories(16, 1, n_memories=4, shared=False,
                             conv_size=0).state_size() == 4 * 16 * 16


def test_mom_routes_each_token_to_top_k_memories():
    g = route(torch.tensor([[0.0, 3.0, 1.0, 2.0]]), top_k=2)
    assert torch.allclose(g.sum(-1), torch.ones(1))
    assert (g > 0).tolist() == [[False, True, False, True]]


def test_mom_unrouted_memory_stays_empty():
    torch.manual_seed(0)
    mem = MixtureOfMemories(8, 1, n_memories=3, top_k=1, shared=False, conv_size=0).double()
    with torch.no_grad():
        mem.router.weight.zero_()
        mem.router.weight[0] = 0.0
        mem.router.weight[1] = 0.0
        mem.router.weight[2] = -5.0          # with a positive input, memory 2 is never chosen
    x = torch.rand(2, 30, 8, dtype=D) + 0.1
    _, state = mem(x)
    assert state.S[:, 2].abs().max() == 0
    assert state.S[:, :2].abs().max() > 0


def test_conv_gives_keys_the_previous_token():
    torch.manual_seed(0)
    mem = DeltaNet(4, 1, conv_size=2).double()
    with torch.no_grad():
        mem.conv_weight.copy_(torch.tensor([[1.0, 0.0]] * 4))     # pure shift by one token
    x = torch.randn(1, 5, 4, dtype=D)
    xc, _ = mem._conv(x, mem.init_state(1, dtype=D).conv)
    assert torch.allclose(xc[0, 1:], x[0, :-1]) and torch.allclose(xc[0, 0], torch.zeros(4, dtype=D))


# ------------------------------------------------------------------ bad input
def test_kernels_reject_bad_shapes_and_values():
    q, k, v, beta, alpha, S0 = _inputs()
    with pytest.raises(ValueError, match="q and k"):
        delta_rule_recurrent(q[..., :4], k, v, beta)
    with pytest.raises(ValueError, match="v must be"):
        linear_attention_chunked(q, k, v[:, :5], S0)
    with pytest.raises(ValueError, match="S0 must be"):
        delta_rule_chunked(q, k, v, beta, S0[..., :2])
    with pytest.raises(ValueError, match="beta must be"):
        delta_rule_chunked(q, k, v, beta[:, :3])
    with pytest.raises(ValueError, match="alpha"):
        gated_delta_rule_chunked(q, k, v, alpha * 3, beta)
    with pytest.raises(ValueError, match="alpha"):
        gated_delta_rule_recurrent(q, k, v, alpha * 0, beta)
    with pytest.raises(ValueError, match="chunk_size"):
        delta_rule_chunked(q, k, v, beta, chunk_size=0)
    with pytest.raises(ValueError, match="4 dimensions"):
        linear_attention_recurrent(q[0], k[0], v[0])
    with pytest.raises(TypeError, match="torch.Tensor"):
        linear_attention_recurrent(q.numpy(), k, v)


def test_layers_reject_bad_configuration_and_input():
    with pytest.raises(ValueError, match="feature_map"):
        LinearAttention(8, feature_map="cosine")
    with pytest.raises(ValueError, match="normalize"):
        LinearAttention(8, feature_map="identity", normalize=True)
    with pytest.raises(ValueError, match="divisible"):
        DeltaNet(10, 3)
    with pytest.raises(ValueError, match="top_k"):
        MixtureOfMemories(8, n_memories=2, top_k=3)
    with pytest.raises(ValueError, match="rule"):
        MixtureOfMemories(8, rule="hebb")
    with pytest.raises(ValueError, match="conv_size"):
        DeltaNet(8, conv_size=-1)
    with pytest.raises(ValueError, match="last dimension 8"):
        DeltaNet(8)(torch.randn(1, 4, 5))
    with pytest.raises(ValueError, match="x_t"):
        DeltaNet(8).step(torch.randn(1, 4, 8), None)


def test_wy_representation_of_a_chunk():
    # the docstring's identity: with W = (I + tril(B K K^T, -1))^{-1} B K,
    # I - K^T W = (I - b_C k_C k_C^T) ... (I - b_1 k_1 k_1^T)
    g = torch.Generator().manual_seed(4)
    C, d = 6, 5
    K = F.normalize(torch.randn(C, d, generator=g, dtype=D), dim=-1)
    b = torch.rand(C, generator=g, dtype=D)
    A = torch.eye(C, dtype=D) + torch.tril(b[:, None] * K @ K.T, -1)
    W = torch.linalg.solve(A, b[:, None] * K)
    prod = torch.eye(d, dtype=D)
    for i in range(C):
        prod = (torch.eye(d, dtype=D) - b[i] * torch.outer(K[i], K[i])) @ prod
    assert rel_err(torch.eye(d, dtype=D) - K.T @ W, prod) < 1e-12


@pytest.mark.gpu
def test_kernels_and_layers_on_cuda_match_cpu():
    q, k, v, beta, alpha, S0 = _inputs(T=100)
    dev = torch.device("cuda")
    for fn, args in ((delta_rule_chunked, (q, k, v, beta, S0)),
                     (gated_delta_rule_chunked, (q, k, v, alpha, beta, S0)),
                     (linear_attention_chunked, (q, k, v, S0))):
        o_cpu, s_cpu = fn(*args)
        o_gpu, s_gpu = fn(*(a.to(dev) for a in args))
        assert rel_err(o_gpu.cpu(), o_cpu) < 1e-10 and rel_err(s_gpu.cpu(), s_cpu) < 1e-10
    torch.manual_seed(0)
    mem = LAYERS["mom_delta"]().double().to(dev)
    check_sequence_memory(mem, torch.randn(2, 50, 16, dtype=D, device=dev), [10, 40], rtol=1e-10)


# ---------------------------------------------------------------- MoM: an independent reference
def mom_naive(mem, x):
    """MoM written as the paper's equations, with explicit loops over tokens, memories, batch and
    heads (no linear-attention / delta-rule kernel, no memories-as-heads trick)::

        S_t^m = rule(S_{t-1}^m, k_t^m, v_t^m)   if m is routed at t (or is the shared memory)
        S_t^m = S_{t-1}^m                       otherwise
        o_t   = sum_m g_t^m (S_t^m)^T q_t  +  (S_t^shared)^T q_t
    """
    xc, _, _ = mem._prepare(x, None)
    B, T, _ = x.shape
    H, dk, dv, M, Mt = mem.n_heads, mem.d_key, mem.d_value, mem.n_memories, mem.n_mem_total
    q, k, v = super(MixtureOfMemories, mem)._qkv(xc)       # q [B,T,H,dk]; k, v [B,T,Mt*H,.]
    k, v = k.view(B, T, Mt, H, dk), v.view(B, T, Mt, H, dv)
    g = route(mem.router(xc), mem.top_k)                     # [B, T, M]
    beta = torch.sigmoid(mem.b_proj(xc)).view(B, T, Mt, H) if mem.rule == "delta" else None
    S = [[[x.new_zeros(dk, dv) for _ in range(H)] for _ in range(Mt)] for _ in range(B)]
    o = x.new_zeros(B, T, H, dv)
    for t in range(T):
        for b in range(B):
            for m in range(Mt):
                shared = m == M
                if not shared and g[b, t, m] == 0:
                    continue                                 # not routed: memory m untouched
                for h in range(H):
                    kk, vv, Sm = k[b, t, m, h], v[b, t, m, h], S[b][m][h]
                    if mem.rule == "delta":
                        S[b][m][h] = Sm + beta[b, t, m, h] * torch.outer(kk, vv - Sm.T @ kk)
                    else:
                        S[b][m][h] = Sm + torch.outer(kk, vv)
            for h in range(H):
                for m in range(Mt):
                    weight = 1.0 if m == M else g[b, t, m]
                    o[b, t, h] = o[b, t, h] + weight * (S[b][m][h].T @ q[b, t, h])
    S_all = torch.stack([torch.stack([torch.stack(S[b][m]) for m in range(Mt)]) for b in range(B)])
    return mem._out(o), S_all.flatten(1, 2)                  # S: [B, Mt*H, dk, dv]


@pytest.mark.parametrize("rule,shared,top_k", [("delta", True, 2), ("linear", True, 1),
                                               ("delta", False, 1), ("linear", False, 3)])
def test_mom_equals_the_naive_loop_over_memories(rule, shared, top_k):
    torch.manual_seed(0)
    mem = MixtureOfMemories(8, 2, n_memories=3, top_k=top_k, rule=rule, shared=shared,
                            conv_size=2, chunk_size=4).double()
    x = torch.randn(2, 11, 8, dtype=D)
    with torch.no_grad():
        y_ref, S_ref = mom_naive(mem, x)
        y, state = mem(x)                                    # chunked kernels
        y_rec, state_rec = mem.forward_recurrent(x)          # step kernels
    assert torch.allclose(y, y_ref, atol=1e-10) and torch.allclose(state.S, S_ref, atol=1e-10)
    assert torch.allclose(y_rec, y_ref, atol=1e-10)
    assert torch.allclose(state_rec.S, S_ref, atol=1e-10)


def test_mom_naive_reference_catches_a_wrong_read():
    """The reference is not the layer restated: route every token to all memories (a broken
    router) and the layer no longer matches it."""
    torch.manual_seed(0)
    mem = MixtureOfMemories(8, 1, n_memories=3, top_k=1, rule="linear", conv_size=0).double()
    x = torch.randn(1, 6, 8, dtype=D)
    with torch.no_grad():
        y_ref, _ = mom_naive(mem, x)
        mem.top_k = 3                                        # writes everywhere now
        y_bad, _ = mem(x)
    assert not torch.allclose(y_bad, y_ref, atol=1e-6)


def test_mom_two_tokens_by_hand():
    """d = 2, one head, 2 routed memories (top-1) + the shared one, linear rule, no norms.
    Keys = x for every memory; values = (m+1) x; router logits = x.

    t=1, x = e1 -> memory 0:  S^0 = e1 e1^T,  S^sh = 3 e1 e1^T;  o_1 = 1*e1 + 3 e1 = (4, 0)
    t=2, x = e2 -> memory 1:  S^1 = 2 e2 e2^T, S^sh += 3 e2 e2^T; S^0 unchanged; o_2 = (0, 5)
    """
    mem = MixtureOfMemories(2, 1, n_memories=2, top_k=1, rule="linear", shared=True,
                            feature_map="identity", qk_norm=False, conv_size=0,
                            out_norm=False).double()
    eye = torch.eye(2, dtype=D)
    with torch.no_grad():
        mem.q_proj.weight.copy_(eye)
        mem.o_proj.weight.copy_(eye)
        mem.router.weight.copy_(eye)
        mem.k_proj.weight.copy_(torch.cat([eye, eye, eye]))
        mem.v_proj.weight.copy_(torch.cat([1 * eye, 2 * eye, 3 * eye]))
        x = eye[None]                                        # [1, 2 tokens, 2]
        y, state = mem(x)
        y_ref, S_ref = mom_naive(mem, x)
    assert torch.allclose(y[0], torch.tensor([[4.0, 0.0], [0.0, 5.0]], dtype=D))
    S = state.S[0]
    assert torch.allclose(S[0], torch.tensor([[1.0, 0.0], [0.0, 0.0]], dtype=D))
    assert torch.allclose(S[1], torch.tensor([[0.0, 0.0], [0.0, 2.0]], dtype=D))
    assert torch.allclose(S[2], 3 * eye)
    assert torch.allclose(y, y_ref) and torch.allclose(state.S, S_ref)
