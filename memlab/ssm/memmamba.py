"""MemMamba: Mamba's exponential memory decay (the diagnosis) and state-summary notes (the fix).

Paper: Wang et al., "MemMamba: Rethinking Memory Patterns in State Space Model" (2025,
arXiv:2510.03279). The diagnosis: in a selective SSM the contribution of token ``s`` to the
state at ``t`` is a product of per-step decays, so it fades exponentially with the distance::

    h_t = exp(Delta_t A) h_{t-1} + Delta_t B_t x_t
    =>  dh_t / dx_s = (prod_{r=s+1..t} exp(Delta_r A)) Delta_s B_s      (|.| ~ exp(-|A| Delta t-s))

The paper measures the loss with token-level memory-fidelity metrics; our probe is the same
idea in its simplest form, the attribution ``a(s) = || d y_T / d x_s ||`` of each input token to
the last output (autograd through :class:`memlab.ssm.mamba.Mamba`), read against ``T - s``.

The fix: a *note block*. A token whose salience score passes a threshold writes a compressed
summary (a note) into a small pool; every token reads the pool with cross-token attention, and
the read is added to the Mamba output::

    s_t   = sigmoid(w_s . x_t + b_s)                       salience (the paper: a learned scorer)
    if s_t > tau:  pool <- insert(n_t = W_n x_t)           note (summary), pool of K slots
    a_t   = softmax(q_t K^T / sqrt(d_n)) V,  q_t = W_q x_t,  K = pool W_k,  V = pool W_v
    y_t   = Mamba(x)_t + W_o a_t                           (a token reads the notes BEFORE its own)

When the pool is full a new note replaces the lowest-priority slot: ``policy="priority"``
(priority = salience; replace only a strictly lower one, as a public reimplementation
describes the paper's pool) or ``"fifo"`` (priority = arrival time: the oldest note leaves).

Glossary (symbol -> variable)::

    x_t [d_model]      token input                         x[:, t]
    s_t, tau           salience score, write threshold      score, tau
    n_t [d_note]       the note (state summary)            W_n(x_t)
    K (slots)          pool capacity                       pool_size
    q, K, V            cross-token attention                W_q, W_k, W_v; W_o back to d_model

Defaults: ``pool_size = 50`` and ``d_note = 64`` (capped at ``d_model``) follow a public
reimplementation's reading of the paper (align-mamba's ``MemMambaBlock``; the official code is
not public to us), ``tau = 0.5``. State: ``(mamba_state, notes [b, K, d_note], prio [b, K],
clock [b])`` (``prio = -inf`` marks an empty slot), carried across chunks; each note is kept
as its attention key and value (``W_k n_t``, ``W_v n_t``, the same numbers as projecting the
pool at every read, computed once: ``notes [b, K, 2 d_note]``).

Not included: cross-LAYER attention (the paper's vertical path, every p layers: one layer
here), the paper's fidelity metrics (ETMF / ECLMF) beyond the attribution probe, training.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from memlab.memory import SequenceMemory, check_shape
from memlab.ssm.mamba import Mamba

__all__ = ["MemMamba", "attribution", "attribution_ratio", "insert_note", "passkey_curve",
           "read_notes"]


def attribution(mixer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The probe: ``a[b, s] = || d y[b, T-1] / d x[b, s] ||`` for ``x [b, T, d]`` (``mixer(x)
    -> (y, state)``). A token's influence on the last output, against its distance ``T-1-s``."""
    check_shape(x, "x", ndim=3)
    x = x.detach().requires_grad_(True)
    y, _ = mixer(x)
    rows = []
    for j in range(y.shape[-1]):                 # d_model backward passes: exact Jacobian norm
        (g,) = torch.autograd.grad(y[:, -1, j].sum(), x, retain_graph=j < y.shape[-1] - 1)
        rows.append(g)
    return torch.stack(rows).pow(2).sum(dim=(0, 3)).sqrt()


