"""The experiments of chapter 04, as library functions (the notebook and the claim tests share them).

Untrained memories (a single matrix S written by a rule, then read with the stored keys):

- :func:`store` / :func:`recall`: write pairs with ``'linear'`` (Hebbian, S += k v^T) or
  ``'delta'`` (S += beta k (v - S^T k)^T), read ``v_hat = S^T k``.
- :func:`orthonormal_recall`: n <= d orthonormal keys -> both rules recall exactly.
- :func:`rewrite_recall`: a key written twice -> delta returns the new value, linear the sum.
- :func:`recall_error_curve`: mean relative recall error vs the number of random pairs.

Trained memories (tiny language models on multi-query associative recall, Zoology's MQAR):

- :func:`mqar_recall_vs_pairs`: train one TinyLM per mixer on a mixture of pair counts, test
  accuracy at each pair count; report each mixer's ``state_size()``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import pairwise

import numpy as np
import torch
import torch.nn.functional as F

from memlab.device import cpu_threads as threads_on_cpu
from memlab.fastweights.delta_rule import delta_rule_chunked
from memlab.fastweights.linear_attention import linear_attention_chunked

__all__ = [
    "MIXERS",
    "RULES",
    "error_vs_dk",
    "mixed_mqar",
    "mixer_factory",
    "mqar_recall_vs_pairs",
    "orthonormal_keys",
    "orthonormal_recall",
    "overwrite_recall",
    "powers_of_two",
    "random_unit_keys",
    "read_twice_ratio",
    "recall",
    "recall_error_curve",
    "relative_errors",
    "rewrite_recall",
    "store",
]

RULES = ("linear", "delta")


def _check_rule(rule):
    if rule not in RULES:
        raise ValueError(f"rule={rule!r} is not known; use one of {RULES}")


def store(keys: torch.Tensor, values: torch.Tensor, rule: str, beta: float = 1.0,
          passes: int = 1, S0: torch.Tensor | None = None) -> torch.Tensor:
    """Write pairs in order (``passes`` times) into a matrix memory; return ``S [d_k, d_v]``.

    keys ``[n, d_k]``, values ``[n, d_v]``; uses the raw kernels (chunked form, B = H = 1).
    """
    _check_rule(rule)
    if keys.dim() != 2 or values.dim() != 2 or keys.shape[0] != values.shape[0]:
        raise ValueError(f"keys [n, d_k] and values [n, d_v] must have the same n, got "
                         f"{tuple(keys.shape)} and {tuple(values.shape)}")
    if not isinstance(passes, int) or passes < 1:
        raise ValueError(f"passes must be a positive int, got {passes!r}")
    k = keys.repeat(passes, 1)[None, :, None]               # [1, passes * n, 1, d_k]
    v = values.repeat(passes, 1)[None, :, None]
    S0 = None if S0 is None else S0[None, None]
    if rule == "linear":
        _, S = linear_attention_chunked(k, k, v, S0)
    else:
        b = torch.full(k.shape[:3], float(beta), dtype=k.dtype, device=k.device)
        _, S = delta_rule_chunked(k, k, v, b, S0)
    return S[0, 0]


def recall(S: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
    """Read every key: ``v_hat_i = S^T k_i`` -> ``[n, d_v]``."""
    return keys @ S


def relative_errors(pred: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """Per pair ``||v_hat - v|| / ||v||`` -> ``[n]``."""
    return (pred - values).norm(dim=-1) / values.norm(dim=-1).clamp_min(1e-12)


def orthonormal_keys(n: int, d: int, generator: torch.Generator | None = None,
                     dtype=torch.float64) -> torch.Tensor:
    """n <= d orthonormal rows of length d (QR of a Gaussian matrix)."""
    if n > d:
        raise ValueError(f"at most d={d} orthonormal keys exist in {d} dimensions, asked n={n}")
    Q, _ = torch.linalg.qr(torch.randn(d, n, generator=generator, dtype=dtype))
    return Q.T.contiguous()


def random_unit_keys(n: int, d: int, generator: torch.Generator | None = None,
                     dtype=torch.float64) -> torch.Tensor:
    """n random keys on the unit sphere in d dimensions (any n)."""
    return F.normalize(torch.randn(n, d, generator=generator, dtype=dtype), dim=-1)


def orthonormal_recall(n: int, d: int, rule: str, seed: int = 0) -> float:
    """Worst relative recall error after storing n <= d orthonormal keys with random values."""
    g = torch.Generator().manual_seed(seed)
    keys = orthonormal_keys(n, d, g)
    values = torch.randn(n, d, generator=g, dtype=torch.float64)
    return float(relative_errors(recall(store(keys, values, rule), keys), values).max())


def overwrite_recall(n: int, d: int, rule: str, seed: int = 0, beta: float = 1.0) -> float:
    """Worst relative recall error after writing n <= d orthonormal pairs over a memory that
    already holds something (a random ``S0``, entries N(0, 1)).

    The delta rule with ``beta = 1`` erases what ``S0`` returns for each key before writing, so it
    recalls every new pair exactly whatever was there; linear attention returns ``v + S0^T k``.
    Unlike :func:`orthonormal_recall` (zero state: the erase term never acts, an identity that
    holds for both rules), this fails if the erase term is missing, halved or scaled.
    """
    g = torch.Generator().manual_seed(seed)
    keys = orthonormal_keys(n, d, g)
    values = torch.randn(n, d, generator=g, dtype=torch.float64)
    S0 = torch.randn(d, d, generator=g, dtype=torch.float64)
    return float(relative_errors(recall(store(keys, values, rule, beta, S0=S0), keys),
                                 values).max())


def rewrite_recall(d: int, n_other: int = 4, seed: int = 0) -> dict[str, float]:
    """Write (k, v_old), n_other other orthonormal pairs, then (k, v_new); read k.

    Returns relative errors of each rule's answer against ``v_new`` and against
    ``v_old + v_new``: delta should match v_new, linear attention the sum.
    """
    g = torch.Generator().manual_seed(seed)
    keys = orthonormal_keys(n_other + 1, d, g)
    k0 = keys[:1]
    v_old, v_new = torch.randn(2, 1, d, generator=g, dtype=torch.float64)
    others = torch.randn(n_other, d, generator=g, dtype=torch.float64)
    seq_k = torch.cat([k0, keys[1:], k0])
    seq_v = torch.cat([v_old, others, v_new])
    out = {}
    for rule in RULES:
        got = recall(store(seq_k, seq_v, rule), k0)
        out[f"{rule}_vs_new"] = float(relative_errors(got, v_new))
        out[f"{rule}_vs_sum"] = float(relative_errors(got, v_old + v_new))
    return out


def recall_error_curve(d: int, n_values: Sequence[int], rules: Sequence[str] = RULES,
                       n_seeds: int = 5, seed: int = 0, passes: int = 1,
                       beta: float = 1.0) -> dict:
    """Mean relative recall error vs the number n of stored random (unit-key) pairs.

    Returns ``{"n": [...], "mean": {rule: [...]}, "std": {rule: [...]}}`` (std over seeds).
    """
    mean = {r: [] for r in rules}
    std = {r: [] for r in rules}
    for n in n_values:
        per = {r: [] for r in rules}
        for s in range(n_seeds):
            g = torch.Generator().manual_seed(seed * 100_003 + s * 1_009 + n)
            keys = random_unit_keys(n, d, g)
            values = F.normalize(torch.randn(n, d, generator=g, dtype=torch.float64), dim=-1)
            for r in rules:
                err = relative_errors(recall(store(keys, values, r, beta, passes), keys), values)
                per[r].append(float(err.mean()))
        for r in rules:
            mean[r].append(float(np.mean(per[r])))
            std[r].append(float(np.std(per[r])))
    return {"n": list(n_values), "mean": mean, "std": std}


# ------------------------------------------------------------------ trained: MQAR
def mixed_mqar(n_per_config: int, seq_len: int, pairs: Sequence[int], vocab_size: int,
               seed: int = 0, random_non_queries: bool = True):
    """One MQAR training set mixing several pair counts (as Zoology trains), same seq_len."""
    from memlab.tasks import TaskBatch, mqar

    parts = [mqar(n_per_config, seq_len, p, vocab_size, seed=seed * 1000 + i,
                  random_non_queries=random_non_queries)
             for i, p in enumerate(pairs)]
    return TaskBatch(torch.cat([b.inputs for b in parts]), torch.cat([b.targets for b in parts]),
                     {"task": "mqar", "pairs": list(pairs)})


def mqar_recall_vs_pairs(mixers: dict[str, Callable], d_model: int, pairs: Sequence[int],
                         seq_len: int, vocab_size: int, n_train: int = 1000, n_test: int = 200,
                         steps: int = 300, batch_size: int = 64, lr: float = 3e-3,
                         n_layers: int = 1, seed: int = 0, device="cpu",
                         random_non_queries: bool = True, progress: bool = False,
                         cpu_threads: int | None = 1) -> dict:
    """Train one TinyLM per mixer on MQAR (all pair counts mixed), test at each pair count.

    ``mixers``: name -> factory ``d_model -> SequenceMemory``. The model gets learned positions
    and a token shift (the previous token's embedding; Zoology gives every mixer a short
    convolution for the same reason), so one layer suffices. Returns ``{"pairs", "accuracy":
    {name: [...]}, "state_size": {name: numbers per sequence, all layers}, "wall_s": {...}}``.

    ``cpu_threads``: torch threads while training on a CPU (restored afterwards). Tiny models
    gain nothing from intra-op threads, and two threads per process on a busy 2-core machine
    were measured 20x slower; ``None`` leaves the setting alone.
    """
    from memlab.tasks import mqar

    train_set = mixed_mqar(n_train, seq_len, pairs, vocab_size, seed=seed + 1,
                           random_non_queries=random_non_queries)
    tests = {p: mqar(n_test, seq_len, p, vocab_size, seed=10_000 + seed * 1000 + i,
                     random_non_queries=random_non_queries)
             for i, p in enumerate(pairs)}
    out = {"pairs": list(pairs), "accuracy": {}, "state_size": {}, "wall_s": {}, "loss": {}}
    with threads_on_cpu(cpu_threads or None, device):
        _train_each(mixers, out, train_set, tests, d_model, vocab_size, n_layers, seq_len, steps,
                    batch_size, lr, seed, device, progress)
    return out


def _train_each(mixers, out, train_set, tests, d_model, vocab_size, n_layers, seq_len, steps,
                batch_size, lr, seed, device, progress):
    from memlab.train import TinyLM, accuracy, train

    pairs = out["pairs"]
    for name, factory in mixers.items():
        torch.manual_seed(seed)
        model = TinyLM(vocab_size, d_model, factory, n_layers=n_layers, max_len=seq_len,
                       token_shift=True).to(device)
        res = train(model, train_set, steps=steps, batch_size=batch_size, lr=lr, seed=seed,
                    progress=progress)
        out["accuracy"][name] = [accuracy(model, tests[p]) for p in pairs]
        out["state_size"][name] = int(sum(m.state_size(seq_len) for m in model.mixers))
        out["wall_s"][name] = res.wall_s
        out["loss"][name] = res.final_loss


MIXERS = ("attention", "linear", "delta", "gated_delta", "mom")


def mixer_factory(name: str, n_heads: int = 1) -> Callable:
    """Factory ``d_model -> SequenceMemory`` for the MQAR comparison (no short conv: the TinyLM's
    token shift plays its part, so that ``state_size`` is the matrix memory alone)."""
    from memlab.attention.softmax import CausalSelfAttention
    from memlab.fastweights import DeltaNet, GatedDeltaNet, LinearAttention, MixtureOfMemories

    table = {
        "attention": lambda d: CausalSelfAttention(d, n_heads),
        "linear": lambda d: LinearAttention(d, n_heads, conv_size=0),
        "delta": lambda d: DeltaNet(d, n_heads, conv_size=0),
        "gated_delta": lambda d: GatedDeltaNet(d, n_heads, conv_size=0),
        "mom": lambda d: MixtureOfMemories(d, n_heads, n_memories=4, top_k=2, conv_size=0),
    }
    if name not in table:
        raise ValueError(f"mixer {name!r} is not known; use one of {MIXERS}")
    return table[name]


def powers_of_two(lo: int, hi: int) -> list[int]:
    """lo, 2 lo, 4 lo, ... up to hi (hi included when it is not a power of two)."""
    out, n = [], lo
    while n < hi:
        out.append(n)
        n *= 2
    return out + [hi]


def read_twice_ratio(d: int, n: int | None = None, n_seeds: int = 5, seed: int = 0) -> dict:
    """Untrained delta memory, n random pairs (default d/2) written once vs twice (the JRT idea:
    a second pass lets later writes repair what earlier ones disturbed). Returns the mean
    errors and their ratio (twice / once)."""
    n = n or max(1, d // 2)
    once = recall_error_curve(d, [n], ["delta"], n_seeds, seed, passes=1)["mean"]["delta"][0]
    twice = recall_error_curve(d, [n], ["delta"], n_seeds, seed, passes=2)["mean"]["delta"][0]
    return {"n": n, "once": once, "twice": twice, "ratio": twice / max(once, 1e-12)}


def error_vs_dk(n: int, dks: Sequence[int], rule: str = "linear", n_seeds: int = 5,
                seed: int = 0) -> dict:
    """Mean recall error of ``n`` random unit-key pairs in memories of key dimension d_k in
    ``dks`` (the state is d_k x d_k): the state-size axis of the recall-error curve.

    Returns ``{"dk", "mean", "falls"}``; ``falls`` is the fraction of consecutive d_k in which
    the error goes down (1.0 = a bigger state always recalls better).
    """
    mean = [recall_error_curve(d, [n], [rule], n_seeds, seed)["mean"][rule][0] for d in dks]
    falls = sum(b < a for a, b in pairwise(mean)) / max(len(mean) - 1, 1)
    return {"dk": list(dks), "mean": mean, "falls": falls}
