"""PERK: a frozen LM plus a LoRA adapter trained on the context at test time (chapter 06).

PERK (Parameter-Efficient Reasoning over Knowledge; Chen, Romanou, Weiss, Bosselut 2025,
arXiv:2507.06415) reads a long context by *training* on it: the context is cut into segments,
a few gradient steps of the causal-LM loss on those segments write it into a low-rank adapter
(LoRA) of a frozen base model, and the question is then answered by the adapted model **without
the context in its window**. A meta-training phase learns the adapter's initialisation so that
these few inner steps store what the questions will ask. This module is a CPU-sized version::

    adapter (per linear layer W of every MLP):  W x  ->  W x + (s / r) B A x,  phi = {A, B}
    inner loop (write, test time):  phi_{j+1} = phi_j - alpha * grad_phi L_LM(phi_j; segments(c))
                                    phi_0 = the meta-learned initialisation, j = 0 .. K - 1
    read:                           answer = argmax p(. | question; theta_frozen, phi_K)
    outer loop (meta-training, first-order MAML):
        phi_0 <- phi_0 - beta * Adam( grad_phi L_QA(phi_K; question, answer) )  (phi_K detached)

Glossary
    theta   the frozen base LM's weights (a 1-2 layer causal transformer, ``TinyLM``)
    phi     the LoRA adapter {A_l [r, d_in], B_l [d_out, r]} on the MLP's two linear layers
    r, s    LoRA rank and scale (the update is (s / r) B A)
    c       the context: noise tokens with one fact "key value" (the needle) somewhere in it
    segments(c)  windows of ``seg_len`` tokens at stride ``seg_len // 2`` (overlapping, so each
            bigram lies inside one window), each with positions 0 .. seg_len - 1, encoded as one
            batch (PERK: "a batch of segment-level sequences encoded in parallel")
    K, alpha  inner steps and inner learning rate; beta: outer (Adam) learning rate
    L_LM    mean next-token cross-entropy over the segments; L_QA: cross-entropy of the answer

Constants. The paper meta-trains LoRA on GPT-2 / Qwen-2.5 with truncated gradient unrolling
(back-propagation through the last inner steps only). We could not recover its exact inner
step count, learning rates and rank from the public text we could read, so the defaults here
are memlab's, sized for a CPU: rank 4, scale 8, segments of 8 tokens, K = 4 inner steps of
plain SGD with alpha = 0.1 on the per-example loss (summed over each segment's tokens, averaged
over segments), Adam 3e-3 outer. First-order MAML is the truncation to zero unrolled steps.

Not included: truncated unrolling through >0 inner steps (the paper's variant), reasoning
tasks beyond one key-value lookup, pretrained LMs, the paper's memory-efficiency measurements.

Sources: Chen et al. 2025 (PERK, arXiv:2507.06415, project page perk-long-context.web.app);
Hu et al. 2021 (LoRA); Finn et al. 2017 and Nichol et al. 2018 (first-order MAML).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["Adapter", "PERKMemory", "TinyLM", "inner_loop", "inner_loop_naive",
           "lm_segments", "segments"]


@dataclass
class Adapter:
    """Per-example LoRA factors: ``A[l]: [batch, r, d_in_l]``, ``B[l]: [batch, d_out_l, r]``."""
    A: list[torch.Tensor]
    B: list[torch.Tensor]

    def tensors(self) -> list[torch.Tensor]:
        return [*self.A, *self.B]

    @staticmethod
    def from_tensors(ts: list[torch.Tensor]) -> Adapter:
        n = len(ts) // 2
        return Adapter(list(ts[:n]), list(ts[n:]))

    def repeat(self, n: int) -> Adapter:
        """Each example's adapter repeated for its ``n`` segments (dim 0 becomes batch * n)."""
        return Adapter([a.repeat_interleave(n, 0) for a in self.A],
                       [b.repeat_interleave(n, 0) for b in self.B])


