"""Chapter 05 widgets: HiPPO's read-back of a history, Mamba's input-dependent step size.

``render_hippo(N, timescale)``: left, the scale-invariant LegS state (N numbers) read back over
the whole history; right, the LTI HiPPO state with step 1/timescale read back over the recent
past (sharp for ~timescale steps, blurry after). ``render_selection(model, inputs, index)``:
along one selective-copying sequence, the oracle Delta of the selection probe (set by hand)
beside the Delta a trained Mamba actually computes, data tokens marked.
"""

from __future__ import annotations

import torch

from memlab.viz import new_figure

__all__ = ["render_hippo", "render_selection"]


def render_hippo(N: int = 16, timescale: float = 50.0, T: int = 400, seed: int = 0,
                 max_cycles: float = 6.0):
    """Read a random smooth signal's history back from N state numbers. Returns a Figure."""
    from memlab.ssm.experiments import smooth_signals
    from memlab.ssm.hippo import legs_online_fast, lti_online, reconstruct_legs, reconstruct_lti

    if N < 1 or timescale <= 0 or T < 2:
        raise ValueError(f"need N >= 1, timescale > 0, T >= 2; got N={N}, "
                         f"timescale={timescale}, T={T}")
    u = smooth_signals(1, T, max_cycles=max_cycles, seed=seed)[0]
    fig, axes = new_figure(ncols=2, width=4.6, height=3.0)
    ax1, ax2 = axes[0]
    c = legs_online_fast(u, N)
    r = reconstruct_legs(c, T)
    err = float((r - u).pow(2).mean() / u.pow(2).mean())
    t = torch.arange(T)
    ax1.plot(t, u, color="0.6", lw=2, label="signal u")
    ax1.plot(t, r, color="C0", lw=1.2, label=f"LegS read-back (N={N})")
    ax1.set(title=f"whole history, rel. MSE {err:.1e}", xlabel="time step")
    ax1.legend(fontsize=7, loc="lower left")
    dt = 1.0 / timescale
    lags = min(T, int(4 * timescale) + 1)
    x = lti_online(u, N, dt)[-1]
    r2 = reconstruct_lti(x, lags, dt)
    truth = u.flip(0)[:lags]
    near = min(lags, int(timescale))
    err2 = float((r2[:near] - truth[:near]).pow(2).mean() / truth[:near].pow(2).mean())
    s = torch.arange(lags)
    ax2.plot(s, truth, color="0.6", lw=2, label="u(t - s)")
    ax2.plot(s, r2, color="C1", lw=1.2, label=f"LTI read-back (dt=1/{timescale:g})")
    ax2.axvline(timescale, color="k", ls=":", lw=1)
    ax2.set(title=f"recent past, rel. MSE (s < {near}) {err2:.1e}", xlabel="lag s (steps ago)")
    ax2.legend(fontsize=7, loc="lower left")
    return fig


def render_selection(model, inputs: torch.Tensor, index: int = 0, layer: int = 0,
                     delta_data: float = 0.5):
    """Two step sizes along sequence ``index`` of selective-copying ``inputs``, side by side.

    Left, the **oracle** Delta of the selection probe (set by hand from the task's rule:
    ``delta_data`` on data tokens, 0 on noise, so noise never enters the state). Right, the
    Delta that the **trained** ``model``'s Mamba layer ``layer`` actually computes (mean over
    channels), with its mean on data vs noise tokens. Whether training has made the right
    panel look like the left one is a measurement, not a given: after a short CPU training
    it typically has not (ratio ~ 1).
    """
    from memlab.ssm.experiments import delta_profile, oracle_delta

    if not 0 <= index < inputs.shape[0]:
        raise ValueError(f"index must be in [0, {inputs.shape[0] - 1}], got {index}")
    seq = inputs[index].cpu()
    d = delta_profile(model, seq, layer=layer)[0]
    orc = oracle_delta(seq, delta_data)
    fig, axes = new_figure(ncols=2, width=4.6, height=2.8)
    ax1, ax2 = axes[0]
    t = torch.arange(len(seq))
    data = (seq >= 2).nonzero().flatten()
    noise = seq == 0
    ax1.step(t, orc, where="mid", color="C2", lw=1.2, label="oracle Delta_t (set by hand)")
    ax1.scatter(data, orc[data], color="C3", zorder=3, label="data token")
    ax1.set(xlabel="position", ylabel="Delta", ylim=(-0.05, 1.8 * max(delta_data, 1e-3)),
            title=f"oracle: {delta_data:g} on data, 0 on noise")
    ax1.legend(fontsize=7, loc="upper left", ncols=2)
    ax2.plot(t, d, color="C0", marker=".", lw=1, label="trained Delta_t (mean over channels)")
    ax2.scatter(data, d[data], color="C3", zorder=3, label="data token")
    for p in data.tolist():
        ax2.annotate(str(int(seq[p])), (p, float(d[p])), textcoords="offset points",
                     xytext=(0, 3), ha="center", fontsize=7, color="C3")
    ratio = float(d[data].mean() / d[noise].mean()) if len(data) and noise.any() else float("nan")
    ax2.set(xlabel="position", ylabel="Delta",
            title=f"trained, layer {layer}: data/noise Delta = {ratio:.2f}")
    ax2.legend(fontsize=7, loc="best")
    return fig
