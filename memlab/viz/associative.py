"""Plots and the widget of chapter 01 (associative memory). Plain functions -> Figure."""

from __future__ import annotations

import math

import torch

from memlab.viz import new_figure

__all__ = [
    "plot_beta_sweep",
    "plot_curve",
    "plot_recall_curve",
    "render_retrieval",
    "show_patterns",
]


def _img(ax, v, title):
    ax.imshow(v.reshape(8, 8).cpu().numpy(), cmap="gray_r", vmin=-1, vmax=1)
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])


def render_retrieval(noise: float = 0.1, n_patterns: int = 5, beta: float = 1.0,
                     target: int = 0, seed: int = 0):
    """Store the first ``n_patterns`` +-1 digits (8x8) in a classical and a modern Hopfield
    net; cue digit ``target`` with ``noise`` flipped pixels; show both retrievals and the
    classical net's energy after every asynchronous update.
    """
    from memlab.associative.experiments import digit_retrieval

    r = digit_retrieval(noise, n_patterns, beta, target, seed)
    X, labels, target, cue = r["X"], r["labels"], r["target"], r["cue"]
    trace, s_classical, s_modern, p = r["trace"], r["s_classical"], r["s_modern"], r["p"]
    m_c, m_m = r["overlap_classical"], r["overlap_modern"]
    fig, axes = new_figure(ncols=5, width=2.2, height=2.4)
    axes = axes[0]
    _img(axes[0], X[target], f"stored digit {labels[target]}")
    _img(axes[1], cue[0], f"cue ({noise:.0%} flipped)")
    _img(axes[2], s_classical[0], f"classical\noverlap {m_c:+.2f}")
    _img(axes[3], s_modern[0] / s_modern.abs().max().clamp_min(1e-12),
         f"modern, beta={beta:g}, overlap {m_m:+.2f}\n"
         f"~{1 / float((p * p).sum()):.1f} patterns mixed")
    ax = axes[4]
    ax.plot(trace.numpy())
    ax.set_xlabel("async update")
    ax.set_ylabel("energy E(s)")
    ax.set_title(f"classical energy, P={n_patterns}", fontsize=9)
    return fig


def plot_recall_curve(curve, theory: float = 0.138, ax=None):
    """Fraction recalled vs load P/N, with the 0.5 line and the theoretical alpha_c."""
    fig = None
    if ax is None:
        fig, ax = new_figure(width=5, height=3.2)
    ax.plot(curve.loads, curve.recalled, "o-", label="recalled (overlap >= 0.95)")
    ax.plot(curve.loads, curve.mean_overlap, "s--", alpha=0.6, label="mean overlap")
    ax.axhline(0.5, color="gray", lw=0.8)
    ax.axvline(theory, color="k", ls=":", label=f"theory {theory}")
    if not math.isnan(curve.critical):
        ax.axvline(curve.critical, color="C3", label=f"measured {curve.critical:.3f}")
    ax.set_xlabel("load P / N")
    ax.set_ylabel("fraction")
    ax.legend(fontsize=8)
    return fig if fig is not None else ax.figure


def plot_beta_sweep(betas, rows, ax=None):
    """Recall, mixture fraction and participation ratio of the modern net vs beta."""
    fig = None
    if ax is None:
        fig, ax = new_figure(width=5, height=3.2)
    ax.semilogx(betas, [r["recalled"] for r in rows], "o-", label="recalled")
    ax.semilogx(betas, [r["mixture"] for r in rows], "s-", label="mixture (no single pattern)")
    ax.set_xlabel("beta")
    ax.set_ylabel("fraction")
    ax2 = ax.twinx()
    ax2.loglog(betas, [r["participation"] for r in rows], "k:", label="patterns mixed")
    ax2.set_ylabel("1 / sum p_i^2 (dotted)")
    ax.legend(fontsize=8, loc="center right")
    return fig if fig is not None else ax.figure


def plot_curve(x, y, xlabel: str, ylabel: str, title: str = "", ref: float | None = None,
               ax=None, style: str = "o-"):
    """A plain line plot with an optional horizontal reference line."""
    fig = None
    if ax is None:
        fig, ax = new_figure(width=5, height=3.2)
    ax.plot(x, y, style)
    if ref is not None:
        ax.axhline(ref, color="gray", ls=":")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    return fig if fig is not None else ax.figure


def show_patterns(rows, titles=None, width: float = 1.4):
    """A row of 8x8 images (any values; each scaled to its own max)."""
    fig, axes = new_figure(ncols=len(rows), width=width, height=width + 0.3)
    for k, v in enumerate(rows):
        v = torch.as_tensor(v, dtype=torch.float32)
        _img(axes[0][k] if len(rows) > 1 else axes, v / v.abs().max().clamp_min(1e-12),
             titles[k] if titles else "")
    return fig
