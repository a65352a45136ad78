"""Chapter 06 claims at small size, with the chapter's own targets and experiment functions.

Every claim has negative controls: named mutants of the rule (memlab/testtime/mutants.py) under
which its target is missed."""

import pytest
import torch

import memlab.testtime.titans as T
from memlab.chapters import get_chapter
from memlab.testing import mutants as M
from memlab.testtime import checks as C
from memlab.testtime import experiments as E
from memlab.testtime import mutants as _mutants  # noqa: F401 - registers the mutants

CLAIMS = get_chapter("06").claims


def test_linear_titans_equals_delta_rule():
    err = E.delta_rule_equality(T=32, d=8)["rel_err"]
    assert CLAIMS["delta_rule_rel_err"].check(err), err


def test_chunk_form_equals_its_loop():
    err = E.chunk_form_equality(T=96, d=8, chunk_size=16)["rel_err"]
    assert CLAIMS["chunk_form_rel_err"].check(err), err


def test_forgetting_keeps_recent_pairs_when_values_change():
    gain = C.forgetting_gain(0)
    assert CLAIMS["forgetting_recall_gain"].check(gain), gain


def test_forgetting_margin_over_20_seeds():
    """The margin is thin at small size: over seeds 0-19 (32 streams of 256 writes) the gain is
    0.21-0.32 against the 0.15 target (with 8 streams it was 0.16-0.34)."""
    gains = [C.forgetting_gain(s) for s in range(20)]
    assert min(gains) >= 0.15 + 0.05, gains


def test_momentum_retrieves_the_needle():
    gain = C.needle_gain(0)
    assert CLAIMS["momentum_needle_gain"].check(gain), gain


def test_omega_window_denoises():
    ratio = C.omega_ratio(0)
    assert CLAIMS["omega_error_ratio"].check(ratio), ratio


def test_heavy_ball_bound_not_the_old_rule_of_thumb():
    """theta = eta = 0.9 (theta / (1 - eta) = 9) converges on a repeated unit key; the bound is
    theta < 1 + eta: 1.85 converges, 1.95 diverges (eta = 0.9)."""
    assert C.heavy_ball(0.9, 0.9) < 1e-6 and C.heavy_ball(1.85, 0.9) < 1e-3
    assert C.heavy_ball(1.95, 0.9) > 1e3


# --------------------------------------------------------------------------- negative controls
# Each claim again, at the same sizes, with its mechanism broken inside the rule: the target
# must then be missed (so the tests above can fail).
def test_hebbian_write_fails_the_delta_rule_equality(monkeypatch):
    # drop the error term of the gradient (take it at M = 0): 2 (0 - v) k^T, a Hebbian write
    real = T._window_grads
    monkeypatch.setattr(T, "_window_grads", lambda anchor, K, V, gamma, act: real(
        [torch.zeros_like(w) for w in anchor], K, V, gamma, act))
    err = E.delta_rule_equality(T=32, d=8)["rel_err"]
    assert not CLAIMS["delta_rule_rel_err"].check(err), err


def test_wrong_step_constant_fails_the_delta_rule_equality(monkeypatch):
    # theta = beta instead of beta / 2 (the paper's loss has no 1/2): the equality must break
    real = E.titans_recurrent
    monkeypatch.setattr(E, "titans_recurrent",
                        lambda q, k, v, th, *a, **kw: real(q, k, v, 2 * th, *a, **kw))
    err = E.delta_rule_equality(T=32, d=8)["rel_err"]
    assert not CLAIMS["delta_rule_rel_err"].check(err), err


def test_chunk_form_without_its_decays_fails(monkeypatch):
    # the chunk form with momentum / forgetting decays ignored inside a chunk != its loop
    real = T._decay
    monkeypatch.setattr(T, "_decay", lambda g: real(torch.ones_like(g)))
    err = E.chunk_form_equality(T=96, d=8, chunk_size=16)["rel_err"]
    assert not CLAIMS["chunk_form_rel_err"].check(err), err


# The forgetting and momentum claims against mutants that break the RULE (not the input, and
# not a gate forced to zero in both arms, which would make the two runs identical).
@pytest.mark.parametrize("name", ["titans_alpha_as_retention", "titans_theta_eta_swapped",
                                  "titans_gradient_not_negated", "titans_momentum_as_ema"])
