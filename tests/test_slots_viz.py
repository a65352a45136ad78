"""Chapter 02's figures and widget callback, without a browser."""

import pytest
import torch

from memlab.slots import experiments as E
from memlab.viz.slots import plot_accuracies, plot_position_encoding, render_hops


@pytest.fixture(scope="module")
def trained():
    torch.set_num_threads(1)
    data = E.make_data(2, 100, 20, seed=0)
    run = E.train_memn2n(data, hops=2, epochs=2, ls_epochs=1, seed=0)
    return data, run


def test_render_hops_draws_one_column_per_hop(trained):
    data, run = trained
    fig = render_hops(3, result=run["eval"], examples=data["examples"]["test"],
                      support=data["test"]["support"])
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["hop 1", "hop 2"]
    n = len(data["examples"]["test"][3]["story"])
    assert len(ax.get_yticklabels()) == n
    assert sum(t.get_text().startswith("*") for t in ax.get_yticklabels()) == 2
    assert "Q: where is the" in ax.get_title()
    with pytest.raises(ValueError, match="story_index"):
        render_hops(99, result=run["eval"], examples=data["examples"]["test"])
    with pytest.raises(ValueError, match="result"):
        render_hops(0)


def test_other_figures_have_titles_and_labels():
    fig = plot_accuracies({"task 2, 3 hops": [0.9, 0.8], "task 2, 1 hop": [0.4]}, shortcut=0.2)
    ax = fig.axes[0]
    assert ax.get_title() and ax.get_ylabel() == "test accuracy" and ax.get_legend() is not None
    fig = plot_position_encoding(5, 20)
    assert [a.get_title() for a in fig.axes[:2]] == ["paper form, J = 5", "code form, J = 5"]
