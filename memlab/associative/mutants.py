"""Chapter 01's mutants (realistic one-line bugs) and the fast checks that must catch them.

Each mutant patches one library function for the duration of a ``with`` block; each check
measures one of the chapter's claims at test size (or an equality against a hand-computed or
naive value) and returns the number. ``memlab mutants 01`` prints which check kills which bug.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from unittest import mock

import torch

from memlab.associative import controls as C
from memlab.associative import experiments as E
from memlab.associative import hopfield, modern, sdm
from memlab.associative.hopfield import ClassicalHopfield
from memlab.associative.sdm import SparseDistributedMemory
from memlab.associative.sdr import SparseyCodes
from memlab.report import at_most
from memlab.testing.mutants import check, mutant

HOP, MOD = "Classical Hopfield network", "Modern (dense) Hopfield network"
SDM, SDR = "Sparse distributed memory", "Sparsey-style sparse distributed codes"
# starts below the target (0.10): a net that recalls nothing reads 0.08 and fails
GRID = [round(0.08 + 0.02 * k, 2) for k in range(11)]          # 0.08 .. 0.28


# =============================================================================== checks
@check("01", "critical_load")
def _critical_load():
    """Critical load at N = 100, 10%-noisy cues, async to a fixed point (2 nets per load)."""
    return E.recall_curve(100, GRID, noise=0.10, trials=2, seed=0).critical


@check("01", "one_step_minus_fixed_point_load")
def _dynamics_gap():
    """Noise-0 critical load: one synchronous step minus iterating to a fixed point (N = 100)."""
    return C.dynamics_control(100, [round(0.14 + 0.02 * k, 2) for k in range(10)], 2, 0)["gap"]


@check("01", "energy_max_increase")
def _energy():
    """Largest energy rise over every single async update of 5 random nets (N = 40)."""
    return E.energy_check(N=40, runs=5, seed=0)["max_increase"]


@check("01", "hopfield_energy_hand_computed", target=at_most(0.0))
def _energy_hand():
    """|E(xi^1) - (-3)| for two orthogonal 8-bit patterns (hand-computed: s^T J s = 56 - 8)."""
    xi = torch.tensor([[1, 1, 1, 1, -1, -1, -1, -1],
                       [1, -1, 1, -1, 1, -1, 1, -1]], dtype=torch.float32)
    net = ClassicalHopfield(8)
    net.write(xi)
    return abs(float(net.energy(xi[:1])[0]) + 3.0)


@check("01", "hopfield_async_equals_loop", target=at_most(0.0))
def _async_equals_loop():
    """Entries where the vectorised async sweep differs from the per-neuron loop (N = 12)."""
    g = torch.Generator().manual_seed(0)
    net = ClassicalHopfield(12)
    net.write(E.random_patterns(3, 12, g))
    s, order = E.random_patterns(4, 12, g), torch.randperm(12, generator=g)
    return float((hopfield.async_sweep(net.J, s, order)
                  != hopfield.async_sweep_loop(net.J, s, order)).sum())


@check("01", "modern_recall_10N")
def _modern_recall():
    """P = 10 d = 640 random patterns, 10%-noisy cues, one update at beta = 1."""
    return E.modern_recall(d=64, factor=10, beta=1.0, noise=0.10, seed=0)["recalled"]


@check("01", "digits_metastable_class_mass")
def _digits():
    """Softmax mass on the cue's class at beta = 20 (0 unless the read mixes 2 .. n/2 digits)."""
    dm = E.digit_metastable(betas=(20.0,), n=500, queries=50, seed=0)
    s = C.metastable_score(dm, 20.0)
    return s["class_mass"] if s["is_mixture"] else 0.0


@check("01", "modern_equals_attention")
def _attention():
    """Identity: relative error of the modern update vs torch's SDPA (float64, beta = 0.2)."""
    res = E.attention_equality(d=16, P=50, batch=4, beta=0.2, seed=0)
    return max(res["rel_err_sdpa"], res["rel_err_loop"])


