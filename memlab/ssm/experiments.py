"""Chapter 05's experiments, as library functions the notebook and the claim tests share.

* :func:`hippo_vs_ema` -- read a signal's whole history back from N numbers: HiPPO-LegS's
  closed-form Legendre read-out vs a bank of N exponential moving averages (EMAs) with the best
  linear decoder fitted by least squares (the EMA gets every advantage).
* :func:`s4d_conv_vs_recurrence` -- the S4D convolution kernel and the recurrence, same output.
* :func:`selective_copying_run` -- train a tiny LM with a Mamba (selective) or an LTI S4D mixer
  of the same state size on selective copying; report answer accuracy.
* :func:`selection_probe` -- the same task with the selection set by hand (an *oracle* Delta)
  and a fitted linear read-out: what selection can do, vs the best constant (LTI) Delta.
* :func:`delta_profile`, :func:`delta_by_kind` -- a trained Mamba's input-dependent step size
  along a sequence, and whether it has specialised (data vs noise tokens).
"""

from __future__ import annotations

import cmath
import math
import time

import torch

from memlab.ssm import hippo as _hippo
from memlab.ssm import scan as _scan
from memlab.ssm.hippo import legs_online_fast, reconstruct_legs
from memlab.ssm.mamba import Mamba
from memlab.ssm.s4d import S4D

__all__ = [
    "delta_by_kind",
    "delta_profile",
    "discretization_closed_form_err",
    "ema_bank",
    "hippo_vs_ema",
    "oracle_delta",
    "s4d_conv_vs_recurrence",
    "selection_probe",
    "selective_copying_run",
    "smooth_signals",
    "theorem1_gap",
]


def smooth_signals(n: int, T: int, n_freq: int = 6, max_cycles: float = 4.0,
                   seed: int = 0) -> torch.Tensor:
    """``[n, T]`` float64 random smooth signals: sums of ``n_freq`` sinusoids with up to
    ``max_cycles`` periods over the T steps (random amplitudes and phases)."""
    if n < 1 or T < 2 or n_freq < 1 or max_cycles <= 0:
        raise ValueError(f"need n >= 1, T >= 2, n_freq >= 1, max_cycles > 0; got "
                         f"n={n}, T={T}, n_freq={n_freq}, max_cycles={max_cycles}")
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(T, dtype=torch.float64) / T
    f = torch.rand(n, n_freq, 1, generator=g, dtype=torch.float64) * max_cycles
    phase = torch.rand(n, n_freq, 1, generator=g, dtype=torch.float64) * 2 * math.pi
    amp = torch.randn(n, n_freq, 1, generator=g, dtype=torch.float64)
    return (amp * torch.sin(2 * math.pi * f * t + phase)).sum(1)


def ema_bank(u: torch.Tensor, N: int, max_timescale: float | None = None) -> torch.Tensor:
    """Final states of N EMAs ``m_i <- (1 - a_i) m_i + a_i u_t`` with timescales 1/a_i spread
    log-uniformly over ``[1, max_timescale]`` (default: T). ``u [n, T] -> [n, N]``."""
    T = u.shape[-1]
    tau = torch.logspace(0, math.log10(max_timescale or T), N, dtype=u.dtype, device=u.device)
    alpha = 1 / tau
    # m_T = sum_t a (1 - a)^(T - t) u_t: one matrix product instead of a loop
    lag = torch.arange(T - 1, -1, -1, dtype=u.dtype, device=u.device)
    W = alpha[:, None] * (1 - alpha[:, None]) ** lag                       # [N, T]
    return u @ W.T


def _rel_mse(pred: torch.Tensor, true: torch.Tensor) -> float:
    return float((pred - true).pow(2).mean() / true.pow(2).mean())


def hippo_vs_ema(N: int = 16, T: int = 500, n_train: int = 512, n_test: int = 128,
                 max_cycles: float = 4.0, seed: int = 0, method: str = "bilinear",
                 device="cpu") -> dict:
    """Relative MSE of reading back ``u_1..u_T`` from N state numbers.

    HiPPO-LegS: the online coefficients and the closed-form Legendre read-out (no fitting).
    EMA bank: N EMAs (timescales 1..T), decoded by ridge least squares fitted on ``n_train``
    signals. Returns ``{"hippo": err, "ema": err, "ratio": ema / hippo}`` (test signals).
    ``device``: where the signals and the computation live (the data is drawn on the CPU).
    """
    train = smooth_signals(n_train, T, max_cycles=max_cycles, seed=2 * seed + 1).to(device)
    test = smooth_signals(n_test, T, max_cycles=max_cycles, seed=2 * seed + 2).to(device)
    c = legs_online_fast(test, N, method)
    hippo = _rel_mse(reconstruct_legs(c, T), test)
    x_tr, x_te = ema_bank(train, N), ema_bank(test, N)
    gram = x_tr.T @ x_tr
    ridge = 1e-10 * gram.diagonal().mean() * torch.eye(N, dtype=gram.dtype, device=gram.device)
    decoder = torch.linalg.solve(gram + ridge, x_tr.T @ train)             # [N, T]
    ema = _rel_mse(x_te @ decoder, test)
    return {"hippo": hippo, "ema": ema, "ratio": ema / max(hippo, 1e-300), "N": N, "T": T}


