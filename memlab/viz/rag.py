"""Figures and the widget of chapter 11 (retrieval and graph memory)."""

from __future__ import annotations

import networkx as nx
import numpy as np

from memlab.viz import new_figure

__all__ = ["plot_popularity", "plot_recall", "ppr_explorer"]


def plot_recall(table: dict, k: int = 5, title: str = ""):
    """Grouped bars: recall@k of each method on one-hop and two-hop questions."""
    fig, ax = new_figure(width=6, height=3)
    names = list(table)
    x = np.arange(len(names))
    for i, h in enumerate((1, 2)):
        ax.bar(x + (i - 0.5) * 0.38, [table[n][h][k] for n in names], 0.38,
               label=f"{'one' if h == 1 else 'two'}-hop")
    ax.set_xticks(x, names, rotation=20)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel(f"recall@{k} of supporting passages")
    ax.set_title(title or f"Recall@{k} on the fact world")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1))
    return fig


def plot_popularity(res: dict):
    """Accuracy vs popularity bin for parametric and retrieval answers (PopQA-lite)."""
    fig, ax = new_figure(width=5, height=3)
    c = res["pop_centres"]
    ax.plot(c, res["param_by_pop"], "o-", label="parametric (memoriser)")
    ax.plot(c, res["retr_by_pop"], "s-", label="retrieval (BM25)")
    ax.set_xlabel("log popularity (bin mean)")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1.05)
    ax.set_title("Parametric memory needs popularity; retrieval does not")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1))
    return fig


def ppr_explorer(world, hippo):
    """``render(question, damping) -> Figure``: the phrase graph around the question's seeds
    coloured by PPR mass (left) and the top passages with the supporting ones marked (right).
    ``hippo`` is an indexed :class:`memlab.rag.hipporag.HippoRAG`."""
    from memlab.rag import openie as OI
    from memlab.rag.hipporag import ppr_networkx

    def render(question: int = 0, damping: float = 0.5):
        qs = world.by_hops(2)
        q = qs[int(question) % len(qs)]
        seeds = hippo.link(OI.query_ner(hippo.llm, q.text))
        pr = ppr_networkx(hippo.G, hippo.reset_vector(seeds), damping) if seeds else {}
        mass = np.array([pr.get(p, 0.0) for p in hippo.phrases])
        scores = hippo.P @ mass
        top = np.argsort(-scores, kind="stable")[:8]
        keep = set(seeds)
        for s in seeds:
            keep |= set(nx.ego_graph(hippo.G, s, radius=2).nodes)
        support_nodes = {p for j in q.support for t in hippo.triples[j] for p in (t[0], t[2])}
        H = hippo.G.subgraph(sorted(keep | support_nodes, key=str))
        fig, axes = new_figure(ncols=2, width=5, height=4)
        ax, ax2 = axes[0, 0], axes[0, 1]
        pos = nx.spring_layout(H, seed=0)
        vals = [pr.get(n, 0.0) for n in H.nodes]
        nodes = nx.draw_networkx_nodes(H, pos, ax=ax, node_size=60, node_color=vals, cmap="viridis")
        nx.draw_networkx_edges(H, pos, ax=ax, alpha=0.3,
                               style=["dashed" if H[u][v].get("kind") == "synonym" else "solid"
                                      for u, v in H.edges])
        labels = {n: n for n in H.nodes if n in seeds or n in support_nodes}
        nx.draw_networkx_labels(H, pos, labels, ax=ax, font_size=7)
        fig.colorbar(nodes, ax=ax, label="PPR mass")
        ax.set_title(f"PPR from the seeds (damping {damping:g})", fontsize=9)
        ax.axis("off")
        colors = ["tab:green" if j in q.support else "tab:gray" for j in top]
        ax2.barh(np.arange(len(top))[::-1], scores[top], color=colors)
        ax2.set_yticks(np.arange(len(top))[::-1], [hippo.passages[j][:38] for j in top], fontsize=7)
        ax2.set_xlabel("passage score P·π")
        ax2.set_title("top passages (green = supporting)", fontsize=9)
        fig.suptitle(q.text, fontsize=10)
        return fig

    return render
