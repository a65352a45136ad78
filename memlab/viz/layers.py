"""Chapter 08 plots: which slots a product-key query hits; slot usage of a trained memory."""

from __future__ import annotations

import itertools

import numpy as np
import torch

from memlab.viz import new_figure

__all__ = ["render_accuracy_by_rank", "render_slot_hits", "render_slot_usage", "slot_hits"]


def slot_hits(query: int = 0, k: int = 4, n_keys: int = 16, d_key: int = 8, seed: int = 0) -> dict:
    """One head, random sub-keys: the full score grid s_ij and what product keys pick.

    Returns ``scores`` [|K|, |K|] (s_ij = q1.k1_i + q2.k2_j), ``rows`` I1, ``cols`` I2 (top-k of
    each half), ``slots`` (i, j) of the final top-k, their ``weights`` (softmax) and the
    exhaustive top-k ``exact`` for comparison.
    """
    from memlab.layers.product_keys import exhaustive_topk, product_key_topk

    if not 1 <= k <= n_keys:
        raise ValueError(f"k must be in [1, n_keys={n_keys}], got {k}")
    g = torch.Generator().manual_seed(seed)
    keys = torch.randn(1, 2, n_keys, d_key // 2, generator=g, dtype=torch.float64)
    qs = torch.randn(max(query + 1, 1), 1, d_key, generator=g, dtype=torch.float64)
    q = qs[query:query + 1]
    q1, q2 = q[0, 0, : d_key // 2], q[0, 0, d_key // 2:]
    s1, s2 = keys[0, 0] @ q1, keys[0, 1] @ q2
    scores, idx = product_key_topk(q, keys, k)
    _, exact = exhaustive_topk(q, keys, k)
    idx = idx[0, 0]
    return {"scores": (s1[:, None] + s2[None, :]).numpy(),
            "rows": s1.topk(k).indices.numpy(), "cols": s2.topk(k).indices.numpy(),
            "slots": np.stack([(idx // n_keys).numpy(), (idx % n_keys).numpy()], 1),
            "weights": scores[0, 0].softmax(-1).numpy(),
            "exact": np.sort(exact[0, 0].numpy()), "found": np.sort(idx.numpy())}


def render_slot_hits(query: int = 0, k: int = 4, n_keys: int = 16, seed: int = 0):
    """Grid of all N = |K|^2 slots (colour: score), the k x k candidate cross, the top-k hits."""
    h = slot_hits(query, k, n_keys, seed=seed)
    fig, axes = new_figure(ncols=2, width=4.7, height=4.0)
    ax, ax2 = axes[0, 0], axes[0, 1]
    im = ax.imshow(h["scores"], cmap="Greys_r", origin="upper")
    ax.grid(False)
    fig.colorbar(im, ax=ax, shrink=0.7, label="score $s_{ij}$")
    rr, cc = np.meshgrid(h["rows"], h["cols"], indexing="ij")
    ax.scatter(cc.ravel(), rr.ravel(), s=60, marker="s", facecolors="none",
               edgecolors="#0072B2", linewidths=1.0, label=f"{k}\u00d7{k} candidates")
    ax.scatter(h["slots"][:, 1], h["slots"][:, 0], s=40, facecolors="none",
               edgecolors="#D55E00", linewidths=2.0, label=f"top-{k} slots")
    ax.set_xlabel("j (sub-key in $K_2$)")
    ax.set_ylabel("i (sub-key in $K_1$)")
    same = np.array_equal(h["exact"], h["found"])
    ax.set_title(f"query {query}: {len(h['rows'])}\u00d7{len(h['cols'])} candidates of "
                 f"{n_keys ** 2} slots\nexhaustive top-{k} identical: {same}")
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower left", ncol=2)
    labels = [f"({i},{j})" for i, j in h["slots"]]
    ax2.barh(range(len(labels))[::-1], h["weights"], color="#D55E00")
    ax2.set_yticks(range(len(labels))[::-1], labels, fontsize=8 if len(labels) <= 10 else 6.5)
    ax2.grid(False, axis="y")
    ax2.set_ylabel("slot (i, j)")
    ax2.set_xlabel("softmax weight $w$ of the slot's value")
    ax2.set_title("what the read mixes")
    return fig


def render_slot_usage(hit_counts, title: str = "slot usage"):
    """Sorted access counts of every slot (log scale) from a trained memory."""
    counts = np.sort(np.asarray(hit_counts, dtype=float))[::-1]
    fig, ax = new_figure(width=6.0, height=3.2)
    ax.plot(np.arange(1, len(counts) + 1), counts + 1e-9)
    ax.set_yscale("log")
    ax.set_xlabel("slot rank (most read first)")
    ax.set_ylabel("reads (log scale)")
    used = float((counts > 0).mean())
    ax.set_title(f"{title}: {used:.0%} of {len(counts)} slots read at least once")
    return fig


def render_accuracy_by_rank(hits: dict, n_bins: int = 12, tail_from: float | None = 0.5):
    """Accuracy of each model per bin of facts ranked by frequency (log-spaced bins)."""
    from memlab.viz import LINESTYLES

    fig, ax = new_figure(width=7.5, height=3.4)
    for i, (name, hit) in enumerate(hits.items()):
        hit = np.asarray(hit, dtype=float)
        edges = np.unique(np.geomspace(1, len(hit) + 1, n_bins + 1).astype(int))
        centers = np.sqrt(edges[:-1] * edges[1:])
        acc = [hit[a - 1:b - 1].mean() for a, b in itertools.pairwise(edges)]
        ax.plot(centers, acc, marker="os^D"[i % 4], ls=LINESTYLES[i % len(LINESTYLES)], label=name)
    if tail_from is not None:
        n = len(next(iter(hits.values())))
        ax.axvspan(tail_from * n, n, color="grey", alpha=0.15, lw=0, label="tail")
    ax.set_xscale("log")
    ax.set_ylim(-0.03, 1.03)
    ax.set_xlabel("fact rank by frequency (1 = most frequent)")
    ax.set_ylabel("accuracy (per bin of facts)")
    ax.set_title("where accuracy is lost: facts by frequency rank")
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0))
    return fig