@check("01", "sdm_capacity_per_location")
def _sdm_capacity():
    """Words stored at half recall, divided by M (n = 256, M = 2000, p = 0.01)."""
    return E.sdm_recall_curve(seed=0)["capacity"] / 2000


@check("01", "sdm_activation_count_exact", target=at_most(0.0))
def _sdm_count():
    """|activations over all 2^n addresses - M * sum_{k<=r} C(n, k)| (n = 10, M = 30, r = 3)."""
    mem = SparseDistributedMemory(10, 30, r=3, seed=0)
    every = ((torch.arange(1024)[:, None] >> torch.arange(10)) & 1).float()
    expected = 30 * sum(math.comb(10, k) for k in range(4))
    return abs(float(mem.activate(every).sum()) - expected)


@check("01", "sdr_overlap_tracks_similarity")
def _sdr():
    """Pearson r between input similarity and code overlap (Q = 20, K = 16, 20 items)."""
    return E.sdr_similarity(n_in=400, active=20, items=20, Q=20, K=16, seed=0)["correlation"]


# =============================================================================== mutants
def _patch(obj, name, new):
    return mock.patch.object(obj, name, new)


@mutant("01", HOP)
@contextmanager
def hopfield_diagonal_not_zeroed():
    """The Hebbian write keeps the self-couplings W_ii = P/N (``fill_diagonal_(0)`` forgotten)."""
    def write(self, patterns):
        xi = self._check_pm1(patterns, "patterns")
        self.J += xi.T @ xi
        self.n_patterns += xi.shape[0]
    with _patch(ClassicalHopfield, "write", write):
        yield


@mutant("01", HOP)
@contextmanager
def hebbian_sign_flipped():
    """Anti-Hebbian write: J -= xi^T xi (a sign slip), so every stored pattern is a maximum."""
    def write(self, patterns):
        xi = self._check_pm1(patterns, "patterns")
        self.J -= xi.T @ xi
        self.J.fill_diagonal_(0)
        self.n_patterns += xi.shape[0]
    with _patch(ClassicalHopfield, "write", write):
        yield


@mutant("01", HOP)
@contextmanager
def hebbian_1_over_N_dropped():
    """The 1/N of W = J/N dropped in the energy: the dynamics (signs) are unchanged, every
    energy is N times too large."""
    def energy(self, s):
        s = self._check_pm1(s, "s").double()
        return -0.5 * ((s @ self.J.double()) * s).sum(-1)
    with _patch(ClassicalHopfield, "energy", energy):
        yield


@mutant("01", HOP)
@contextmanager
def async_sweep_is_synchronous():
    """The "asynchronous" sweep computes every field from the state before the sweep
    (``h = s @ J`` once, outside the loop): a synchronous step in disguise."""
    def sweep(J, s, order):
        return hopfield.sgn_keep(s @ J, s)
    with _patch(hopfield, "async_sweep", sweep):
        yield


@mutant("01", HOP)
@contextmanager
def sign_tie_sets_zero():
    """``torch.sign(h)`` without the tie rule: a neuron with h_i = 0 becomes 0, not +-1."""
    with _patch(hopfield, "sgn_keep", lambda h, s: torch.sign(h)):
        yield


@mutant("01", HOP)
@contextmanager
def read_stops_after_one_sweep():
    """The read returns after one sweep instead of iterating to a fixed point."""
    real = ClassicalHopfield.run

    def run(self, query, mode="async", max_sweeps=50, generator=None):
        return real(self, query, mode=mode, max_sweeps=1, generator=generator)
    with _patch(ClassicalHopfield, "run", run):
        yield


def _modern_update(transform):
    real = modern.update

    def update(xi, X, beta, return_weights=False):
        return transform(real, xi, X, beta, return_weights)
    return _patch(modern, "update", update)


@mutant("01", MOD)
@contextmanager
def modern_beta_ignored():
    """The update uses softmax(X^T xi) whatever beta is asked for (beta = 1 hard-coded)."""
    with _modern_update(lambda f, xi, X, beta, rw: f(xi, X, 1.0, rw)):
        yield


