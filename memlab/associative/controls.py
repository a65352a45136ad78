"""Chapter 01's controls: what makes each claim able to fail, and its spread over seeds.

- :func:`dynamics_control` -- the classical critical load measured with and without the
  attractor dynamics. With 10%-noisy cues one synchronous step already gives about the same
  critical load as iterating to a fixed point (the claim then measures one step's crosstalk).
  With *clean* cues (noise 0) the two differ: one step keeps a pattern as long as most of its
  bits have the right local field (about alpha ~ 0.28 at N = 200), iterating lets the few wrong
  bits recruit more until the state leaves the pattern (about 0.19-0.21). The gap is the part
  of capacity that is due to the dynamics: the pattern must be a *stable* fixed point.
- :func:`metastable_score` -- the digits experiment as a claim: a read at intermediate beta
  puts most of the softmax mass on the cued digit's *class* while still mixing several digits.
- :func:`spread` -- a claim's value over a few seeds, as ``"min .. max over seeds [..]"``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from memlab.associative import experiments as E

__all__ = ["FIXED_POINT_LOADS", "ONE_STEP_LOADS", "dynamics_control", "metastable_score", "spread"]

# grids that bracket each crossing at N = 100 .. 1000 (fixed point ~0.2, one step ~0.28); the
# fixed-point grid stops early because iterating past the crossing is the slow part
FIXED_POINT_LOADS = [round(0.12 + 0.02 * k, 2) for k in range(8)]     # 0.12 .. 0.26
ONE_STEP_LOADS = [round(0.18 + 0.02 * k, 2) for k in range(10)]       # 0.18 .. 0.36


def dynamics_control(N: int = 200, loads: Sequence[float] | None = None, trials: int = 2,
                     seed: int = 0, device="cpu", one_step_loads: Sequence[float] | None = None
                     ) -> dict:
    """Critical loads at noise 0: iterated to a fixed point (async) vs ONE synchronous step.

    Returns ``{"fixed_point", "one_step", "gap" (one_step - fixed_point)}``; the gap is what the
    dynamics cost (a pattern must be a stable fixed point, not merely survive one update).
    ``loads`` is the fixed-point grid; ``one_step_loads`` (default: ``loads`` when given, else
    :data:`ONE_STEP_LOADS`) the one-step grid.
    """
    fixed_grid = list(FIXED_POINT_LOADS if loads is None else loads)
    one_grid = list(one_step_loads or (ONE_STEP_LOADS if loads is None else loads))
    fixed = E.recall_curve(N, fixed_grid, noise=0.0, trials=trials, mode="async", seed=seed,
                           device=device).critical
    one = E.recall_curve(N, one_grid, noise=0.0, trials=trials, mode="sync", max_sweeps=1,
                         seed=seed, device=device).critical
    return {"fixed_point": fixed, "one_step": one, "gap": one - fixed}


def metastable_score(dm: dict, beta: float) -> dict:
    """From :func:`~memlab.associative.experiments.digit_metastable`: the row at ``beta`` and
    whether it is a mixture (participation strictly between 2 and n/2, n = stored digits)."""
    row = next(r for r in dm["rows"] if r["beta"] == beta)
    n = dm.get("n", 500)
    return {**row, "is_mixture": bool(2 < row["participation"] < n / 2)}


def spread(fn: Callable[[int], float], seeds: Sequence[int] = (1, 2, 3),
           fmt: str = ".3f") -> tuple[list[float], str]:
    """``fn(seed)`` over ``seeds``: the values and a one-line summary to print beside a claim."""
    from memlab.report import seed_spread, spread_text

    vals = seed_spread(fn, seeds)
    return vals, spread_text(vals, seeds, fmt)
