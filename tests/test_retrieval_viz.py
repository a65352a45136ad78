"""Chapter 07 widget and plots: render functions return Figures that follow their knobs."""

import pytest
from matplotlib.figure import Figure

from memlab.retrieval import experiments as X
from memlab.viz import retrieval as V


@pytest.fixture(scope="module")
def explorer():
    train = X.define_then_use(50, 64, 4, n_keys=64, n_values=8, n_filler=32, min_gap=6, seed=0)
    test = X.define_then_use(1, 512, 8, n_keys=64, n_values=8, n_filler=32, min_gap=40, seed=1)
    reader = X.build_reader(train, d_embed=16, window=4, top_k=8)
    return V.knn_explorer(reader, test, train)


def texts(fig):
    return [ax.get_title() for ax in fig.axes]


def test_widget_render_follows_its_knobs(explorer):
    a = explorer(memory_size=0, top_k=2, compression=1, query=0)
    b = explorer(memory_size=512, top_k=4, compression=1, query=3)
    assert isinstance(a, Figure) and isinstance(b, Figure)
    assert texts(a) != texts(b)
    # with no memory nothing is retrieved; with a memory, top_k positions are drawn
    assert len(a.axes[0].collections[-1].get_segments()) == 0
    assert len(b.axes[0].collections[-1].get_segments()) == 4
    c = explorer(memory_size=512, top_k=4, compression=16, query=3)
    assert "16x" in texts(c)[1]


def test_static_plots():
    rows = [{"capacity": 0, "accuracy": 0.01, "within_reach": 0.0},
            {"capacity": 100, "accuracy": 0.5, "within_reach": 0.6}]
    assert isinstance(V.plot_memory_sweep(rows, 0.01), Figure)
    assert isinstance(V.plot_compression([{"ratio": 1, "accuracy": 0.9},
                                          {"ratio": 16, "accuracy": 0.8}]), Figure)
    assert isinstance(V.plot_ann([{"nprobe": 1, "recall_at_k": 0.5, "speedup": 10.0},
                                  {"nprobe": 4, "recall_at_k": 0.9, "speedup": 4.0}]), Figure)


def test_static_plots_have_titles():
    assert V.plot_train_loss([2.0, 1.0, 0.5]).axes[0].get_title()
    fig = V.plot_ann([{"nprobe": 1, "recall_at_k": 0.5, "speedup": 10.0}])
    assert fig.axes[0].get_title() and fig.axes[1].get_ylabel()
