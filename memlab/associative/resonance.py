"""Synaptic Resonance as relevance-gated Hebbian fast weights (OUR INTERPRETATION).

Paper: "Exploring Synaptic Resonance in Large Language Models: A Novel Approach to Contextual
Memory Integration" (2025; in all five seed listings). Its abstract describes a mechanism that
"continuously adjusts synaptic weight matrices based on contextual relevance" and "dynamically
reinforce[s] relevant memory pathways", with no equation, no number and no public code. This
file is **our interpretation**, not the paper's code: a Hebbian outer-product memory between
consecutive states whose learning rate is gated by a relevance signal ``r_t`` (the rule our
seeds catalogue proposes), with weight decay as forgetting::

    r_t   = sigmoid(beta * (cos(h_t, c) - theta))                    relevance to the context c
    dW_t  = eta * r_t * h_t h_{t-1}^T  -  lambda * W_{t-1}            the write (one token)
    W_t   = W_{t-1} + dW_t
          = (1 - lambda)^t W_0 + sum_{s<=t} (1 - lambda)^(t-s) eta r_s h_s h_{s-1}^T   (closed form)
    read: v_hat = W q   (q = a cue h_{t-1});  clean-up: argmax_j <v_j, v_hat> over candidates

Glossary (symbol -> variable)::

    h_t [d]          state (token representation) at time t        h[..., t, :]
    h_{t-1}          the previous state (carried across writes)    h_prev
    W [d, d]         the fast (synaptic) weights                   W
    eta, lambda      learning rate, decay per token                eta, lam
    r_t in [0, 1]    relevance gate ("resonance" with the context)  r
    c [d]            the current context / task direction           context
    beta, theta      sharpness and threshold of the gate            beta, theta

The negative control keeps everything and sets ``r_t`` to a constant (the mean of the gated
``r`` over the stream, so both arms spend the same total plasticity): plain Hebbian learning.

Defaults (``eta = 1``, ``lambda = 1e-3``, ``beta = 20``, ``theta = 0.3``) are ours: the paper
gives none. Not included: the paper's integration into a transformer LM (where W would sit
beside attention and ``r_t`` would be learned), perplexity / coherence evaluations.
"""

from __future__ import annotations

import torch

from memlab.memory import check_shape

__all__ = ["SynapticResonance", "hebbian_step", "relevance", "resonance_weights"]


def relevance(h: torch.Tensor, context: torch.Tensor, beta: float = 20.0,
              theta: float = 0.3) -> torch.Tensor:
    """``r_t = sigmoid(beta (cos(h_t, c) - theta))`` for ``h [..., T, d]``, ``c [d]`` -> ``[..., T]``."""
    if beta <= 0:
        raise ValueError(f"beta={beta} must be > 0 (the sharpness of the relevance gate)")
    if context.shape != h.shape[-1:]:
        raise ValueError(f"context has shape {tuple(context.shape)}, expected ({h.shape[-1]},)")
    cos = torch.nn.functional.cosine_similarity(h, context.expand_as(h), dim=-1)
    return torch.sigmoid(beta * (cos - theta))


def hebbian_step(W: torch.Tensor, h_t: torch.Tensor, h_prev: torch.Tensor, r_t: torch.Tensor,
                 eta: float, lam: float) -> torch.Tensor:
    """One write: ``W + eta r_t h_t h_{t-1}^T - lam W`` (batched: ``W [b, d, d]``, ``h [b, d]``)."""
    return W + eta * r_t[:, None, None] * h_t[:, :, None] * h_prev[:, None, :] - lam * W


def resonance_weights(h: torch.Tensor, r: torch.Tensor, h_prev: torch.Tensor,
                      W0: torch.Tensor, eta: float, lam: float) -> torch.Tensor:
    """Closed form of ``T`` writes at once (the fast form): ``h [b, T, d]``, ``r [b, T]``."""
    T = h.shape[1]
    prev = torch.cat([h_prev[:, None], h[:, :-1]], dim=1)                  # h_{t-1}
    age = torch.arange(T - 1, -1, -1, device=h.device, dtype=h.dtype)     # T - t
    w = eta * r * (1.0 - lam) ** age                                      # [b, T]
    return (1.0 - lam) ** T * W0 + torch.einsum("bt,bti,btj->bij", w, h, prev)


