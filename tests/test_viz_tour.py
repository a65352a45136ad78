import pytest
from matplotlib.figure import Figure

from memlab.viz.tour import render_state_sizes, state_size_table


def test_state_sizes_attention_grows_recurrent_flat():
    table = state_size_table(32, [10, 100, 1000, 10**6, 10**7])
    att = table.pop("softmax attention (KV cache)")
    assert att == [2 * 32 * T for T in (10, 100, 1000, 10**6, 10**7)]
    flat = [k for k, v in table.items() if len(set(v)) == 1]
    assert len(flat) >= 5, f"expected the recurrent memories to keep a fixed state: {table}"
    # every other memory is bounded: a kNN memory grows only up to its capacity
    assert all(v[-1] == v[-2] for v in table.values()), table


def test_render_state_sizes_changes_with_knob():
    a, b = render_state_sizes(128, 16), render_state_sizes(128, 64)
    assert isinstance(a, Figure)
    la, lb = a.axes[0].lines[0].get_ydata(), b.axes[0].lines[0].get_ydata()
    assert max(lb) == 4 * max(la)
    with pytest.raises(ValueError):
        render_state_sizes(1, 16)


def test_interactive_redraws_on_a_knob_change():
    import ipywidgets as W

    from memlab.viz import interactive

    box = interactive(render_state_sizes, seq_len=W.IntSlider(value=64, min=16, max=512),
                      d_model=W.IntSlider(value=16, min=8, max=64))
    first = bytes(box.image.value)
    assert first.startswith(b"\x89PNG")
    box.children[1].value = 32
    assert bytes(box.image.value) != first and box.last_figure is not None
