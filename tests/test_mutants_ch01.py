"""Chapter 01's mutant catalogue: named bugs are caught by the checks meant for them (fast).

The full kill matrix (every mutant x every check) runs in tests/test_mutants.py (slow).
"""

import pytest

import memlab.associative.mutants  # noqa: F401  (registers chapter 01's mutants and checks)
from memlab.testing import mutants as M


def _run(check_name: str, mutant_name: str | None = None) -> M.CheckResult:
    return M.run_check_under("01", check_name, mutant_name)


def test_every_mechanism_has_three_mutants():
    mechs = M.mechanism_counts("01")
    assert len(mechs) == 5 and min(mechs.values()) >= 3, mechs   # + Synaptic Resonance


@pytest.mark.parametrize("check_name,mutant_name", [
    ("hopfield_energy_hand_computed", "hopfield_diagonal_not_zeroed"),
    ("hopfield_energy_hand_computed", "hebbian_1_over_N_dropped"),
    ("hopfield_async_equals_loop", "async_sweep_is_synchronous"),
    ("modern_equals_attention", "modern_beta_ignored"),
    ("sdm_activation_count_exact", "sdm_radius_off_by_one"),
])
def test_named_bug_is_caught(check_name, mutant_name):
    assert _run(check_name).passed
    assert not _run(check_name, mutant_name).passed


def test_mutants_restore_the_library():
    with M.MUTANTS["hopfield_diagonal_not_zeroed"].apply():
        pass
    assert _run("hopfield_energy_hand_computed").passed
