"""Plots for chapter 03: which tokens a KV policy keeps, accuracy vs budget and vs bits."""

from __future__ import annotations

import numpy as np

from memlab.viz import LINESTYLES, new_figure

_MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]

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
    fig, ax = new_figure(width=6.8, height=3.9)
    im = ax.imshow(rows, aspect="auto", cmap="viridis", vmin=0, vmax=float(rows.max()) or 1.0,
                   interpolation="nearest")
    fig.colorbar(im, ax=ax, shrink=0.85, label="attention weight (mean over heads)")
    for j in range(n_ctx):
        if j not in kept:
            ax.axvspan(j - 0.5, j + 0.5, color="white", alpha=0.75, lw=0)
    ax.scatter(sorted(kept), [-0.9] * len(kept), marker="v", color="#D55E00", s=25,
               clip_on=False)
    ax.axhline(n_ctx - 0.5, color="white", lw=1, ls="--")
    ax.set_xticks(range(n_ctx))
    ax.set_xticklabels(token_labels(prep, example), fontsize=8, rotation=90)
    ax.grid(False)
    ax.set_xlabel("cached entry (context token); \u25bc kept, pale columns evicted")
    ax.set_ylabel("query position\n(context | question below the line)")
    b_l = res["budgets"][layer]
    ax.set_title(f"{policy}, budget {budget}/layer (layer {layer} keeps {min(b_l, n_ctx)}): "
                 f"accuracy {res['acc']:.2f}")
    return fig


def plot_budget_curves(curves: dict[str, list[float]], budgets, n_ctx: int, full_acc=None):
    """Accuracy vs cache budget (fraction of the context kept), one line per policy."""
    fig, ax = new_figure(width=7.5, height=3.8)
    x = np.asarray(budgets) / n_ctx
    for i, (name, accs) in enumerate(curves.items()):
        # distinct line styles and markers: policies that keep the same tokens coincide
        ax.plot(x, accs, marker=_MARKERS[i % len(_MARKERS)], ls=LINESTYLES[i % len(LINESTYLES)],
                ms=7 - 0.6 * i, label=name)
    if full_acc is not None:
        ax.axhline(full_acc, color="k", ls=":", lw=1, label="full cache")
    ax.set_xlabel("budget B / context length (entries kept per layer)")
    ax.set_ylabel("MQAR accuracy")
    ax.set_ylim(0, 1.05)
    ax.set_title("accuracy vs KV-cache budget, per eviction policy")
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), title="policy")
    return fig


def plot_bits(bits, accs_by_axes: dict[str, list[float]], full_acc: float):
    """Accuracy vs bits per number of the quantised KV cache, one line per grouping."""
    fig, ax = new_figure(width=7.5, height=3.6)
    for i, (name, accs) in enumerate(accs_by_axes.items()):
        ax.plot(bits, accs, marker=_MARKERS[i % len(_MARKERS)], ls=LINESTYLES[i % len(LINESTYLES)],
                label=name)
    ax.axhline(full_acc, color="k", ls=":", lw=1, label="float32")
    ax.set_xscale("log", base=2)
    ax.set_xticks(list(bits))
    ax.set_xticklabels([f"{b:g}" for b in bits])
    ax.minorticks_off()
    ax.set_xlabel("bits b per key / value number")
    ax.set_ylabel("MQAR accuracy")
    ax.set_title("accuracy vs bits of the quantised KV cache")
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), title="groups")
    return fig
