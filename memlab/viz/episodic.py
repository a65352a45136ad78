"""Figures and widgets of chapter 10 (episodic memory and order)."""

from __future__ import annotations

import numpy as np

from memlab.viz import new_figure

__all__ = ["plot_hcam", "plot_sort_bins", "sort_trial_view", "surprise_view"]


def plot_sort_bins(acc: dict, edges: list[float]):
    """Accuracy per distance bin for each memory, with chance."""
    fig, ax = new_figure(width=5.5, height=3)
    labels = [f"{edges[i]:.0f}-{edges[i + 1]:.0f}" for i in range(len(edges) - 1)]
    for name, r in acc.items():
        ax.plot(labels, r["by_bin"], "o-", label=name.replace("_", " "))
    ax.axhline(0.5, color="gray", ls=":", label="chance")
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("distance between segment starts (words)")
    ax.set_ylabel("accuracy")
    ax.set_title("SORT-lite: which segment came first?")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
    return fig


def sort_trial_view(trials, chunk: int = 20, top_k: int = 3):
    """``render(trial, memory) -> Figure``: the excerpt as a strip of chunks; segments A and B;
    the chunks the memory retrieved, in the order its reader sees them; its answer."""
    from memlab.episodic import sort as S

    def render(trial: int = 0, memory: str = "order_blind"):
        t = trials[int(trial) % len(trials)]
        rng = np.random.default_rng(int(trial))
        fig, ax = new_figure(width=9, height=2.6)
        L = len(t.excerpt)
        n_ch = -(-L // chunk)
        ax.barh(0, L, color="0.92", height=0.6)
        for c in range(n_ch):
            ax.axvline(c * chunk, color="0.8", lw=0.5)
        for pos, name, col in ((t.pos_a, "A (shown first)", "tab:blue"), (t.pos_b, "B", "tab:orange")):
            ax.barh(0, len(t.seg_a), left=pos, color=col, height=0.6, label=f"segment {name}")
        if memory == "in_context":
            ans = S.InContextMemory().answer(t.excerpt, t.seg_a, t.seg_b)
            seen = "the whole excerpt, with positions"
        else:
            m = S.ChunkMemory(chunk, top_k, keep_index=(memory == "with_indices")).write(t.excerpt, rng)
            slots = m.retrieve(t.seg_a) + m.retrieve(t.seg_b)
            key = (lambda s: m.store[s][0]) if m.keep_index else (lambda s: s)
            order = [m.store[s][0] for s in sorted(set(slots), key=key)]
            for r, c in enumerate(order):
                ax.text(c * chunk + chunk / 2, 0.45, str(r + 1), ha="center", fontsize=8, color="tab:red")
            ctx = m.context(slots)
            ans = int(S.soft_locate(ctx, t.seg_b) < S.soft_locate(ctx, t.seg_a))
            seen = "retrieved chunks; red numbers = the order the reader sees them"
        truth = "A" if t.answer == 0 else "B"
        said = "A" if ans == 0 else "B"
        ax.set_yticks([])
        ax.set_ylim(-0.6, 0.8)
        ax.set_xlabel("word position in the excerpt")
        ax.set_title(f"{memory.replace('_', ' ')}: says {said} came first, truth {truth} -> "
                     f"{'correct' if said == truth else 'wrong'}\n({seen})", fontsize=9)
        ax.grid(False)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
        return fig

    return render


def surprise_view(seed: int = 0, window: int = 64, lam: float = 0.95):
    """``render(gamma, refine, single_topic) -> Figure``: the surprise curve, the true event
    starts and the boundaries found, with F1 against random boundaries."""
    from memlab.episodic.experiments import boundary_experiment

    def render(gamma: float = 3.0, refine: bool = False, single_topic: bool = False):
        r = boundary_experiment(seed=seed, gamma=gamma, window=window, lam=lam,
                                single_topic=single_topic, refine=refine)
        fig, ax = new_figure(width=9, height=2.8)
        s = r["surprise"].numpy()
        ax.plot(s, lw=0.7, color="0.3", label="surprise -log p")
        for i, b in enumerate(r["truth"][1:]):
            ax.axvline(b, color="tab:green", lw=1.5, alpha=0.6, label="true event start" if i == 0 else None)
        for i, b in enumerate(r["found"][1:]):
            ax.axvline(b, color="tab:red", ls="--", lw=0.9, label="boundary found" if i == 0 else None)
        ax.set_xlabel("token")
        ax.set_ylabel("surprise (nats)")
        ax.set_title(f"gamma {gamma:g}{', refined' if refine else ''}: {r['n_found']} boundaries, "
                     f"F1 {r['f1']:.2f} (random, same count: {r['f1_random']:.2f})", fontsize=9)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
        return fig

    return render


def plot_hcam(res: dict):
    """Accuracy vs number of scores computed, per memory."""
    fig, ax = new_figure(width=5, height=3)
    for name in ("flat", "hcam", "summary_only", "hcam_first_token"):
        acc, n = res[name]
        ax.scatter(n, acc, s=50, label=f"{name.replace('_', ' ')} ({n} scores)")
    ax.set_xscale("log")
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("attention scores per query (log)")
    ax.set_ylabel("accuracy (probed item)")
    ax.set_title("HCAM: flat accuracy at a fraction of the scores")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
    return fig