def insert_note(slots, prio, new, p, write):
    """Write ``new`` (a tuple of ``[b, d]`` rows, e.g. a note's key and value) with priority
    ``p [b]`` where ``write [b]`` (bool) into ``slots`` (a tuple of ``[b, K, d]``): into the
    lowest-priority slot, if ``p`` is strictly higher than that slot's (empty slot: -inf)."""
    slot = prio.argmin(dim=1)                                            # [b]
    low = prio.gather(1, slot[:, None])[:, 0]
    do = write & (p > low)
    onehot = torch.nn.functional.one_hot(slot, prio.shape[1]).to(torch.bool) & do[:, None]
    slots = tuple(torch.where(onehot[..., None], n[:, None, :], s) for s, n in zip(slots, new))
    prio = torch.where(onehot, p[:, None].to(prio.dtype), prio)
    return slots, prio


def read_notes(q, keys, values, prio):
    """Cross-token attention over the filled slots: ``q [b, d_n]``, ``keys/values [b, K, d_n]``;
    an empty pool reads zeros."""
    scores = torch.einsum("bd,bkd->bk", q, keys) / math.sqrt(q.shape[-1])
    filled = torch.isfinite(prio)
    scores = scores.masked_fill(~filled, float("-inf"))
    w = torch.softmax(scores, dim=-1).nan_to_num(0.0) * filled
    return torch.einsum("bk,bkd->bd", w, values)


class MemMamba(SequenceMemory):
    """Mamba + note pool, ``x [batch, time, d_model] -> y [batch, time, d_model]``.

    ``forward`` runs Mamba's chunked scan in parallel and the note pool token by token (cheap:
    ``[b, K, d_note]``); ``step`` is the naive form, one token of both. ``notes=False`` is plain
    Mamba (the same weights, the note block off).
    """

    def __init__(self, d_model: int, d_state: int = 16, pool_size: int = 50, d_note: int = 64,
                 tau: float = 0.5, policy: str = "priority", notes: bool = True, **mamba_kw):
        super().__init__()
        if pool_size < 1:
            raise ValueError(f"pool_size={pool_size} must be >= 1")
        if not 0.0 < tau < 1.0:
            raise ValueError(f"tau={tau} must be in (0, 1) (a threshold on a sigmoid score)")
        if policy not in ("priority", "fifo"):
            raise ValueError(f"policy={policy!r} is not allowed: use 'priority' or 'fifo'")
        self.d_model, self.pool_size, self.tau, self.policy = d_model, pool_size, tau, policy
        self.d_note = d_note = min(d_note, d_model)
        self.use_notes = notes
        self.mamba = Mamba(d_model, d_state, **mamba_kw)
        self.score = nn.Linear(d_model, 1)
        self.W_n = nn.Linear(d_model, d_note, bias=False)
        self.W_q, self.W_k, self.W_v = (nn.Linear(d_model if i == 0 else d_note, d_note, bias=False)
                                        for i in range(3))
        self.W_o = nn.Linear(d_note, d_model, bias=False)

    def init_state(self, batch, device=None, dtype=None):
        w = self.W_n.weight
        device, dtype = device or w.device, dtype or w.dtype
        return (self.mamba.init_state(batch, device, dtype),
                torch.zeros(batch, self.pool_size, 2 * self.d_note, device=device, dtype=dtype),
                torch.full((batch, self.pool_size), float("-inf"), device=device, dtype=dtype),
                torch.zeros(batch, device=device, dtype=dtype))

    def state_size(self, seq_len=None) -> int:
        """Mamba's state + ``K * (2 d_note + 1)`` (note keys, values, priorities) + a clock."""
        return self.mamba.state_size() + self.pool_size * (2 * self.d_note + 1) + 1

    def _notes_step(self, x_t, notes, prio, clock):
        """Read the pool, then write this token's note if salient. Returns (read, pool...)."""
        keys, values = notes.split(self.d_note, dim=-1)
        read = self.W_o(read_notes(self.W_q(x_t), keys, values, prio))
        s = torch.sigmoid(self.score(x_t))[:, 0]
        p = s if self.policy == "priority" else clock
        n_t = self.W_n(x_t)
        (keys, values), prio = insert_note((keys, values), prio, (self.W_k(n_t), self.W_v(n_t)),
                                           p, s > self.tau)
        return read, torch.cat([keys, values], dim=-1), prio, clock + 1

    def step(self, x_t, state):
        check_shape(x_t, "x_t", ndim=2, last=self.d_model)
        m_state, notes, prio, clock = state
        y, m_state = self.mamba.step(x_t, m_state)
        if self.use_notes:
            read, notes, prio, clock = self._notes_step(x_t, notes, prio, clock)
            y = y + read
        return y, (m_state, notes, prio, clock)

    def forward(self, x, state=None):
        check_shape(x, "x", ndim=3, last=self.d_model)
        if state is None:
            state = self.init_state(x.shape[0], device=x.device, dtype=x.dtype)
        m_state, notes, prio, clock = state
        y, m_state = self.mamba(x, m_state)
        if self.use_notes:
            reads, (notes, prio, clock) = self.notes_scan(x, (notes, prio, clock))
            y = y + reads
        return y, (m_state, notes, prio, clock)

    def notes_scan(self, x, pool, need_reads: bool = True):
        """The note block alone over ``x [b, T, d_model]``: ``(reads [b, T, d_model], pool)``.

        The fast form of :meth:`_notes_step`: scores, notes and their keys and values are
        projected for all tokens at once; only the pool updates run token by token.
        ``need_reads=False`` skips the reads (returns ``None``; the pool is the same)."""
        notes, prio, clock = pool
        keys, values = notes.split(self.d_note, dim=-1)
        s = torch.sigmoid(self.score(x))[..., 0]                               # [b, T]
        n = self.W_n(x)
        k_new, v_new = self.W_k(n), self.W_v(n)
        q = self.W_q(x) if need_reads else None
        reads = []
        for t in range(x.shape[1]):
            if need_reads:
                reads.append(read_notes(q[:, t], keys, values, prio))
            p = s[:, t] if self.policy == "priority" else clock
            (keys, values), prio = insert_note((keys, values), prio, (k_new[:, t], v_new[:, t]),
                                               p, s[:, t] > self.tau)
            clock = clock + 1
        out = self.W_o(torch.stack(reads, dim=1)) if need_reads else None
        return out, (torch.cat([keys, values], dim=-1), prio, clock)


