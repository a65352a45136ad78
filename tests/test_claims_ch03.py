"""Chapter 03's claims at the chapter's default size, with the notebook's own functions and targets.

One tiny model is trained once for the module (~200 AdamW steps), then every claim is measured
on it exactly as the notebook does. A broken cache, policy or quantiser fails these.
"""

import itertools

import pytest
import torch

from memlab.attention import experiments as X
from memlab.chapters import get_chapter

CH = get_chapter("03")
P = CH.Params()


@pytest.fixture(scope="module")
def trained():
    model, test, _, full_acc = X.train_mqar(
        seq_len=P.seq_len, n_pairs=P.n_pairs, vocab_size=P.vocab_size, d_model=P.d_model,
        n_layers=P.n_layers, n_heads=P.n_heads, n_train=P.n_train, n_test=200, steps=P.steps,
        batch_size=P.batch_size, lr=P.lr, seed=1, progress=False)
    return full_acc, X.prepare(model, test, 2 * P.n_pairs)


def test_full_cache_near_perfect(trained):
    full_acc, _ = trained
    assert CH.claims["full_cache_acc"].check(full_acc), full_acc


def test_query_aware_beats_recency_on_old_needles(trained):
    _, prep = trained
    b = round(P.claim_budget * prep.n_ctx)
    gap = X.old_needle_gap(prep, b)
    assert CH.claims["old_needle_query_aware_minus_recency"].check(gap["gap"]), gap
    # and recency does keep the *new* pairs: the gap is about age, not a broken window policy
    new = X.pair_age_mask(prep, old=False)
    r = X.evaluate(prep, "window", b)
    assert float((r["hits"] & new).sum()) / float(new.sum()) > 0.9


def test_more_budget_never_hurts_recency_much(trained):
    _, prep = trained
    accs = X.budget_curves(prep, ["window"], [2, 4, 8, 16])["window"]
    assert accs[-1] > accs[0] + 0.5 and all(b >= a - 0.02 for a, b in itertools.pairwise(accs))


def test_quantisation_claims(trained):
    full_acc, prep = trained
    a4, a1 = X.bits_curve(prep, [4, 1])
    assert CH.claims["kv4bit_drop"].check(full_acc - a4), (full_acc, a4)
    assert CH.claims["kv1bit_drop"].check(full_acc - a1), (full_acc, a1)
    nll = [X.evaluate(prep, "full", None, b)["nll"] for b in (None, 4, 2, 1)]
    assert max(nll[0], nll[1]) < nll[3], nll


def test_an_untrained_model_fails_the_full_cache_claim():
    torch.manual_seed(0)
    model = X.build_model(P.vocab_size, P.d_model, P.n_layers, P.n_heads, P.seq_len)
    from memlab.tasks import mqar
    from memlab.train import accuracy
    acc = accuracy(model, mqar(100, P.seq_len, P.n_pairs, P.vocab_size, seed=5))
    assert not CH.claims["full_cache_acc"].check(acc)


def test_episodes_serve_many_questions_at_a_small_read_budget(trained):
    """EpiCache-style: 4 episode caches of n_ctx/4 entries answer nearly everything, where one
    query-aware cache of the same size can hold only a quarter of the asked pairs."""
    from memlab.attention.episodes import evaluate_episodic
    _, prep = trained
    b = prep.n_ctx // 4
    epi = evaluate_episodic(prep, 4, b)
    single = X.evaluate(prep, "query_aware", b)["acc"]
    assert epi["acc"] > 0.9 and epi["acc"] > single + 0.3, (epi, single)
