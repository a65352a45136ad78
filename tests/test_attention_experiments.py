"""Chapter 03's experiment plumbing, widget renderer and chapter registration."""

import pytest
import torch

from memlab.attention import experiments as X
from memlab.chapters import get_chapter
from memlab.tasks import mqar, needle
from memlab.train import correct


@pytest.fixture(scope="module")
def small():
    torch.manual_seed(0)
    model = X.build_model(32, d_model=16, n_layers=2, n_heads=2, max_len=24)
    batch = mqar(40, 24, 4, 32, seed=0)
    return model, batch, X.prepare(model, batch, 8)


def test_run_with_weights_matches_the_model(small):
    model, batch, _ = small
    with torch.no_grad():
        logits, st, w = X.run_with_weights(model, batch.inputs)
        assert torch.allclose(logits, model(batch.inputs), atol=1e-5)
    assert len(w) == 2 and w[0].shape == (40, 2, 24, 24)
    assert st.seen == 24 and len(st.mixers[0]) == 24


def test_full_cache_path_equals_plain_forward(small):
    """prefill -> (no eviction) -> decode the question == one forward pass of the model."""
    model, batch, prep = small
    r = X.evaluate(prep, "full")
    hits, mask = correct(model, batch)
    assert torch.equal(r["hits"], hits[:, 8:]) and torch.equal(r["mask"], mask[:, 8:])
    assert r["budgets"] == [8, 8] and r["numbers"] == 2 * (2 * 16 * 8)
    with torch.no_grad():
        lp = torch.log_softmax(model(batch.inputs), -1)[:, 8:]
    tgt = batch.targets[:, 8:]
    m = tgt != -100
    want = -lp.gather(-1, tgt.clamp_min(0)[..., None])[..., 0][m].mean()
    assert r["nll"] == pytest.approx(float(want), rel=1e-4)
    # a budget covering the whole context changes nothing, whatever the policy
    for p in ("window", "h2o", "sirllm", "query_aware", "cake"):
        assert torch.equal(X.evaluate(prep, p, 8)["hits"], r["hits"])
    # 16-bit quantisation is (almost) lossless on the predictions
    assert (X.evaluate(prep, "full", bits=16)["hits"] == r["hits"]).float().mean() > 0.97


def test_budgets_are_respected(small):
    _, _, prep = small
    for p in ("window", "sinks+window", "h2o", "sirllm", "query_aware"):
        r = X.evaluate(prep, p, 3)
        assert [k.shape[1] for k in r["kept"]] == [3, 3]
        assert r["numbers"] == 2 * (2 * 16 * 3)
    r = X.evaluate(prep, "cake", 3)
    assert sum(r["budgets"]) == 6 and [k.shape[1] for k in r["kept"]] == r["budgets"]
    # a layer whose CAKE share exceeds its cache (n_ctx = 8): make layer 1's question attention
    # peaked (low preference) so layer 0 asks for more than 8 entries; the excess must go to
    # layer 1, so CAKE keeps exactly as many numbers as every other policy
    from dataclasses import replace

    from memlab.attention.policies import layer_budgets
    peaked = torch.zeros_like(prep.probe[1])
    peaked[..., 0] = 1.0
    skew = replace(prep, probe=[prep.probe[0], peaked + 1e-4])
    assert layer_budgets(skew.probe, total=12)[0] > 8          # the case the cap is for
    for b in range(1, 8):
        rc, rw = X.evaluate(skew, "cake", b), X.evaluate(skew, "window", b)
        assert sum(rc["budgets"]) == 2 * b and max(rc["budgets"]) <= 8, rc["budgets"]
        assert [k.shape[1] for k in rc["kept"]] == rc["budgets"]
        assert rc["numbers"] == rw["numbers"]
    w = X.evaluate(prep, "window", 3)["kept"][0]
    assert (w == torch.tensor([5, 6, 7])).all()


def test_prepare_records_what_policies_need(small):
    _, batch, prep = small
    assert prep.attn[1].shape == (40, 2, 8, 8) and prep.probe[0].shape == (40, 2, 16, 8)
    assert prep.logp.shape == (40, 8) and (prep.logp <= 0).all()
    with pytest.raises(ValueError, match="n_ctx"):
        X.prepare(small[0], batch, 24)
    v = prep.view(0)
    assert v.seen == 8 and v.pos.shape == (40, 8)


