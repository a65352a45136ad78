"""Plot helpers and widget factories.

A widget in memlab is a plain *render function* ``render(**knobs) -> matplotlib Figure`` (unit
tested without a browser) wrapped by :func:`interactive` into ipywidgets controls + an output
area. Family-specific renderers live in ``memlab/viz/<family>.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["interactive", "new_figure", "figure_png", "png_size", "register_png_formatter",
           "apply_style", "STYLE", "OKABE_ITO", "LINESTYLES"]

# One figure style for every chapter: readable sizes, a colour-blind-safe palette
# (Okabe & Ito 2008), light grids, constrained layout. Applied when memlab.viz is imported.
OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442",
             "#000000"]
# for curves that may coincide: pass linestyle=LINESTYLES[i] so an overlapped curve still shows
LINESTYLES = ["-", "--", "-.", ":", (0, (5, 1)), (0, (3, 1, 1, 1, 1, 1)), (0, (1, 1)),
              (0, (8, 3))]
STYLE = {
    "font.size": 10.5,
    "axes.titlesize": 11.5,
    "axes.titleweight": "bold",
    "axes.labelsize": 10.5,
    "xtick.labelsize": 9.5,
    "ytick.labelsize": 9.5,
    "legend.fontsize": 9.5,
    "legend.title_fontsize": 9.5,
    "legend.framealpha": 0.85,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.6,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "lines.linewidth": 1.8,
    "lines.markersize": 5,
    "image.cmap": "viridis",
    "figure.dpi": 100,
    "savefig.dpi": 100,
}

# Figures are rendered at 2x and shown at their own size: sharp, and never stretched
HIDPI = 2


def apply_style() -> None:
    """Set memlab's figure style (``STYLE`` + the Okabe-Ito colour cycle) in matplotlib."""
    import matplotlib
    from cycler import cycler

    matplotlib.rcParams.update(STYLE)
    matplotlib.rcParams["axes.prop_cycle"] = cycler(color=OKABE_ITO)


def png_size(png: bytes) -> tuple[int, int]:
    """(width, height) in pixels, read from a PNG's header."""
    if png[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


def figure_png(fig, dpi: int = 100) -> bytes:
    """Render a matplotlib Figure to PNG bytes."""
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return buf.getvalue()


def _figure_png_hidpi(fig):
    """PNG at 2x with its display size as metadata (what the notebook formatter returns)."""
    png = figure_png(fig, dpi=100 * HIDPI)
    w, h = png_size(png)
    return png, {"width": w // HIDPI, "height": h // HIDPI}


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
        "matplotlib.figure", "Figure", _figure_png_hidpi)


# widest figure that fits JupyterLab's notebook column (about 950 px) at 100 px per inch
MAX_WIDTH_IN = 9.4


def new_figure(ncols: int = 1, nrows: int = 1, width: float = 6.0, height: float = 3.8):
    """A matplotlib figure + axes sized for a notebook cell, not attached to pyplot's state.

    ``width`` is per column; the whole figure is capped at the notebook column's width, so
    several columns share it instead of overflowing."""
    from matplotlib.figure import Figure

    total = min(width * ncols, MAX_WIDTH_IN)
    fig = Figure(figsize=(total, height * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, (axes[0, 0] if nrows == ncols == 1 else axes)


def interactive(render: Callable[..., Any], continuous_update: bool = False,
                snapshot: bool = True, **controls: Any):
    """Wrap ``render(**values) -> Figure`` into a VBox of controls + an image of the figure.

    ``controls`` map each keyword of ``render`` to an ipywidgets control (``IntSlider``,
    ``Dropdown``, ...). The box gets ``.render_now()`` (re-render with current values) and
    ``.last_figure`` (the figure most recently drawn), which tests and the browser test use.

    The figure is shown in an ``ipywidgets.Image`` whose value is replaced on every change:
    no Output-widget capture and no ``clear_output`` messages, which made headless execution
    (papermill / nbclient) hang now and then in the widget cell. The image is rendered at 2x
    and shown at its own size (sharp, never stretched to the column).

    With ``snapshot`` (the default) a static PNG of the starting state is also displayed in
    the cell's output (in a kernel only): a saved and reopened notebook, whose widgets are
    gone, and the HTML report still show a figure.
    """
    import ipywidgets as W

    image = W.Image(format="png")
    box = W.VBox([*controls.values(), image])
    box.last_figure = None

    def render_now(*_):
        values = {k: c.value for k, c in controls.items()}
        fig = render(**values)
        box.last_figure = fig
        png = figure_png(fig, dpi=100 * HIDPI)
        w, h = png_size(png)
        image.layout.width, image.layout.height = f"{w // HIDPI}px", f"{h // HIDPI}px"
        image.value = png

    for c in controls.values():
        if hasattr(c, "continuous_update"):
            c.continuous_update = continuous_update
        c.observe(render_now, names="value")
    box.render_now = render_now
    box.image = image
    render_now()
    if snapshot:
        _show_snapshot(box.last_figure)
    return box


def _show_snapshot(fig) -> None:
    try:
        from IPython import get_ipython
        from IPython.display import HTML, Image, display
    except ImportError:  # pragma: no cover
        return
    if get_ipython() is None or fig is None:
        return
    png, md = _figure_png_hidpi(fig)
    display(HTML("<div style='font-size:11px;color:#666'>Static copy of the starting state "
                 "(stays when the notebook is saved); the live widget is below.</div>"))
    display(Image(png, width=md["width"], height=md["height"]))


apply_style()
