"""Plots and the widget of chapter 02 (memory networks). Plain functions returning Figures."""

from __future__ import annotations

import numpy as np

from memlab.viz import new_figure

__all__ = ["plot_accuracies", "plot_position_encoding", "render_hops"]


def render_hops(story_index: int = 0, result: dict | None = None, examples: list | None = None,
                support=None, vocab_size: int | None = None):
    """Widget: one story, each hop's attention over its memory slots (a heatmap).

    ``result`` is :func:`memlab.slots.experiments.evaluate`'s output on the encoded examples,
    ``examples`` the raw bAbI-lite examples (for the sentences), ``support [N, 2]`` the
    supporting slots (marked with a star)."""
    if result is None or examples is None:
        raise ValueError("render_hops needs result= and examples=")
    if not 0 <= story_index < len(examples):
        raise ValueError(f"story_index must be in [0, {len(examples) - 1}], got {story_index}")
    ex = examples[story_index]
    att = result["attention"][story_index].numpy()           # [K, M]
    n = len(ex["story"][-att.shape[1]:])
    att = att[:, :n]
    sents = [" ".join(s) for s in ex["story"][-n:]]
    sup = set() if support is None else {int(j) for j in support[story_index] if j >= 0}
    labels = [("* " if i in sup else "  ") + s for i, s in enumerate(sents)]
    fig, ax = new_figure(1, 1, width=3.0 + 1.1 * att.shape[0], height=0.9 + 0.32 * n)
    im = ax.imshow(att.T, cmap="Blues", vmin=0, vmax=1, aspect="auto")
    ax.set_yticks(range(n), labels, fontsize=8, family="monospace")
    ax.set_xticks(range(att.shape[0]), [f"hop {k + 1}" for k in range(att.shape[0])])
    for k in range(att.shape[0]):
        for i in range(n):
            if att[k, i] > 0.05:
                ax.text(k, i, f"{att[k, i]:.2f}", ha="center", va="center", fontsize=7,
                        color="white" if att[k, i] > 0.6 else "black")
    pred_ok = bool(result["correct"][story_index])
    ax.set_title(f"Q: {' '.join(ex['question'])}?  answer: {ex['answer']}  "
                 f"({'correct' if pred_ok else 'wrong'}); * = supporting fact", fontsize=9)
    ax.set_xlabel("hop")
    ax.set_ylabel("memory slot (oldest at top)")
    fig.colorbar(im, ax=ax, label="attention p_i")
    return fig


def plot_accuracies(acc: dict[str, list[float]], shortcut: float | None = None,
                    title: str = "bAbI-lite test accuracy"):
    """Bar per model (mean over seeds) with the seeds as dots; the shortcut as a dashed line."""
    fig, ax = new_figure(1, 1, width=6.0, height=3.2)
    names = list(acc)
    for i, name in enumerate(names):
        vals = np.asarray(acc[name], dtype=float)
        ax.bar(i, vals.mean(), color="tab:blue" if "3 hops" in name else "tab:gray", alpha=0.7)
        ax.plot(np.full(len(vals), i), vals, "k.", label="one seed" if i == 0 else None)
    if shortcut is not None:
        ax.axhline(shortcut, ls="--", color="tab:red", label="shortcut: last location mentioned")
    ax.set_xticks(range(len(names)), names, rotation=25, ha="right", fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("test accuracy")
    ax.set_title(title)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    return fig


def plot_position_encoding(J: int = 6, d: int = 20):
    """The paper's and the code's position-encoding weights l_kj side by side."""
    import torch

    from memlab.slots.memn2n import position_weights

    words = torch.arange(1, J + 1)[None]
    fig, axes = new_figure(2, 1, width=3.4, height=2.8)
    for ax, form in zip(axes[0], ("paper", "code")):
        l = position_weights(words, d, form)[0].numpy()   # [J, d]
        im = ax.imshow(l.T, aspect="auto", cmap="viridis", vmin=0, vmax=2)
        ax.set_title(f"{form} form, J = {J}")
        ax.set_xlabel("word position j")
        ax.set_ylabel("embedding dim k")
        ax.set_xticks(range(J), range(1, J + 1))
        ticks = sorted({0, *range(4, d, 5)})
        ax.set_yticks(ticks, [t + 1 for t in ticks])
    fig.colorbar(im, ax=list(axes[0]), label="l_kj")
    return fig
