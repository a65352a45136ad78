"""PERK (memlab.testtime.perk): LoRA by hand, the batched inner loop against its naive loop,
the write, shapes and errors."""

import pytest
import torch

from memlab.testtime import perk as P
from memlab.testtime import perk_experiments as PX


def test_lora_update_by_hand():
    assert PX.lora_hand_err() == 0.0


def test_adapter_starts_as_the_identity():
    assert PX.identity_at_init_err() <= 1e-6


def test_segments_overlap_and_cover_every_pair():
    seg = P.segments(torch.arange(16)[None], 8)[0]
    assert seg.tolist() == [list(range(8)), list(range(4, 12)), list(range(8, 16))]
    assert P.segments(torch.arange(10)[None], 8)[0, -1].tolist() == list(range(2, 10))
    assert PX.uncovered_bigrams(16, 8) == 0 and PX.uncovered_bigrams(23, 6) == 0


def test_batched_inner_loop_equals_the_naive_loop():
    assert PX.inner_loop_rel_err(0) < 1e-10
    assert PX.inner_loop_rel_err(1) < 1e-10


def test_one_inner_step_by_autograd():
    """One step = phi_0 - lr * grad of the per-example segment loss (hand-rolled with autograd)."""
    m, phi = PX._random_lm(2)
    ctx, _, _, _ = PX.FactTask().sample(1, 0, 15, torch.Generator().manual_seed(2))
    ts = [t.clone().requires_grad_(True) for t in phi.tensors()]
    loss = P.lm_segments(m, ctx, P.Adapter.from_tensors(ts), 8).sum()
    ref = [t - 0.3 * g for t, g in zip(ts, torch.autograd.grad(loss, ts))]
    out = P.inner_loop(m, ctx, phi, 1, 0.3, 8).tensors()
    assert all(torch.allclose(a, b) for a, b in zip(out, ref))


def test_zero_steps_is_phi0_and_write_lowers_the_context_loss():
    m, phi = PX._random_lm(0)
    ctx, _, _, _ = PX.FactTask().sample(2, 0, 15, torch.Generator().manual_seed(0))
    out = P.inner_loop(m, ctx, phi, 0, 0.3, 8)
    assert all(torch.equal(a, b.expand_as(a)) for a, b in zip(out.tensors(), phi.tensors()))
    assert PX.write_loss_ratio(0) < 0.9


def test_memory_protocol_write_then_read():
    m, phi = PX._random_lm(0)
    mem = P.PERKMemory(m, phi, steps=1, lr=0.1, seg_len=8)
    with pytest.raises(RuntimeError):
        mem.read(torch.ones(1, 2, dtype=torch.long))
    ctx, q, _, _ = PX.FactTask().sample(3, 0, 15, torch.Generator().manual_seed(0))
    mem.write(ctx)
    assert mem.read(q).shape == (3, m.vocab)
    assert mem.state_size() == 2 * (16 + 64) + 2 * (64 + 16)
    with pytest.raises(ValueError, match="batch"):
        mem.read(q[:2])
    mem.reset()
    assert mem.adapter is None


@pytest.mark.parametrize("kw, match", [({"d_model": 15, "n_heads": 2}, "divisible"),
                                       ({"rank": 0}, "rank"), ({"vocab": 1}, "vocab")])
def test_bad_model_parameters(kw, match):
    with pytest.raises(ValueError, match=match):
        P.TinyLM(**{"vocab": 10, **kw})


def test_bad_shapes():
    m = P.TinyLM(10, 8, 1, max_len=6)
    with pytest.raises(ValueError, match="tokens"):
        m(torch.ones(6, dtype=torch.long))
    with pytest.raises(ValueError, match="max_len"):
        m(torch.ones(1, 7, dtype=torch.long))
    with pytest.raises(ValueError, match="seg_len"):
        P.segments(torch.ones(1, 6, dtype=torch.long), 7)
    with pytest.raises(ValueError, match="needle"):
        PX.FactTask().sample(2, 0, 16, torch.Generator())
    with pytest.raises(ValueError, match="steps"):
        P.inner_loop(m, torch.ones(1, 6, dtype=torch.long), m.init_adapter(), -1)


def test_small_adam_matches_torch_adam():
    g = torch.Generator().manual_seed(0)
    p1 = torch.nn.Parameter(torch.randn(5, generator=g))
    p2 = torch.nn.Parameter(p1.detach().clone())
    o1, o2 = torch.optim.Adam([p1], lr=0.1), PX._Adam([p2], 0.1)
    for _ in range(5):
        for p, o in ((p1, o1), (p2, o2)):
            o.zero_grad()
            (p ** 3).sum().backward()
            o.step()
    assert torch.allclose(p1, p2, atol=1e-6)
