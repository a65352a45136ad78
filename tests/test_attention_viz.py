"""Chapter 03 figures read: distinct line styles for curves that coincide, a labelled colour bar."""

import torch

from memlab.attention import experiments as X
from memlab.tasks import mqar
from memlab.viz import attention as V


def test_budget_curves_that_coincide_stay_visible():
    curves = {"window": [0.2, 0.5, 1.0], "sinks+window": [0.2, 0.5, 1.0], "h2o": [0.3, 0.6, 1.0]}
    fig = V.plot_budget_curves(curves, [2, 4, 8], 8, 1.0)
    ax = fig.axes[0]
    lines = [ln for ln in ax.get_lines() if ln.get_label() in curves]
    assert len({(ln.get_linestyle(), ln.get_marker()) for ln in lines}) == len(curves)
    assert ax.get_title() and ax.get_legend() is not None


def test_kv_policy_heat_map_has_a_labelled_colour_bar():
    torch.manual_seed(0)
    model = X.build_model(32, d_model=16, n_layers=2, n_heads=2, max_len=24)
    prep = X.prepare(model, mqar(8, 24, 4, 32, seed=0), 8)
    fig = V.render_kv_policy(prep, "window", 3, 0)
    assert len(fig.axes) == 2 and "attention" in fig.axes[1].get_ylabel()
