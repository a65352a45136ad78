"""Plots and the widget of chapter 07 (kNN memory)."""

from __future__ import annotations

import torch

from memlab.viz import new_figure

__all__ = ["knn_explorer", "plot_ann", "plot_compression", "plot_memory_sweep", "plot_train_loss"]


def plot_train_loss(losses):
    """Training loss of the side reader per Adam step."""
    fig, ax = new_figure(width=5.0, height=2.8)
    ax.plot(range(1, len(losses) + 1), list(losses))
    ax.set_xlabel("Adam step")
    ax.set_ylabel("cross-entropy (nats)")
    ax.set_title("training the side reader")
    return fig


def plot_memory_sweep(rows: list[dict], chance: float):
    """Accuracy vs memory size, with the fraction of queries whose definition is in reach."""
    fig, ax = new_figure(width=7.5, height=3.4)
    caps = [max(r["capacity"], 1) for r in rows]
    ax.plot(caps, [r["accuracy"] for r in rows], "o-", label="accuracy")
    ax.plot(caps, [r["within_reach"] for r in rows], "k--", lw=1, label="definition in reach")
    ax.axhline(chance, color="grey", lw=1, ls=":", label="chance")
    ax.set_xscale("log")
    ax.set_xlabel("memory size M (tokens; 1 = no memory)")
    ax.set_ylabel("accuracy at queries")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title("define, then use: accuracy vs memory size")
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0))
    return fig


def plot_compression(rows: list[dict]):
    """Accuracy per compression ratio of the memory (1x = float32 KNNMemory)."""
    fig, ax = new_figure(width=4.5, height=3)
    ax.bar([str(r["ratio"]) + "x" for r in rows], [r["accuracy"] for r in rows], color="C2")
    for i, r in enumerate(rows):
        ax.text(i, r["accuracy"], f"{r['accuracy']:.2f}", ha="center", va="bottom")
    ax.grid(False, axis="x")
    ax.set_xlabel("memory compression (float32 bits / code bits)")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1.05)
    ax.set_title("MEMORY-VQ: accuracy vs compression")
    return fig


def plot_ann(rows: list[dict]):
    """Recall@10 and speed-up of faiss IVF vs exact search, per nprobe."""
    fig, ax = new_figure(width=5.5, height=3.2)
    nprobe = [r["nprobe"] for r in rows]
    ax.plot(nprobe, [r["recall_at_k"] for r in rows], "o-", label="recall@10")
    ax.set_xscale("log", base=2)
    ax.set_xticks(nprobe, [str(n) for n in nprobe])
    ax.minorticks_off()
    ax.set_xlabel("nprobe (IVF cells scanned)")
    ax.set_ylabel("recall@10 (solid)", color="C0")
    ax.set_ylim(0, 1.05)
    ax2 = ax.twinx()
    ax2.grid(False)
    ax2.spines["right"].set_visible(True)
    ax2.plot(nprobe, [r["speedup"] for r in rows], "s--", color="C3")
    ax2.set_ylabel("speed-up vs exact (dashed)", color="C3")
    ax2.set_ylim(bottom=0)
    ax.set_title("faiss IVF vs exact search")
    return fig


def knn_explorer(model, data, fit_data, device="cpu", stream: int = 0):
    """A render function ``render(memory_size, top_k, compression, query) -> Figure``.

    Left: stream positions around query ``query`` of test stream ``stream``: the local window,
    the memory span, the definition, and the retrieved memories (height = attention weight).
    Right: accuracy over all test queries at these settings, against chance and reach.
    Quantizers are fitted once per compression ratio and cached.
    """
    from memlab.retrieval.experiments import evaluate, fit_quantizers

    cache: dict[int, object] = {}

    def compressor(ratio):
        if ratio <= 1:
            return None
        if ratio not in cache:
            cache[ratio] = fit_quantizers(model, fit_data, ratio)
        return cache[ratio]

    def render(memory_size: int = 1024, top_k: int = 8, compression: int = 1, query: int = 0):
        comp = compressor(compression)
        W = model.attn.window
        q_i = int(query) % data.query_pos.shape[1]
        t = int(data.query_pos[stream, q_i])
        d = int(data.def_pos[stream, q_i])
        tok = data.tokens[stream:stream + 1].to(device)
        with torch.no_grad():
            logits, info = model.logits_at(tok, torch.tensor([t], device=device),
                                           capacity=memory_size, top_k=top_k, compress=comp,
                                           return_retrieved=True)
        pos = info["positions"][0, 0, 0].cpu()
        w = info["weights"][0, 0, 0].cpu()
        pred = int(logits[0, 0].argmax())
        # the dense read: the same answers as the KNNMemory / VQMemory store (tested), faster
        acc = evaluate(model, data, memory_size, top_k, compress=comp, device=device,
                       backend="dense")["accuracy"]
        reach = float((data.gaps <= W - 1 + memory_size).float().mean())

        fig, axes = new_figure(ncols=2, width=4.6, height=3.3)
        ax, ax2 = axes[0, 0], axes[0, 1]
        lo_mem = max(0, t - W - memory_size + 1)
        ax.axvspan(t - W + 1, t + 0.5, color="C0", alpha=0.25, label=f"window W={W}")
        if memory_size > 0:
            ax.axvspan(lo_mem, t - W + 1, color="C1", alpha=0.15, label=f"memory M={memory_size}")
        ok = pos >= 0
        ax.vlines(pos[ok], 0, w[ok], color="C3", lw=2, label=f"retrieved (top-{top_k})")
        ax.axvline(d, color="k", ls="--", lw=1, label="definition")
        ax.axvline(t, color="C0", lw=1)
        ax.set_xlim(min(d, lo_mem) - 50, t + 50)
        ax.set_ylim(0, 1.05)
        ax.set_xlabel("position in stream")
        ax.set_ylabel("memory attention weight")
        right = "right" if pred == int(data.answers[stream, q_i]) else "wrong"
        ax.set_title(f"query {q_i} at t={t}: gap {t - d}, answer {right}")
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=2, fontsize=8.5)
        ax2.bar(["chance", "in reach", "accuracy"], [data.n_values ** -1, reach, acc],
                color=["0.6", "0.2", "C2"])
        ax2.grid(False, axis="x")
        ax2.set_ylim(0, 1)
        ax2.set_ylabel("fraction of test queries")
        ax2.set_title(f"M={memory_size}, k={top_k}, {compression}x compression")
        return fig

    return render
