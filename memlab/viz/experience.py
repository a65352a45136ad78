"""Figures for chapter 14: success over an agent's lifetime, and the experience pool over time.

Plain functions of their knobs returning a matplotlib Figure (tested without a browser).
"""

from __future__ import annotations

import numpy as np

from memlab.viz import LINESTYLES, new_figure

__all__ = ["moving_average", "render_knn", "render_lifetimes", "render_pool", "render_tokmem"]

LABELS = {"none": "weak solver, no memory", "strong": "strong solver, no memory",
          "append": "weak + append-only pool", "refined": "weak + refined pool (ReMe)",
          "random_credit": "weak + random utility credit",
          "no_utility": "weak + utility never credited"}


def moving_average(x, w: int = 25) -> np.ndarray:
    """Trailing mean over ``w`` episodes (shorter at the start)."""
    x = np.asarray(x, float)
    c = np.cumsum(np.insert(x, 0, 0.0))
    i = np.arange(1, len(x) + 1)
    lo = np.maximum(0, i - w)
    return (c[i] - c[lo]) / (i - lo)


def render_lifetimes(runs: dict, drift_at: int | None = None, smooth: int = 25):
    """Success (moving average) and pool size per condition; ``runs[c] = {"success", "pool_size"}``."""
    fig, axes = new_figure(ncols=2, width=4.7, height=3.4)
    ax, ax2 = axes[0]
    for i, (c, r) in enumerate(runs.items()):
        ax.plot(moving_average(r["success"], smooth), linestyle=LINESTYLES[i % len(LINESTYLES)],
                label=LABELS.get(c, c))
        if np.asarray(r["pool_size"]).max() > 0:
            ax2.plot(r["pool_size"], linestyle=LINESTYLES[i % len(LINESTYLES)], color=f"C{i}",
                     label=LABELS.get(c, c))
    for a in (ax, ax2):
        if drift_at is not None:
            a.axvline(drift_at, color="grey", lw=1, ls=":")
        a.set_xlabel("episode")
    ax.set(ylabel=f"success (mean of last {smooth})", ylim=(-0.02, 1.02),
           title="Success over the lifetime")
    ax2.set(ylabel="experiences in the pool", title="Pool size (dotted: drift)")
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncols=3, fontsize=8)
    return fig


def render_pool(F: int = 3, U: float = 0.5, seed: int = 0, n_apps: int = 12,
                n_episodes: int = 300, drift_at: int = 100):
    """One refined lifetime: pool size, cumulative pruned, and success beside append-only's;
    the pool's mean utility/freq (over experiences used at least once) on a second axis."""
    from memlab.experience.experiments import lifetime

    kw = {"n_apps": n_apps, "n_episodes": n_episodes, "drift_at": drift_at, "seed": seed}
    r = lifetime("refined", F=int(F), U=float(U), track_utility=True, **kw)
    a = lifetime("append", **kw)
    fig, axes = new_figure(ncols=2, width=4.7, height=3.3)
    ax, ax2 = axes[0]
    ax.plot(a["pool_size"], ls="--", label="append-only pool")
    ax.plot(r["pool_size"], label=f"refined pool (F={F}, U={U:g})")
    ax.plot(np.cumsum(r["pruned"]), ls=":", label="pruned so far")
    ax.axvline(drift_at, color="grey", lw=1, ls=":")
    ax.set(xlabel="episode", ylabel="experiences", title="The pool over time")
    tw = ax.twinx()
    tw.plot(r["rate"], color="C4", lw=1.2, label="mean utility/freq (right axis)")
    tw.set(ylim=(0, 1.05), ylabel="utility / freq")
    tw.grid(False)
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = tw.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, fontsize=8, loc="upper left")
    ax2.plot(moving_average(a["success"]), ls="--", label="append-only")
    ax2.plot(moving_average(r["success"]), label="refined")
    ax2.axvline(drift_at, color="grey", lw=1, ls=":")
    ax2.set(xlabel="episode", ylabel="success (mean of last 25)", ylim=(-0.02, 1.02),
            title="Success")
    ax2.legend(fontsize=8, loc="lower right")
    return fig


def render_knn(curves: dict, smooth: int = 25):
    """Success over the lifetime of the kNN planner per mode (``curves[mode] = success``)."""
    names = {"none": "no memory", "knn": "kNN plan memory (exploit)",
             "knn+": "kNN + novelty reward (explore)"}
    fig, ax = new_figure(width=6, height=3.2)
    for i, (m, s) in enumerate(curves.items()):
        ax.plot(moving_average(s, smooth), linestyle=LINESTYLES[i], label=names.get(m, m))
    ax.set(xlabel="episode", ylabel=f"success (mean of last {smooth})", ylim=(-0.02, 1.02),
           title="Episodic plan memory over a lifetime")
    ax.legend(fontsize=8, loc="upper left")
    return fig


def render_tokmem(run: dict):
    """Accuracy of each new procedure just after it was learned (light) and after all were
    learned (dark), TokMem beside sequential full fine-tuning; the untrained baseline dotted.
    ``run`` is :func:`memlab.experience.tokmem_experiments.tokmem_run`'s result."""
    order = run["order"]
    x = np.arange(len(order))
    fig, axes = new_figure(ncols=2, width=4.7, height=3.4)
    for ax, (m, title) in zip(axes[0], (("tokmem", "TokMem (one row trained)"),
                                        ("finetune", "sequential full fine-tuning"))):
        ax.bar(x - 0.2, run[m]["just"], 0.4, color="C0" if m == "tokmem" else "C3", alpha=0.45,
               label="just learned")
        ax.bar(x + 0.2, run[m]["final"], 0.4, color="C0" if m == "tokmem" else "C3",
               label="after all learned")
        ax.plot(x, run["untrained"], "k:", marker=".", label="untrained token (best)")
        ax.set_xticks(x, [f"{i + 1}. {n}" for i, n in enumerate(order)], rotation=60,
                      ha="right", fontsize=7)
        ax.set(ylim=(0, 1.05), ylabel="exact-match accuracy", title=title)
        fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncols=3, fontsize=8)
    return fig