def s4d_conv_vs_recurrence(d_model: int = 4, d_state: int = 16, T: int = 256, batch: int = 2,
                           seed: int = 0, dtype=torch.float64,
                           discretization: str = "zoh", device="cpu") -> float:
    """Relative error between S4D's FFT-convolution view and its recurrence (random input)."""
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    m = S4D(d_model, d_state, discretization=discretization).to(device=device, dtype=dtype)
    x = torch.randn(batch, T, d_model, generator=g, dtype=torch.float64).to(device=device,
                                                                           dtype=dtype)
    with torch.no_grad():
        y_conv, _ = m.forward_conv(x)
        y_rec, _ = m.forward_recurrent(x)
    return float((y_conv - y_rec).abs().max() / y_rec.abs().max())


def selective_copying_run(ssm: str = "selective", seq_len: int = 48, n_tokens: int = 8,
                          vocab_size: int = 10, d_model: int = 32, d_state: int = 16,
                          n_layers: int = 2, steps: int = 400, batch_size: int = 64,
                          lr: float = 3e-3, n_train: int = 4000, n_test: int = 500,
                          seed: int = 0, device="cpu", progress: bool = False,
                          weight_decay: float = 0.0, positions: bool = False,
                          **mixer_kwargs) -> dict:
    """Train ``TinyLM`` with a Mamba mixer (``ssm="selective"``) or the same block with an LTI
    S4D (``ssm="s4d"``, same state size) on selective copying; accuracy on held-out sequences.

    Returns ``{"acc", "final_loss", "wall_s", "state_size", "model", "test"}``.
    """
    from memlab.tasks import selective_copying
    from memlab.train import TinyLM, accuracy, train

    train_set = selective_copying(n_train, seq_len, n_tokens, vocab_size, seed=3 * seed + 1)
    test_set = selective_copying(n_test, seq_len, n_tokens, vocab_size, seed=3 * seed + 2)
    torch.manual_seed(seed)
    model = TinyLM(vocab_size, d_model, n_layers=n_layers, max_len=seq_len if positions else None,
                   mixer=lambda d: Mamba(d, d_state=d_state, ssm=ssm, **mixer_kwargs))
    t0 = time.perf_counter()
    res = train(model, train_set, steps=steps, batch_size=batch_size, lr=lr, device=device,
                seed=seed, progress=progress, weight_decay=weight_decay)
    acc = accuracy(model, test_set.to(device) if hasattr(test_set, "to") else test_set)
    return {"acc": acc, "final_loss": res.final_loss, "wall_s": time.perf_counter() - t0,
            "state_size": sum(m.state_size() for m in model.mixers), "model": model,
            "test": test_set, "losses": res.losses}


@torch.no_grad()
def delta_profile(model, inputs: torch.Tensor, layer: int = 0) -> torch.Tensor:
    """Mamba's step size Delta along each sequence, averaged over channels: ``[batch, time]``.

    ``model``: a :class:`memlab.train.TinyLM` whose mixers are selective :class:`Mamba` blocks.
    The input to ``layer``'s mixer is recomputed (embeddings, earlier blocks, the norm).
    """
    if inputs.dim() == 1:
        inputs = inputs[None]
    x = model.embed_tokens(inputs.to(next(model.parameters()).device))
    for block in model.blocks[:layer]:
        x, _ = block(x)
    mixer = model.blocks[layer].mixer
    if not isinstance(mixer, Mamba):
        raise TypeError(f"layer {layer}'s mixer is {type(mixer).__name__}, not Mamba")
    return mixer.delta(model.blocks[layer].norm1(x)).mean(-1).cpu()


@torch.no_grad()
def delta_by_kind(model, inputs: torch.Tensor, layer: int = 0) -> dict:
    """Has a trained Mamba's step size specialised? Mean Delta (over channels and positions)
    on data tokens (ids >= 2) and on noise tokens (id 0) of selective-copying ``inputs``.

    Returns ``{"data": mean, "noise": mean, "ratio": data / noise}``: an oracle selection has
    ratio -> infinity (Delta = 0 on noise); ~1 means the model does not select by Delta.
    """
    d = delta_profile(model, inputs, layer=layer)                       # [batch, time]
    x = inputs.cpu()
    data, noise = d[x >= 2], d[x == 0]
    if not len(data) or not len(noise):
        raise ValueError("inputs need both data tokens (ids >= 2) and noise tokens (id 0)")
    out = {"data": float(data.mean()), "noise": float(noise.mean())}
    out["ratio"] = out["data"] / out["noise"]
    return out


