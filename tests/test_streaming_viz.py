"""Chapter 18's plots and widget callbacks, without a browser."""

import pytest
from matplotlib.figure import Figure

from memlab.streaming import experiments as E
from memlab.viz import streaming as V


def test_render_bank_draws_every_policy():
    fig = V.render_bank(t=150, budget=8, n_frames=200, step=25)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert "budget 8" in ax.get_title() and len(ax.get_yticks()) == 5
    with pytest.raises(ValueError, match="t must"):
        V.render_bank(t=500, n_frames=200)


def test_render_tracker_and_bars():
    fig = V.render_tracker(video=3, P=3)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert any("greedy" in s for s in labels) and any("P = 3" in s for s in labels)
    with pytest.raises(ValueError, match="P must"):
        V.render_tracker(P=0)
    m = E.compare_policies(n_frames=120, n_tokens=2, d=8, n_scenes=3, n_events=2, budget=8,
                           policies=("fifo", "malmm"))["metrics"]
    assert len(V.plot_policies(m).axes) == 3
    tab = {"a": {"success": 0.5, "steps": 10.0}, "b": {"success": 0.7, "steps": 8.0}}
    assert len(V.plot_karma(tab).axes) == 2
