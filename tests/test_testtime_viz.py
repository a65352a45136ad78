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


def test_widget_title_names_the_knobs_and_bars_read():
    fig = render_recall_vs_age(eta=0.5, theta=0.2, alpha=0.01, depth=1, T=64, d=16)
    assert "$\\eta$=0.5" in fig.axes[0].get_title()
    bars = plot_bars({"plain, \u03b8=0.05": 0.1, "momentum \u03b7=0.9, \u03b8=0.05": 0.9}, "t", "y")
    assert all("\n" in t.get_text() or len(t.get_text()) <= 14
               for t in bars.axes[0].get_xticklabels())
