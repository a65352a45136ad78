"""KV-cache policies: which entries of the attention memory to keep under a budget.

A policy is a small *scoring function* over the cached entries (higher = keep) composed with a
budget: keep the top-``B`` entries, after protecting ``sinks`` first tokens and a ``recent``
window. Forgetting, for softmax attention, is eviction. What a score may look at is a
:class:`CacheView` of one layer:

    pos    [B, n]          original positions of the entries          (recency)
    attn   [B, H, Tc, n]   attention the context's own queries paid    (H2O, accumulated)
    probe  [B, H, Tq, n]   attention the *question* pays to them       (query-aware, CAKE)
    logp   [B, n]          log p(x_i | x_<i) of each token             (SirLLM entropy)

Scores, with the paper each comes from::

    recency             s_i = pos_i                                         (sliding window)
    sinks + window      recency with the first tokens kept   (Xiao et al., "Efficient Streaming
                        Language Models with Attention Sinks", 2023: StreamingLLM)
    accumulated (H2O)   s_i = sum_{tau, heads} A_{tau, i}, half the budget for recent tokens
                        (Zhang et al., "H2O: Heavy-Hitter Oracle", 2023)
    entropy (SirLLM)    s_i = -log p(x_i | x_<i) * delta^(age_i / turn_len)   (Yao et al.,
                        "SirLLM: Streaming Infinite Retentive LLM", 2024; delta decays old key
                        tokens each turn; sinks + recent window as in StreamingLLM)
    query-aware         s_i = sum_{question tau, heads} A_{tau, i}            (SnapKV-style:
                        Li et al. 2024, "SnapKV: LLM Knows What You are Looking for Before
                        Generation"; the observation window is the question). In chapter
                        03's MQAR every question token is itself the query that answers, so
                        this window is an *oracle*: stronger than SnapKV's window of the last
                        tokens of the prompt, which only predicts what generation will read.
    CAKE                s_i = mean_tau A_{tau,i} + gamma * var_tau A_{tau,i} over the question,
                        and per-layer budgets B_l ∝ P_l = H_l^(1/tau1) * V_l^(1/tau2)
                        (H_l: entropy of the layer's attention -- spatial dispersion; V_l:
                        variance of each entry's attention over the window -- temporal shift)
                        (Qin et al., "CAKE: Cascading and Adaptive KV Cache Eviction with Layer
                        Preferences", ICLR 2025)

Defaults, and where each number comes from (paper = the paper's text; code = its public code)::

    sinks + window  sinks=4          paper and code: StreamingLLM keeps 4 initial tokens
                                     (kvpress's StreamingLLMPress also uses n_sink=4)
    SirLLM          sinks=4          code: README runs use --start_size 4
                    recent=0         code: README runs use --recent_size 0 (all of the budget
                                     goes to token entropy)
                    delta=0.9        code: --decay_ratio 0.9 (rock-paper-scissors run; 0.7 for
                                     DailyDialog, 1.0 for grocery shopping: it is per task)
    CAKE            gamma=200        code: --gamma default of pred_cake.py
                    tau1=tau2=1      code: the fallback when no tuned value exists; the paper and
                                     its config tune tau1, tau2 per model and cache size
                                     (0.4 .. 2.3 in model2tau.json), so 1 is "no preference
                                     sharpening", not a recommended value
    H2O             recent half      paper: half heavy hitters, half recent tokens

:func:`sinks_window`, :func:`sirllm` and :func:`cake` build a policy with other values; a
chapter that needs different ones (chapter 03's context is only 16 tokens, where 4 sinks are a
quarter of it) sets them explicitly in its ``Params``.

Not included: per-head selection -- H2O, SnapKV and CAKE keep a different set of entries in
each head in their reference code; here scores are summed over heads and every head of a layer
keeps the same tokens (:meth:`KVCache.select` keeps whole tokens); per-head budgets (AdaKV),
SnapKV's 1-D pooling of scores, CAKE's cascading (progressive) eviction during prefill and its
per-model tuned tau1/tau2/gamma, H2O's eviction during generation (here every policy compresses
the cache once, after the context; see :mod:`memlab.attention.experiments`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

__all__ = [
    "POLICIES",
    "CacheView",
    "Policy",
    "accumulated_attention",
    "cake",
    "cake_score",
    "get_policy",
    "keep_index",
    "layer_budgets",
    "make_policies",
    "question_attention",
    "recency",
    "sinks_window",
    "sirllm",
    "token_entropy",
]


@dataclass
class CacheView:
    """What a scoring function may look at, for one layer (see the module docstring)."""

    pos: torch.Tensor
    seen: int
    attn: torch.Tensor | None = None
    probe: torch.Tensor | None = None
    logp: torch.Tensor | None = None

    def need(self, name: str, policy: str) -> torch.Tensor:
        t = getattr(self, name)
        if t is None:
            raise ValueError(f"policy {policy!r} needs view.{name}, which was not recorded")
        return t


# ----------------------------------------------------------------------------- scores
def recency(view: CacheView) -> torch.Tensor:
    """Newer is better: ``s_i = pos_i``."""
    return view.pos.float()


def accumulated_attention(view: CacheView) -> torch.Tensor:
    """H2O: total attention each entry received from the context's queries (all heads)."""
    return view.need("attn", "h2o").sum(dim=(1, 2))