@mutant("01", MOD)
@contextmanager
def modern_beta_over_sqrt_d():
    """beta divided by sqrt(d) again, as if the transformer's 1/sqrt(d_k) were not already
    the beta of the attention form."""
    with _modern_update(lambda f, xi, X, beta, rw: f(xi, X, beta / math.sqrt(X.shape[-1]), rw)):
        yield


@mutant("01", MOD)
@contextmanager
def modern_softmax_wrong_axis():
    """softmax over the queries (dim 0) instead of over the stored patterns (dim -1)."""
    def update(xi, X, beta, return_weights=False):
        p = torch.softmax(beta * xi @ X.T, dim=0)
        return (p @ X, p) if return_weights else p @ X
    with _patch(modern, "update", update):
        yield


@mutant("01", SDM)
@contextmanager
def sdm_radius_off_by_one():
    """Activation with d(x, A_m) < r instead of <= r: every circle one bit too small."""
    def activate(self, x):
        return (sdm.hamming(self._check_bits(x, "address"), self.A) < self.r).to(self.C)
    with _patch(SparseDistributedMemory, "activate", activate):
        yield


@mutant("01", SDM)
@contextmanager
def sdm_writes_to_all_locations():
    """The write adds to every location's counters, ignoring the activation radius."""
    def write(self, address, data=None):
        x = self._check_bits(address, "address")
        w = x if data is None else self._check_bits(data, "data")
        self.C += (2 * w - 1).sum(0, keepdim=True)
        self.n_written += x.shape[0]
    with _patch(SparseDistributedMemory, "write", write):
        yield


@mutant("01", SDM)
@contextmanager
def sdm_counters_not_bipolar():
    """The write adds the 0/1 word instead of 2w - 1: counters only grow, reads return ones."""
    def write(self, address, data=None):
        x = self._check_bits(address, "address")
        w = x if data is None else self._check_bits(data, "data")
        self.C += self.activate(x).T @ w
        self.n_written += x.shape[0]
    with _patch(SparseDistributedMemory, "write", write):
        yield


@mutant("01", SDR)
@contextmanager
def sdr_familiarity_ignored():
    """G never reaches eta (eta = 1): every code is drawn uniformly, familiar or not."""
    def probabilities(self, x):
        V, _ = self.familiarity(x)
        return torch.full_like(V, 1.0 / self.K)
    with _patch(SparseyCodes, "probabilities", probabilities):
        yield


@mutant("01", SDR)
@contextmanager
def sdr_sigmoid_sign_flipped():
    """psi uses sigmoid(-lambda (V - nu)): familiar cells are made *less* likely to win."""
    def probabilities(self, x):
        V, G = self.familiarity(x)
        eta = 1 + (self.chi - 1) * G.clamp(0, 1) ** self.gamma
        psi = 1 + (eta[:, None, None] - 1) * torch.sigmoid(-self.lam * (V - self.nu))
        return psi / psi.sum(-1, keepdim=True)
    with _patch(SparseyCodes, "probabilities", probabilities):
        yield


@mutant("01", SDR)
@contextmanager
def sdr_write_does_not_learn():
    """The write picks the code but never sets F (the learning line is lost)."""
    def write(self, x):
        x = self._check_bits(x)
        codes = [self.encode(row[None])[0] for row in x]
        self.n_written += x.shape[0]
        return torch.stack(codes)
    with _patch(SparseyCodes, "write", write):
        yield


# ====================================================== Synaptic Resonance (our interpretation)
from memlab.associative import resonance as _res

RES = "Synaptic Resonance (relevance-gated Hebbian; our interpretation)"


@check("01", "resonance_gated_recall")
def _res_gated():
    """Relevant targets recalled with the relevance gate (d = 64, 1000 filler states)."""
    return _res.resonance_recall(16, 1000, 64, seed=0)["gated"]


@check("01", "resonance_gating_gain")
def _res_gain():
    """Gated recall minus the control with r_t constant (same mean)."""
    out = _res.resonance_recall(16, 1000, 64, seed=0)
    return out["gated"] - out["constant"]


