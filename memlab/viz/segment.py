"""Plots and widgets of chapter 09 (segment recurrence). Plain functions returning Figures."""

from __future__ import annotations

import torch

from memlab.segment import experiments as E
from memlab.viz import new_figure

__all__ = ["plot_ahn_capacity", "plot_rmt_lengths", "render_ahn_window", "render_rmt_memory"]

COLORS = {"rmt": "tab:blue", "segment_local": "tab:orange", "k2_0": "tab:green",
          "reset_every_segment": "tab:red", "delta": "tab:blue", "linear": "tab:orange",
          "window": "gray"}
LABELS = {"rmt": "RMT (full BPTT)", "segment_local": "segment-local (no memory)",
          "k2_0": "RMT, k2 = 0 (memory detached)", "reset_every_segment": "RMT, memory reset",
          "delta": "window + delta memory", "linear": "window + linear attention",
          "window": "window alone"}


def plot_rmt_lengths(acc: dict, trained: int, chance: float, seeds: dict | None = None):
    """Accuracy vs number of segments (log2 axis) per arm; ``seeds``: RMT per seed (thin lines)."""
    fig, ax = new_figure(width=6.5, height=3.4)
    for name, curve in acc.items():
        ns = sorted(curve)
        ax.plot(ns, [curve[n] for n in ns], "o-", color=COLORS.get(name), label=LABELS.get(name, name))
    for curve in (seeds or {}).values():
        ns = sorted(curve)
        ax.plot(ns, [curve[n] for n in ns], "-", lw=0.8, alpha=0.5, color=COLORS["rmt"])
    ax.axhline(chance, color="k", ls=":", lw=1, label="chance")
    ax.axvspan(0.5, trained, color="0.9", zorder=0, label="trained lengths")
    ax.set_xscale("log", base=2)
    ax.set_xlim(left=1)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("segments in the story (log scale)")
    ax.set_ylabel("qa1 accuracy")
    ax.set_title("BABILong-lite qa1: RMT vs controls")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    return fig


def plot_ahn_capacity(curve: dict, d: int, window: int):
    """Evicted-pair recall vs number of pairs for each memory rule and the window alone."""
    fig, ax = new_figure(width=6.0, height=3.2)
    for name, values in curve.items():
        if name != "pairs":
            ax.plot(curve["pairs"], values, "o-", color=COLORS.get(name),
                    label=LABELS.get(name, name))
    ax.axvline(d, color="k", ls=":", lw=1, label=f"n = d = {d}")
    ax.set_xscale("log", base=2)
    ax.set_ylim(-0.02, 1.05)
    ax.set_xlabel("pairs evicted from the window (log scale)")
    ax.set_ylabel("recall accuracy")
    ax.set_title(f"AHN (untrained), window W = {window}")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    return fig


def render_rmt_memory(model, batch, example: int = 0, segment: int = 0):
    """Widget: what the write copy of the memory attends to in one segment (last layer, mean
    over heads), and how much the memory changes from segment to segment."""
    rmt = E.rmt_of(model)
    if not 0 <= example < len(batch):
        raise ValueError(f"example must be in [0, {len(batch) - 1}], got {example}")
    with torch.no_grad():
        dev = next(model.parameters()).device
        x = model.embed_tokens(batch.inputs[example:example + 1].to(dev))
        x = model.blocks[0].norm1(x)
        trace = rmt.memory_trace(x)
    segment = min(max(segment, 0), len(trace) - 1)
    S, m = rmt.segment_size, rmt.n_mem
    w = trace[segment]["weights"][0].mean(0)[m + S:, :m + S].cpu().numpy()      # write rows -> [M; X]
    vocab = batch.meta["vocab"]
    words = [vocab.words[int(t)] for t in batch.inputs[example, segment * S:(segment + 1) * S]]
    fig, axes = new_figure(ncols=2, width=5.5, height=3.2)
    ax_w, ax_c = axes[0]
    ax_w.imshow(w, aspect="auto", cmap="viridis", vmin=0)
    ax_w.set_xticks(range(m + S), [f"M{i}" for i in range(m)] + words, rotation=90, fontsize=7)
    ax_w.set_yticks(range(m), [f"write {i}" for i in range(m)], fontsize=7)
    ax_w.set_title(f"segment {segment}: what the write tokens attend to")
    mem = torch.stack([t["memory"][0].cpu() for t in trace])                    # [n_seg, m, d]
    change = [0.0] + [float((mem[i] - mem[i - 1]).norm() / mem[i - 1].norm())
                      for i in range(1, len(mem))]
    fseg = {int(p) // S for p in batch.meta["fact_pos"][example] if p >= 0}
    ax_c.bar(range(len(mem)), change,
             color=["tab:red" if i in fseg else "tab:blue" for i in range(len(mem))])
    ax_c.axvline(segment, color="k", lw=1, ls=":")
    ax_c.set_xlabel("segment (red: holds a fact)")
    ax_c.set_ylabel("relative change of the memory")
    ax_c.set_title(f"answer: {vocab.words[int(batch.meta['answer'][example])]}")
    return fig


def render_ahn_window(window: int = 32, n_pairs: int = 8, rule: str = "delta", d: int = 32,
                      T: int = 256, seed: int = 0):
    """Widget: recall of pairs evicted from the window vs window size (window + AHN, window
    alone, full attention), the current window marked, with the cache fraction."""
    if rule not in ("delta", "gated_delta", "linear"):
        raise ValueError(f"rule={rule!r} is not known")
    windows = sorted(set([4, 8, 16, 32, 64, 128, T] + [int(window)]))
    rows = [E.ahn_recall(n_pairs, d, w, T, rule, seed=seed) for w in windows]
    fig, ax = new_figure(width=6.0, height=3.2)
    for key, label, color, style in (("full", "full attention", "k", {"ls": ":", "lw": 1.5}),
                                     ("ahn", f"window + {rule} memory", COLORS.get(rule, "tab:blue"),
                                      {"ls": "--", "lw": 2.5, "marker": "o", "alpha": 0.8}),
                                     ("window", "window alone", "gray", {"marker": "o"})):
        ax.plot(windows, [r[key] for r in rows], label=label, color=color, **style)
    ax.axvline(window, color="tab:red", lw=1)
    frac = E.cache_fraction(T, window, d)
    ax.set_xscale("log", base=2)
    ax.set_ylim(-0.02, 1.05)
    ax.set_xlabel("window W (log scale)")
    ax.set_ylabel("recall of the pairs")
    ax.set_title(f"{n_pairs} pairs, T = {T}: W = {window} keeps {frac:.0%} of full cache")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    return fig
