"""Chapter 17's plots and widget: reliability, generalisation and locality against the number
of sequential edits, per editing method."""

from __future__ import annotations

import numpy as np

from memlab.viz import LINESTYLES, OKABE_ITO, new_figure

__all__ = ["plot_triangle_curves", "plot_unlearning", "render_edits"]

LABELS = {"ft": "fine-tuning", "rome": "ROME rank-one", "codebook": "exact-key codebook",
          "wise": "WISE-lite"}
METRICS = ("reliability", "generalisation", "locality")


def plot_triangle_curves(results: dict, title_suffix: str = ""):
    """Three panels (one per metric), one line per method, x = edits applied so far."""
    fig, axes = new_figure(ncols=3, width=3.6, height=3.4)
    axes = np.atleast_1d(axes).ravel()
    for ax, metric in zip(axes, METRICS):
        for i, (m, r) in enumerate(results.items()):
            xs = [c["n_edits"] for c in r["curve"]]
            ys = [c[metric] for c in r["curve"]]
            ax.plot(xs, ys, marker="o", ms=3, color=OKABE_ITO[i], linestyle=LINESTYLES[i],
                    label=LABELS.get(m, m))
        ax.set(xlabel="sequential edits", ylabel=metric, ylim=(-0.03, 1.03),
               title=f"{metric}{title_suffix}")
    axes[-1].legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
    return fig


def render_edits(n_edits: int = 100, seed: int = 0, n_facts: int = 1000, d_k: int = 512):
    """The widget: apply n_edits edits with every method (a smaller memory: about a second)
    and draw the three metrics against the edits."""
    from memlab.parametric.experiments import run_edits

    if n_edits < 5:
        raise ValueError(f"n_edits must be >= 5, got {n_edits}")
    cps = sorted({max(1, int(n_edits * f)) for f in (0.1, 0.25, 0.5, 0.75)})
    r = run_edits(n_edits, seed=seed, n_facts=n_facts, d_k=d_k, save_freq=5, merge_freq=10,
                  checkpoints=cps)
    return plot_triangle_curves(r, f" ({n_facts} facts)")


UNLEARN_LABELS = {"before": "before", "retrained": "retrained\nwithout", "ga": "GA", "gd": "GD",
                  "simsat": "SimSat", "simimp": "SimImp", "satimp": "SatImp"}


def plot_unlearning(r: dict):
    """Forget recall and retain accuracy per unlearning method (bars), the retrained reference
    beside them."""
    keys = [k for k in UNLEARN_LABELS if k in r]
    fig, ax = new_figure(width=7.2, height=3.6)
    x = np.arange(len(keys))
    ax.bar(x - 0.2, [r[k]["forget_recall"] for k in keys], 0.4, color=OKABE_ITO[3],
           label="forget recall (lower is better)")
    ax.bar(x + 0.2, [r[k]["retain_acc"] for k in keys], 0.4, color=OKABE_ITO[2],
           label="retain accuracy (higher is better)")
    ax.set(xticks=x, xticklabels=[UNLEARN_LABELS[k] for k in keys], ylim=(0, 1.05),
           ylabel="fraction of facts", title="Unlearning 10% of the persons")
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
    return fig
