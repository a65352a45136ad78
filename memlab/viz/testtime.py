"""Plots and the widget of chapter 06 (test-time memory). Plain functions returning Figures."""

from __future__ import annotations

from memlab.testtime.experiments import recall_vs_age
from memlab.viz import new_figure

__all__ = ["plot_bars", "plot_chunk_gap", "render_recall_vs_age"]


def render_recall_vs_age(eta: float = 0.0, theta: float = 0.1, alpha: float = 0.0,
                         depth: int = 1, T: int = 192, d: int = 32, seed: int = 0):
    """Widget: write T random pairs once each into a Titans memory; recall vs age of the pair.

    The grey curve is the plain delta rule (theta = 0.5, eta = alpha = 0, linear) for reference.
    """
    for name, val, lo, hi in (("eta", eta, 0, 1), ("theta", theta, 0, 1), ("alpha", alpha, 0, 1)):
        if not lo <= val < hi:
            raise ValueError(f"{name}={val!r} must be in [{lo}, {hi})")
    if depth not in (1, 2, 3):
        raise ValueError(f"depth={depth!r} must be 1, 2 or 3")
    fig, ax = new_figure(width=8.0, height=2.9)
    x, ref = recall_vs_age(theta=0.5, eta=0.0, alpha=0.0, depth=1, T=T, d=d, seed=seed)
    ax.plot(x, ref, color="0.6", lw=2.5, label="delta rule ($\\theta$=0.5)")
    x, y = recall_vs_age(theta=theta, eta=eta, alpha=alpha, depth=depth, T=T, d=d, seed=seed)
    ax.plot(x, y, "o--", ms=3, color="#D55E00", label="Titans (sliders)")
    ax.axvline(d, color="gray", ls=":", lw=1, label=f"age = d = {d}")
    ax.set_xlabel("age of the pair (writes since it was stored)")
    ax.set_ylabel("recall (nearest value)")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0))
    ax.set_title(f"{T} pairs written once, d = {d}: $\\eta$={eta:g}, $\\theta$={theta:g}, "
                 f"$\\alpha$={alpha:g}, depth {depth}")
    return fig


def plot_bars(values: dict, title: str, ylabel: str, ylim=None):
    """One bar per labelled value (e.g. recall for alpha = 0 vs alpha > 0)."""
    import textwrap

    fig, ax = new_figure(width=1.6 + 1.5 * len(values), height=3.2)
    labels = [textwrap.fill(str(k), 14) for k in values]
    colours = ["0.6", "#D55E00", "#0072B2", "#009E73", "#CC79A7"]
    ax.bar(range(len(labels)), list(values.values()),
           color=[colours[i % len(colours)] for i in range(len(values))])
    ax.set_xticks(range(len(labels)), labels, fontsize=9)
    ax.grid(False, axis="x")
    for i, v in enumerate(values.values()):
        ax.text(i, v, f"{v:.2f}", ha="center", va="bottom", fontsize=9)
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    if ylim:
        ax.set_ylim(*ylim)
    return fig


def plot_chunk_gap(gap: dict):
    """Relative difference of the chunk-parallel rule from the per-token rule vs chunk size."""
    fig, ax = new_figure(width=5.0, height=3.2)
    cs = list(gap)
    ax.plot(cs, [gap[c]["rel_diff"] for c in cs], "o-")
    ax.set_xscale("log", base=2)
    ax.set_xticks(cs, [str(c) for c in cs])
    ax.minorticks_off()
    ax.set_xlabel("chunk size $b$ (1 = per-token rule)")
    ax.set_ylabel(r"$\|\mathcal{M}_b(k) - \mathcal{M}_1(k)\| \,/\, \|\mathcal{M}_1(k)\|$")
    ax.set_title("chunk-parallel form: drift from the per-token rule")
    return fig