class SynapticResonance:
    """Relevance-gated Hebbian fast weights, a ``Memory`` (write / read / forget / reset).

    ``write(h, r)`` stores the transitions of ``h [batch, T, d]`` (or ``[T, d]``) with
    relevances ``r [batch, T]`` (``None``: ``r_t = 1``, ungated); the last state is kept, so
    writing a stream in chunks equals writing it at once. ``form="loop"`` is the naive
    recurrence, ``"closed"`` the closed form (equal, tested).
    """

    def __init__(self, d: int, eta: float = 1.0, lam: float = 1e-3, batch: int = 1,
                 form: str = "closed", dtype: torch.dtype = torch.float64, device="cpu"):
        if d < 1:
            raise ValueError(f"d={d} must be >= 1")
        if eta <= 0:
            raise ValueError(f"eta={eta} must be > 0")
        if not 0.0 <= lam < 1.0:
            raise ValueError(f"lam={lam} must be in [0, 1) (decay per token)")
        if form not in ("closed", "loop"):
            raise ValueError(f"form={form!r} is not allowed: use 'closed' or 'loop'")
        self.d, self.eta, self.lam, self.form, self.batch = d, eta, lam, form, batch
        self.dtype, self.device = dtype, device
        self.reset()

    def reset(self) -> None:
        self.W = torch.zeros(self.batch, self.d, self.d, dtype=self.dtype, device=self.device)
        self.h_prev = torch.zeros(self.batch, self.d, dtype=self.dtype, device=self.device)

    def state_size(self) -> int:
        """``d^2`` weights + ``d`` for the carried previous state (per sequence)."""
        return self.d * self.d + self.d

    def write(self, h: torch.Tensor, r: torch.Tensor | None = None) -> None:
        if h.ndim == 2:
            h = h[None]
            r = None if r is None else r.reshape(1, -1)
        check_shape(h, "h", ndim=3, last=self.d)
        if h.shape[0] != self.batch:
            raise ValueError(f"h has batch {h.shape[0]}, this memory holds batch={self.batch}")
        h = h.to(self.dtype)
        r = torch.ones(h.shape[:2], dtype=h.dtype, device=h.device) if r is None else r.to(h.dtype)
        if r.shape != h.shape[:2]:
            raise ValueError(f"r has shape {tuple(r.shape)}, expected {tuple(h.shape[:2])}")
        if bool(((r < 0) | (r > 1)).any()):
            raise ValueError("r (relevance) must lie in [0, 1]")
        if self.form == "loop":
            W = self.W
            for t in range(h.shape[1]):
                prev = self.h_prev if t == 0 else h[:, t - 1]
                W = hebbian_step(W, h[:, t], prev, r[:, t], self.eta, self.lam)
            self.W = W
        else:
            self.W = resonance_weights(h, r, self.h_prev, self.W, self.eta, self.lam)
        self.h_prev = h[:, -1]

    def read(self, query: torch.Tensor, candidates: torch.Tensor | None = None):
        """``W q`` for ``query [batch, n, d]``; with ``candidates [m, d]`` the index of the
        best-matching candidate (clean-up) ``[batch, n]``."""
        if query.ndim == 2:
            query = query[None].expand(self.batch, -1, -1)
        check_shape(query, "query", ndim=3, last=self.d)
        v = torch.einsum("bij,bnj->bni", self.W, query.to(self.dtype))
        if candidates is None:
            return v
        check_shape(candidates, "candidates", ndim=2, last=self.d)
        return (v @ candidates.to(self.dtype).T).argmax(-1)

    def forget(self, steps: int = 1) -> None:
        """Decay without writing: ``W <- (1 - lambda)^steps W``."""
        self.W = (1.0 - self.lam) ** steps * self.W


# ------------------------------------------------------------------------------ experiment
def _unit(g: torch.Generator, n: int, d: int) -> torch.Tensor:
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    return x / x.norm(dim=-1, keepdim=True)


def interference_stream(n_pairs: int = 16, n_filler: int = 1000, d: int = 64, seed: int = 0):
    """A stream where every cue ``a_i`` is followed once by its task-relevant target ``b_i``
    (in context: ``b_i = unit(z_i + c)``) and once by an irrelevant target ``x_i`` (out of
    context), the ``2 n_pairs`` pairs in random order among ``n_filler`` random filler states.

    Returns ``{"h": [1, T, d], "a", "b", "x": [n_pairs, d], "context": [d]}``.
    """
    if n_pairs < 1 or n_filler < 0 or d < 2:
        raise ValueError(f"need n_pairs >= 1, n_filler >= 0, d >= 2; got {n_pairs}, {n_filler}, {d}")
    g = torch.Generator().manual_seed(seed)
    c = _unit(g, 1, d)[0]
    a, x, z, f = (_unit(g, n, d) for n in (n_pairs, n_pairs, n_pairs, max(n_filler, 1)))
    b = (z + c) / (z + c).norm(dim=-1, keepdim=True)
    blocks = [torch.stack([a[i], b[i]]) for i in range(n_pairs)]
    blocks += [torch.stack([a[i], x[i]]) for i in range(n_pairs)]
    order = torch.randperm(len(blocks), generator=g).tolist()
    # filler split into len(blocks) + 1 random gaps
    cuts = torch.sort(torch.randint(0, n_filler + 1, (len(blocks),), generator=g)).values.tolist()
    pieces, last = [], 0
    for k, cut in zip(order, cuts):
        pieces += [f[last:cut], blocks[k]]
        last = cut
    pieces.append(f[last:n_filler])
    return {"h": torch.cat(pieces)[None], "a": a, "b": b, "x": x, "context": c}


def resonance_recall(n_pairs: int = 16, n_filler: int = 1000, d: int = 64, seed: int = 0,
                     eta: float = 1.0, lam: float = 1e-3, beta: float = 20.0,
                     theta: float = 0.3) -> dict:
    """Recall of the relevant target ``b_i`` from the cue ``a_i`` (clean-up among all ``b``
    and ``x``), gated (``r_t`` from the context) vs the control (``r_t`` = the same mean,
    constant). Returns ``{"gated", "constant", "mean_r", "chance"}``."""
    s = interference_stream(n_pairs, n_filler, d, seed)
    r = relevance(s["h"], s["context"], beta, theta)
    cands = torch.cat([s["b"], s["x"]])
    out = {"mean_r": float(r.mean()), "chance": 1.0 / len(cands)}
    for arm, rr in (("gated", r), ("constant", torch.full_like(r, float(r.mean())))):
        mem = SynapticResonance(d, eta=eta, lam=lam)
        mem.write(s["h"], rr)
        pick = mem.read(s["a"], cands)[0]
        out[arm] = float((pick == torch.arange(n_pairs)).to(torch.float64).mean())
    return out