def token_entropy(delta: float = 0.9, turn_len: int = 8) -> Callable[[CacheView], torch.Tensor]:
    """SirLLM: surprise ``-log p(x_i | x_<i)``, multiplied by ``delta`` per elapsed turn."""
    if not 0 < delta <= 1:
        raise ValueError(f"delta must be in (0, 1], got {delta}")

    def score(view: CacheView) -> torch.Tensor:
        age = (view.seen - 1 - view.pos.float()) / turn_len
        return -view.need("logp", "sirllm") * delta ** age
    return score


def question_attention(view: CacheView) -> torch.Tensor:
    """Query-aware: attention the question's tokens pay to each entry (summed over heads)."""
    return view.need("probe", "query_aware").sum(dim=(1, 2))


def cake_score(gamma: float = 200.0) -> Callable[[CacheView], torch.Tensor]:
    """CAKE's eviction indicator: mean + gamma * variance of attention over the window."""
    def score(view: CacheView) -> torch.Tensor:
        a = view.need("probe", "cake")                       # [B, H, Tq, n]
        var = a.var(dim=2, unbiased=False) if a.shape[2] > 1 else torch.zeros_like(a[:, :, 0])
        return (a.mean(dim=2) + gamma * var).sum(dim=1)
    return score


# ----------------------------------------------------------------------------- budget
@dataclass(frozen=True)
class Policy:
    """A scoring function + what is always kept: ``sinks`` first tokens, a recent window.

    ``recent`` counts entries; ``recent_frac`` (used when ``recent`` is None) is a fraction of
    the budget (H2O: half heavy hitters, half recent). ``score=None`` keeps everything.
    """

    name: str
    score: Callable[[CacheView], torch.Tensor] | None
    sinks: int = 0
    recent: int | None = None
    recent_frac: float = 0.0
    adaptive_layers: bool = False     # CAKE: split the total budget across layers
    tau1: float = 1.0                 # CAKE: sharpness of the layer preference (entropy)
    tau2: float = 1.0                 # CAKE: sharpness of the layer preference (variance)


def keep_index(view: CacheView, budget: int, policy: Policy) -> torch.Tensor:
    """Indices ``[B, m]`` (sorted by position) of the entries ``policy`` keeps; ``m=min(budget,n)``.

    Protected entries (sinks, recent window) rank first, then the policy's score; ties go to
    the newer entry. Fails clearly on a negative budget.
    """
    if not isinstance(budget, int) or budget < 0:
        raise ValueError(f"budget must be a non-negative int, got {budget!r}")
    B, n = view.pos.shape
    if policy.score is None or budget >= n:
        return torch.arange(n, device=view.pos.device).expand(B, n)
    s = policy.score(view).double()
    if s.shape != (B, n):
        raise ValueError(f"policy {policy.name!r} returned scores {tuple(s.shape)}, want {(B, n)}")
    # rank: protected first, then score, then recency (tiny tie-break)
    recent = policy.recent if policy.recent is not None else int(policy.recent_frac * budget)
    protected = (view.pos < policy.sinks) | (view.pos >= view.seen - recent)
    s = torch.where(torch.isfinite(s), s, torch.zeros_like(s))
    span = (s.max(dim=1, keepdim=True).values - s.min(dim=1, keepdim=True).values).clamp_min(1e-6)
    s = s + 1e-6 * span * view.pos.double() / max(1, view.seen)
    rank = s + protected.double() * (4 * span + s.abs().max(dim=1, keepdim=True).values + 1)
    idx = rank.topk(budget, dim=1).indices
    return idx.sort(dim=1).values


