"""The chapter-04 render functions return Figures that change with their knobs."""

import numpy as np
import pytest
from matplotlib.figure import Figure

from memlab.fastweights.experiments import recall_error_curve
from memlab.viz.fastweights import plot_mqar, plot_recall_curve, render_memory


def _image(fig):
    return np.asarray(fig.axes[0].images[0].get_array())


def test_render_memory_returns_a_figure_that_follows_its_knobs():
    fig = render_memory(n_pairs=4, d_key=8, rule="delta")
    assert isinstance(fig, Figure)
    assert _image(fig).shape == (8, 8)
    assert len(fig.axes[1].patches) == 4                        # one bar per stored pair
    assert _image(render_memory(n_pairs=4, d_key=12, rule="delta")).shape == (12, 12)
    assert len(render_memory(n_pairs=9, d_key=8, rule="delta").axes[1].patches) == 9
    lin = _image(render_memory(n_pairs=12, d_key=8, rule="linear"))
    assert not np.allclose(lin, _image(render_memory(n_pairs=12, d_key=8, rule="delta")))


def test_render_memory_rejects_an_unknown_rule():
    with pytest.raises(ValueError, match="rule"):
        render_memory(rule="hebb")


def test_plots_return_figures():
    curve = recall_error_curve(8, [2, 8], n_seeds=2)
    assert isinstance(plot_recall_curve(curve, 8), Figure)
    res = {16: {"pairs": [2, 4], "accuracy": {"attention": [1.0, 1.0], "linear": [0.9, 0.5]},
                "state_size": {"attention": 2048, "linear": 256}}}
    fig = plot_mqar(res)
    assert isinstance(fig, Figure) and len(fig.axes[0].lines) == 2
