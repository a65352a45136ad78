"""Chapter 16's plots and widget: accuracy matrices, the byte budget, the buffer/lambda knob."""

from __future__ import annotations

import numpy as np

from memlab.viz import OKABE_ITO, new_figure

__all__ = ["plot_matrices", "plot_budget", "render_continual"]


def _matrix(ax, R, title: str) -> None:
    R = np.asarray(R)
    im = ax.imshow(R, vmin=0, vmax=1, cmap="viridis")
    T = R.shape[0]
    for i in range(T):
        for j in range(T):
            ax.text(j, i, f"{R[i, j]:.2f}", ha="center", va="center", fontsize=8,
                    color="white" if R[i, j] < 0.6 else "black")
    ax.set(xticks=range(T), yticks=range(T), xlabel="tested on task j",
           ylabel="after training task i", title=title)
    ax.grid(False)
    return im


def plot_matrices(table: dict, keys: list[str], titles: list[str]):
    """Accuracy matrices R[i, j] side by side, one colour bar."""
    fig, axes = new_figure(ncols=len(keys), width=3.2, height=3.1)
    axes = np.atleast_1d(axes).ravel()
    for ax, k, t in zip(axes, keys, titles):
        im = _matrix(ax, table[k]["R"], f"{t}\nfinal mean {table[k]['acc']:.2f}")
    fig.colorbar(im, ax=list(axes), shrink=0.8, label="test accuracy")
    return fig


def plot_budget(curve: dict, joint_acc: float | None = None):
    """Class-IL accuracy vs bytes of exemplar memory, the model's own size marked."""
    fig, ax = new_figure(width=6.4, height=3.6)
    b = np.asarray(curve["bytes"], dtype=float)
    b_plot = np.where(b == 0, 1.0, b)
    ax.plot(b_plot, curve["acc"], marker="o", color=OKABE_ITO[0], label="ER (reservoir)")
    ax.axvline(curve["model_bytes"], color=OKABE_ITO[3], linestyle="--",
               label=f"the model itself: {curve['model_bytes']:,} B "
                     f"= {curve['exemplars_per_model']:.0f} exemplars")
    if joint_acc is not None:
        ax.axhline(joint_acc, color="grey", linestyle=":", label="joint training (upper bound)")
    ax.set(xscale="log", xlabel="exemplar memory (bytes; 0 drawn at 1)",
           ylabel="final class-IL accuracy", ylim=(0, 1),
           title="Accuracy per byte of exemplar memory")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return fig


def render_continual(buffer_size: int = 50, ewc_lambda: float = 0.0, scenario: str = "class",
                     seed: int = 0, epochs: int = 10):
    """The widget: train once (ER when buffer_size > 0, EWC when lambda > 0, both allowed
    only one at a time) and draw the accuracy matrix."""
    from memlab.continual.learner import average_accuracy, forgetting, run_continual
    from memlab.tasks.split_digits import split_digits

    if buffer_size < 0 or ewc_lambda < 0:
        raise ValueError(f"buffer_size and ewc_lambda must be >= 0, got {buffer_size}, {ewc_lambda}")
    method = "er" if buffer_size > 0 else ("ewc" if ewc_lambda > 0 else "naive")
    r = run_continual(split_digits(seed=seed), method, scenario, buffer_size=buffer_size,
                      ewc_lambda=ewc_lambda, epochs=epochs, seed=seed)
    fig, ax = new_figure(width=4.8, height=4.0)
    im = _matrix(ax, r.R, f"{method}, {scenario}-IL: mean {average_accuracy(r.R):.2f}, "
                          f"forgetting {forgetting(r.R):.2f}")
    fig.colorbar(im, ax=ax, shrink=0.8, label="test accuracy")
    return fig
