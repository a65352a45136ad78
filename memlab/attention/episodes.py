"""EpiCache-style episodic KV cache: one compressed cache per episode, one episode per question.

Paper: Kim et al., "EpiCache: Episodic KV Cache Management for Long Conversational Question
Answering" (2025). When the questions are not known at compression time, a single compressed
cache must guess what will be asked. EpiCache instead clusters the history into *episodes*,
compresses the cache once per episode (using the episode itself as the observation window, the
"patched prompt"), stores all of them, and answers each question from the one episode it is
routed to -- so the memory read per question stays at the budget ``B`` while ``E * B`` entries
are stored (offloaded, in the paper).

Glossary (paper -> variable)::

    segments          the context cut into pieces of seg_len tokens   segs   [B, S, seg_len]
    segment embedding mean token embedding of a segment (paper: a     emb    [B, S, d]
                      sentence encoder)
    episodes, E       k-means clusters of the segment embeddings      assign [B, S] in 0..E-1
    centroid c_e      mean embedding of an episode's segments          cent   [B, E, d]
    patched prompt    the episode's tokens, re-read after the context  (one probe of all tokens)
    episode cache     top-B entries by the patched prompt's attention  caches[e]
    routing           question -> argmax_e cos(embed(question), c_e)   route  [B, T_q]

Equations::

    s^e_i = sum_{tau in episode e} sum_heads A_{tau, i}      (score entry i for episode e)
    cache_e = top-B_i s^e_i                                  (per layer)
    e*(q)  = argmax_e cos(embed(q), c_e);   answer q from cache_{e*(q)}

Deviation: the paper's patched prompt is the episode's *medoid* segment; MQAR's random keys
share no topic, so here every segment of the episode is the patched prompt. Not included:
sensitivity-aware layer budgets, block-wise prefill, the sentence encoder.
"""

from __future__ import annotations

from dataclasses import replace

import torch

from memlab.attention.policies import CacheView, Policy, keep_index

__all__ = ["evaluate_episodic", "kmeans", "segment_embeddings"]


def segment_embeddings(model, tokens: torch.Tensor, seg_len: int) -> torch.Tensor:
    """Mean token embedding of each segment: ``tokens [B, n] -> [B, n // seg_len, d]``."""
    B, n = tokens.shape
    if seg_len < 1 or n % seg_len:
        raise ValueError(f"seg_len={seg_len} must divide the context length {n}")
    return model.embed(tokens).view(B, n // seg_len, seg_len, -1).mean(2)


def kmeans(x: torch.Tensor, k: int, iters: int = 10, seed: int = 0):
    """Batched spherical k-means: ``x [B, S, d] -> (assign [B, S], centroids [B, k, d])``."""
    B, S, _ = x.shape
    if not 1 <= k <= S:
        raise ValueError(f"need 1 <= k <= {S} segments, got k={k}")
    xn = torch.nn.functional.normalize(x, dim=-1)
    g = torch.Generator(device="cpu").manual_seed(seed)
    init = torch.argsort(torch.rand(B, S, generator=g), dim=1)[:, :k].to(x.device)
    cent = xn.gather(1, init[..., None].expand(-1, -1, x.shape[-1]))
    for _ in range(iters):
        assign = (xn @ cent.transpose(1, 2)).argmax(-1)                   # [B, S]
        onehot = torch.nn.functional.one_hot(assign, k).to(x.dtype)       # [B, S, k]
        summed = onehot.transpose(1, 2) @ xn                              # [B, k, d]
        empty = onehot.sum(1)[..., None] == 0
        cent = torch.where(empty, cent, torch.nn.functional.normalize(summed, dim=-1))
    return (xn @ cent.transpose(1, 2)).argmax(-1), cent


@torch.no_grad()
def evaluate_episodic(prep, n_episodes: int, budget: int, seg_len: int = 2,
                      seed: int = 0, router: str = "nearest") -> dict:
    """Accuracy when each question reads one of ``n_episodes`` caches of ``budget`` entries.

    ``router``: ``"nearest"`` (EpiCache: the episode whose centroid is closest to the question's
    embedding) or ``"random"`` (a uniformly random episode: the control, at chance).
    Returns ``{"acc", "routing_acc" (MQAR: routed to the episode holding the asked pair),
    "stored" (entries stored per layer, all episodes), "read" (entries read per question)}``.
    """
    if router not in ("nearest", "random"):
        raise ValueError(f"router must be 'nearest' or 'random', got {router!r}")
    from memlab.attention.experiments import run_with_weights

    model, batch, n_ctx = prep.model, prep.batch, prep.n_ctx
    dev = next(model.parameters()).device
    ctx = batch.inputs[:, :n_ctx].to(dev)
    emb = segment_embeddings(model, ctx, seg_len)                          # [B, S, d]
    assign, cent = kmeans(emb, n_episodes, seed=seed)
    tok_episode = assign.repeat_interleave(seg_len, dim=1)                 # [B, n_ctx]
    # patched prompt: every context token read again after the context, attention recorded
    _, _, self_attn = run_with_weights(model, ctx, prep.state)
    q_in = batch.inputs[:, n_ctx:].to(dev)
    q_emb = torch.nn.functional.normalize(model.embed(q_in), dim=-1)
    route = (q_emb @ cent.transpose(1, 2)).argmax(-1)                      # [B, T_q]
    if router == "random":
        g = torch.Generator(device="cpu").manual_seed(seed + 1)
        route = torch.randint(0, n_episodes, route.shape, generator=g).to(dev)
    logits = None
    for e in range(n_episodes):
        member = (tok_episode == e).to(self_attn[0].dtype)                  # [B, n_ctx] queries
        caches = []
        for layer, cache in enumerate(prep.state.mixers):
            a = self_attn[layer][..., :n_ctx]                               # [B, H, n_ctx, n_ctx]
            score = torch.einsum("bhqn,bq->bn", a, member)
            view = CacheView(cache.pos, cache.seen, probe=None)
            pol = Policy(f"episode{e}", lambda v, s=score: s)
            caches.append(cache.select(keep_index(view, min(budget, n_ctx), pol)))
        out = model(q_in, replace(prep.state, mixers=caches))
        if logits is None:
            logits = torch.zeros_like(out)
        logits = torch.where((route == e)[..., None], out, logits)
    tgt = batch.targets[:, n_ctx:].to(dev)
    mask = tgt != -100
    acc = float(((logits.argmax(-1) == tgt) & mask).sum()) / max(1, int(mask.sum()))
    result = {"acc": acc, "stored": n_episodes * min(budget, n_ctx), "read": min(budget, n_ctx)}
    if "query_pair" in batch.meta:
        qp = batch.meta["query_pair"][:, n_ctx:].to(dev)
        pair_episode = assign.gather(1, qp.clamp_min(0) * 2 // seg_len)
        result["routing_acc"] = float(((route == pair_episode) & mask).sum()) / max(1, int(mask.sum()))
    return result
