"""Chapter 12's claims at small size, with the chapter's own targets and library functions."""

import math
from unittest import mock

import numpy as np
import pytest

from memlab.agents.experiments import ku_comparison, measured_retention, monotone_fraction
from memlab.agents.reliability import crash_system, crash_writer, forget_scan
from memlab.chapters import get_chapter
from memlab.tasks.longmemeval import generate

CLAIMS = get_chapter("12").claims


def test_a_wrong_curve_fails_both_retention_claims():
    """exp(-t/(S+1)) is monotone in S, yet the measured curve vs the literal exp(-t/S) catches
    it; the precedence bug fails both."""
    import memlab.agents.memorybank as MB

    wrong = lambda t, S, precedence_bug=False: math.exp(-t / (S + 1))
    with mock.patch.object(MB, "retention", wrong):
        err = measured_retention(n=400, seed=0)["max_abs_err"]
        assert not CLAIMS["retention_curve_max_err"].check(err), err


def test_retention_monotone_in_strength_and_the_bug_fails_it():
    assert CLAIMS["retention_monotone_in_strength"].check(monotone_fraction())
    assert not CLAIMS["retention_monotone_in_strength"].check(monotone_fraction(precedence_bug=True))


@pytest.mark.parametrize("seed", range(8))
def test_retention_curve_measured(seed):
    """The notebook's default size (400 memories per cell) over seeds 0-7: the measured
    survival follows exp(-t/S) within the claim's tolerance, and the public code's
    exp(-t/5*S) misses it and orders the strengths the other way round."""
    r = measured_retention(n=400, seed=seed)
    assert CLAIMS["retention_curve_max_err"].check(r["max_abs_err"]), r["max_abs_err"]
    # the curve written out here, not the library's: exp(-t/S), t in days
    literal = np.array([[math.exp(-t / S) for t in r["ts"]] for S in r["Ss"]])
    assert np.abs(r["measured"] - literal).max() == pytest.approx(r["max_abs_err"])
    bug = measured_retention(n=400, seed=seed, precedence_bug=True)
    assert not CLAIMS["retention_curve_max_err"].check(bug["max_abs_err"])
    assert (bug["measured"][0, 1:] > bug["measured"][-1, 1:]).all()   # S=1 outlives S=4


@pytest.mark.parametrize("seed", range(12))
def test_mem0_updates_avoid_stale_answers(seed):
    """Generator seeds 0-11: Mem0 answers every knowledge update with the current value,
    plain retrieval often with the old one."""
    r = ku_comparison(generate(n_personas=6, seed=seed))
    assert CLAIMS["mem0_ku_accuracy"].check(r["mem0"]["ku_accuracy"])
    assert r["mem0"]["ku_accuracy"] == 1.0
    assert CLAIMS["mem0_stale_rate"].check(r["mem0"]["stale_rate"])
    assert CLAIMS["plain_stale_rate"].check(r["plain-retrieval"]["stale_rate"])
    # add-only memory (no UPDATE) keeps the stale fact and goes stale too
    assert not CLAIMS["mem0_stale_rate"].check(r["mem0-add-only"]["stale_rate"])


def test_store_survives_crash_and_forgets(tmp_path):
    assert CLAIMS["crash_lost_commits"].check(crash_writer(tmp_path, kill_after=30)["lost"])
    whole = crash_system(tmp_path / "sys.db", kill_after=12)     # a whole MemGPT run
    assert CLAIMS["crash_lost_commits"].check(whole["lost"]) and whole["restored_equal"]
    assert CLAIMS["forget_residual_bytes"].check(forget_scan(tmp_path / "f.db")["alice_hits"])


@pytest.mark.parametrize("seed", range(8))
def test_tim_paraphrases_never_contradict(seed):
    """Generator seeds 0-7: TiM's thoughts never give two answers to paraphrases of one
    question; retrieval over raw rounds often does; TiM without insert/forget/merge does too."""
    from functools import partial

    from memlab.agents.baselines import PlainRetrieval
    from memlab.agents.tim import TiM, paraphrase_consistency

    recs = generate(n_personas=6, seed=seed)
    tim, plain = (paraphrase_consistency(f, recs) for f in (TiM, PlainRetrieval))
    assert CLAIMS["tim_contradiction_rate"].check(tim["contradictions"])
    assert CLAIMS["tim_consistency_gain"].check(tim["consistent"] - plain["consistent"])
    assert plain["contradictions"] >= 0.3
    raw = paraphrase_consistency(partial(TiM, organise=False), recs)
    assert not CLAIMS["tim_contradiction_rate"].check(raw["contradictions"])


@pytest.mark.parametrize("seed", range(8))
def test_memgas_router_beats_the_mean_granularity(seed):
    """Seeds 0-7: routing beats the mean single granularity. Beating *every* single
    granularity (the paper) does not hold on every seed here (margin -0.05 to +0.04)."""
    from memlab.agents.memgas import granularity_comparison

    r = granularity_comparison(generate(n_personas=6, seed=seed))
    assert CLAIMS["memgas_gain_over_mean_granularity"].check(r["gain_over_mean"])
    assert -0.1 < r["margin_over_best"] < 0.1


@pytest.mark.parametrize("seed", range(4))
def test_plain_stale_rate_is_a_wording_effect(seed):
    """Review: ``plain_stale_rate`` depends on the template's wording. Reworded so that the
    update turn reuses the question's verb, the same personas give plain retrieval no stale
    answer at all; add-only memory (both facts kept) stays stale under either wording."""
    r = ku_comparison(generate(n_personas=6, seed=seed, update_wording="question_verb"))
    assert r["plain-retrieval"]["stale_rate"] == 0.0
    assert not CLAIMS["plain_stale_rate"].check(r["plain-retrieval"]["stale_rate"])
    assert r["mem0"]["stale_rate"] == 0.0 and r["mem0"]["ku_accuracy"] == 1.0
    assert r["mem0-add-only"]["stale_rate"] > 0.1


def test_update_wording_changes_only_the_update_turns():
    a, b = generate(n_personas=2, seed=3), generate(n_personas=2, seed=3,
                                                    update_wording="question_verb")
    diff = [(x["content"], y["content"])
            for ra, rb in zip(a, b)
            for sa, sb in zip(ra["haystack_sessions"], rb["haystack_sessions"])
            for x, y in zip(sa, sb) if x["content"] != y["content"]]
    assert diff and all("now" in y and "now" not in x.lower().replace("know", "")
                        or "drive" in y for x, y in diff)
    assert [r["answer"] for r in a] == [r["answer"] for r in b]
    with pytest.raises(ValueError, match="update_wording"):
        generate(n_personas=1, update_wording="shouty")
