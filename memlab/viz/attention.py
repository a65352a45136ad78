"""Plots for chapter 03: which tokens a KV policy keeps, accuracy vs budget and vs bits."""

from __future__ import annotations

import numpy as np

from memlab.viz import new_figure

__all__ = ["plot_bits", "plot_budget_curves", "render_kv_policy", "token_labels"]


def token_labels(prep, example: int = 0) -> list[str]:
    """'k3', 'v3' ... for MQAR's pairs, the token id otherwise."""
    ids = prep.batch.inputs[example, :prep.n_ctx].tolist()
    if prep.batch.meta.get("task") == "mqar":
        return [f"{'kv'[i % 2]}{i // 2}" for i in range(len(ids))]
    return [str(t) for t in ids]


def render_kv_policy(prep, policy: str = "window", budget: int = 8, layer: int = 0,
                     example: int = 0, policies: dict | None = None):
    """Heat map of one example's attention in ``layer`` (context rows, then the question's rows)
    over the context's entries; evicted columns greyed out, kept ones marked; the title gives
    the policy's accuracy over the whole test batch at this budget. ``policies``: name ->
    :class:`~memlab.attention.policies.Policy` to use instead of the library defaults."""
    from memlab.attention.experiments import evaluate

    n_layers = len(prep.state.mixers)
    if not 0 <= layer < n_layers:
        raise ValueError(f"layer must be in [0, {n_layers - 1}], got {layer}")
    res = evaluate(prep, (policies or {}).get(policy, policy), budget)
    attn = prep.attn[layer][example].mean(0)            # [n_ctx, n_ctx], mean over heads
    probe = prep.probe[layer][example].mean(0)          # [T_q, n_ctx]
    rows = np.concatenate([attn.cpu().numpy(), probe.cpu().numpy()], 0)
    n_ctx = prep.n_ctx
    kept = set(res["kept"][layer][example].tolist())
    fig, ax = new_figure(width=6.5, height=4.5)
    ax.imshow(rows, aspect="auto", cmap="viridis", vmin=0, vmax=float(rows.max()) or 1.0,
              interpolation="nearest")
    for j in range(n_ctx):
        if j not in kept:
            ax.axvspan(j - 0.5, j + 0.5, color="white", alpha=0.75, lw=0)
    ax.scatter(sorted(kept), [-0.9] * len(kept), marker="v", color="crimson", s=25,
               clip_on=False, label="kept")
    ax.axhline(n_ctx - 0.5, color="white", lw=1, ls="--")
    ax.set_xticks(range(n_ctx))
    ax.set_xticklabels(token_labels(prep, example), fontsize=7, rotation=90)
    ax.set_xlabel("cached entry (context token)")
    ax.set_ylabel("query position (context | question below the line)")
    b_l = res["budgets"][layer]
    ax.set_title(f"{policy}, budget {budget}/layer (layer {layer} keeps {min(b_l, n_ctx)}): "
                 f"accuracy {res['acc']:.2f}", fontsize=9)
    ax.legend(loc="lower left", fontsize=7)
    return fig


def plot_budget_curves(curves: dict[str, list[float]], budgets, n_ctx: int, full_acc=None):
    """Accuracy vs cache budget (fraction of the context kept), one line per policy."""
    fig, ax = new_figure(width=5.5, height=3.6)
    x = np.asarray(budgets) / n_ctx
    for name, accs in curves.items():
        ax.plot(x, accs, marker="o", label=name)
    if full_acc is not None:
        ax.axhline(full_acc, color="k", ls=":", lw=1, label="full cache")
    ax.set_xlabel("budget (fraction of the context's entries kept per layer)")
    ax.set_ylabel("MQAR accuracy")
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=7)
    return fig


def plot_bits(bits, accs_by_axes: dict[str, list[float]], full_acc: float):
    """Accuracy vs bits per number of the quantised KV cache, one line per grouping."""
    fig, ax = new_figure(width=5.0, height=3.4)
    for name, accs in accs_by_axes.items():
        ax.plot(bits, accs, marker="o", label=name)
    ax.axhline(full_acc, color="k", ls=":", lw=1, label="float32")
    ax.set_xscale("log", base=2)
    ax.set_xticks(list(bits))
    ax.set_xticklabels([f"{b:g}" for b in bits])
    ax.minorticks_off()
    ax.set_xlabel("bits per key / value number")
    ax.set_ylabel("MQAR accuracy")
    ax.legend(fontsize=7)
    return fig
