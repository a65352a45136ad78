"""Nested Learning's continuum memory (memlab.testtime.nested): hand cases, state carried across
pieces, the layer, shapes and errors."""

import pytest
import torch

from memlab.testing import check_sequence_memory
from memlab.testtime import nested as N


def test_hand_computed_cases():
    assert N.hand_case_err() == 0.0


def test_pieces_equal_the_whole_stream():
    assert N.pieces_err(0) < 1e-12 and N.pieces_err(1) < 1e-12


def test_slow_level_waits_for_its_chunk():
    k = torch.ones(1, 3, 1, dtype=torch.float64)
    _, st = N.cms_recurrent(k, 2 * k, chunks=(1, 4), etas=(0.0, 0.1), alphas=(0.0, 0.0))
    assert float(st.W[1]) == 0.0 and float(st.G[1]) == pytest.approx(-1.2)   # 3 * 0.1 * 2 (0 - 2)
    _, st = N.cms_recurrent(k[:, :1], 2 * k[:, :1], st, chunks=(1, 4), etas=(0.0, 0.1),
                            alphas=(0.0, 0.0))
    assert float(st.W[1]) == pytest.approx(1.6) and float(st.G[1]) == 0.0 and st.t == 4


def test_one_level_chunk_one_is_the_delta_rule():
    """A single level, C = 1, no decay: W <- W - eta 2 (W k - v) k^T, the delta rule (beta = 2 eta)."""
    g = torch.Generator().manual_seed(0)
    k = torch.nn.functional.normalize(torch.randn(1, 6, 3, generator=g, dtype=torch.float64), dim=-1)
    v = torch.randn(1, 6, 3, generator=g, dtype=torch.float64)
    _, st = N.cms_recurrent(k, v, chunks=(1,), etas=(0.2,), alphas=(0.0,))
    W = torch.zeros(3, 3, dtype=torch.float64)
    for t in range(6):
        W = W - 0.4 * torch.outer(W @ k[0, t] - v[0, t], k[0, t])
    assert torch.allclose(st.W[0][0], W)


def test_layer_three_equalities():
    torch.manual_seed(0)
    layer = N.ContinuumMemory(6, chunks=(1, 3), etas=(0.2, 0.05), alphas=(0.1, 0.0)).double()
    x = torch.randn(2, 11, 6, dtype=torch.float64)
    errs = check_sequence_memory(layer, x, [4, 7])
    assert max(errs.values()) < 1e-10, errs
    assert layer.state_size() == 2 * 2 * 36


def test_slow_level_holds_the_slow_map():
    r = N.two_timescale_experiment(T=512, batch=4, seed=0)
    lv = r["levels"]
    assert lv["slow~A_slow"] > 0.9 and lv["slow~A_fast"] < 0.2


def test_return_claim_at_check_size_over_seeds():
    from memlab.chapters import get_chapter
    target = get_chapter("06").claims["cms_return_error_ratio"]
    vals = [N.return_ratio(s, **N.CHECK_KW) for s in range(3)]
    assert all(target.check(v) for v in vals), vals


@pytest.mark.parametrize("kw, match", [
    ({"chunks": (1, 0)}, "chunks"), ({"etas": (0.1,)}, "one entry"),
    ({"alphas": (0.0, 1.0)}, "alphas"), ({"etas": (-0.1, 0.1)}, "etas"),
    ({"combine": "prod"}, "combine")])
def test_bad_parameters(kw, match):
    k = torch.ones(1, 2, 2)
    with pytest.raises(ValueError, match=match):
        N.cms_recurrent(k, k, **{"chunks": (1, 2), "etas": (0.1, 0.1), "alphas": (0.0, 0.0), **kw})


def test_bad_shapes():
    with pytest.raises(ValueError, match="k"):
        N.cms_recurrent(torch.ones(2, 3), torch.ones(2, 3))
    with pytest.raises(ValueError, match="share"):
        N.cms_recurrent(torch.ones(1, 3, 2), torch.ones(1, 4, 2))
    with pytest.raises(ValueError, match="period"):
        N.two_timescale_stream(period=0)
