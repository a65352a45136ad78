"""Chapter 19's mutants (bugs in the atlas's bookkeeping and in the sweep) and their checks.

The atlas is only as good as its x-axis and its table: a state measured in numbers instead of
bytes moves every float64 point by 2x; a key that forgets the seed silently keeps one seed per
point (the error bars vanish); a resume that re-runs finished points wastes the cluster, and one
failing point that stops the sweep loses the rest. Checks run on the free ``toy`` target and on
tiny models, well under a second each.
"""

from __future__ import annotations

import tempfile
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

from memlab import sweep as S
from memlab.atlas import registry as R
from memlab.report import at_least, at_most
from memlab.testing.mutants import check, mutant

REG, SWP = "Atlas registry and state bytes", "Ray sweep with a resumable results table"


# ------------------------------------------------------------------ registry / state bytes
@mutant("19", REG)
@contextmanager
def state_bytes_without_dtype():
    """State bytes = state_size() alone (numbers, not bytes): the dtype's itemsize forgotten,
    so a float64 model looks as small as a float32 one and every point moves 4-8x left."""
    with mock.patch.object(R, "_itemsize", lambda model: 1):
        yield


@mutant("19", REG)
@contextmanager
def state_of_first_layer_only():
    """Only the first block's mixer is counted: a two-layer model reports half its state."""
    def first(model, seq_len):
        mixers = getattr(model, "mixers", None) or [model]
        return int(mixers[0].state_size(seq_len))

    with mock.patch.object(R, "state_numbers", first):
        yield



@mutant("19", REG)
@contextmanager
def state_at_one_token():
    """state_size() called without the task's length (seq_len=1): attention's KV cache, which
    grows with the context, is counted as one token's key and value."""
    real = R.state_numbers
    with mock.patch.object(R, "state_numbers", lambda model, seq_len: real(model, 1)):
        yield


@check("19", "state_bytes_match_formula")
def _state_bytes():
    """Relative error of state_bytes vs the hand formulas, float32 and float64, two layers."""
    from memlab.atlas.suite import state_bytes_error

    return state_bytes_error(["attention", "linear", "mamba"], width=8, seq_len=12)


# ------------------------------------------------------------------ sweep
@mutant("19", SWP)
@contextmanager
def key_ignores_seed():
    """The point key hashes the parameters and revision but not the seed: every seed of a point
    lands on one row, the later seed overwriting the earlier (no seed spread left)."""
    real = S.point_key
    with mock.patch.object(S, "point_key", lambda t, p, seed, rev: real(t, p, 0, rev)):
        yield


@mutant("19", SWP)
@contextmanager
def resume_reruns_done():
    """The resume reads no finished keys (e.g. the table opened in a fresh, empty file each
    time): a restarted sweep runs every point again."""
    with mock.patch.object(S.ResultStore, "done", lambda self: set()):
        yield


@mutant("19", SWP)
@contextmanager
def failure_stops_sweep():
    """A failing point raises out of the task instead of being recorded: the whole sweep stops
    at the first bad point and the rest of the grid is lost."""
    real = S.run_one

    def raising(target, params, seed, device="cpu", nice=0):
        out = real(target, params, seed, device, nice)
        if out["status"] != "ok":
            raise RuntimeError(out["error"])
        return out

    with mock.patch.object(S, "run_one", raising):
        yield


def _toy(grid, seeds, runs=1):
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "t.duckdb"
        summaries = [S.sweep("toy", grid, seeds, out, serial=True, progress=False, revision="r")
                     for _ in range(runs)]
        return summaries, S.load(out)


@check("19", "resume_reruns")
def _resume():
    """Points run again by a second sweep over a finished grid (should be none)."""
    summaries, _ = _toy({"a": [1, 2]}, [0, 1], runs=2)
    return summaries[1]["ran"]


@check("19", "rows_missing_from_table", target=at_most(0))
def _rows():
    """Grid points x seeds minus the rows in the table after one sweep."""
    _, rows = _toy({"a": [1, 2]}, [0, 1])
    return 4 - len({(r["params"]["a"], r["seed"]) for r in rows}) + (4 - len(rows))


@check("19", "failing_point_recorded", target=at_least(2))
def _failing():
    """Rows recorded for a grid of one good and one failing point (both must be there)."""
    _, rows = _toy({"fail": [False, True]}, [0])
    ok = sum(r["status"] == "ok" for r in rows)
    err = sum(r["status"] == "error" and "fails on purpose" in (r["error"] or "") for r in rows)
    return ok + err if ok == 1 and err == 1 else 0
