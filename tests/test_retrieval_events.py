"""InfLLM block memory, EM-LLM surprise events, EMAT key-value MIPS."""

import pytest
import torch

from memlab.retrieval.emat import HashingEncoder, KeyValueMemory, mips_to_nn
from memlab.retrieval.emllm import (
    BigramSurprise,
    EventMemory,
    boundary_f1,
    events_from_boundaries,
    modularity,
    refine_boundaries,
    surprise_boundaries,
)
from memlab.retrieval.infllm import BlockMemory, infllm_attention, representative_scores


# ---------------------------------------------------------------- InfLLM
def test_representative_scores_hand_case():
    keys = torch.eye(3)
    queries = torch.tensor([[0.0, 0, 0], [2.0, 0, 0], [4.0, 1, 0]])
    r = representative_scores(keys, queries, n_local=2)
    # r_0 = mean(q1.k0, q2.k0) = mean(2, 4) = 3; r_1 = q2.k1 = 1; r_2 has no later queries: 0
    assert r.tolist() == [3.0, 1.0, 0.0]


def test_block_lookup_finds_the_block_whose_representative_matches():
    g = torch.Generator().manual_seed(0)
    d, bs = 16, 8
    keys = torch.randn(5 * bs, d, generator=g) * 0.1
    target = torch.randn(d, generator=g)
    keys[3 * bs + 5] = target                                 # one salient token in block 3
    scores = torch.zeros(5 * bs)
    scores[3 * bs + 5] = 1.0
    mem = BlockMemory(d, block_size=bs, n_repr=2)
    assert mem.write(keys, keys.clone(), scores) == 5 and len(mem) == 5
    assert 5 in mem.repr_index[3].tolist()
    ids, K, _ = mem.lookup(target[None], n_blocks=1)
    assert ids.tolist() == [3] and torch.equal(K, keys[3 * bs:4 * bs])
    assert mem.state_size() == 5 * (2 * bs + 2) * d
    with pytest.raises(ValueError, match="multiple of block_size"):
        mem.write(keys[:5], keys[:5], scores[:5])


def test_infllm_attention_with_all_blocks_equals_full_attention():
    g = torch.Generator().manual_seed(1)
    d = 8
    K_all, V_all = torch.randn(40, d, generator=g), torch.randn(40, d, generator=g)
    q = torch.randn(4, d, generator=g)
    mem = BlockMemory(d, block_size=8, n_repr=2)
    mem.write(K_all[2:34], V_all[2:34], torch.randn(32, generator=g))
    o, ids = infllm_attention(q, K_all[:2], V_all[:2], mem, K_all[34:], V_all[34:], n_blocks=99,
                              causal_local=False)
    ref = torch.softmax(q @ K_all.T / d ** 0.5, -1) @ V_all
    assert ids.tolist() == [0, 1, 2, 3] and torch.allclose(o, ref, atol=1e-6)
    o1, ids1 = infllm_attention(q, K_all[:2], V_all[:2], mem, K_all[34:], V_all[34:], n_blocks=1)
    assert len(ids1) == 1 and o1.shape == (4, d)


# ---------------------------------------------------------------- EM-LLM
def regime_stream(n_segments=12, seg_len=60, n_regimes=4, per=6, seed=0):
    """Regime-switching Markov stream: regime r walks on its own ``per`` tokens (a sparse
    random transition table, 2 successors per token); the regime changes every segment."""
    g = torch.Generator().manual_seed(seed)
    tables = [r * per + torch.randint(0, per, (per, 2), generator=g) for r in range(n_regimes)]
    tokens, bounds = [], []
    for s in range(n_segments):
        r = int(torch.randint(0, n_regimes, (1,), generator=g)) if s else 0
        while s and r == tokens[-1] // per:
            r = int(torch.randint(0, n_regimes, (1,), generator=g))
        bounds.append(len(tokens))
        x = r * per + int(torch.randint(0, per, (1,), generator=g))
        for _ in range(seg_len):
            tokens.append(x)
            x = int(tables[r][x - r * per, torch.randint(0, 2, (1,), generator=g)])
    return torch.tensor(tokens), bounds


def test_surprise_segmentation_beats_fixed_chunks():
    tokens, truth = regime_stream()
    model = BigramSurprise(24)
    s = model(tokens)
    found = surprise_boundaries(s, window=40, gamma=3.0, min_gap=20)
    fixed = list(range(0, len(tokens), 45))
    f1, f1_fixed = boundary_f1(found, truth, tolerance=4), boundary_f1(fixed, truth, tolerance=4)
    assert f1 > 0.8 and f1 > f1_fixed + 0.5, (f1, f1_fixed)
    assert model.counts.sum() == len(tokens) - 1                    # it learned online


def test_boundary_rule_hand_case():
    s = torch.tensor([1.0, 1.1, 0.9, 1.0, 5.0, 1.0, 1.05, 0.95])
    assert surprise_boundaries(s, window=4, gamma=1.0) == [0, 4]
    assert boundary_f1([0, 4], [0, 5], tolerance=1) == 1.0
    assert boundary_f1([0, 4], [0, 7], tolerance=1) == 0.0


def test_modularity_and_refinement_move_a_boundary_to_the_cluster_edge():
    a, b = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    keys = torch.stack([a] * 6 + [b] * 6)
    labels_good = events_from_boundaries([0, 6], 12)
    labels_bad = events_from_boundaries([0, 4], 12)
    A = (keys @ keys.T).clamp_min(0)
    A.fill_diagonal_(0)
    assert modularity(A, labels_good) > modularity(A, labels_bad)
    assert refine_boundaries(keys, [0, 4], radius=3) == [0, 6]


def test_event_retrieval_similarity_plus_contiguity():
    d = 4
    keys = torch.zeros(50, d)
    keys[20:30, 0] = 1.0                                  # event 2 is about direction e0
    mem = EventMemory(keys, torch.arange(50.)[:, None].repeat(1, d), [0, 10, 20, 30, 40])
    S, C = mem.retrieve(torch.tensor([1.0, 0, 0, 0]), k_s=1, k_c=2)
    assert S == [2] and sorted(C) == [1, 3]
    out, S, C = mem.read(torch.tensor([5.0, 0, 0, 0]), k_s=1, k_c=0)
    assert S == [2] and C == [] and 20 <= out[0] <= 29


# ---------------------------------------------------------------- EMAT
def test_mips_reduction_turns_inner_product_into_nearest_neighbour():
    g = torch.Generator().manual_seed(3)
    keys = torch.randn(200, 8, generator=g) * torch.rand(200, 1, generator=g) * 3
    q = torch.randn(10, 8, generator=g)
    k2, q2 = mips_to_nn(keys, q)
    assert torch.equal((q @ keys.T).argmax(1), torch.cdist(q2, k2).argmin(1))


def test_key_value_memory_answers_paraphrased_questions():
    qs = [f"what is the capital of country{i}" for i in range(50)]
    ans = [f"city{i}" for i in range(50)]
    for index in ("exact", "flat"):
        kv = KeyValueMemory(dim=64, index=index)
        kv.add(qs, ans)
        got, scores, vals = kv.read(["capital of country7 is what", "country42 capital"], k=2)
        assert got[0][0] == "city7" and got[1][0] == "city42"
        assert scores.shape == (2, 2) and vals.shape == (2, 2, 64)
    enc = HashingEncoder(16)
    assert torch.equal(enc(["a b"]), enc(["b a"]))             # bag of words, deterministic
    with pytest.raises(ValueError, match="answers"):
        kv.add(["q"], [])
    with pytest.raises(RuntimeError, match="empty"):
        KeyValueMemory().read(["x"])
