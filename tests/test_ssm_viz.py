"""Chapter 05 widgets render headless and change with their knobs; the bench's loop is right."""

import numpy as np
import torch
from matplotlib.figure import Figure

from memlab.bench.ssm import _scan_inputs, public_style_loop
from memlab.ssm.mamba import Mamba
from memlab.ssm.scan import selective_scan_ref
from memlab.tasks import selective_copying
from memlab.train import TinyLM
from memlab.viz.ssm import render_hippo, render_selection


def _lines(fig):
    return [np.asarray(line.get_ydata(), dtype=float) for ax in fig.axes for line in ax.lines]


def test_render_hippo_changes_with_N_and_timescale():
    a = render_hippo(N=4, timescale=20.0, T=120)
    b = render_hippo(N=24, timescale=20.0, T=120)
    c = render_hippo(N=4, timescale=60.0, T=120)
    assert isinstance(a, Figure) and len(a.axes) == 2
    assert not np.allclose(_lines(a)[1], _lines(b)[1])        # LegS read-back depends on N
    assert a.axes[0].get_title() != b.axes[0].get_title()
    assert len(_lines(a)[3]) != len(_lines(c)[3])              # more lags for a longer timescale


def test_render_selection_shows_oracle_and_trained_delta():
    torch.manual_seed(0)
    model = TinyLM(8, 16, mixer=lambda d: Mamba(d, d_state=4), n_layers=1)
    batch = selective_copying(3, 24, 3, 8, seed=0)
    f0 = render_selection(model, batch.inputs, index=0)
    f1 = render_selection(model, batch.inputs, index=1)
    assert isinstance(f0, Figure) and len(f0.axes) == 2
    assert "oracle" in f0.axes[0].get_title() and "trained" in f0.axes[1].get_title()
    oracle, trained = _lines(f0)[0], _lines(f0)[1]
    seq = batch.inputs[0].numpy()
    assert np.allclose(oracle[seq >= 2], 0.5) and np.allclose(oracle[seq < 2], 0.0)
    assert len(trained) == 24 and (trained > 0).all()
    assert not np.allclose(trained, _lines(f1)[1])             # changes with the sequence
    f2 = render_selection(model, batch.inputs, index=0, delta_data=0.2)
    assert np.allclose(_lines(f2)[0][seq >= 2], 0.2)


def test_bench_public_loop_matches_reference():
    args = _scan_inputs(64, d_inner=8, N=4)
    y_ref, _ = selective_scan_ref(*args)
    y_pub = public_style_loop(*args)
    assert float((y_pub - y_ref).abs().max() / y_ref.abs().max()) < 1e-5
