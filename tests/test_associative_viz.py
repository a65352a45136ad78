"""The chapter 01 widget and plot helpers: plain functions returning Figures."""

import numpy as np
import pytest
from matplotlib.figure import Figure

from memlab.associative import experiments as E
from memlab.viz import associative as V


def _image(fig, k):
    return np.asarray(fig.axes[k].images[0].get_array())


def test_render_retrieval_changes_with_each_knob():
    base = V.render_retrieval(noise=0.2, n_patterns=10, beta=1.0)
    assert isinstance(base, Figure)
    # noise changes the cue (axes 1); beta changes the modern retrieval (axes 3)
    noisier = V.render_retrieval(noise=0.4, n_patterns=10, beta=1.0)
    assert not np.array_equal(_image(base, 1), _image(noisier, 1))
    soft = V.render_retrieval(noise=0.2, n_patterns=10, beta=0.02)
    assert not np.array_equal(_image(base, 3), _image(soft, 3))
    assert "mixed" in soft.axes[3].get_title()
    # more stored patterns: a different energy landscape (axes 4 holds the trace)
    more = V.render_retrieval(noise=0.2, n_patterns=40, beta=1.0)
    e_base = base.axes[4].lines[0].get_ydata()
    e_more = more.axes[4].lines[0].get_ydata()
    assert not np.array_equal(e_base, e_more)
    assert np.all(np.diff(e_more) <= 0)                      # the async trace never rises
    with pytest.raises(ValueError, match="n_patterns"):
        V.render_retrieval(n_patterns=0)


def test_plot_helpers_return_figures():
    curve = E.RecallCurve([0.1, 0.2], [1.0, 0.2], [1.0, 0.5], 0.16)
    assert isinstance(V.plot_recall_curve(curve), Figure)
    rows = [{"recalled": 0.0, "mixture": 1.0, "participation": 30.0},
            {"recalled": 1.0, "mixture": 0.0, "participation": 1.0}]
    assert isinstance(V.plot_beta_sweep([0.1, 1.0], rows), Figure)
    assert isinstance(V.plot_curve([0, 1], [0, 1], "x", "y", ref=0.5), Figure)
    X, _ = E.digit_patterns(3)
    assert len(V.show_patterns(list(X), ["a", "b", "c"]).axes) == 3


def test_widget_states_its_result_in_the_figure_and_fits_the_column():
    """The line that used to be printed above the widget is the figure's title (never stale)."""
    from memlab.viz import figure_png, png_size

    fig = V.render_retrieval(noise=0.1, n_patterns=5, beta=1.0)
    title = fig._suptitle.get_text()
    assert "5 digits stored" in title and "\u03b2=1" in title
    assert png_size(figure_png(fig))[0] <= 950
    curve = E.RecallCurve([0.1, 0.2], [1.0, 0.2], [1.0, 0.5], 0.16)
    ax = V.plot_recall_curve(curve).axes[0]
    assert ax.get_title() and "$" in ax.get_xlabel()
