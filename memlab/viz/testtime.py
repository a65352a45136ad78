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
    fig, ax = new_figure(width=5.5, height=3.2)
    x, ref = recall_vs_age(theta=0.5, eta=0.0, alpha=0.0, depth=1, T=T, d=d, seed=seed)
    ax.plot(x, ref, color="0.7", lw=2, label="delta rule (theta=0.5)")
    x, y = recall_vs_age(theta=theta, eta=eta, alpha=alpha, depth=depth, T=T, d=d, seed=seed)
    ax.plot(x, y, "o-", ms=3, color="tab:red",
            label=f"Titans: eta={eta:g} theta={theta:g} alpha={alpha:g} depth={depth}")
    ax.axvline(d, color="gray", ls=":", lw=1)
    ax.set_xlabel(f"age of the pair (writes since; dotted: d = {d})")
    ax.set_ylabel("recall (nearest value)")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize=7)
    ax.set_title(f"{T} pairs written once, d = {d}")
    return fig


def plot_bars(values: dict, title: str, ylabel: str, ylim=None):
    """One bar per labelled value (e.g. recall for alpha = 0 vs alpha > 0)."""
    fig, ax = new_figure(width=4.0, height=3.0)
    labels = [str(k) for k in values]
    ax.bar(labels, list(values.values()), color=["0.6"] + ["tab:red"] * (len(values) - 1))
    for i, v in enumerate(values.values()):
        ax.text(i, v, f"{v:.2f}", ha="center", va="bottom", fontsize=8)
    ax.set_title(title, fontsize=9)
    ax.set_ylabel(ylabel)
    if ylim:
        ax.set_ylim(*ylim)
    return fig


def plot_chunk_gap(gap: dict):
    """Relative difference of the chunk-parallel rule from the per-token rule vs chunk size."""
    fig, ax = new_figure(width=4.0, height=3.0)
    cs = list(gap)
    ax.plot(cs, [gap[c]["rel_diff"] for c in cs], "o-", color="tab:blue")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("chunk size b (1 = per-token rule)")
    ax.set_ylabel("||M_b(k) - M_1(k)|| / ||M_1(k)||")
    ax.set_title("gradients at the chunk start: drift", fontsize=9)
    return fig
