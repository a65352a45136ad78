"""Sparsey-style sparse distributed codes (SDRs): similar inputs get overlapping codes.

Papers: G. Rinkus, "A cortical sparse distributed coding model linking mini- and
macrocolumn-scale functionality", Frontiers in Neuroanatomy 4:17 (2010);
G. Rinkus, "Sparsey: event recognition via deep hierarchical sparse distributed codes",
Frontiers in Computational Neuroscience 8:160 (2014); G. Rinkus & J. Leveille,
"Superposed Episodic and Semantic Memory via Sparse Distributed Representation",
arXiv:1710.07829 (2017) (a memlab seed paper).

This is a small, single-level reading of Sparsey's code selection algorithm (CSA), written
from the papers' description; constants are chosen here, not taken from Sparsey's code
(which is not public). It keeps the idea the seed paper is about: a coding field of Q
winner-take-all modules, single-trial binary Hebbian learning, and a familiarity signal G
that makes the choice of winners deterministic for familiar inputs (reuse the old code)
and random for novel ones (a fresh code), so code overlap follows input similarity.

Glossary (paper -> code)
    x            binary input, [n_in]                                 ``x``   ([batch, n_in])
    CM q         competitive module q = 1..Q, K cells, one winner      ``Q``, ``K``
    F_ij         binary weight input i -> cell j                       ``F``   ([n_in, Q, K])
    u_j          input summation: active inputs with F_ij = 1          ``u``   ([batch, Q, K])
    V_j          normalised input, u_j / |x|, in [0, 1]                ``V``
    G            global familiarity, mean over CMs of max_j V_j        ``G``   ([batch])
    eta          expansion factor, grows with G up to chi              ``eta``
    psi_j        relative win likelihood, sigmoid of V stretched by eta ``psi``
    rho_j        win probability in its CM, psi_j / sum_k psi_k       ``rho``
    code         the winners, one cell index per CM                    ``code`` ([batch, Q])

Equations (one code selection, then learning)
    u_j = sum_i x_i F_ij ,   V_j = u_j / |x| ,   G = (1/Q) sum_q max_{j in q} V_j
    eta = 1 + (chi - 1) G^gamma
    psi_j = 1 + (eta - 1) / (1 + exp(-lambda (V_j - nu)))
    rho_j = psi_j / sum_{k in CM(j)} psi_k ;  winner of each CM ~ rho  (read: argmax)
    learn (single trial, binary Hebbian):  F_ij <- 1 for active x_i and winning cells j
    decode (top-down): x_hat_i = [ sum_q F_{i, code_q} >= theta Q ]
    similarity of codes: |code_a intersect code_b| / Q (fraction of CMs with the same winner)

Not included: the hierarchy of macrocolumns, sequences (horizontal weights, spatiotemporal
codes), weight decay/permanence, and the G-dependent noise schedules of the full model.
"""

from __future__ import annotations

import torch

from memlab.memory import check_shape

__all__ = ["SparseyCodes", "code_overlap"]


