"""Classical Hopfield network: Hebbian storage, asynchronous / synchronous updates, energy.

Paper: J. J. Hopfield, "Neural networks and physical systems with emergent collective
computational abilities", PNAS 79 (1982). Capacity: Amit, Gutfreund & Sompolinsky,
"Storing infinite numbers of patterns in a spin-glass model of neural networks", PRL 55 (1985):
the critical load alpha_c = P/N ~ 0.138 for N -> infinity.

Glossary (paper symbol -> code)
    N            number of neurons                        ``N``
    P            number of stored patterns                ``P`` (``self.n_patterns``)
    xi^mu        stored pattern mu, entries +-1, [N]      ``patterns[mu]``  ([P, N])
    s            network state, entries +-1               ``s``  ([batch, N])
    W_ij         synaptic weight                          ``W`` (= ``J / N``)
    J_ij         integer Hebbian counts sum_mu xi_i xi_j  ``J`` (kept so that fields are exact)
    h_i          local field sum_j W_ij s_j               ``h``
    E            energy (Lyapunov function)               ``energy(s)``
    alpha        load P / N                               ``alpha``

Equations
    Hebbian storage (write):   W_ij = (1/N) sum_mu xi^mu_i xi^mu_j ,   W_ii = 0
    asynchronous update:       pick neuron i, s_i <- sgn(h_i), h_i = sum_j W_ij s_j
                               (h_i == 0: s_i is kept)
    synchronous update:        s <- sgn(W s)   (every neuron at once; may 2-cycle)
    energy:                    E(s) = -1/2 sum_ij W_ij s_i s_j
    one async flip changes E by  dE = -(s_i' - s_i) h_i <= 0,  since W is symmetric with
    zero diagonal; so E never increases under asynchronous updates and the net settles
    in a local minimum (an attractor). Synchronous updates carry no such guarantee.

Dynamics are computed from the integer counts ``J`` (sign(J s) == sign(W s) since N > 0):
sums of integers are exact in floating point, so ties (h_i == 0) and the naive and the fast
forms agree bit for bit.

Not included: thresholds/biases theta_i, stochastic (Glauber, temperature) dynamics, the
pseudo-inverse and Storkey learning rules, and continuous-valued Hopfield (1984) units.
"""

from __future__ import annotations

import torch

from memlab.memory import check_shape

__all__ = ["ClassicalHopfield", "async_sweep", "async_sweep_loop", "sgn_keep", "sync_step"]


