"""Chapter 09's plots and widget callbacks draw without a browser."""

import functools

import pytest
import torch

from memlab.segment import experiments as E
from memlab.viz.segment import (
    plot_ahn_capacity,
    plot_rmt_lengths,
    render_ahn_window,
    render_rmt_memory,
)


def test_rmt_memory_widget_and_length_plot():
    torch.manual_seed(0)
    model = E.make_rmt_lm(len(E.BL.make_vocab(1, 6, 200)), d_model=16, n_mem=2, segment_size=16,
                          n_layers=1, n_heads=2)
    batch = E.test_data(2, 3, 16, 0, tuple(sorted(E.TASK.items())))
    fig = render_rmt_memory(model, batch, example=1, segment=5)     # clipped to the last segment
    assert len(fig.axes) == 2 and "write" in fig.axes[0].get_title()
    with pytest.raises(ValueError, match="example"):
        render_rmt_memory(model, batch, example=7)
    fig = plot_rmt_lengths({"rmt": {4: 1.0, 8: 0.9}, "segment_local": {4: 0.2, 8: 0.1}}, 4, 1 / 6,
                           {1: {4: 0.9, 8: 0.8}})
    assert fig.axes[0].get_xlabel()


def test_ahn_window_widget_and_capacity_plot():
    fig = render_ahn_window(window=16, n_pairs=4, d=16, T=64)
    assert "W = 16" in fig.axes[0].get_title()
    with pytest.raises(ValueError, match="rule"):
        render_ahn_window(rule="mamba")
    curve = E.ahn_capacity_curve([2, 4], d=16, window=8, T=64, n_seeds=1)
    assert plot_ahn_capacity(curve, 16, 8).axes[0].get_ylabel()


def test_widget_factory_accepts_partial():
    import ipywidgets as W

    import memlab.viz

    box = memlab.viz.interactive(functools.partial(render_ahn_window, d=16, T=64),
                                 window=W.IntSlider(value=8, min=4, max=32), n_pairs=W.IntSlider(value=2))
    box.render_now()
    assert box.last_figure is not None