class TinyLM(nn.Module):
    """A pre-LN causal transformer: token + learned position embeddings, ``n_layers`` blocks of
    attention + MLP (d -> 4d -> d, GELU), tied unembedding. ``forward(tokens, adapter)`` adds
    the LoRA update to both MLP linear layers of every block (``adapter`` batched per example)."""

    def __init__(self, vocab: int, d_model: int = 32, n_layers: int = 2, n_heads: int = 2,
                 max_len: int = 128, rank: int = 4, lora_scale: float = 8.0):
        super().__init__()
        for name, v, lo in (("vocab", vocab, 2), ("d_model", d_model, 2), ("n_layers", n_layers, 1),
                            ("n_heads", n_heads, 1), ("max_len", max_len, 2), ("rank", rank, 1)):
            if int(v) != v or v < lo:
                raise ValueError(f"{name} must be an integer >= {lo}, got {v}")
        if d_model % n_heads:
            raise ValueError(f"d_model ({d_model}) must be divisible by n_heads ({n_heads})")
        self.vocab, self.d_model, self.n_heads, self.max_len = vocab, d_model, n_heads, max_len
        self.rank, self.lora_scale = rank, lora_scale
        self.emb = nn.Embedding(vocab, d_model)
        self.pos = nn.Parameter(torch.randn(max_len, d_model) * 0.02)
        self.blocks = nn.ModuleList()
        for _ in range(n_layers):
            self.blocks.append(nn.ModuleDict({
                "ln1": nn.LayerNorm(d_model), "qkv": nn.Linear(d_model, 3 * d_model),
                "o": nn.Linear(d_model, d_model), "ln2": nn.LayerNorm(d_model),
                "fc1": nn.Linear(d_model, 4 * d_model), "fc2": nn.Linear(4 * d_model, d_model)}))
        self.ln_f = nn.LayerNorm(d_model)

    def lora_shapes(self) -> list[tuple[int, int]]:
        """(d_in, d_out) of every adapted linear layer, in the order of ``Adapter.A``."""
        d = self.d_model
        return [s for _ in self.blocks for s in ((d, 4 * d), (4 * d, d))]

    def init_adapter(self, generator: torch.Generator | None = None) -> Adapter:
        """LoRA's initialisation: A ~ N(0, 1/d_in), B = 0 (the adapter starts as the identity)."""
        A = [torch.randn(1, self.rank, i, generator=generator) / math.sqrt(i)
             for i, _ in self.lora_shapes()]
        return Adapter(A, [torch.zeros(1, o, self.rank) for _, o in self.lora_shapes()])

    def _lin(self, x, lin, A, B):
        y = lin(x)
        if A is not None:
            y = y + (self.lora_scale / self.rank) * torch.bmm(torch.bmm(x, A.transpose(1, 2)),
                                                              B.transpose(1, 2))
        return y

    def forward(self, tokens: torch.Tensor, adapter: Adapter | None = None) -> torch.Tensor:
        """``tokens: [batch, time]`` -> logits ``[batch, time, vocab]``."""
        if tokens.dim() != 2:
            raise ValueError(f"tokens must be [batch, time], got shape {tuple(tokens.shape)}")
        Bn, T = tokens.shape
        if T > self.max_len:
            raise ValueError(f"tokens has {T} positions, more than max_len={self.max_len}")
        if adapter is not None and adapter.A[0].shape[0] != Bn:
            raise ValueError(f"adapter has batch {adapter.A[0].shape[0]}, tokens {Bn}")
        H, dh = self.n_heads, self.d_model // self.n_heads
        x = self.emb(tokens) + self.pos[:T]
        mask = torch.ones(T, T, dtype=torch.bool, device=tokens.device).tril()
        for i, blk in enumerate(self.blocks):
            q, k, v = blk["qkv"](blk["ln1"](x)).view(Bn, T, 3, H, dh).permute(2, 0, 3, 1, 4)
            att = (q @ k.transpose(-1, -2) / math.sqrt(dh)).masked_fill(~mask, float("-inf"))
            x = x + blk["o"]((att.softmax(-1) @ v).transpose(1, 2).reshape(Bn, T, self.d_model))
            A1, A2, B1, B2 = (None,) * 4 if adapter is None else (
                adapter.A[2 * i], adapter.A[2 * i + 1], adapter.B[2 * i], adapter.B[2 * i + 1])
            h = F.gelu(self._lin(blk["ln2"](x), blk["fc1"], A1, B1))
            x = x + self._lin(h, blk["fc2"], A2, B2)
        return self.ln_f(x) @ self.emb.weight.T


