"""What a student sees: compact metrics and claims, short parameter errors, sharp figures.

The executed-notebook linter (``memlab.lint``) is tested here on hand-made outputs; the suite
runs it on every executed chapter in tests/test_report_pipeline.py.
"""

import pytest

from memlab import report
from memlab.chapters import get_chapter
from memlab.params import ParameterError
from memlab.viz import _figure_png_hidpi, figure_png, interactive, new_figure, png_size


def test_record_returns_nothing_and_shows_four_digits():
    assert report.record("x_metric", 0.123456789) is None
    payload = report.RECORDS[-1]
    assert payload["value"] == 0.123456789            # the full value goes to metrics.json
    assert report._fmt(0.123456789) == "0.1235"
    assert report._fmt({"a": 1 / 3, "b": [2 / 3] * 20}).count("...") == 1
    html = report._metric_html("m", {"a": 1 / 3, "b": 2.0}, "")
    assert "<table" in html and "0.3333" in html and "0.333333" not in html


def test_claim_echo_is_one_badge_not_a_dataclass_dump():
    c = report.claim("some_claim", 7.964095258270109e-16, report.at_most(1e-6), note="identity")
    assert repr(c) == str(c) == "[PASS] some_claim = 7.964e-16, target <= 1e-06 (identity)"
    assert "Claim(" not in repr(c) and "PASS" in c._repr_html_()
    bad = report.claim("other", 2.0, report.at_most(1.0))
    assert "FAIL" in bad._repr_html_()


def test_parameter_errors_are_one_short_line_per_bad_parameter():
    P = get_chapter("01").Params
    with pytest.raises(ParameterError) as e:
        P.build({"n_neurons": 5, "cue_noise": "x"})
    lines = str(e.value).splitlines()
    assert len(lines) == 2 and all(len(line) < 200 for line in lines)
    assert "out of range: allowed 50 <= value <= 5000" in str(e.value)
    assert str(e.value).count("5000") == 1             # the bound is stated once
    shown = e.value._render_traceback_()
    assert len(shown) == 2 and "ParameterError" in shown[0]


def test_a_misspelled_parameter_in_the_notebook_is_an_error_not_ignored():
    from IPython.core.interactiveshell import InteractiveShell

    ip = InteractiveShell.instance()
    ip.run_cell("load_mx: float = 0.5")                 # IPython records annotated names
    ns = dict(ip.user_ns)
    with pytest.raises(ParameterError, match="'load_mx'.*did you mean 'load_max'"):
        get_chapter("01").Params.from_namespace(ns)
    ip.reset()


def test_figures_are_rendered_at_2x_and_shown_at_their_own_size():
    fig, ax = new_figure()
    ax.plot([0, 1], [0, 1])
    png, md = _figure_png_hidpi(fig)
    w, h = png_size(png)
    assert (md["width"], md["height"]) == (w // 2, h // 2)
    assert png_size(figure_png(fig))[0] < w
    wide, _ = new_figure(ncols=4)
    assert wide.get_size_inches()[0] <= 9.4 + 1e-9     # never wider than the column


def test_widget_image_is_shown_at_its_own_pixel_size():
    import ipywidgets as W

    def render(n):
        fig, ax = new_figure()
        ax.plot(range(n))
        return fig

    box = interactive(render, n=W.IntSlider(value=3, min=2, max=9))
    w, h = png_size(box.image.value)
    assert box.image.layout.width == f"{w // 2}px" and box.image.layout.height == f"{h // 2}px"


def _nb(*outputs):
    return {"cells": [{"cell_type": "code", "source": "", "outputs": list(outputs)}]}


def test_linter_flags_long_floats_reprs_long_lines_and_errors():
    from memlab.lint import lint_notebook

    stream = {"output_type": "stream", "name": "stdout",
              "text": "acc 0.123456789\nok 0.1235 and 12.5\n" + "x" * 130 + "\n"}
    echo = {"output_type": "execute_result",
            "data": {"text/plain": "Claim(name='a', value=1.0)"}}
    err = {"output_type": "error", "ename": "ValueError", "evalue": "bad", "traceback": []}
    found = lint_notebook(_nb(stream, echo, err))
    kinds = sorted(f.split(": ")[1].split(" ")[0] for f in found)
    assert kinds == ["long-float", "long-line", "repr", "traceback"], found


def test_linter_passes_clean_output_and_rich_displays():
    from memlab.lint import lint_notebook

    clean = {"output_type": "stream", "name": "stdout", "text": "recall 0.9531 (spread 0.01)\n"}
    rich = {"output_type": "display_data",
            "data": {"text/plain": "<Figure size 640x480 with 1 Axes>", "image/png": "..."}}
    assert lint_notebook(_nb(clean, rich)) == []
