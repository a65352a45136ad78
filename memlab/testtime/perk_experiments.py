"""Chapter 06's PERK experiment: a fact hidden in noise, answered from the adapter or in context.

Vocabulary: 0 = BOS, 1 = Q (question marker), then ``n_keys`` keys, ``n_values`` values and
``n_noise`` noise tokens. A context is ``ctx_len`` noise tokens with one fact "key value" at
position ``p``; the question is "Q key", the answer the value.

- ``pretrain_base``: the base LM learns the contexts' statistics (causal LM on contexts with
  facts anywhere); it is then frozen.
- ``train_icr``: the in-context reader (the paper's FT-ICR baseline): the base LM fine-tuned on
  "context Q key -> value", with needles only in the *first* ``train_frac`` of the context.
- ``meta_train``: PERK's outer loop (first-order MAML) on the same needles, learning phi_0.
- ``accuracy_by_position``: both answered at needle positions across the whole context.
"""

from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from memlab.testtime.perk import Adapter, TinyLM, inner_loop


@dataclass(frozen=True)
class FactTask:
    n_keys: int = 16
    n_values: int = 16
    n_noise: int = 32
    ctx_len: int = 16

    def __post_init__(self):
        if min(self.n_keys, self.n_values, self.n_noise) < 1 or self.ctx_len < 4:
            raise ValueError(f"FactTask sizes must be >= 1 (ctx_len >= 4), got {self}")

    @property
    def vocab(self) -> int:
        return 2 + self.n_keys + self.n_values + self.n_noise

    def sample(self, batch: int, lo: int, hi: int, g: torch.Generator):
        """Contexts ``[batch, ctx_len]``, questions ``[batch, 2]``, answers ``[batch]``, needle
        positions ``[batch]`` (the key's index, drawn in [lo, hi))."""
        if not 0 <= lo < hi <= self.ctx_len - 1:
            raise ValueError(f"needle range [{lo}, {hi}) must lie in [0, {self.ctx_len - 1})")
        k0, v0 = 2, 2 + self.n_keys
        n0 = v0 + self.n_values
        ctx = torch.randint(n0, n0 + self.n_noise, (batch, self.ctx_len), generator=g)
        key = torch.randint(k0, v0, (batch,), generator=g)
        val = torch.randint(v0, n0, (batch,), generator=g)
        pos = torch.randint(lo, hi, (batch,), generator=g)
        ar = torch.arange(batch)
        ctx[ar, pos], ctx[ar, pos + 1] = key, val
        q = torch.stack([torch.ones_like(key), key], 1)
        return ctx, q, val, pos


@dataclass(frozen=True)
class PerkConfig:
    """The chapter's full-profile sizes (about a minute or two on one CPU thread)."""
    d_model: int = 32
    n_layers: int = 1
    rank: int = 4
    seg_len: int = 8
    inner_steps: int = 4
    inner_lr: float = 0.1
    pre_steps: int = 200
    icr_steps: int = 150
    meta_steps: int = 600
    batch: int = 32
    train_frac: float = 0.5


class _Adam:
    """Adam (Kingma & Ba 2015, beta = (0.9, 0.999), eps = 1e-8) in a few lines: torch.optim's
    first step imports torch._dynamo, several seconds on a CPU, for these tiny models."""

    def __init__(self, params, lr, betas=(0.9, 0.999), eps=1e-8):
        self.params, self.lr, self.betas, self.eps, self.t = list(params), lr, betas, eps, 0
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self):
        self.t += 1
        b1, b2 = self.betas
        for p, m, v in zip(self.params, self.m, self.v):
            if p.grad is None:
                continue
            m.mul_(b1).add_(p.grad, alpha=1 - b1)
            v.mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
            mh, vh = m / (1 - b1 ** self.t), v / (1 - b2 ** self.t)
            p.sub_(self.lr * mh / (vh.sqrt() + self.eps))


def _adam(params, lr):
    return _Adam(params, lr)