def oracle_delta(inputs: torch.Tensor, delta_data: float = 0.5) -> torch.Tensor:
    """The probe's hand-set selection: ``delta_data`` on data tokens (ids >= 2), 0 on noise
    (id 0) and markers (id 1). Not learned: an oracle that knows the task's rule."""
    return (inputs >= 2).to(torch.float64) * delta_data


def selection_probe(seq_len: int = 64, n_tokens: int = 4, vocab_size: int = 8, N: int = 8,
                    n_train: int = 2000, n_test: int = 500, seed: int = 0,
                    return_features: bool = False,
                    delta_data: float = 0.5, device="cpu",
                    lti_deltas: tuple[float, ...] = (0.003, 0.01, 0.03, 0.1, 0.3, 1.0)) -> dict:
    """Selective copying with the *selection* set by hand and a fitted linear read-out.

    The same diagonal SSM (one channel per one-hot token dimension, N states each, S4D-Real
    ``A_n = -(n+1)``, B = 1) runs over the part of each sequence before the copy markers; a
    ridge-regression read-out of its final state (V * N numbers) predicts the data tokens in
    order. The only difference between the two systems is Delta:

    * selective (Mamba's mechanism): ``Delta_t = delta_data`` on data tokens, ``0`` on noise
      (the noise never touches the state);
    * LTI (S4D's): one constant Delta for every token -- the best of ``lti_deltas`` on test.

    This Delta is an *oracle* setting of the selection, chosen by hand from the task's rule:
    it shows what input-dependent Delta CAN do (capacity), not that training finds it.

    Returns ``{"selective": acc, "lti": best acc, "lti_by_delta": {...}, "state_size": V*N}``.
    """
    import torch.nn.functional as F

    from memlab.tasks import selective_copying

    if N < n_tokens:
        raise ValueError(f"N={N} must be >= n_tokens={n_tokens} for the read-out to be exact")
    V, L = vocab_size, seq_len - n_tokens
    sets = [selective_copying(n, seq_len, n_tokens, V, seed=1000 + 2 * seed + i)
            for i, n in enumerate((n_train, n_test))]
    A = -torch.arange(1, N + 1, dtype=torch.float64, device=device).repeat(V, 1)

    def features(batch, delta_of):
        """Final state h_L[d, n] = sum_s exp(A_n sum_{r>s} Delta_r) Delta_s u_s[d]: computed by
        memlab's selective scan (:func:`memlab.ssm.scan.selective_scan_chunked`, B = C = 1),
        so a broken scan breaks the probe."""
        x = batch.inputs[:, :L].to(device)
        u = F.one_hot(x, V).to(torch.float64)                              # [n, L, V]
        delta = delta_of(x).to(torch.float64)[..., None].expand_as(u).contiguous()
        ones = torch.ones(*x.shape, N, dtype=torch.float64, device=device)
        # chunks of 16 with the cumsum trick: exp of at most 16 * max(Delta) * N (< e^600, float64)
        _, h = _scan.selective_scan_chunked(u, delta, A, ones, ones, chunk=16, inner="cumsum")
        return h.reshape(x.shape[0], -1)

    def targets(batch):
        data = batch.targets[:, L:].to(device)                              # [n, k] in order
        return F.one_hot(data, V).to(torch.float64).reshape(data.shape[0], -1), data

    def probe(delta_of):
        (Xtr, Xte), ((Ytr, _), (_, want)) = [features(b, delta_of) for b in sets], [
            targets(b) for b in sets]
        gram = Xtr.T @ Xtr
        W = torch.linalg.solve(gram + 1e-9 * gram.diagonal().mean() * torch.eye(len(gram),
                               dtype=gram.dtype, device=gram.device), Xtr.T @ Ytr)
        pred = (Xte @ W).reshape(len(Xte), n_tokens, V).argmax(-1)
        return float((pred == want).to(torch.float64).mean())

    sel = probe(lambda x: oracle_delta(x, delta_data))
    lti = {d: probe(lambda x, d=d: torch.full(x.shape, d, device=x.device)) for d in lti_deltas}
    out = {"selective": sel, "lti": max(lti.values()), "lti_by_delta": lti,
           "state_size": V * N, "chance": 1 / (V - 2)}
    if return_features:
        out["features"] = features
    return out


