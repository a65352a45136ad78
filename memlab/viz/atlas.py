"""Chapter 19's figures: accuracy vs state bytes, one colour per family, and the filter widget.

``plot_atlas(recs, ...)`` draws, from :func:`memlab.atlas.analysis.records`, one point per
(mixer, width) at its state in bytes (log axis) and its accuracy averaged over the task's levels
(or at one level), with the seed spread as error bars (min to max over seeds), and each
family's frontier as a line. ``render_atlas`` is the widget's callback: the same figure,
filtered by family, task and level (pair count for MQAR).
"""

from __future__ import annotations

from memlab.atlas.analysis import aggregate, frontier
from memlab.viz import OKABE_ITO, new_figure

__all__ = ["FAMILY_COLOURS", "plot_atlas", "render_atlas"]

FAMILY_COLOURS = {"attention": OKABE_ITO[0], "fastweights": OKABE_ITO[1], "ssm": OKABE_ITO[2],
                  "testtime": OKABE_ITO[3], "retrieval": OKABE_ITO[4], "segment": OKABE_ITO[5],
                  "layers": OKABE_ITO[7]}
_MARKERS = "osD^vP*Xh<>"


def _select(recs, family="all", task="mqar", level="all"):
    out = [r for r in recs if r["task"] == task and (family == "all" or r["family"] == family)]
    if level != "all":
        out = [r for r in out if r["level"] == float(level)]
    return out


def plot_atlas(recs: list[dict], task: str = "mqar", family: str = "all", level="all",
               title: str | None = None):
    """Accuracy vs state bytes (log x); error bars = seed min..max; a line per family frontier."""
    sel = _select(recs, family, task, level)
    if not sel:
        raise ValueError(f"no results for family={family!r}, task={task!r}, level={level!r}")
    pts = aggregate(sel, keys=("mixer", "family", "width"))
    fig, ax = new_figure(width=8.6, height=4.4)
    mixers = sorted({p["mixer"] for p in pts})
    for fam in sorted({p["family"] for p in pts}):
        colour = FAMILY_COLOURS.get(fam, "grey")
        mine = [p for p in pts if p["family"] == fam]
        for p in mine:
            ax.errorbar(p["state_bytes"], p["mean"],
                        yerr=[[p["mean"] - p["min"]], [p["max"] - p["mean"]]],
                        fmt=_MARKERS[mixers.index(p["mixer"]) % len(_MARKERS)], color=colour,
                        capsize=3, ms=6, alpha=0.9)
        front = frontier(mine)
        ax.plot([p["state_bytes"] for p in front], [p["mean"] for p in front], "-", color=colour,
                lw=1.6, label=f"{fam} frontier")
    for m in mixers:       # one legend entry per mixer (its marker)
        fam = next(p["family"] for p in pts if p["mixer"] == m)
        ax.plot([], [], _MARKERS[mixers.index(m) % len(_MARKERS)],
                color=FAMILY_COLOURS.get(fam, "grey"), label=m)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("state of one sequence (bytes, log scale)")
    lv = "mean over levels" if level == "all" else f"level {level}"
    ax.set_ylabel(f"accuracy ({lv})")
    ax.set_ylim(-0.02, 1.02)
    n_seeds = max(p["n_seeds"] for p in pts)
    who = "every family" if family == "all" else family
    ax.set_title(title or f"memory atlas: {task}, {who} ({n_seeds} seeds, bars = seed range)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8.5)
    return fig


def render_atlas(recs: list[dict], family: str = "all", task: str = "mqar", level="all"):
    """Widget callback: :func:`plot_atlas` filtered; an empty selection draws a note instead."""
    if not _select(recs, family, task, level):
        fig, ax = new_figure(width=8.6, height=4.4)
        ax.text(0.5, 0.5, f"no results for {family} on {task} at level {level}",
                ha="center", va="center", transform=ax.transAxes)
        ax.set_title("memory atlas: empty selection")
        ax.set_axis_off()
        return fig
    return plot_atlas(recs, task=task, family=family, level=level)
