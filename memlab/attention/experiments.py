"""Chapter 03's experiments: a tiny attention LM on MQAR, its KV cache under budgets and bits.

Protocol (prefill, compress, answer -- the setting of SnapKV, PyramidKV and CAKE):

1. *prefill* the context (MQAR: the key-value pairs; needle: the haystack) with the full
   cache, recording each layer's attention and the model's ``log p`` of every token;
2. *probe*: run the question against the full cache once, only to record the attention it
   pays to the context (the observation window of query-aware policies; other policies ignore
   it);
3. *compress* every layer's cache to the budget with a policy (optionally quantise it);
4. *answer*: decode the question against the compressed cache; score the answers.

The notebook and ``tests/test_claims_ch03.py`` call these functions, so the claims are measured
one way only.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from memlab.attention.policies import CacheView, Policy, get_policy, keep_index, layer_budgets
from memlab.attention.quantize import quantize_cache
from memlab.attention.softmax import CausalSelfAttention
from memlab.tasks import IGNORE, TaskBatch, mqar
from memlab.train import LMState, TinyLM, accuracy, train

__all__ = [
    "Prepared",
    "bits_curve",
    "budget_curves",
    "build_model",
    "evaluate",
    "old_needle_gap",
    "prepare",
    "run_with_weights",
    "train_mqar",
]


def build_model(vocab_size: int, d_model: int = 32, n_layers: int = 2, n_heads: int = 2,
                max_len: int = 64) -> TinyLM:
    """The chapter's tiny attention LM (token shift on, learned positions)."""
    return TinyLM(vocab_size, d_model, lambda d: CausalSelfAttention(d, n_heads=n_heads),
                  n_layers=n_layers, max_len=max_len, mlp_ratio=2, token_shift=True)


def train_mqar(seq_len: int = 64, n_pairs: int = 8, vocab_size: int = 128, d_model: int = 32,
               n_layers: int = 2, n_heads: int = 2, n_train: int = 8000, n_test: int = 500,
               steps: int = 300, batch_size: int = 64, lr: float = 3e-3, seed: int = 0,
               device="cpu", progress: bool = True):
    """Train the tiny model on MQAR; return ``(model, test_batch, train_result, full_acc)``."""
    torch.manual_seed(seed)
    data = mqar(n_train, seq_len, n_pairs, vocab_size, seed=seed)
    test = mqar(n_test, seq_len, n_pairs, vocab_size, seed=seed + 10_000)
    model = build_model(vocab_size, d_model, n_layers, n_heads, seq_len).to(device)
    res = train(model, data, steps=steps, batch_size=batch_size, lr=lr, seed=seed,
                progress=progress)
    return model, test, res, accuracy(model, test)


# ----------------------------------------------------------------------------- running the model
def run_with_weights(model: TinyLM, inputs: torch.Tensor, state: LMState | None = None):
    """Like ``model(inputs, state, return_states=True)`` but also returns each layer's
    attention weights ``[B, H, T, n_cache + T]``. Needs attention mixers."""
    st = state or LMState([None] * len(model.blocks), 0, None)
    x = model.embed_tokens(inputs, st.seen, st.last_token)
    caches, weights = [], []
    for block, s in zip(model.blocks, st.mixers):
        if not isinstance(block.mixer, CausalSelfAttention):
            raise TypeError("run_with_weights needs CausalSelfAttention mixers")
        y, s, w = block.mixer.attend(block.norm1(x), s, need_weights=True)
        x = x + y
        if block.mlp is not None:
            x = x + block.mlp(block.norm2(x))
        caches.append(s)
        weights.append(w)
    logits = model.head(model.norm(x))
    return logits, LMState(caches, st.seen + inputs.shape[1], inputs[:, -1]), weights


@dataclass
class Prepared:
    """Everything a policy may use, computed once for a batch (see the module docstring)."""

    model: TinyLM
    batch: TaskBatch
    n_ctx: int
    state: LMState                 # full caches after the context
    attn: list[torch.Tensor]       # per layer [B, H, n_ctx, n_ctx]
    probe: list[torch.Tensor]      # per layer [B, H, T_q, n_ctx]
    logp: torch.Tensor             # [B, n_ctx]

    def view(self, layer: int) -> CacheView:
        cache = self.state.mixers[layer]
        return CacheView(cache.pos, cache.seen, self.attn[layer], self.probe[layer], self.logp)