def segments(context: torch.Tensor, seg_len: int) -> torch.Tensor:
    """``[batch, L] -> [batch, n_seg, seg_len]``: windows at stride ``seg_len // 2`` (the last
    window ends at L), so every pair of neighbouring tokens lies inside at least one window."""
    if context.dim() != 2:
        raise ValueError(f"context must be [batch, L], got shape {tuple(context.shape)}")
    L = context.shape[1]
    if not 2 <= seg_len <= L:
        raise ValueError(f"seg_len must be in [2, L={L}], got {seg_len}")
    stride = max(seg_len // 2, 1)
    starts = list(range(0, L - seg_len + 1, stride))
    if starts[-1] != L - seg_len:
        starts.append(L - seg_len)
    return torch.stack([context[:, s:s + seg_len] for s in starts], 1)


def lm_segments(model: TinyLM, context: torch.Tensor, adapter: Adapter, seg_len: int,
                ) -> torch.Tensor:
    """L_LM per example ``[batch]``: next-token cross-entropy summed over each segment's tokens,
    averaged over the segments (a sum, so one rare fact is not diluted by the context's length)."""
    seg = segments(context, seg_len)
    Bn, n, S = seg.shape
    logits = model(seg.reshape(Bn * n, S), adapter.repeat(n))
    ce = F.cross_entropy(logits[:, :-1].reshape(-1, model.vocab), seg.reshape(Bn * n, S)[:, 1:]
                         .reshape(-1), reduction="none")
    return ce.view(Bn, n, S - 1).sum(2).mean(1)


def inner_loop(model: TinyLM, context: torch.Tensor, phi0: Adapter, steps: int = 4,
               lr: float = 0.1, seg_len: int = 8) -> Adapter:
    """The write: ``steps`` SGD steps of L_LM on each example's own adapter, all examples at
    once (batched LoRA factors; the summed loss gives each example its own gradient)."""
    if steps < 0 or lr < 0:
        raise ValueError(f"steps and lr must be >= 0, got steps={steps}, lr={lr}")
    Bn = context.shape[0]
    ts = [t.expand(Bn, *t.shape[1:]).detach().clone() if t.shape[0] == 1 else t.detach().clone()
          for t in phi0.tensors()]
    for _ in range(steps):
        ts = [t.requires_grad_(True) for t in ts]
        with torch.enable_grad():
            loss = lm_segments(model, context, Adapter.from_tensors(ts), seg_len).sum()
            grads = torch.autograd.grad(loss, ts)
        ts = [(t - lr * g).detach() for t, g in zip(ts, grads)]
    return Adapter.from_tensors(ts)


def inner_loop_naive(model: TinyLM, context: torch.Tensor, phi0: Adapter, steps: int = 4,
                     lr: float = 0.1, seg_len: int = 8) -> Adapter:
    """The same write, one example at a time, one segment at a time (reference form)."""
    out = []
    for b in range(context.shape[0]):
        ts = [t[:1].detach().clone() if t.shape[0] == 1 else t[b:b + 1].detach().clone()
              for t in phi0.tensors()]
        seg = segments(context[b:b + 1], seg_len)[0]
        for _ in range(steps):
            ts = [t.requires_grad_(True) for t in ts]
            with torch.enable_grad():
                loss = sum(F.cross_entropy(model(s[None, :-1], Adapter.from_tensors(ts))[0], s[1:],
                                           reduction="sum") for s in seg)
                loss = loss / seg.shape[0]
                grads = torch.autograd.grad(loss, ts)
            ts = [(t - lr * g).detach() for t, g in zip(ts, grads)]
        out.append(ts)
    return Adapter.from_tensors([torch.cat(col, 0) for col in zip(*out)])


class PERKMemory:
    """PERK as a ``Memory``: ``write(context)`` trains the adapter, ``read(question)`` answers
    from the frozen LM + adapter alone (the context is not in the window)."""

    def __init__(self, model: TinyLM, phi0: Adapter, steps: int = 4, lr: float = 0.1,
                 seg_len: int = 8):
        self.model, self.phi0, self.steps, self.lr, self.seg_len = model, phi0, steps, lr, seg_len
        self.adapter: Adapter | None = None

    def write(self, context: torch.Tensor) -> None:
        self.adapter = inner_loop(self.model, context, self.phi0, self.steps, self.lr, self.seg_len)

    def read(self, question: torch.Tensor) -> torch.Tensor:
        """``question: [batch, q_len]`` -> logits of the next token ``[batch, vocab]``."""
        if self.adapter is None:
            raise RuntimeError("read before write: call write(context) first")
        if question.shape[0] != self.adapter.A[0].shape[0]:
            raise ValueError(f"question has batch {question.shape[0]}, the written context "
                             f"{self.adapter.A[0].shape[0]}")
        with torch.no_grad():
            return self.model(question, self.adapter)[:, -1]

    def state_size(self) -> int:
        """Numbers in one example's adapter: r * (d_in + d_out) per adapted layer."""
        return sum(self.model.rank * (i + o) for i, o in self.model.lora_shapes())

    def reset(self) -> None:
        self.adapter = None
