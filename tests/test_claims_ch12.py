"""Chapter 12's claims at small size, with the chapter's own targets and library functions."""

import pytest

from memlab.agents.experiments import ku_comparison, measured_retention, monotone_fraction
from memlab.agents.reliability import crash_writer, forget_scan
from memlab.chapters import get_chapter
from memlab.tasks.longmemeval import generate

CLAIMS = get_chapter("12").claims


def test_retention_monotone_in_strength_and_the_bug_fails_it():
    assert CLAIMS["retention_monotone_in_strength"].check(monotone_fraction())
    assert not CLAIMS["retention_monotone_in_strength"].check(monotone_fraction(precedence_bug=True))


@pytest.mark.parametrize("seed", [0, 1])
def test_retention_curve_measured(seed):
    r = measured_retention(n=300, seed=seed)
    assert CLAIMS["retention_curve_max_err"].check(r["max_abs_err"]), r["max_abs_err"]
    bug = measured_retention(n=300, seed=seed, precedence_bug=True)
    assert not CLAIMS["retention_curve_max_err"].check(bug["max_abs_err"])


@pytest.mark.parametrize("seed", [0, 5])
def test_mem0_updates_avoid_stale_answers(seed):
    r = ku_comparison(generate(n_personas=6, seed=seed))
    assert CLAIMS["mem0_ku_accuracy"].check(r["mem0"]["ku_accuracy"])
    assert CLAIMS["mem0_stale_rate"].check(r["mem0"]["stale_rate"])
    assert CLAIMS["plain_stale_rate"].check(r["plain-retrieval"]["stale_rate"])
    # add-only memory (no UPDATE) keeps the stale fact and goes stale too
    assert not CLAIMS["mem0_stale_rate"].check(r["mem0-add-only"]["stale_rate"])


def test_store_survives_crash_and_forgets(tmp_path):
    assert CLAIMS["crash_lost_commits"].check(crash_writer(tmp_path, kill_after=30)["lost"])
    assert CLAIMS["forget_residual_bytes"].check(forget_scan(tmp_path / "f.db")["alice_hits"])
