"""Widget render functions of chapter 08, without a browser."""

import numpy as np
import pytest
from matplotlib.figure import Figure

from memlab.viz.layers import render_slot_hits, render_slot_usage, slot_hits


def test_slot_hits_structure():
    h = slot_hits(query=2, k=4, n_keys=12)
    assert h["scores"].shape == (12, 12)
    assert np.array_equal(h["exact"], h["found"])          # product keys == exhaustive
    # every hit lies in the k x k candidate cross
    assert set(h["slots"][:, 0]) <= set(h["rows"]) and set(h["slots"][:, 1]) <= set(h["cols"])
    # the top hit is the argmax of the full grid
    i, j = np.unravel_index(h["scores"].argmax(), h["scores"].shape)
    assert tuple(h["slots"][0]) == (i, j)
    assert abs(h["weights"].sum() - 1) < 1e-9
    with pytest.raises(ValueError, match="k must be"):
        slot_hits(k=20, n_keys=12)


def _pixels(fig):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba()).copy()


def test_render_slot_hits_changes_with_knobs():
    a, b, c = render_slot_hits(query=0, k=4), render_slot_hits(query=1, k=4), render_slot_hits(query=0, k=8)
    assert all(isinstance(f, Figure) for f in (a, b, c))
    pa = _pixels(a)
    assert not np.array_equal(pa, _pixels(b)) and not np.array_equal(pa, _pixels(c))


def test_render_slot_usage():
    f = render_slot_usage(np.array([0, 3, 1, 0, 9]))
    assert isinstance(f, Figure)
    assert "60%" in f.axes[0].get_title()


def test_render_accuracy_by_rank():
    from memlab.viz.layers import render_accuracy_by_rank
    hits = {"a": np.r_[np.ones(50), np.zeros(50)], "b": np.ones(100)}
    f = render_accuracy_by_rank(hits)
    lines = f.axes[0].get_lines()
    assert len(lines) == 2 and lines[1].get_ydata().min() == 1.0 and lines[0].get_ydata()[-1] == 0.0


def test_slot_hits_legend_is_outside_the_axes():
    fig = render_slot_hits(query=0, k=4, n_keys=16)
    assert fig.legends and not fig.axes[0].get_legend()      # a figure legend, below the plots
    assert fig.axes[0].get_title()