def layer_budgets(probes: list[torch.Tensor], total: int, tau1: float = 1.0,
                  tau2: float = 1.0, minimum: int = 1, cap: int | None = None) -> list[int]:
    """CAKE: split ``total`` entries over layers in proportion to ``P_l = H_l^(1/tau1) V_l^(1/tau2)``.

    ``probes[l]: [B, H, Tq, n]`` attention of the observation window in layer ``l``;
    ``H_l`` = mean entropy of its rows (how spread), ``V_l`` = mean over entries of the
    variance across the window (how much importance shifts). Rounds so the sum is ``total``.

    ``cap`` (the number of cached entries, ``n``): no layer can keep more than it has. A layer
    whose share exceeds ``cap`` is clipped and the excess goes to the layers still below
    ``cap`` (as CAKE's public ``adjust_budgets`` does), so the sum stays ``total`` -- and every
    policy is compared at the same total budget -- unless ``total > cap * L``.
    """
    if total < minimum * len(probes):
        raise ValueError(f"total budget {total} is below {minimum} entry per layer")
    if tau1 <= 0 or tau2 <= 0:
        raise ValueError(f"tau1 and tau2 must be > 0, got {tau1}, {tau2}")
    if cap is not None and cap < minimum:
        raise ValueError(f"cap={cap} is below the minimum of {minimum} entry per layer")
    prefs = []
    for a in probes:
        p = a.clamp_min(1e-12)
        H = -(p * p.log()).sum(-1).mean()
        V = a.var(dim=2, unbiased=False).sum(-1).mean() if a.shape[2] > 1 else a.new_tensor(1.0)
        prefs.append(float(H.clamp_min(1e-6) ** (1 / tau1) * V.clamp_min(1e-12) ** (1 / tau2)))
    share = torch.tensor(prefs) / sum(prefs) * (total - minimum * len(probes))
    out = [minimum + int(x) for x in share.floor()]
    for i in torch.argsort(-(share - share.floor())).tolist()[:total - sum(out)]:
        out[i] += 1
    if cap is not None:
        out = _redistribute(out, cap, prefs)
    return out


def _redistribute(budgets: list[int], cap: int, prefs: list[float]) -> list[int]:
    """Clip every budget to ``cap``; hand the excess, one entry at a time, to the layers below
    ``cap`` in order of preference (water filling), until none is left or all are full."""
    out = [min(b, cap) for b in budgets]
    excess = sum(budgets) - sum(out)
    order = sorted(range(len(out)), key=lambda i: -prefs[i])
    while excess > 0 and any(b < cap for b in out):
        for i in order:
            if excess and out[i] < cap:
                out[i] += 1
                excess -= 1
    return out


# ----------------------------------------------------------------------------- constructors
STREAMINGLLM_SINKS = 4      # paper and code (see the module docstring)
SIRLLM_SINKS, SIRLLM_RECENT, SIRLLM_DELTA = 4, 0, 0.9   # public code's README runs
CAKE_GAMMA, CAKE_TAU1, CAKE_TAU2 = 200.0, 1.0, 1.0      # public code's defaults / fallback


def sinks_window(sinks: int = STREAMINGLLM_SINKS) -> Policy:
    """StreamingLLM: the first ``sinks`` tokens plus the most recent ones."""
    if not isinstance(sinks, int) or sinks < 0:
        raise ValueError(f"sinks must be a non-negative int, got {sinks!r}")
    return Policy("sinks+window", recency, sinks=sinks)


def sirllm(sinks: int = SIRLLM_SINKS, recent: int = SIRLLM_RECENT, delta: float = SIRLLM_DELTA,
           turn_len: int = 8) -> Policy:
    """SirLLM: ``sinks`` first tokens, ``recent`` newest, the rest by decayed token entropy."""
    if not isinstance(sinks, int) or sinks < 0 or not isinstance(recent, int) or recent < 0:
        raise ValueError(f"sinks and recent must be non-negative ints, got {sinks!r}, {recent!r}")
    return Policy("sirllm", token_entropy(delta, turn_len), sinks=sinks, recent=recent)


def cake(gamma: float = CAKE_GAMMA, tau1: float = CAKE_TAU1, tau2: float = CAKE_TAU2) -> Policy:
    """CAKE: mean + gamma * variance scores, per-layer budgets by ``H^(1/tau1) V^(1/tau2)``."""
    if gamma < 0 or tau1 <= 0 or tau2 <= 0:
        raise ValueError(f"need gamma >= 0 and tau1, tau2 > 0, got {gamma}, {tau1}, {tau2}")
    return Policy("cake", cake_score(gamma), adaptive_layers=True, tau1=tau1, tau2=tau2)


POLICIES: dict[str, Policy] = {
    "full": Policy("full", None),
    "window": Policy("window", recency),
    "sinks+window": sinks_window(),
    "h2o": Policy("h2o", accumulated_attention, recent_frac=0.5),
    "sirllm": sirllm(),
    "query_aware": Policy("query_aware", question_attention),
    "cake": cake(),
}


def make_policies(sinks: int | None = None) -> dict[str, Policy]:
    """:data:`POLICIES`, with ``sinks`` sink tokens for sinks+window and SirLLM when given."""
    if sinks is None:
        return dict(POLICIES)
    return {**POLICIES, "sinks+window": sinks_window(sinks), "sirllm": sirllm(sinks=sinks)}


def get_policy(name: str | Policy) -> Policy:
    if isinstance(name, Policy):
        return name
    if name not in POLICIES:
        raise ValueError(f"unknown policy {name!r}; known: {', '.join(POLICIES)}")
    return POLICIES[name]
