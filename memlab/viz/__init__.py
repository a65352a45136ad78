"""Plot helpers and widget factories.

A widget in memlab is a plain *render function* ``render(**knobs) -> matplotlib Figure`` (unit
tested without a browser) wrapped by :func:`interactive` into ipywidgets controls + an output
area. Family-specific renderers live in ``memlab/viz/<family>.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["interactive", "new_figure", "figure_png", "register_png_formatter"]


def figure_png(fig, dpi: int = 100) -> bytes:
    """Render a matplotlib Figure to PNG bytes."""
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return buf.getvalue()


def register_png_formatter() -> None:
    """Show bare ``matplotlib.figure.Figure`` objects as PNG in a notebook.

    IPython only knows how to draw Figures once pyplot's inline backend is active; memlab
    builds figures without pyplot's global state, so it registers the formatter itself.
    Does nothing outside an IPython kernel.
    """
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover
        return
    ip = get_ipython()
    if ip is None:
        return
    ip.display_formatter.formatters["image/png"].for_type_by_name(
        "matplotlib.figure", "Figure", figure_png)


def new_figure(ncols: int = 1, nrows: int = 1, width: float = 4.0, height: float = 3.0):
    """A matplotlib figure + axes sized for a notebook cell, not attached to pyplot's state."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width * ncols, height * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, (axes[0, 0] if nrows == ncols == 1 else axes)


def interactive(render: Callable[..., Any], continuous_update: bool = False, **controls: Any):
    """Wrap ``render(**values) -> Figure`` into a VBox of controls + an image of the figure.

    ``controls`` map each keyword of ``render`` to an ipywidgets control (``IntSlider``,
    ``Dropdown``, ...). The box gets ``.render_now()`` (re-render with current values) and
    ``.last_figure`` (the figure most recently drawn), which tests and the browser test use.

    The figure is shown in an ``ipywidgets.Image`` whose value is replaced on every change:
    no Output-widget capture and no ``clear_output`` messages, which made headless execution
    (papermill / nbclient) hang now and then in the widget cell.
    """
    import ipywidgets as W

    image = W.Image(format="png")
    box = W.VBox([*controls.values(), image])
    box.last_figure = None

    def render_now(*_):
        values = {k: c.value for k, c in controls.items()}
        fig = render(**values)
        box.last_figure = fig
        image.value = figure_png(fig)

    for c in controls.values():
        if hasattr(c, "continuous_update"):
            c.continuous_update = continuous_update
        c.observe(render_now, names="value")
    box.render_now = render_now
    box.image = image
    render_now()
    return box
