"""The mutant catalogue: every mutant is killed by a check of its own chapter, or excused.

A claim that passes with the mechanism broken proves nothing; this holds every chapter's
claims and equalities to catching the realistic bugs listed beside each family's code.
"""

from contextlib import contextmanager

import pytest

from memlab.report import at_most
from memlab.testing import mutants as M

ALL = M.mutants()
CHAPTERS = sorted({m.chapter for m in ALL})


def test_catalogue_size_and_docs():
    assert len(ALL) >= 60, f"only {len(ALL)} mutants"
    by_mech: dict[tuple[str, str], int] = {}
    for m in ALL:
        assert m.doc, m.name
        by_mech[(m.chapter, m.mechanism)] = by_mech.get((m.chapter, m.mechanism), 0) + 1
    assert all(M.checks(ch) for ch in CHAPTERS), "a chapter has mutants but no checks"
    # at least three per mechanism; chapter 07's demonstrated-only systems (no claim of their own
    # yet) have one or two, each with a check of its own
    demos = {("07", "EM-LLM surprise events"), ("07", "EMAT key-value MIPS memory"),
             ("07", "InfLLM block memory")}
    few = {k: n for k, n in by_mech.items() if n < 3 and k not in demos}
    assert not few, f"mechanisms with fewer than 3 mutants: {few}"


@pytest.mark.slow
@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_mutant_is_killed_or_excused(chapter):
    mat = M.kill_matrix(chapter)
    assert not mat.baseline_failures(), M.format_matrix(mat)
    assert not mat.survivors(), M.format_matrix(mat)


def test_a_mutant_that_changes_nothing_survives_and_is_reported():
    # the matrix can say "survived": a no-op mutant registered for a throwaway chapter key
    calls = []

    @contextmanager
    def noop():
        calls.append(1)
        yield

    m = M.Mutant("noop", "99", "nothing", "changes nothing", noop)
    c = M.Check("always_small", "99", lambda: 0.0, at_most(1.0))
    mat = M.Matrix("99", [c.name], {c.name: M.run_check(c)})
    with m.apply():
        mat.rows[m.name] = {c.name: M.run_check(c)}
    mat.mutants[m.name] = m
    assert calls == [1] and mat.survivors() == ["noop"]
    M.CHECKS[("99", c.name)] = c
    try:
        assert "SURVIVED" in M.format_matrix(mat)
    finally:
        del M.CHECKS[("99", c.name)]


def test_a_crashing_check_counts_as_a_kill():
    def boom():
        raise RuntimeError("broken")

    r = M.run_check(M.Check("boom", "99", boom, at_most(1.0)))
    assert not r.passed and "RuntimeError" in r.error


def test_cli_lists_and_prints_the_matrix_as_json(capsys):
    import json

    from memlab.cli import main

    assert main(["mutants", "--list", "08"]) == 0
    listed = capsys.readouterr().out
    assert "pkm_candidate_missed" in listed
    assert main(["mutants", "08", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["mutants"]
    assert rows and all(set(r) == {"name", "chapter", "mechanism", "killed_by", "excused"} for r in rows)
    assert all(r["killed_by"] or r["excused"] for r in rows)