def _res_stream(seed=0, T=12, d=5):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(2, T, d, generator=g, dtype=torch.float64),
            torch.rand(2, T, generator=g, dtype=torch.float64))


@check("01", "resonance_loop_equals_closed", target=at_most(1e-12))
def _res_loop_closed():
    """Max |W| difference: naive loop of hebbian_step vs the closed form, two chunks each."""
    h, r = _res_stream()
    mems = {f: _res.SynapticResonance(5, eta=0.7, lam=0.1, batch=2, form=f) for f in ("loop", "closed")}
    for m in mems.values():
        m.write(h[:, :5], r[:, :5])
        m.write(h[:, 5:], r[:, 5:])
    return float((mems["loop"].W - mems["closed"].W).abs().max())


@check("01", "resonance_chunked_equals_whole", target=at_most(1e-12))
def _res_chunks():
    """Max |W| difference: the stream written at once vs in three chunks (closed form)."""
    h, r = _res_stream(1)
    whole, parts = (_res.SynapticResonance(5, lam=0.05, batch=2) for _ in range(2))
    whole.write(h, r)
    for a, b in ((0, 4), (4, 5), (5, 12)):
        parts.write(h[:, a:b], r[:, a:b])
    return float((whole.W - parts.W).abs().max())


@check("01", "resonance_hand_computed", target=at_most(1e-12))
def _res_hand():
    """d = 2, eta = 1, lambda = 0.5: h = e1, e2, r = 1, 0.5 -> W = [[0, 0], [0.5, 0]] (hand)."""
    m = _res.SynapticResonance(2, eta=1.0, lam=0.5)
    m.write(torch.eye(2, dtype=torch.float64), torch.tensor([1.0, 0.5]))
    # t=1: W = 0 + 1 * e1 h_0^T (h_0 = 0) = 0;  t=2: W = 0 + 0.5 e2 e1^T - 0.5 * 0
    want = torch.tensor([[0.0, 0.0], [0.5, 0.0]], dtype=torch.float64)
    return float((m.W[0] - want).abs().max())


@mutant("01", RES)
@contextmanager
def resonance_gate_ignored():
    """The relevance gate is computed but never used (r_t = 1): plain Hebbian learning."""
    with mock.patch.object(_res, "relevance", lambda h, c, beta=20.0, theta=0.3:
                           torch.ones(h.shape[:-1], dtype=h.dtype)):
        yield


@mutant("01", RES)
@contextmanager
def resonance_outer_transposed():
    """The outer product written as h_{t-1} h_t^T (pre x post swapped): the cue maps to itself."""
    orig = _res.resonance_weights

    def swapped(h, r, h_prev, W0, eta, lam):
        return orig(h, r, h_prev, W0, eta, lam).transpose(1, 2)
    with mock.patch.object(_res, "resonance_weights", swapped):
        yield


@mutant("01", RES)
@contextmanager
def resonance_decay_off_by_one():
    """The closed form decays the newest write too ((1 - lambda)^(T - t + 1)): loop != closed."""
    def closed(h, r, h_prev, W0, eta, lam):
        T = h.shape[1]
        prev = torch.cat([h_prev[:, None], h[:, :-1]], dim=1)
        age = torch.arange(T, 0, -1, device=h.device, dtype=h.dtype)
        w = eta * r * (1.0 - lam) ** age
        return (1.0 - lam) ** T * W0 + torch.einsum("bt,bti,btj->bij", w, h, prev)
    with mock.patch.object(_res, "resonance_weights", closed):
        yield


@mutant("01", RES)
@contextmanager
def resonance_prev_not_carried():
    """The last state of a write is not kept: the first transition of every chunk is lost."""
    orig = _res.SynapticResonance.write

    def write(self, h, r=None):
        orig(self, h, r)
        self.h_prev = torch.zeros_like(self.h_prev)
    with mock.patch.object(_res.SynapticResonance, "write", write):
        yield
