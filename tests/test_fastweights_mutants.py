"""Chapter 04/05 mutant helpers: edits apply and undo cleanly, every mutant breaks something."""

import torch

from memlab.fastweights import delta_rule as DR
from memlab.fastweights import experiments as E
from memlab.testing import mutants as M


def test_mutants_undo_their_patch():
    import memlab.fastweights.mutants
    import memlab.ssm.mutants  # noqa: F401
    from memlab.ssm import hippo

    before = (DR.delta_rule_chunked, E.delta_rule_chunked, hippo.legs_matrices)
    for name in ("delta_erase_halved", "hippo_sign_flipped"):
        with M.MUTANTS[name].apply():
            assert (DR.delta_rule_chunked, E.delta_rule_chunked, hippo.legs_matrices) != before
    assert (DR.delta_rule_chunked, E.delta_rule_chunked, hippo.legs_matrices) == before


def test_a_rule_mutant_reaches_every_caller():
    import memlab.fastweights.mutants  # noqa: F401

    g = torch.Generator().manual_seed(0)
    keys = E.orthonormal_keys(4, 4, g)
    vals = torch.randn(4, 4, generator=g, dtype=torch.float64)
    exact = E.store(keys, vals, "delta")
    with M.MUTANTS["delta_no_erase"].apply():
        # through experiments.store (an import by name) the rule is now linear attention
        S0 = torch.randn(4, 4, generator=g, dtype=torch.float64)
        broken = E.store(keys, vals, "delta", S0=S0)
        assert torch.allclose(broken, S0 + E.store(keys, vals, "linear"))
    assert torch.allclose(E.store(keys, vals, "delta"), exact)


def test_every_chapter_04_05_mechanism_has_three_mutants():
    import memlab.fastweights.mutants
    import memlab.ssm.mutants  # noqa: F401

    count = {}
    for m in M.MUTANTS.values():
        if m.chapter in ("04", "05"):
            count[(m.chapter, m.mechanism)] = count.get((m.chapter, m.mechanism), 0) + 1
    assert len(count) == 9 and min(count.values()) >= 3, count   # 4 + 5 (MemMamba added)