def theorem1_gap(B_disc: str = "zoh", T: int = 64, batch: int = 3, seed: int = 0) -> float:
    """Mamba's Theorem 1 (selection = gating): with N = 1, A = -1, B = C = 1 and
    ``Delta_t = softplus(z_t)``, the selective scan is the gated RNN
    ``h_t = (1 - g_t) h_{t-1} + g_t x_t``, ``g_t = sigmoid(z_t)``, because
    ``exp(-softplus(z)) = 1 - sigmoid(z)`` and, under ZOH, ``B_bar = (exp(Delta A) - 1) / A = g``.
    With the Euler step of the public code (``B_bar = Delta``) the identity does not hold.

    Returns the max relative difference between memlab's scan (``B_disc``) and the gated RNN
    written as a loop (float64, random x and z).
    """
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, T, 1, generator=g, dtype=torch.float64)
    z = 2 * torch.randn(batch, T, 1, generator=g, dtype=torch.float64)
    A = -torch.ones(1, 1, dtype=torch.float64)
    ones = torch.ones(batch, T, 1, dtype=torch.float64)
    y, _ = _scan.selective_scan_chunked(x, torch.nn.functional.softplus(z), A, ones, ones,
                                        B_disc=B_disc)
    gate, h, ref = torch.sigmoid(z), torch.zeros(batch, 1, dtype=torch.float64), []
    for t in range(T):
        h = (1 - gate[:, t]) * h + gate[:, t] * x[:, t]
        ref.append(h)
    ref = torch.stack(ref, 1)
    return float((y - ref).abs().max() / ref.abs().max())


def _err(got, want) -> float:
    return abs(complex(got) - want) / max(abs(want), 1e-300)


def discretization_closed_form_err() -> float:
    """HiPPO discretize (N = 1 and the 2 x 2 LegS, both methods), S4D A_bar, B_bar, K_l (ZOH and
    bilinear), Mamba's ZOH B_bar: max relative error against closed forms (cmath, by hand)."""
    errs, dt = [], 0.3
    A1, B1 = torch.tensor([[-1.0]], dtype=torch.float64), torch.tensor([1.0], dtype=torch.float64)
    a, b = _hippo.discretize(A1, B1, dt, "zoh")
    errs += [_err(a[0, 0], math.exp(-dt)), _err(b[0], 1 - math.exp(-dt))]
    a, b = _hippo.discretize(A1, B1, dt, "bilinear")
    errs += [_err(a[0, 0], (1 - dt / 2) / (1 + dt / 2)), _err(b[0], dt / (1 + dt / 2))]
    A2, B2 = _hippo.legs_matrices(2)          # [[-1, 0], [-sqrt 3, -2]], B = (1, sqrt 3)
    a, b = _hippo.discretize(A2, B2, dt, "zoh")
    e1, e2, c = math.exp(-dt), math.exp(-2 * dt), -math.sqrt(3)
    want = [[e1, 0.0], [c * (e1 - e2), e2]]                  # exp of a lower-triangular 2 x 2
    errs += [abs(float(a[i, j]) - want[i][j]) for i in range(2) for j in range(2)]
    x0 = 1 - e1                                              # B_bar = A^-1 (A_bar - I) B
    x1 = (c * (e1 - e2) * 1 + (e2 - 1) * math.sqrt(3) - c * x0) / -2
    errs += [_err(b[0], x0), _err(b[1], x1)]
    torch.manual_seed(0)
    for disc in ("zoh", "bilinear"):
        m = S4D(2, 4, discretization=disc).double()
        with torch.no_grad():
            A_bar, B_bar = m.discrete()
            K = m.kernel(5)
        A, C = m.A().detach(), torch.view_as_complex(m.C.detach().contiguous())
        for h in range(2):
            d = math.exp(float(m.log_dt.detach()[h]))
            modes = []
            for n in range(2):
                an = complex(A[h, n])
                ab = cmath.exp(d * an) if disc == "zoh" else (1 + d * an / 2) / (1 - d * an / 2)
                bb = (cmath.exp(d * an) - 1) / an if disc == "zoh" else d / (1 - d * an / 2)
                errs += [_err(A_bar[h, n], ab), _err(B_bar[h, n], bb)]
                modes.append((complex(C[h, n]) * bb, ab))
            for j in range(5):
                errs.append(_err(K[h, j], 2 * sum(cb * ab ** j for cb, ab in modes).real))
    f = _scan.b_bar_factor(torch.tensor([0.7], dtype=torch.float64), torch.tensor([[-2.0]], dtype=torch.float64), "zoh")
    errs.append(_err(f[0, 0], (math.exp(-1.4) - 1) / -2))
    return max(errs)