def sgn_keep(h: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """sgn(h) with the tie rule h == 0 -> keep the current value s."""
    return torch.where(h == 0, s, torch.sign(h))


# ----------------------------------------------------------------------------- naive form
def async_sweep_loop(J: torch.Tensor, s: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
    """One asynchronous sweep, written like the equation: one query, one neuron at a time.

    ``J: [N, N]`` Hebbian counts, ``s: [batch, N]``, ``order: [N]`` neuron visiting order.
    """
    s = s.clone()
    for b in range(s.shape[0]):
        for i in order.tolist():
            h_i = sum(float(J[i, j]) * float(s[b, j]) for j in range(s.shape[1]))
            if h_i > 0:
                s[b, i] = 1.0
            elif h_i < 0:
                s[b, i] = -1.0
    return s


# ----------------------------------------------------------------------------- fast forms
def async_sweep(J: torch.Tensor, s: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
    """The same sweep, vectorised over the batch (the loop over neurons is the dynamics)."""
    s = s.clone()
    for i in order.tolist():
        s[:, i] = sgn_keep(s @ J[i], s[:, i])          # J is symmetric: row i == column i
    return s


def sync_step(J: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """One synchronous update s <- sgn(W s) for the whole batch at once."""
    return sgn_keep(s @ J, s)


class ClassicalHopfield:
    """A Hopfield network of ``N`` +-1 neurons; implements :class:`memlab.memory.Memory`.

    >>> net = ClassicalHopfield(4)
    >>> net.write(torch.tensor([[1., -1., 1., -1.]]))
    >>> net.read(torch.tensor([[1., 1., 1., -1.]]))
    tensor([[ 1., -1.,  1., -1.]])
    """

    def __init__(self, N: int, device: torch.device | str | None = None,
                 dtype: torch.dtype = torch.float32):
        if not isinstance(N, int) or N < 2:
            raise ValueError(f"N (number of neurons) must be an integer >= 2, got {N!r}")
        self.N = N
        self.J = torch.zeros(N, N, device=device, dtype=dtype)
        self.n_patterns = 0

    # -- the Memory vocabulary -------------------------------------------------------
    @property
    def W(self) -> torch.Tensor:
        """W_ij = (1/N) sum_mu xi_i xi_j, zero diagonal."""
        return self.J / self.N

    def _check_pm1(self, x: torch.Tensor, name: str) -> torch.Tensor:
        if isinstance(x, torch.Tensor) and x.dim() == 1:
            x = x.unsqueeze(0)
        check_shape(x, name, ndim=2, last=self.N)
        if not bool(((x == 1) | (x == -1)).all()):
            raise ValueError(f"{name} must contain only +1 and -1 entries")
        return x.to(device=self.J.device, dtype=self.J.dtype)

    def write(self, patterns: torch.Tensor) -> None:
        """Hebbian storage of ``patterns: [P, N]`` (or [N]), entries +-1."""
        xi = self._check_pm1(patterns, "patterns")
        self.J += xi.T @ xi
        self.J.fill_diagonal_(0)
        self.n_patterns += xi.shape[0]

    def forget(self, patterns: torch.Tensor) -> None:
        """Anti-Hebbian removal: subtract the outer products that ``write`` added."""
        xi = self._check_pm1(patterns, "patterns")
        self.J -= xi.T @ xi
        self.J.fill_diagonal_(0)
        self.n_patterns = max(0, self.n_patterns - xi.shape[0])

    def read(self, query: torch.Tensor, mode: str = "async", max_sweeps: int = 50,
             generator: torch.Generator | None = None) -> torch.Tensor:
        """Complete ``query: [batch, N]`` (+-1) by iterating the dynamics to a fixed point.

        ``mode="async"`` sweeps neurons in a random order until no neuron changes;
        ``mode="sync"`` applies s <- sgn(W s) until s stops changing (or ``max_sweeps``).
        """
        s, _ = self.run(query, mode=mode, max_sweeps=max_sweeps, generator=generator)
        return s

    def run(self, query: torch.Tensor, mode: str = "async", max_sweeps: int = 50,
            generator: torch.Generator | None = None) -> tuple[torch.Tensor, int]:
        """Like :meth:`read`, also returning the number of sweeps taken."""
        if mode not in ("async", "sync"):
            raise ValueError(f"mode must be 'async' or 'sync', got {mode!r}")
        if max_sweeps < 1:
            raise ValueError(f"max_sweeps must be >= 1, got {max_sweeps}")
        s = self._check_pm1(query, "query")
        for sweep in range(1, max_sweeps + 1):
            if mode == "sync":
                new = sync_step(self.J, s)
            else:
                order = torch.randperm(self.N, generator=generator)
                new = async_sweep(self.J, s, order)
            if torch.equal(new, s):
                return s, sweep
            s = new
        return s, max_sweeps

    def energy(self, s: torch.Tensor) -> torch.Tensor:
        """E(s) = -1/2 s^T W s for each row of ``s: [batch, N]`` -> [batch] (float64)."""
        s = self._check_pm1(s, "s").double()
        return -0.5 * ((s @ self.J.double()) * s).sum(-1) / self.N

    def energy_trace(self, query: torch.Tensor, sweeps: int = 3,
                     generator: torch.Generator | None = None) -> torch.Tensor:
        """Energy after every single-neuron asynchronous update: ``[sweeps*N + 1, batch]``.

        Each entry is the full quadratic form of the current state (not an incremental
        formula), so a bug in the update rule shows up as an energy increase.
        """
        s = self._check_pm1(query, "query").clone()
        trace = [self.energy(s)]
        for _ in range(sweeps):
            for i in torch.randperm(self.N, generator=generator).tolist():
                s[:, i] = sgn_keep(s @ self.J[i], s[:, i])
                trace.append(self.energy(s))
        return torch.stack(trace)

    def state_size(self) -> int:
        """Numbers stored: the N x N weight matrix."""
        return self.N * self.N

    def reset(self) -> None:
        self.J.zero_()
        self.n_patterns = 0

    def __repr__(self) -> str:
        return f"ClassicalHopfield(N={self.N}, patterns={self.n_patterns})"
