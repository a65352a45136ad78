"""Chapter 06 claims at small size, with the chapter's own targets and experiment functions.

Every claim has a negative control that breaks its mechanism inside the rule and shows that
the target is then missed."""

import torch

import memlab.testtime.titans as T
from memlab.chapters import get_chapter
from memlab.testtime import experiments as E

CLAIMS = get_chapter("06").claims


def test_linear_titans_equals_delta_rule():
    err = E.delta_rule_equality(T=32, d=8)["rel_err"]
    assert CLAIMS["delta_rule_rel_err"].check(err), err


def test_chunk_form_equals_its_loop():
    err = E.chunk_form_equality(T=96, d=8, chunk_size=16)["rel_err"]
    assert CLAIMS["chunk_form_rel_err"].check(err), err


def test_forgetting_keeps_recent_pairs_when_values_change():
    r = E.forgetting_experiment(alphas=(0.0, 0.01), T=256, period=64, n_keys=16, d=16, batch=8)
    gain = r[0.01] - r[0.0]
    assert CLAIMS["forgetting_recall_gain"].check(gain), r


def test_momentum_retrieves_the_needle():
    r = E.needle_experiment(settings=((0.05, 0.0), (0.05, 0.9)), d=32, n_familiar=8, warmup=64,
                            distractors=128, batch=16)
    gain = r[(0.05, 0.9)]["needle"] - r[(0.05, 0.0)]["needle"]
    assert CLAIMS["momentum_needle_gain"].check(gain), r


def test_omega_window_denoises():
    r = E.omega_experiment(windows=(1, 4), repeats=4, n_pairs=8, d=16, batch=8)
    ratio = r[4]["err"] / r[1]["err"]
    assert CLAIMS["omega_error_ratio"].check(ratio), r


# --------------------------------------------------------------------------- negative controls
# Each claim again, at the same sizes, with its mechanism broken inside the rule: the target
# must then be missed (so the tests above can fail).
def _patch_gates(monkeypatch, *, eta=None, alpha=None, gamma=None):
    """Make the experiments' rule ignore a gate: eta / alpha forced to a value, or gamma."""
    real = E.titans_chunked

    def broken(q, k, v, th, et, al, st, **kw):
        et = et if eta is None else torch.full_like(et, eta)
        al = al if alpha is None else torch.full_like(al, alpha)
        if gamma is not None:
            kw["gamma"] = gamma
        return real(q, k, v, th, et, al, st, **kw)

    monkeypatch.setattr(E, "titans_chunked", broken)


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


def test_no_forgetting_fails_the_forgetting_claim(monkeypatch):
    _patch_gates(monkeypatch, alpha=0.0)            # the forgetting gate is switched off
    r = E.forgetting_experiment(alphas=(0.0, 0.01), T=256, period=64, n_keys=16, d=16, batch=8)
    assert not CLAIMS["forgetting_recall_gain"].check(r[0.01] - r[0.0]), r


def test_no_momentum_fails_the_needle_claim(monkeypatch):
    _patch_gates(monkeypatch, eta=0.0)              # momentum disabled: eta forced to 0
    r = E.needle_experiment(settings=((0.05, 0.0), (0.05, 0.9)), d=32, n_familiar=8, warmup=64,
                            distractors=128, batch=16)
    gain = r[(0.05, 0.9)]["needle"] - r[(0.05, 0.0)]["needle"]
    assert not CLAIMS["momentum_needle_gain"].check(gain), r


def test_unnormalised_window_fails_the_omega_claim(monkeypatch):
    # gamma = 1 instead of 1/c: the window's losses are summed, not averaged (a c-times too
    # large step) -- the c = 1 run is unchanged (its gamma is 1 anyway)
    _patch_gates(monkeypatch, gamma=1.0)
    r = E.omega_experiment(windows=(1, 4), repeats=4, n_pairs=8, d=16, batch=8)
    ratio = r[4]["err"] / r[1]["err"]
    assert not CLAIMS["omega_error_ratio"].check(ratio), r