# ------------------------------------------------------------------------------ experiments
PASSKEY = {"n_filler": 16, "n_digits": 10, "n_rare": 8}


def passkey_batch(n: int, distance: int, d_model: int, p_rare: float = 0.005, lead: int = 8,
                  seed: int = 0):
    """Passkey retrieval at a distance: ``lead`` filler tokens, a passkey digit, ``distance - 1``
    filler tokens (each a salient *rare* distractor with probability ``p_rare``), a query.

    Embeddings are random; dimension 0 is a salience feature (3 for digits and rare tokens,
    0 otherwise). Returns ``(x [n, L, d_model] float64, digit [n])``.
    """
    if distance < 1 or n < 1:
        raise ValueError(f"distance={distance} and n={n} must be >= 1")
    if not 0.0 <= p_rare < 1.0:
        raise ValueError(f"p_rare={p_rare} must be in [0, 1)")
    g = torch.Generator().manual_seed(seed)
    F_, D_, R_ = PASSKEY["n_filler"], PASSKEY["n_digits"], PASSKEY["n_rare"]
    emb = torch.randn(F_ + D_ + R_ + 1, d_model, generator=g, dtype=torch.float64)
    emb[:, 0] = 0.0
    emb[F_:F_ + D_ + R_, 0] = 3.0
    L = lead + distance + 1
    ids = torch.randint(0, F_, (n, L), generator=g)
    rare = torch.rand(n, L, generator=g) < p_rare
    ids = torch.where(rare, F_ + D_ + torch.randint(0, R_, (n, L), generator=g), ids)
    digit = torch.randint(0, D_, (n,), generator=g)
    ids[:, lead] = F_ + digit
    ids[:, -1] = F_ + D_ + R_                                             # the query token
    # (the passkey's seed-dependent batch is split by the caller into train / test)
    return emb[ids], digit


