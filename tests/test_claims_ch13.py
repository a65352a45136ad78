"""Chapter 13's claims at small size, with the chapter's targets and library functions."""

import itertools

import pytest

from memlab.agents.experiments import recall_vs_k, saturation
from memlab.agents.harness import SYSTEMS, evaluate
from memlab.chapters import get_chapter
from memlab.tasks.longmemeval import generate

CLAIMS = get_chapter("13").claims


@pytest.mark.parametrize("seed", [0, 3])
def test_oracle_and_costs(seed):
    res = evaluate(generate(n_personas=4, seed=seed),
                   {n: SYSTEMS[n] for n in ("full-context", "mem0", "plain-retrieval")})
    assert CLAIMS["oracle_accuracy"].check(res["full-context"]["overall"])
    assert CLAIMS["mem0_llm_calls_per_write"].check(res["mem0"]["llm_calls_per_write"])
    assert not CLAIMS["mem0_llm_calls_per_write"].check(res["plain-retrieval"]["llm_calls_per_write"])


def test_recall_monotone_in_k():
    r = recall_vs_k(generate(n_personas=4, seed=1), names=("plain-retrieval",), ks=(1, 2, 4, 8))
    rec = r["plain-retrieval"]["recall_any"]
    frac = sum(b >= a for a, b in itertools.pairwise(rec)) / (len(rec) - 1)
    assert CLAIMS["recall_monotone_in_k"].check(frac) and rec[-1] > rec[0]


@pytest.mark.parametrize("seed", [0, 2])
def test_long_history(seed):
    s = saturation(sessions=(8, 32), names=("mem0", "memorybank"), n_personas=6, seed=seed)
    mb, m0 = s["memorybank"]["overall"], s["mem0"]["overall"]
    assert CLAIMS["memorybank_drop_long_history"].check(mb[0] - mb[1])
    assert CLAIMS["mem0_drop_long_history"].check(m0[0] - m0[1])