def test_old_needle_gap_and_needle_task(small):
    _, _, prep = small
    g = X.old_needle_gap(prep, 4)
    assert set(g) == {"query_aware", "sinks+window", "window", "gap"}
    old = X.pair_age_mask(prep, old=True)
    new = X.pair_age_mask(prep, old=False)
    assert not (old & new).any() and ((old | new) == prep.batch.answer_mask[:, 8:]).all()
    # the protocol also runs on the needle task (context = everything before the question):
    # a window of 4 drops the needle (value at position 5), the full cache keeps it. Whether the
    # model then answers is checked on a trained model in tests/test_claims_ch03.py.
    model = small[0]
    nb = needle(10, 24, 0.2, 32, seed=0)
    p2 = X.prepare(model, nb, 23)
    pos = nb.meta["needle_pos"][0]
    win = X.evaluate(p2, "window", 4)["kept"][0]
    assert int(pos) == 5 and not (win == pos).any() and win.shape == (10, 4)
    assert (X.evaluate(p2, "full")["kept"][0] == pos).any(dim=1).all()


def test_render_kv_policy_changes_with_its_knobs(small):
    from matplotlib.figure import Figure

    from memlab.viz.attention import plot_bits, plot_budget_curves, render_kv_policy
    _, _, prep = small
    f1 = render_kv_policy(prep, "window", 3, 0)
    f2 = render_kv_policy(prep, "query_aware", 3, 0)
    f3 = render_kv_policy(prep, "window", 3, 1)
    assert isinstance(f1, Figure)
    assert f1.axes[0].get_title() != f2.axes[0].get_title()
    img1, img3 = f1.axes[0].images[0].get_array(), f3.axes[0].images[0].get_array()
    assert img1.shape == (24, 8) and not (img1 == img3).all()
    with pytest.raises(ValueError, match="layer"):
        render_kv_policy(prep, "window", 3, 5)
    assert isinstance(plot_budget_curves({"window": [0.1, 0.5]}, [2, 4], 8, 1.0), Figure)
    assert isinstance(plot_bits([4, 2], {"a": [1.0, 0.9]}, 1.0), Figure)


def test_chapter_registered_and_params_validate():
    ch = get_chapter("03")
    assert ch.slug == "attention_kv_cache" and ch.notebook == "03_attention_kv_cache.ipynb"
    P = ch.Params()
    assert P.claim_budget == 0.5
    full = ch.Params(**ch.Params.FULL)
    assert full.seq_len >= 4 * full.n_pairs
    from memlab.params import ParameterError
    with pytest.raises(ParameterError, match="claim_budget"):
        ch.Params.build({"claim_budget": 2.0})
    with pytest.raises(ParameterError, match="4\\*n_pairs"):
        ch.Params.build({"seq_len": 16, "n_pairs": 8})
    with pytest.raises(ParameterError, match="n_heads"):
        ch.Params.build({"d_model": 30, "n_heads": 4})


def test_notebook_parameters_match_params():
    papermill = pytest.importorskip("papermill")
    ch = get_chapter("03")
    if not ch.notebook_path.exists():
        pytest.skip("notebook not built")
    found = papermill.inspect_notebook(str(ch.notebook_path))
    assert set(found) == set(ch.Params.names())
    for name, default in ch.Params.defaults().items():
        assert eval(found[name]["default"]) == default, name


def test_widget_rerenders_on_knob_change(small):
    from functools import partial

    import ipywidgets as W

    from memlab.viz import interactive
    from memlab.viz.attention import render_kv_policy
    _, _, prep = small
    box = interactive(partial(render_kv_policy, prep),
                      policy=W.Dropdown(options=["window", "query_aware"], value="window"),
                      budget=W.IntSlider(value=3, min=1, max=8), layer=W.IntSlider(value=0, max=1))
    first = box.last_figure
    box.children[1].value = 5
    assert box.last_figure is not first
    assert "budget 5" in box.last_figure.axes[0].get_title()


def test_bench_entry_is_registered():
    import memlab.bench.attention  # noqa: F401
    from memlab.bench import _REGISTRY
    e = _REGISTRY["attention_kv_cache_decode"]
    assert e.family == "attention" and "KV cache" in e.doc