def hand_set_scorer(model: MemMamba) -> MemMamba:
    """Salience = sigmoid(4 x_0 - 6): ~1 on digits and rare tokens, ~0 on filler (set by hand;
    the paper learns the scorer)."""
    with torch.no_grad():
        model.score.weight.zero_()
        model.score.weight[0, 0] = 4.0
        model.score.bias.fill_(-6.0)
    return model


def _features(model: MemMamba, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Plain Mamba's features (final SSM state, conv window, last output) and the same plus
    the note read at the query (one Mamba pass: the note block only adds its read)."""
    with torch.no_grad():
        y, (conv, h) = model.mamba(x)
        _, notes, prio, clock = model.init_state(x.shape[0], x.device, x.dtype)
        _, (notes, prio, clock) = model.notes_scan(x[:, :-1], (notes, prio, clock), False)
        read, *_ = model._notes_step(x[:, -1], notes, prio, clock)       # the query reads
    plain = torch.cat([h.flatten(1), conv.flatten(1), y[:, -1]], dim=1)
    return plain, torch.cat([plain, read], dim=1)


def _ridge_acc(Xtr, ytr, Xte, yte, n_cls: int) -> float:
    mu, sd = Xtr.mean(0), Xtr.std(0) + 1e-9
    Xtr, Xte = (Xtr - mu) / sd, (Xte - mu) / sd
    Y = torch.nn.functional.one_hot(ytr, n_cls).to(Xtr.dtype)
    Wt = torch.linalg.solve(Xtr.T @ Xtr + 1.0 * torch.eye(Xtr.shape[1], dtype=Xtr.dtype), Xtr.T @ Y)
    return float(((Xte @ Wt).argmax(-1) == yte).to(torch.float64).mean())


def passkey_curve(distances=(16, 64, 256), d_model: int = 16, d_state: int = 8,
                  pool_size: int = 50, p_rare: float = 0.005, n_train: int = 240,
                  n_test: int = 160, seed: int = 0, policy: str = "priority") -> dict:
    """Untrained Mamba (random init, the paper's structure) with a fitted ridge read-out of its
    final state and output, with and without the note block (same weights). Returns
    ``{"distances", "mamba": [acc], "memmamba": [acc], "chance"}``."""
    torch.manual_seed(seed)
    model = hand_set_scorer(MemMamba(d_model, d_state, pool_size=pool_size, policy=policy,
                                     scan="ref").double())
    out = {"distances": list(distances), "mamba": [], "memmamba": [],
           "chance": 1.0 / PASSKEY["n_digits"]}
    for D in distances:
        x, y = passkey_batch(n_train + n_test, D, d_model, p_rare, seed=seed)
        for arm, X in zip(("mamba", "memmamba"), _features(model, x)):
            out[arm].append(_ridge_acc(X[:n_train], y[:n_train], X[n_train:], y[n_train:],
                                       PASSKEY["n_digits"]))
    return out


def attribution_ratio(d_model: int = 16, d_state: int = 8, T: int = 300, near: int = 16,
                      far: int = 256, batch: int = 4, seed: int = 0) -> dict:
    """The diagnosis on a random-init Mamba block: mean attribution ``a`` of the token at
    distance ``far`` over that at ``near`` (from the last output), and the whole profile."""
    if not 0 <= near < far < T:
        raise ValueError(f"need 0 <= near < far < T, got near={near}, far={far}, T={T}")
    torch.manual_seed(seed)
    m = Mamba(d_model, d_state).double()
    x = torch.randn(batch, T, d_model, dtype=torch.float64,
                    generator=torch.Generator().manual_seed(seed))
    a = attribution(m, x).mean(0).flip(0)                                   # index = distance
    return {"ratio": float(a[far] / a[near]), "profile": a}
