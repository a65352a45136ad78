"""Chapter 15's claims at small size, with the chapter's own targets, over several seeds."""

import numpy as np
import pytest

from memlab.chapters import get_chapter
from memlab.security import experiments as X

CLAIMS = get_chapter("15").claims


@pytest.mark.parametrize("seed", range(4))
def test_minja_on_an_empty_memory(seed):
    r = X.minja_run(0, seed=seed, n_queries=20)
    assert CLAIMS["minja_isr_empty"].check(r["isr"]), r["isr"]
    assert CLAIMS["minja_asr_empty"].check(r["asr"]), r["asr"]
    assert r["utility"] == 1.0


def test_defence_cuts_asr_and_its_negative_controls():
    """Attack success pooled over seeds 0-7 at the notebook's size; single seeds range
    0.74-1.0, so the claim is on the pooled rate, as in the notebook."""
    rows = {s: X.defence_table(10, s, n_queries=40) for s in range(8)}
    assert all(r["none"]["asr"] >= 0.1 for r in rows.values())      # something to cut
    pool, k1 = X.pooled(rows), X.pooled(rows, "memguard K=1")
    assert CLAIMS["defence_asr_reduction"].check(pool["reduction"]), pool
    assert CLAIMS["defence_utility_drop"].check(pool["utility_drop"]), pool
    assert CLAIMS["k1_asr_reduction"].check(k1["reduction"]), k1
    assert not CLAIMS["defence_asr_reduction"].check(k1["reduction"])


def test_poisoned_majority_defeats_consensus():
    tab = X.defence_table(0, 0, guards=("none", "memguard"), n_queries=20)
    assert tab["memguard"]["asr"] == tab["none"]["asr"] == 1.0


def test_lessons_hold_over_a_long_run_where_consensus_alone_erodes():
    kw = {"n_cycles": 8, "rounds_per_level": 3, "n_victims": 5}
    guarded = [X.long_run("memguard", seed=s, **kw)["late_asr"] for s in range(3)]
    alone = [X.long_run("consensus only", seed=s, **kw)["late_asr"] for s in range(3)]
    assert CLAIMS["lessons_late_asr"].check(float(np.mean(guarded))), guarded
    assert not CLAIMS["lessons_late_asr"].check(float(np.mean(alone))), alone


@pytest.mark.parametrize("seed", range(2))
def test_agentpoison_trigger(seed):
    r = X.poison_run(seed, n_records=200, n_queries=60)
    assert CLAIMS["poison_retrieval_triggered"].check(r["triggered"]), r
    assert CLAIMS["poison_retrieval_benign"].check(r["benign"]), r
    assert r["random_trigger"] < r["triggered"]             # the optimisation matters
    assert not CLAIMS["poison_retrieval_triggered"].check(r["random_trigger"])
