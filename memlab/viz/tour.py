"""Chapter 00's widget: every sequence memory's ``state_size(T)`` on one axis."""

from __future__ import annotations

import importlib

import numpy as np

from memlab.viz import LINESTYLES, OKABE_ITO, new_figure

__all__ = ["SEQUENCE_MEMORIES", "sequence_memories", "state_size_table", "render_state_sizes"]

# name -> (module, class, keyword arguments besides d_model); imported lazily
SEQUENCE_MEMORIES = {
    "softmax attention (KV cache)": ("memlab.attention", "CausalSelfAttention", {"n_heads": 1}),
    "linear attention": ("memlab.fastweights", "LinearAttention", {}),
    "delta rule (DeltaNet)": ("memlab.fastweights", "DeltaNet", {}),
    "gated delta rule": ("memlab.fastweights", "GatedDeltaNet", {}),
    "mixture of memories": ("memlab.fastweights", "MixtureOfMemories", {}),
    "S4D (diagonal SSM)": ("memlab.ssm.s4d", "S4D", {"d_state": 16}),
    "Mamba (selective SSM)": ("memlab.ssm.mamba", "Mamba", {}),
    "B'MOJO (fading + eidetic)": ("memlab.ssm.bmojo", "BMojo", {}),
    "Titans neural memory (MLP)": ("memlab.testtime.neural_memory", "NeuralMemory", {}),
    "Memorizing Transformer (kNN)": ("memlab.retrieval.memorizing", "MemorizingAttention", {}),
}


def sequence_memories(d_model: int) -> dict:
    """Instantiate every registered SequenceMemory that this install provides."""
    found = {}
    for name, (mod, cls, kwargs) in SEQUENCE_MEMORIES.items():
        try:
            found[name] = getattr(importlib.import_module(mod), cls)(d_model, **kwargs)
        except (ImportError, AttributeError):
            continue
    return found


def state_size_table(d_model: int, lengths: list[int]) -> dict[str, list[int]]:
    """{mechanism: [state_size(T) for T in lengths]}."""
    return {name: [int(m.state_size(T)) for T in lengths]
            for name, m in sequence_memories(d_model).items()}


def render_state_sizes(seq_len: int = 4096, d_model: int = 64):
    """State size (numbers per sequence) vs context length, log-log, one line per mechanism."""
    if seq_len < 2 or d_model < 1:
        raise ValueError(f"need seq_len >= 2 and d_model >= 1, got {seq_len}, {d_model}")
    lengths = np.unique(np.geomspace(1, seq_len, 24).astype(int)).tolist()
    fig, ax = new_figure(width=9.4, height=4.2)
    # flat curves coincide (several recurrent memories keep H * d_k * d_v numbers): a distinct
    # line style and marker per mechanism keeps each one visible where it lies under another
    markers = "osD^vP*X<>"
    for i, (name, sizes) in enumerate(state_size_table(d_model, lengths).items()):
        ax.plot(lengths, sizes, label=name, color=OKABE_ITO[i % len(OKABE_ITO)],
                linestyle=LINESTYLES[i % len(LINESTYLES)], marker=markers[i % len(markers)],
                markevery=(i % 4, 4), markersize=5, linewidth=1.6, alpha=0.9)
    ax.set(xscale="log", yscale="log", xlabel="tokens seen $T$", ylabel="state size (numbers)",
           title=f"What each memory keeps after $T$ tokens ($d_{{model}}$ = {d_model})")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return fig