def code_overlap(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Fraction of CMs with the same winner: ``[..., Q]`` x ``[..., Q]`` -> ``[...]``."""
    return (a == b).float().mean(-1)


class SparseyCodes:
    """A field of ``Q`` modules x ``K`` cells over ``n_in`` binary inputs; a :class:`Memory`."""

    def __init__(self, n_in: int, Q: int = 20, K: int = 10, chi: float = 1000.0,
                 lam: float = 15.0, nu: float = 0.5, gamma: float = 1.0, theta: float = 0.5,
                 seed: int = 0, device: torch.device | str | None = None):
        for name, v in (("n_in", n_in), ("Q", Q), ("K", K)):
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        if K < 2:
            raise ValueError(f"K (cells per CM) must be >= 2, got {K}")
        if chi < 1:
            raise ValueError(f"chi (max expansion) must be >= 1, got {chi}")
        if not 0 < theta <= 1:
            raise ValueError(f"theta (decode threshold) must be in (0, 1], got {theta}")
        self.n_in, self.Q, self.K = n_in, Q, K
        self.chi, self.lam, self.nu, self.gamma, self.theta = chi, lam, nu, gamma, theta
        self.F = torch.zeros(n_in, Q, K, device=device)
        self.generator = torch.Generator()
        self.generator.manual_seed(seed)
        self.n_written = 0

    def _check_bits(self, x: torch.Tensor, name: str = "x") -> torch.Tensor:
        if isinstance(x, torch.Tensor) and x.dim() == 1:
            x = x.unsqueeze(0)
        check_shape(x, name, ndim=2, last=self.n_in)
        if not bool(((x == 0) | (x == 1)).all()):
            raise ValueError(f"{name} must be binary (entries 0 and 1)")
        return x.to(self.F)

    # -- the code selection algorithm -------------------------------------------------
    def familiarity(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """V ``[batch, Q, K]`` and G ``[batch]`` for binary inputs ``x: [batch, n_in]``."""
        x = self._check_bits(x)
        u = (x @ self.F.reshape(self.n_in, -1)).reshape(-1, self.Q, self.K)
        V = u / x.sum(-1).clamp_min(1)[:, None, None]
        G = V.max(-1).values.mean(-1)
        return V, G

    def probabilities(self, x: torch.Tensor) -> torch.Tensor:
        """rho ``[batch, Q, K]``: each cell's probability of winning its CM."""
        V, G = self.familiarity(x)
        eta = 1 + (self.chi - 1) * G.clamp(0, 1) ** self.gamma
        psi = 1 + (eta[:, None, None] - 1) * torch.sigmoid(self.lam * (V - self.nu))
        return psi / psi.sum(-1, keepdim=True)

    def encode(self, x: torch.Tensor, sample: bool = True) -> torch.Tensor:
        """The code ``[batch, Q]``, one winner per CM: sampled from rho, or the argmax."""
        rho = self.probabilities(x)
        if not sample:
            return rho.argmax(-1)
        flat = rho.reshape(-1, self.K).cpu()
        return torch.multinomial(flat, 1, generator=self.generator).reshape(-1, self.Q).to(
            self.F.device)

    def decode(self, code: torch.Tensor) -> torch.Tensor:
        """Top-down reconstruction: x_hat_i = [ sum_q F[i, q, code_q] >= theta Q ]."""
        check_shape(code, "code", ndim=2, last=self.Q)
        idx = code.long().to(self.F.device)
        votes = self.F[:, torch.arange(self.Q, device=self.F.device)[None, :], idx]  # [n_in, B, Q]
        return (votes.sum(-1).T >= self.theta * self.Q).to(self.F)

    # -- the Memory vocabulary ----------------------------------------------------------
    def write(self, x: torch.Tensor) -> torch.Tensor:
        """Store each row of ``x`` in one trial (in order); returns the codes ``[batch, Q]``."""
        x = self._check_bits(x)
        codes = []
        q = torch.arange(self.Q, device=self.F.device)
        for row in x:
            code = self.encode(row[None])[0]
            active = row.nonzero().squeeze(1)
            self.F[active[:, None], q[None, :], code[None, :]] = 1.0
            codes.append(code)
            self.n_written += 1
        return torch.stack(codes)

    def read(self, x: torch.Tensor, return_code: bool = False):
        """Deterministic code (argmax) of a possibly partial cue, decoded back to an input."""
        code = self.encode(x, sample=False)
        x_hat = self.decode(code)
        return (x_hat, code) if return_code else x_hat

    def state_size(self) -> int:
        """Numbers stored: n_in x Q x K binary weights."""
        return self.F.numel()

    def reset(self) -> None:
        self.F.zero_()
        self.n_written = 0

    def __repr__(self) -> str:
        return f"SparseyCodes(n_in={self.n_in}, Q={self.Q}, K={self.K}, written={self.n_written})"
