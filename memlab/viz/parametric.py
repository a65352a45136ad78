"""Chapter 17's plots and widget: reliability, generalisation and locality against the number
of sequential edits, per editing method."""

from __future__ import annotations

import numpy as np

from memlab.viz import LINESTYLES, OKABE_ITO, new_figure

__all__ = ["plot_retention", "plot_triangle_curves", "plot_unlearning", "plot_unlearning_weights",
           "render_edits", "render_retention"]

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


def plot_unlearning_weights(beta: float = 5.0, beta1: float = 0.3, beta2: float = 0.3):
    """Saturation against importance: the weight each reweighting gives a token, against the
    probability p_t the model still assigns it (SimSat p^beta, SimImp (1-p)^beta, SatImp)."""
    import torch

    from memlab.parametric.unlearning import weights

    p = torch.linspace(0.0, 1.0, 201)
    fig, ax = new_figure(width=6.4, height=3.4)
    for i, m in enumerate(("simsat", "simimp", "satimp")):
        w = weights(p, m, beta=beta, beta1=beta1, beta2=beta2)
        ax.plot(p.numpy(), (w / w.max()).numpy(), color=OKABE_ITO[i], linestyle=LINESTYLES[i],
                label=UNLEARN_LABELS[m])
    ax.set(xlabel="p_t (probability the model still gives the fact)",
           ylabel="weight w_t (scaled to max 1)", title="Saturation vs importance weights")
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
    return fig


def plot_retention(r: dict, title_suffix: str = ""):
    """Two panels, recognition (2AFC) and recall, against later-training updates (symlog x),
    one line per number of exposures; chance levels dashed."""
    fig, axes = new_figure(ncols=2, width=4.2, height=3.4)
    axes = np.atleast_1d(axes).ravel()
    exps = [e for e in r if isinstance(e, int)]
    for ax, metric, chance in zip(axes, ("recognition", "recall"), (0.5, None)):
        for i, e in enumerate(exps):
            ys = r[e][metric]
            ax.plot(r["probes"][:len(ys)], ys, marker="o", ms=3, color=OKABE_ITO[i],
                    linestyle=LINESTYLES[i], label=f"{e} exposure{'s' if e > 1 else ''}")
        if chance is not None:
            ax.axhline(chance, color="grey", lw=0.8, ls=":", label="chance")
        ax.set_xscale("symlog", linthresh=1)
        ax.set(xlabel="later-training updates", ylabel=f"{metric} (fraction of facts)",
               ylim=(-0.03, 1.03), title=f"{metric}{title_suffix}")
    axes[-1].legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
    return fig


def render_retention(lr: float = 3e-3, seed: int = 0, pretrain_steps: int = 200,
                     known: dict | None = None):
    """The widget: study at learning rate lr (1, 3, 10 exposures), then later training; about
    two seconds a move. ``known`` maps an lr to a retention_run result already computed (with
    the same seed and pre-training), drawn without running it again."""
    from memlab.parametric.exposure import retention_run

    if not 0.0 < lr <= 0.1:
        raise ValueError(f"lr must be in (0, 0.1], got {lr}")
    r = (known or {}).get(lr) or retention_run(lr=lr, seed=seed, pretrain_steps=pretrain_steps)
    return plot_retention(r, f" (lr {lr:g})")
