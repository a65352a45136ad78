"""The tiny LM and the recognition / recall / retention protocol (chapter 17): hand-sized cases,
shapes and bad input; the claims at test size live in test_claims_ch17.py."""

import math

import numpy as np
import pytest
import torch

from memlab.parametric import exposure as X


def test_windows_by_hand():
    Xw, Y = X.windows(np.array([[5, 6, 7]]), 2)
    assert Xw.tolist() == [[0, 0], [0, 5], [5, 6]]          # '<s>'-padded, the next word outside
    assert Y.tolist() == [5, 6, 7]


def test_grammar_facts_and_foils():
    G = X.make_grammar(n_bg=40, n_study=20, n_cities=10, seed=3)
    assert set(G.study[:, 0]).isdisjoint(G.bg[:, 0])         # studied persons are novel
    assert (G.foil != G.study[:, 1]).all() and np.isin(G.foil, G.cities).all()
    counts = np.bincount(G.study[:, 1] - G.cities[0], minlength=10)
    assert counts.min() == counts.max() == 2                 # every city equally frequent
    S = G.stream(200, np.random.default_rng(0))
    assert S.shape == (200, 7) and not np.isin(S, G.study[:, 0]).any()
    assert len(G.fact(*G.study[0])) == 6


def test_sentence_loss_is_the_sum_of_token_nll():
    G = X.make_grammar(n_bg=5, n_study=3, n_cities=4)
    torch.manual_seed(0)
    m = X.NGramLM(len(G.vocab), G.ctx, d_emb=8, hidden=16)
    s = G.fact(*G.study[0])
    with torch.no_grad():
        logp = torch.log_softmax(m(X.windows([s], G.ctx)[0]), -1)
    hand = -sum(float(logp[t, w]) for t, w in enumerate(s))
    assert math.isclose(float(X.sentence_loss(m, [s])[0]), hand, rel_tol=1e-5)


def test_recognition_and_recall_on_a_model_that_knows_the_facts():
    G = X.make_grammar(n_bg=5, n_study=6, n_cities=4, ctx=4)

    class Oracle(torch.nn.Module):                           # puts all mass on the studied city
        ctx = 4

        def forward(self, w):
            out = torch.zeros(len(w), len(G.vocab))
            for j, (p, c) in enumerate(G.study):
                out[(w[:, 1] == int(p)) & (w[:, 3] == G.idx["in"]), int(c)] = 20.0
            return out
    assert X.recall(Oracle(), G) == 1.0 and X.recognition(Oracle(), G) == 1.0


def test_study_with_more_exposures_lowers_the_loss():
    G = X.make_grammar(n_study=20, seed=1)
    m = X.pretrain(G, 50, seed=1)
    state = {k: v.clone() for k, v in m.state_dict().items()}
    facts = [G.fact(p, c) for p, c in G.study]
    losses = []
    for E in (1, 5):
        m.load_state_dict(state)
        X.study(m, G, E)
        losses.append(float(X.sentence_loss(m, facts).mean()))
    assert losses[1] < losses[0]


def test_kept_is_chance_corrected():
    assert X.kept([0.9, 0.7], 1, 0.5) == pytest.approx(0.5)
    assert math.isnan(X.kept([0.5, 0.5], 1, 0.5))


def test_bad_input():
    with pytest.raises(ValueError, match="n_cities"):
        X.make_grammar(n_cities=1)
    with pytest.raises(ValueError, match="windows"):
        X.NGramLM(10, 4)(torch.zeros(3, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="probes"):
        X.retention_run(probes=(5, 1))
    with pytest.raises(ValueError, match="exposures"):
        X.retention_run(exposures=(0,))


def test_retention_widget_draws():
    from memlab.viz.parametric import plot_unlearning_weights, render_retention

    r = X.retention_run(exposures=(1, 10), probes=(0, 100), seed=2, pretrain_steps=50)
    assert render_retention(3e-3, pretrain_steps=50).axes
    assert render_retention(1e-2, known={1e-2: r}).axes               # drawn, not re-run
    c = X.claims_from(r)
    assert c["recall_gain_1_to_10"] == r[10]["recall"][0] - r[1]["recall"][0]
    assert plot_unlearning_weights().axes
    with pytest.raises(ValueError, match="lr"):
        render_retention(0.0)
