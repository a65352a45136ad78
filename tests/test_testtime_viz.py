"""The chapter 06 widget and plots render without a browser and react to their knobs."""

import numpy as np
import pytest
from matplotlib.figure import Figure

from memlab.viz.testtime import plot_bars, plot_chunk_gap, render_recall_vs_age


def _curve(fig):
    return np.asarray(fig.axes[0].lines[1].get_ydata())


def test_render_recall_vs_age_changes_with_knobs():
    base = render_recall_vs_age(T=64, d=16)
    assert isinstance(base, Figure)
    forget = render_recall_vs_age(T=64, d=16, alpha=0.2)
    deep = render_recall_vs_age(T=64, d=16, depth=2)
    assert not np.allclose(_curve(base), _curve(forget))
    assert not np.allclose(_curve(base), _curve(deep))
    # strong forgetting: old pairs are gone, recent ones stay
    y = _curve(forget)
    assert y[0] > y[-1]


def test_render_rejects_bad_knobs():
    with pytest.raises(ValueError, match="eta"):
        render_recall_vs_age(eta=1.0)
    with pytest.raises(ValueError, match="depth"):
        render_recall_vs_age(depth=7)


def test_plots():
    assert isinstance(plot_bars({"a": 0.1, "b": 0.5}, "t", "y"), Figure)
    assert isinstance(plot_chunk_gap({1: {"rel_diff": 0.0}, 4: {"rel_diff": 0.1}}), Figure)
