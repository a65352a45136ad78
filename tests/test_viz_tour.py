import pytest
from matplotlib.figure import Figure

from memlab.viz.tour import render_state_sizes, state_size_table


def test_state_sizes_attention_grows_recurrent_flat():
    table = state_size_table(32, [10, 100, 1000])
    att = table["softmax attention (KV cache)"]
    assert att == [2 * 32 * 10, 2 * 32 * 100, 2 * 32 * 1000]
    flat = [v for k, v in table.items() if k != "softmax attention (KV cache)"]
    assert flat, "no fixed-state sequence memory found"
    assert all(v[0] == v[-1] for v in flat)


def test_render_state_sizes_changes_with_knob():
    a, b = render_state_sizes(128, 16), render_state_sizes(128, 64)
    assert isinstance(a, Figure)
    la, lb = a.axes[0].lines[0].get_ydata(), b.axes[0].lines[0].get_ydata()
    assert max(lb) == 4 * max(la)
    with pytest.raises(ValueError):
        render_state_sizes(1, 16)