@torch.no_grad()
def prepare(model: TinyLM, batch: TaskBatch, n_ctx: int) -> Prepared:
    """Prefill ``inputs[:, :n_ctx]`` and probe the question ``inputs[:, n_ctx:]``."""
    if not 1 <= n_ctx < batch.seq_len:
        raise ValueError(f"n_ctx must be in [1, seq_len={batch.seq_len}), got {n_ctx}")
    model.eval()
    dev = next(model.parameters()).device
    inputs = batch.inputs.to(dev)
    logits, state, attn = run_with_weights(model, inputs[:, :n_ctx])
    logp_all = torch.log_softmax(logits.float(), -1)
    logp = torch.full(inputs[:, :n_ctx].shape, -float(torch.log(torch.tensor(model.vocab_size))),
                      device=dev)                               # first token: uniform
    logp[:, 1:] = logp_all[:, :-1].gather(-1, inputs[:, 1:n_ctx, None])[..., 0]
    _, _, probe = run_with_weights(model, inputs[:, n_ctx:], state)
    probe = [w[..., :n_ctx] for w in probe]
    return Prepared(model, batch, n_ctx, state, attn, probe, logp)


@torch.no_grad()
def evaluate(prep: Prepared, policy: str | Policy = "full", budget: int | None = None,
             bits: float | None = None, key_axis: str = "channel", value_axis: str = "token",
             layer_budget: list[int] | None = None) -> dict:
    """Compress the context cache with ``policy`` to ``budget`` entries per layer (CAKE: the
    same total ``budget * L``, split by layer preference; a layer's share above ``n_ctx`` is
    handed to the other layers), quantise to ``bits``, answer the question.

    Returns ``{"acc", "nll", "hits" [B, T_q], "mask" [B, T_q], "kept" (per layer [B, m]),
    "budgets", "numbers"}``: ``nll`` = mean -log p(answer) (nats), ``numbers`` = numbers kept
    per sequence over all layers.
    """
    pol = get_policy(policy)
    L, n_ctx = len(prep.state.mixers), prep.n_ctx
    budget = n_ctx if budget is None else budget
    if layer_budget is not None:
        budgets = [min(b, n_ctx) for b in layer_budget]
    elif pol.adaptive_layers and budget < n_ctx:
        # the same total as every other policy: a layer's share above n_ctx goes to the others
        budgets = layer_budgets(prep.probe, total=budget * L, tau1=pol.tau1, tau2=pol.tau2,
                                cap=n_ctx)
    else:
        budgets = [min(budget, n_ctx)] * L
    caches, kept = [], []
    for layer, cache in enumerate(prep.state.mixers):
        idx = keep_index(prep.view(layer), budgets[layer], pol)
        c = quantize_cache(cache.select(idx), bits, key_axis, value_axis)
        caches.append(c)
        kept.append(idx)
    st = replace(prep.state, mixers=caches)
    dev = next(prep.model.parameters()).device
    q_in = prep.batch.inputs[:, n_ctx:].to(dev)
    tgt = prep.batch.targets[:, n_ctx:].to(dev)
    logits = prep.model(q_in, st)
    mask = tgt != IGNORE
    hits = (logits.argmax(-1) == tgt) & mask
    acc = float(hits.sum()) / max(1, int(mask.sum()))
    logp = torch.log_softmax(logits.float(), -1).gather(-1, tgt.clamp_min(0)[..., None])[..., 0]
    nll = float(-(logp * mask).sum()) / max(1, int(mask.sum()))
    numbers = sum(c.numel() for c in caches)
    return {"acc": acc, "nll": nll, "hits": hits.cpu(), "mask": mask.cpu(),
            "kept": [k.cpu() for k in kept], "budgets": budgets, "numbers": numbers}


# ----------------------------------------------------------------------------- sweeps
def budget_curves(prep: Prepared, policies, budgets) -> dict[str, list[float]]:
    """Accuracy per policy (names or :class:`Policy` objects) at each per-layer budget."""
    return {get_policy(p).name: [evaluate(prep, p, b)["acc"] for b in budgets] for p in policies}


def bits_curve(prep: Prepared, bits_list, key_axis: str = "channel",
               value_axis: str = "token") -> list[float]:
    """Accuracy of the full cache quantised to each number of bits (``None`` = float)."""
    return [evaluate(prep, "full", None, b, key_axis, value_axis)["acc"] for b in bits_list]


def pair_age_mask(prep: Prepared, old: bool = True) -> torch.Tensor:
    """MQAR answers about the older half of the pairs (``old``) or the newer half."""
    qp = prep.batch.meta["query_pair"][:, prep.n_ctx:]
    n_pairs = prep.batch.meta["n_pairs"]
    return (qp >= 0) & ((qp < n_pairs // 2) if old else (qp >= n_pairs // 2))


def old_needle_gap(prep: Prepared, budget: int, aware: str | Policy = "query_aware",
                   recent: str | Policy = "sinks+window") -> dict:
    """Accuracy on answers about the *older* half of the MQAR pairs, query-aware vs recency.

    ``gap`` = aware minus the better of ``recent`` and the plain window."""
    old = pair_age_mask(prep, old=True)
    out = {}
    for pol in (aware, recent, "window"):
        r = evaluate(prep, pol, budget)
        out[get_policy(pol).name] = float((r["hits"] & old).sum()) / max(1, int(old.sum()))
    aware, recent = get_policy(aware).name, get_policy(recent).name
    out["gap"] = out[aware] - max(out[recent], out["window"])
    return out
