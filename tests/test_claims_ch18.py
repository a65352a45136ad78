"""Chapter 18's claims at small size, through the same experiment functions as the notebook."""

import pytest

from memlab.chapters import get_chapter
from memlab.streaming import experiments as E
from memlab.testing import mutants as M

CLAIMS = get_chapter("18").claims


@pytest.mark.parametrize("seed", [0, 1])
def test_frame_bank_claims_at_small_size(seed):
    r = E.bank_claims(seed=seed, small=True)
    for name in ("merge_early_recall", "fifo_early_recall", "weighted_merge_error_ratio",
                 "events_lost_by_averaging"):
        assert CLAIMS[name].check(r[name]), (name, r[name])


def test_bank_under_budget_equality():
    assert CLAIMS["bank_under_budget_unchanged"].check(
        max(E.under_budget_change(), E.at_budget_change()))


def test_tree_claims_at_small_size():
    r = E.tree_claims(30, seed=2)
    for name in ("tree_gain_hard", "tree_gap_clean", "tree_p1_equals_greedy"):
        assert CLAIMS[name].check(r[name]), (name, r[name])


def test_karma_claim_at_small_size():
    r = E.karma_claims(40, seeds=(3,))
    assert CLAIMS["karma_success_ratio"].check(r["karma_success_ratio"]), r["table"]


def test_the_trap_mutant_kills_the_tree_claim():
    from memlab.streaming import mutants_embodied as MU

    with MU.tree_shared_memory():
        r = E.tree_claims(20, seed=0)
    assert not CLAIMS["tree_gain_hard"].check(r["tree_gain_hard"])


def test_chapter18_catalogue_has_three_mutants_per_mechanism():
    ms = M.mutants("18")
    mechs = {m.mechanism for m in ms}
    assert len(mechs) == 5
    for mech in mechs:
        assert sum(m.mechanism == mech for m in ms) >= 3, mech
    assert {c.name for c in M.checks("18")} >= set(CLAIMS)