def test_forgetting_claim_fails_under_rule_mutants(name):
    with M.MUTANTS[name].apply():
        gain = C.forgetting_gain(0)
    assert not CLAIMS["forgetting_recall_gain"].check(gain), (name, gain)


@pytest.mark.parametrize("name", ["titans_momentum_sign", "titans_momentum_as_ema",
                                  "titans_theta_eta_swapped", "titans_alpha_as_retention"])
def test_needle_claim_fails_under_rule_mutants(name):
    with M.MUTANTS[name].apply():
        gain = C.needle_gain(0)
    assert not CLAIMS["momentum_needle_gain"].check(gain), (name, gain)


def test_unnormalised_window_fails_the_omega_claim():
    # gamma = 1 instead of 1/c: the window's losses are summed, not averaged (a c-times too
    # large step) -- the c = 1 run is unchanged (its gamma is 1 anyway)
    with M.MUTANTS["omega_window_summed"].apply():
        ratio = C.omega_ratio(0)
    assert not CLAIMS["omega_error_ratio"].check(ratio), ratio


def test_persistent_tokens_reach_the_memory_of_mag_and_mal():
    """MAG / MAL's memory reads [p || x] (the paper): changing p changes the memory's weights,
    and not under the mutant that feeds the memory x alone."""
    assert C._persistent() > 1e-6
    with M.MUTANTS["mag_mal_memory_reads_x_only"].apply():
        assert C._persistent() == 0.0


# --------------------------------------------------------------------------- PERK, Nested Learning
from memlab.testtime import nested as NL
from memlab.testtime import perk_experiments as PX


def test_perk_batched_inner_loop_equals_naive():
    assert CLAIMS["perk_inner_loop_rel_err"].check(PX.inner_loop_rel_err(0))


def test_perk_write_lowers_the_context_loss_over_seeds():
    vals = [PX.write_loss_ratio(s) for s in range(3)]
    assert all(CLAIMS["perk_write_loss_ratio"].check(v) for v in vals), vals


def test_perk_write_fails_when_the_step_climbs():
    with M.MUTANTS["perk_inner_step_ascends"].apply():
        try:
            v = PX.write_loss_ratio(0)
        except Exception:  # noqa: BLE001 - the loss may blow up (nan / inf): a failure too
            return
    assert not CLAIMS["perk_write_loss_ratio"].check(v), v


def test_perk_shared_adapter_breaks_the_equality():
    with M.MUTANTS["perk_adapter_shared_across_batch"].apply():
        assert not CLAIMS["perk_inner_loop_rel_err"].check(PX.inner_loop_rel_err(0))


@pytest.mark.slow
def test_perk_full_profile_numbers():
    """The full-profile run (about two minutes): PERK's claim does not hold at this size and is
    recorded, not claimed. Seeds 0 / 1 measured: adapter-only accuracy 0.05-0.16 / 0.02-0.17 per
    needle quarter, plain LoRA init 0.03-0.05 / 0.02-0.08 (meta gain 0.055 / 0.074), in-context
    reader 0.72-0.83 / 0.86-0.98. Held here: meta-learning phi_0 helps (gain > 0), and the
    reader beats the adapter at its worst needle position (robustness_gain < 0)."""
    r = PX.perk_experiment(seed=0)
    assert r["meta_gain"] > 0, r
    assert r["robustness_gain"] < 0, r


def test_cms_return_claim_notebook_size_over_seeds():
    vals = [NL.return_ratio(s, batch=8) for s in range(3)]
    assert all(CLAIMS["cms_return_error_ratio"].check(v) for v in vals), vals


@pytest.mark.parametrize("name", ["cms_levels_share_one_clock", "cms_accumulator_not_reset"])
def test_cms_mutants_fail_a_check(name):
    from memlab.testtime import mutants_perk_nested as MP
    with M.MUTANTS[name].apply():
        ok = (CLAIMS["cms_return_error_ratio"].check(NL.return_ratio(0, **NL.CHECK_KW))
              and NL.hand_case_err() <= 1e-12)
    assert MP and not ok