def pretrain_base(task: FactTask, cfg: PerkConfig, seed: int = 0) -> TinyLM:
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = TinyLM(task.vocab, cfg.d_model, cfg.n_layers, max_len=task.ctx_len + 2, rank=cfg.rank)
    opt = _adam(model.parameters(), 3e-3)
    for _ in range(cfg.pre_steps):
        ctx, _, _, _ = task.sample(cfg.batch, 0, task.ctx_len - 1, g)
        loss = F.cross_entropy(model(ctx[:, :-1]).reshape(-1, task.vocab), ctx[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.requires_grad_(False)
    return model


def _needle_hi(task: FactTask, cfg: PerkConfig) -> int:
    return max(1, int(cfg.train_frac * (task.ctx_len - 1)))


def train_icr(base: TinyLM, task: FactTask, cfg: PerkConfig, seed: int = 0) -> TinyLM:
    """FT-ICR: all weights fine-tuned to answer with the context in the window."""
    g = torch.Generator().manual_seed(seed + 1)
    model = copy.deepcopy(base).requires_grad_(True)
    opt = _adam(model.parameters(), 3e-3)
    for _ in range(cfg.icr_steps):
        ctx, q, ans, _ = task.sample(cfg.batch, 0, _needle_hi(task, cfg), g)
        loss = F.cross_entropy(model(torch.cat([ctx, q], 1))[:, -1], ans)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.requires_grad_(False)


def meta_train(base: TinyLM, task: FactTask, cfg: PerkConfig, seed: int = 0,
               first_order: bool = True) -> Adapter:
    """PERK's outer loop, first-order: phi_0 moves along the QA gradient taken at phi_K."""
    g = torch.Generator().manual_seed(seed + 2)
    phi0 = base.init_adapter(torch.Generator().manual_seed(seed + 3))
    ts = [t.requires_grad_(True) for t in phi0.tensors()]
    opt = _adam(ts, 3e-3)
    for _ in range(cfg.meta_steps):
        ctx, q, ans, _ = task.sample(cfg.batch, 0, _needle_hi(task, cfg), g)
        phiK = inner_loop(base, ctx, Adapter.from_tensors([t.detach() for t in ts]),
                          cfg.inner_steps, cfg.inner_lr, cfg.seg_len)
        kt = [t.requires_grad_(True) for t in phiK.tensors()]
        loss = F.cross_entropy(base(q, Adapter.from_tensors(kt))[:, -1], ans)
        grads = torch.autograd.grad(loss * q.shape[0], kt)          # per-example gradients
        for t, gr in zip(ts, grads):
            t.grad = gr.mean(0, keepdim=True)                        # FOMAML: average over tasks
        opt.step()
    return Adapter.from_tensors([t.detach() for t in ts])


def accuracy_by_position(base, icr, phi0, task: FactTask, cfg: PerkConfig, n_bins: int = 4,
                         n: int = 64, seed: int = 100) -> dict:
    """Accuracy of PERK (adapter only) and of the in-context reader, needles in each bin."""
    g = torch.Generator().manual_seed(seed)
    edges = torch.linspace(0, task.ctx_len - 1, n_bins + 1).round().long().tolist()
    out = {"edges": edges, "perk": [], "icr": [], "train_hi": _needle_hi(task, cfg)}
    for lo, hi in itertools.pairwise(edges):
        ctx, q, ans, _ = task.sample(n, lo, hi, g)
        phiK = inner_loop(base, ctx, phi0, cfg.inner_steps, cfg.inner_lr, cfg.seg_len)
        with torch.no_grad():
            out["perk"].append(float((base(q, phiK)[:, -1].argmax(-1) == ans).float().mean()))
            out["icr"].append(float((icr(torch.cat([ctx, q], 1))[:, -1].argmax(-1) == ans)
                                    .float().mean()))
    return out


def perk_experiment(task: FactTask | None = None, cfg: PerkConfig | None = None, seed: int = 0,
                    n_bins: int = 4, n_eval: int = 64) -> dict:
    """Accuracy by needle position of PERK (meta-learned phi_0), of the same inner loop from
    LoRA's plain initialisation ("perk_plain"), and of the in-context reader; with summaries."""
    task, cfg = task or FactTask(), cfg or PerkConfig()
    base = pretrain_base(task, cfg, seed)
    icr = train_icr(base, task, cfg, seed)
    phi0 = meta_train(base, task, cfg, seed)
    r = accuracy_by_position(base, icr, phi0, task, cfg, n_bins, n_eval, seed + 100)
    plain = base.init_adapter(torch.Generator().manual_seed(seed + 3))
    r["perk_plain"] = accuracy_by_position(base, icr, plain, task, cfg, n_bins, n_eval,
                                           seed + 100)["perk"]
    r["chance"] = 1.0 / task.n_values
    r["meta_gain"] = sum(r["perk"]) / n_bins - sum(r["perk_plain"]) / n_bins
    half = n_bins // 2
    r["perk_min"], r["icr_min"] = min(r["perk"]), min(r["icr"])
    r["perk_unseen"] = sum(r["perk"][half:]) / (n_bins - half)
    r["icr_unseen"] = sum(r["icr"][half:]) / (n_bins - half)
    r["robustness_gain"] = r["perk_min"] - r["icr_min"]
    return r


# --------------------------------------------------------------------------- small checks
WRITE_CFG = PerkConfig(pre_steps=40, batch=16)      # the base LM of the write claim


def write_loss_ratio(seed: int = 0, steps: int = 16, lr: float = 0.01, batch: int = 16,
                     base: TinyLM | None = None) -> float:
    """L_LM of the context after ``steps`` small inner steps / before (plain LoRA init, a base
    LM pretrained for 40 steps, ``pretrain_base(FactTask(), WRITE_CFG, seed)`` unless given):
    below 1 when the write stores the context."""
    from memlab.testtime.perk import lm_segments
    task, cfg = FactTask(), WRITE_CFG
    base = pretrain_base(task, cfg, seed) if base is None else base
    ctx, _, _, _ = task.sample(batch, 0, task.ctx_len - 1, torch.Generator().manual_seed(seed))
    phi = base.init_adapter(torch.Generator().manual_seed(seed + 3))
    phiK = inner_loop(base, ctx, phi, steps, lr, cfg.seg_len)
    with torch.no_grad():
        before = lm_segments(base, ctx, Adapter([a.expand(batch, -1, -1) for a in phi.A],
                                               [b.expand(batch, -1, -1) for b in phi.B]), cfg.seg_len)
        return float(lm_segments(base, ctx, phiK, cfg.seg_len).mean() / before.mean())


def _random_lm(seed=0, rank=2):
    torch.manual_seed(seed)
    m = TinyLM(FactTask().vocab, 16, 1, max_len=16, rank=rank).double().requires_grad_(False)
    g = torch.Generator().manual_seed(seed)
    phi = m.init_adapter(g)
    phi = Adapter([a.double() for a in phi.A],
                  [torch.randn(b.shape, generator=g, dtype=torch.float64) * 0.1 for b in phi.B])
    return m, phi


def inner_loop_rel_err(seed: int = 0) -> float:
    """Batched inner loop vs the per-example, per-segment loop (float64, random adapter)."""
    from memlab.testtime import perk as P
    m, phi = _random_lm(seed)
    ctx, _, _, _ = FactTask().sample(3, 0, 15, torch.Generator().manual_seed(seed))
    a = P.inner_loop(m, ctx, phi, 2, 0.05, 8)
    b = P.inner_loop_naive(m, ctx, phi, 2, 0.05, 8)
    return max(float((x - y).norm() / y.norm()) for x, y in zip(a.tensors(), b.tensors()))


def identity_at_init_err(seed: int = 0) -> float:
    """LoRA's init (B = 0) leaves the base LM unchanged: max |logits(phi_0) - logits|."""
    torch.manual_seed(seed)
    m = TinyLM(FactTask().vocab, 16, 1, max_len=16, rank=2).requires_grad_(False)
    phi = m.init_adapter(torch.Generator().manual_seed(seed))
    tok = torch.randint(0, m.vocab, (2, 10), generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        return float((m(tok, phi.repeat(2)) - m(tok)).abs().max())


def lora_hand_err() -> float:
    """W x + (s / r) B A x by hand: W = [[1,0],[0,1],[1,1]], x = [1,2], A = [[1,1],[1,0]]
    (A x = [3, 1]), B = [[1,0],[0,1],[2,0]] (B A x = [3, 1, 6]), s = 2, r = 2
    -> [1, 2, 3] + [3, 1, 6] = [4, 3, 9]."""
    m = TinyLM(8, 2, 1, n_heads=1, max_len=4, rank=2, lora_scale=2.0).double()
    lin = torch.nn.Linear(2, 3).double()
    t = lambda x: torch.tensor([x], dtype=torch.float64)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
        lin.bias.zero_()
        y = m._lin(t([[1.0, 2.0]]), lin, t([[1.0, 1.0], [1.0, 0.0]]),
                   t([[1.0, 0.0], [0.0, 1.0], [2.0, 0.0]]))
    return float((y[0, 0] - torch.tensor([4.0, 3.0, 9.0], dtype=torch.float64)).abs().max())


def uncovered_bigrams(L: int = 16, seg_len: int = 8) -> int:
    """Neighbouring pairs (i, i+1) of a context that lie in no segment (must be 0)."""
    from memlab.testtime import perk as P
    seg = P.segments(torch.arange(L)[None], seg_len)[0]
    pairs = {(int(s[j]), int(s[j + 1])) for s in seg for j in range(seg_len - 1)}
    return sum((i, i + 1) not in pairs for i in range(L - 1))
