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
    ax.grid(False)
    for side in ax.spines.values():
        side.set_visible(True)
        side.set_color("0.6")
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
    fig, axes = new_figure(ncols=5, width=1.88, height=2.7)
    axes = axes[0]
    fig.suptitle(f"{n_patterns} digits stored, {noise:.0%} of the cue flipped\nclassical net: "
                 f"{r['classical_reached']}; modern net (\u03b2={beta:g}): "
                 f"{'returns the digit' if r['modern_recalled'] else 'misses the digit'}",
                 fontsize=10.5, fontweight="bold")
    _img(axes[0], X[target], f"stored digit {labels[target]}")
    _img(axes[1], cue[0], f"cue ({noise:.0%} flipped)")
    _img(axes[2], s_classical[0], f"classical\noverlap {m_c:+.2f}")
    _img(axes[3], s_modern[0] / s_modern.abs().max().clamp_min(1e-12),
         f"modern, \u03b2={beta:g}\noverlap {m_m:+.2f}, "
         f"~{1 / float((p * p).sum()):.1f} mixed")
    ax = axes[4]
    ax.plot(trace.numpy())
    ax.set_xlabel("async update")
    ax.set_ylabel("energy $E(s)$")
    ax.set_title(f"classical energy\nP={n_patterns}", fontsize=9)
    return fig


def plot_recall_curve(curve, theory: float = 0.138, ax=None):
    """Fraction recalled vs load P/N, with the 0.5 line and the theoretical alpha_c."""
    fig = None
    if ax is None:
        fig, ax = new_figure(width=7.5, height=3.6)
    ax.plot(curve.loads, curve.recalled, "o-", label="recalled (overlap $m \\geq 0.95$)")
    ax.plot(curve.loads, curve.mean_overlap, "s--", alpha=0.7, label="mean overlap $m$")
    ax.axhline(0.5, color="gray", lw=0.8)
    ax.axvline(theory, color="k", ls=":", label=f"theory $\\alpha_c$ = {theory}")
    if not math.isnan(curve.critical):
        ax.axvline(curve.critical, color="C3", ls="-.", label=f"measured {curve.critical:.3f}")
    ax.set_xlabel("load $\\alpha = P / N$")
    ax.set_ylabel("fraction of patterns")
    ax.set_title("classical Hopfield net: recall vs load")
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0))
    return fig if fig is not None else ax.figure


def plot_beta_sweep(betas, rows, ax=None):
    """Recall, mixture fraction and participation ratio of the modern net vs beta."""
    fig = None
    if ax is None:
        fig, ax = new_figure(width=7.5, height=3.6)
    l1 = ax.semilogx(betas, [r["recalled"] for r in rows], "o-", label="recalled")
    l2 = ax.semilogx(betas, [r["mixture"] for r in rows], "s--", label="mixture (no single pattern)")
    ax.set_xlabel("inverse temperature $\\beta$")
    ax.set_ylabel("fraction of cues")
    ax2 = ax.twinx()
    ax2.grid(False)
    ax2.spines["right"].set_visible(True)
    l3 = ax2.loglog(betas, [r["participation"] for r in rows], "k:", label="patterns mixed (right)")
    ax2.set_ylabel("patterns mixed $1 / \\Sigma_i\\, p_i^2$")
    ax.set_title("modern Hopfield net: one-step read vs $\\beta$")
    ax.legend(l1 + l2 + l3, [h.get_label() for h in l1 + l2 + l3], loc="upper left",
              bbox_to_anchor=(1.15, 1.0))
    return fig if fig is not None else ax.figure


def plot_curve(x, y, xlabel: str, ylabel: str, title: str = "", ref: float | None = None,
               ax=None, style: str = "o-", ref_label: str | None = None):
    """A plain line plot with an optional horizontal reference line (named by ``ref_label``)."""
    fig = None
    if ax is None:
        fig, ax = new_figure(width=5.5, height=3.4)
    ax.plot(x, y, style)
    if ref is not None:
        ax.axhline(ref, color="gray", ls=":", label=ref_label)
        if ref_label:
            ax.legend(loc="best")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    return fig if fig is not None else ax.figure


def show_patterns(rows, titles=None, width: float = 1.4):
    """A row of 8x8 images (any values; each scaled to its own max)."""
    fig, axes = new_figure(ncols=len(rows), width=width, height=width + 0.3)
    for k, v in enumerate(rows):
        v = torch.as_tensor(v, dtype=torch.float32)
        _img(axes[0][k] if len(rows) > 1 else axes, v / v.abs().max().clamp_min(1e-12),
             titles[k] if titles else "")
    return fig
