"""LongMem's split: a frozen writer fills the memory, a small trainable side reader uses it.

Paper: Wang, Dong, Cheng, Liu, Yan, Gao, Wei, "Augmenting Language Models with Long-Term Memory"
(LongMem, NeurIPS 2023). A pretrained LLM is *frozen*; its attention keys and values of past
inputs are cached in a memory bank. A light residual *SideNet* is trained; one of its layers
queries the memory bank and attends to local context and to retrieved memories: two softmaxes
whose results are mixed by a learned per-head sigmoid gate (paper sec. 3.3; its code's
``JointMultiheadAttentionWeightedSum``), the same fusion as the Memorizing Transformer. Since the
writer never changes, the memory never goes stale (the Memorizing Transformer's problem: keys
written by older weights), and only the reader needs training: the memory "can enlarge the
long-form memory to 65k tokens".

Here, at teaching size:
    writer (frozen)  h_t = [E x_t ; E x_{t-1}]  -- a fixed random embedding E plus the previous
                     token's embedding: the "previous-token features" that lower layers of a
                     trained LM build. The memory stores k_t = W_k h_t and v_t = W_v h_t with
                     W_k, W_v frozen at their random initialisation.
    reader (trained) the query projection W_q, the gate b_h, a logit scale and biases:
                     y_t = MemorizingAttention(h)_t (W_o = identity, frozen) and the read-out is
                     tied to the writer: logits_t[c] = scale * y_t . u_c + b_c, u_c = W_v [E c; 0].

Glossary (paper -> code)
    frozen backbone / cached (K, V)     FrozenWriter, attn.W_k, attn.W_v (requires_grad False)
    SideNet memory-augmented layer      SideReader.attn (MemorizingAttention)
    memory size                         attn.capacity;  retrieved per query: attn.top_k
    gated fusion (LongMem, Memorizing)  combine="gate" (the default: two softmaxes, gate g_h)
    one joint softmax (not LongMem's)   combine="joint" (lucidrains' variant, for comparison)

Not included: the SideNet's other layers and its cross-network residuals to the backbone,
chunk-level retrieval (LongMem retrieves chunks of 4 tokens by mean-pooled keys), and the
pretrained backbone itself (a frozen random writer stands in for it: an honest toy).
"""

from __future__ import annotations

import torch
from torch import nn

from memlab.memory import check_shape
from memlab.retrieval.memorizing import MemorizingAttention, memorizing_read

__all__ = ["FrozenWriter", "SideReader"]


class FrozenWriter(nn.Module):
    """Tokens ``[B, T] -> h [B, T, 2 * d_embed]``: own embedding and the previous token's."""

    def __init__(self, vocab_size: int, d_embed: int, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.register_buffer("E", torch.randn(vocab_size, d_embed, generator=g) / d_embed ** 0.5)
        self.vocab_size, self.d_embed = vocab_size, d_embed

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        if tokens.dim() != 2:
            raise ValueError(f"tokens must be [batch, time], got shape {tuple(tokens.shape)}")
        e = self.E[tokens]
        prev = torch.cat([torch.zeros_like(e[:, :1]), e[:, :-1]], dim=1)
        return torch.cat([e, prev], dim=-1)


class SideReader(nn.Module):
    """Frozen writer + MemorizingAttention whose W_k, W_v are frozen + trainable head."""

    def __init__(self, vocab_size: int, d_embed: int = 32, window: int = 16,
                 capacity: int = 256, top_k: int = 8, combine: str = "gate", seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed + 1)
        self.writer = FrozenWriter(vocab_size, d_embed, seed)
        d = 2 * d_embed
        self.attn = MemorizingAttention(d, n_heads=1, d_head=d, window=window,
                                        capacity=capacity, top_k=top_k, combine=combine)
        with torch.no_grad():                    # reproducible init, independent of global RNG
            for lin in (self.attn.W_q, self.attn.W_k, self.attn.W_v, self.attn.W_o):
                lin.weight.copy_(torch.randn(lin.weight.shape, generator=g) / d ** 0.5)
            self.attn.W_o.weight.copy_(torch.eye(d))
        for lin in (self.attn.W_k, self.attn.W_v, self.attn.W_o):
            lin.weight.requires_grad_(False)        # the writer's projections: frozen
        self.logit_scale = nn.Parameter(torch.tensor(10.0))
        self.bias = nn.Parameter(torch.zeros(vocab_size))

    def head(self, y: torch.Tensor) -> torch.Tensor:
        """Tied read-out: token c scores ``scale * y . u_c + b_c`` with ``u_c = W_v [E c; 0]``,
        the value the frozen writer would store for token c (so decoding needs no training)."""
        E = self.writer.E
        U = self.attn.W_v(torch.cat([E, torch.zeros_like(E)], dim=-1))      # [vocab, d]
        return self.logit_scale * (y @ U.T) + self.bias

    def trainable(self) -> list[nn.Parameter]:
        return [p for p in self.parameters() if p.requires_grad]

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Logits ``[B, T, vocab]`` with the layer's window / capacity / top_k."""
        y, _ = self.attn(self.writer(tokens))
        return self.head(y)

    def memory_entries(self, tokens: torch.Tensor):
        """What the writer puts in memory: ``(K, V)`` each ``[B, T, d]`` (one head)."""
        h = self.writer(tokens)
        return self.attn.W_k(h), self.attn.W_v(h)

    def logits_at(self, tokens: torch.Tensor, positions: torch.Tensor, capacity: int | None = None,
                  top_k: int | None = None, compress=None, return_retrieved: bool = False):
        """Logits at ``positions [P]`` only, for long streams ``tokens [B, T]``.

        Every query at position t reads the window (t-W, t] and a memory of the ``capacity``
        tokens before it (exactly the layer's forward, computed only where needed).
        ``compress``: a function ``x [n, d] -> x_hat [n, d]`` applied to what the memory stores
        (e.g. a product quantizer's decode(encode(x))).
        """
        check_shape(positions, "positions", ndim=1)
        a = self.attn
        h = self.writer(tokens)
        B, T, d = h.shape
        q = a.W_q(h[:, positions]).view(B, -1, 1, d)
        K, V = a.W_k(h).view(B, T, 1, d), a.W_v(h).view(B, T, 1, d)
        K_mem = V_mem = None
        if compress is not None:
            K_mem = compress(K.reshape(-1, d)).view(B, T, 1, d)
            V_mem = compress(V.reshape(-1, d), kind="value").view(B, T, 1, d)
        cap = a.capacity if capacity is None else capacity
        out = memorizing_read(q, K, V, positions, torch.arange(T, device=h.device), a.window,
                              cap, top_k or a.top_k, a.g, a.combine, return_retrieved,
                              K_mem=K_mem, V_mem=V_mem)
        o, info = out if return_retrieved else (out, None)
        logits = self.head(a.W_o(o.reshape(B, -1, d)))
        return (logits, info) if return_retrieved else logits
