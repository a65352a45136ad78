"""Plots and the widget of chapter 04 (fast weights). Plain functions returning Figures."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.ticker import NullFormatter

from memlab.fastweights.experiments import RULES, random_unit_keys, recall, relative_errors, store
from memlab.viz import new_figure

__all__ = ["plot_mqar", "plot_recall_curve", "render_memory"]

COLORS = {"linear": "tab:orange", "delta": "tab:blue", "attention": "black",
          "gated_delta": "tab:green", "mom": "tab:purple"}


def render_memory(n_pairs: int = 8, d_key: int = 16, rule: str = "delta", seed: int = 0):
    """Widget: store ``n_pairs`` random unit-key pairs in a ``d_key x d_key`` memory with ``rule``.

    Left: the memory matrix S. Middle: each pair's relative recall error. Right: mean error vs
    the number of pairs for both rules (one draw), the current n marked.
    """
    if rule not in RULES:
        raise ValueError(f"rule={rule!r} is not known; use one of {RULES}")
    if n_pairs < 1 or d_key < 1:
        raise ValueError(f"n_pairs and d_key must be >= 1, got {n_pairs}, {d_key}")
    g = torch.Generator().manual_seed(seed)
    keys = random_unit_keys(n_pairs, d_key, g)
    values = F.normalize(torch.randn(n_pairs, d_key, generator=g, dtype=torch.float64), dim=-1)
    S = store(keys, values, rule)
    err = relative_errors(recall(S, keys), values).numpy()

    fig, (ax_s, ax_e, ax_c) = _three()
    lim = float(S.abs().max()) or 1.0
    im = ax_s.imshow(S.numpy(), cmap="RdBu_r", vmin=-lim, vmax=lim)
    ax_s.set_title(f"S ({rule}), {n_pairs} pairs")
    ax_s.set_xlabel("value dim")
    ax_s.set_ylabel("key dim")
    fig.colorbar(im, ax=ax_s, shrink=0.8)
    ax_e.bar(np.arange(1, n_pairs + 1), err, color=COLORS[rule])
    ax_e.axhline(err.mean(), color="k", lw=1, ls="--")
    ax_e.set_title(f"recall error, mean {err.mean():.2f}")
    ax_e.set_xlabel("pair (write order)")
    ax_e.set_ylabel("|v_hat - v| / |v|")
    ns = sorted(set(np.unique(np.geomspace(1, max(4 * d_key, n_pairs), 12).astype(int))))
    for r in RULES:
        curve = []
        for n in ns:
            gg = torch.Generator().manual_seed(seed + 1)
            kk = random_unit_keys(n, d_key, gg)
            vv = F.normalize(torch.randn(n, d_key, generator=gg, dtype=torch.float64), dim=-1)
            curve.append(float(relative_errors(recall(store(kk, vv, r), kk), vv).mean()))
        ax_c.plot(ns, curve, "o-", ms=3, color=COLORS[r], label=r)
    ax_c.axvline(n_pairs, color="gray", lw=1)
    ax_c.axvline(d_key, color="gray", lw=1, ls=":")
    _log2_axis(ax_c, [2 ** i for i in range(int(np.log2(max(ns))) + 1)])
    ax_c.set_xlabel("stored pairs n (dotted: n = d)")
    ax_c.set_ylabel("mean recall error")
    ax_c.legend(fontsize=8)
    return fig


def _three():
    fig, axes = new_figure(ncols=3, width=3.6, height=3.0)
    return fig, tuple(axes[0])


def plot_recall_curve(curve: dict, d: int, twice: dict | None = None):
    """Mean recall error vs stored pairs (``recall_error_curve`` output), std as a band."""
    fig, ax = new_figure(width=5.0, height=3.4)
    n = np.array(curve["n"])
    for r, m in curve["mean"].items():
        m, s = np.array(m), np.array(curve["std"][r])
        ax.plot(n, m, "o-", color=COLORS.get(r), label=r)
        ax.fill_between(n, m - s, m + s, color=COLORS.get(r), alpha=0.2)
    if twice is not None:
        ax.plot(twice["n"], twice["mean"]["delta"], "s--", color=COLORS["delta"],
                label="delta, read twice")
    ax.axvline(d, color="gray", ls=":", lw=1)
    _log2_axis(ax, n)
    ax.set_xlabel(f"stored random pairs n (dotted: n = d = {d})")
    ax.set_ylabel("mean |v_hat - v| / |v|")
    ax.legend()
    return fig


def plot_mqar(results: dict):
    """``results``: width -> ``mqar_recall_vs_pairs`` output. Left: accuracy vs pairs at each
    width. Right: accuracy at the most pairs vs state size (Zoology's frontier)."""
    fig, (ax_p, ax_s) = _two()
    for width, res in results.items():
        for name, acc in res["accuracy"].items():
            ax_p.plot(res["pairs"], acc, "o-", color=COLORS.get(name), alpha=0.4 + 0.6 * (
                width == max(results)), label=f"{name} (d={width})")
            size = res["state_size"][name]
            ax_s.scatter(size, acc[-1], color=COLORS.get(name),
                         label=name if width == min(results) else None)
            ax_s.annotate(f"{size}", (size, acc[-1]), textcoords="offset points",
                          xytext=(4, -10), fontsize=7)
    _log2_axis(ax_p, next(iter(results.values()))["pairs"])
    ax_p.set_xlabel("key-value pairs in the context")
    ax_p.set_ylabel("MQAR accuracy")
    ax_p.set_ylim(-0.02, 1.02)
    ax_p.legend(fontsize=7)
    ax_s.set_xscale("log")
    ax_s.xaxis.set_minor_formatter(NullFormatter())
    ax_s.set_xlabel("state_size() (numbers per sequence)")
    ax_s.set_ylabel("accuracy at the most pairs")
    ax_s.set_ylim(-0.02, 1.02)
    ax_s.legend(fontsize=7)
    return fig


def _two():
    fig, axes = new_figure(ncols=2, width=4.2, height=3.3)
    return fig, tuple(axes[0])


def _log2_axis(ax, ticks):
    """Log-2 x axis with plain integer labels at ``ticks`` (no minor labels)."""
    ax.set_xscale("log", base=2)
    ax.set_xticks(list(ticks))
    ax.set_xticklabels([str(int(t)) for t in ticks])
    ax.xaxis.set_minor_formatter(NullFormatter())
