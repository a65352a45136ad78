"""Chapters 12-13's mutant catalogue: at least three realistic bugs per mechanism, each with
a docstring; the kill matrix itself runs in tests/test_mutants.py (slow) and
``memlab mutants 12 13``."""

from collections import Counter

from memlab.testing import mutants as M


def test_three_mutants_per_mechanism_and_checks_exist():
    M.discover()
    per = Counter((m.chapter, m.mechanism) for m in M.mutants() if m.chapter in ("12", "13"))
    mechs = ["MemoryBank forgetting", "Generative Agents retrieval", "Mem0 extract + update",
             "A-MEM linked notes", "MemGPT-style paging", "MemOS-style memory units",
             "Event-sourced SQLite store"]
    assert all(per[("12", m)] >= 3 for m in mechs), per
    assert per[("13", "Memory harness")] >= 3
    assert len(M.checks("12")) >= 10 and len(M.checks("13")) >= 4


def test_the_memorybank_precedence_bug_and_the_appending_update_are_killed():
    from memlab.agents import mutants as AM

    with AM.memorybank_precedence_bug():
        assert AM._monotone() == 0.0
    with AM.mem0_update_appends():
        assert AM._mem0_in_place() == 0.0
    assert AM._monotone() == 1.0 and AM._mem0_in_place() == 1.0
