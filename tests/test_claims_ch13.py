"""Chapter 13's claims at small size, with the chapter's targets and library functions.

The first two tests are *sanity checks* (they hold by construction: a full-context oracle
with an exact reader, nested top-k sets, a fixed two-call pipeline); they guard the harness,
they are not findings. The claim tests each come with a negative control."""

import itertools
from functools import partial

import pytest

from memlab.agents.experiments import ability_contrasts, recall_vs_k, saturation
from memlab.agents.harness import SYSTEMS, evaluate
from memlab.chapters import get_chapter
from memlab.tasks.longmemeval import generate

CLAIMS = get_chapter("13").claims


@pytest.mark.parametrize("seed", [0, 3])
def test_sanity_oracle_and_costs(seed):
    res = evaluate(generate(n_personas=4, seed=seed),
                   {n: SYSTEMS[n] for n in ("full-context", "mem0", "plain-retrieval")})
    assert res["full-context"]["overall"] == 1.0
    assert 1.0 <= res["mem0"]["llm_calls_per_write"] <= 2.0
    assert res["plain-retrieval"]["llm_calls_per_write"] == 0.0


def test_sanity_recall_monotone_in_k():
    r = recall_vs_k(generate(n_personas=4, seed=1), names=("plain-retrieval",), ks=(1, 2, 4, 8))
    rec = r["plain-retrieval"]["recall_any"]
    assert all(b >= a for a, b in itertools.pairwise(rec)) and rec[-1] > rec[0]


@pytest.mark.parametrize("seed", [0, 1, 6])
def test_ability_contrasts_and_their_controls(seed):
    r = ability_contrasts(generate(n_personas=6, seed=seed))
    assert CLAIMS["plain_ku_recall_minus_accuracy"].check(r["ku_gap"]["plain-retrieval"])
    assert r["ku_recall"]["plain-retrieval"] >= 0.9          # it did retrieve the evidence
    # control: a store that rewrites the fact has no gap
    assert not CLAIMS["plain_ku_recall_minus_accuracy"].check(r["ku_gap"]["mem0"])
    assert CLAIMS["ga_temporal_deficit"].check(r["ga_temporal_deficit"])
    # control: the same Generative Agents code with relevance only has no deficit
    assert not CLAIMS["ga_temporal_deficit"].check(r["ga_relevance_only_deficit"])


@pytest.mark.parametrize("seed", range(9))
def test_long_history(seed):
    """Generator seeds 0-8: MemoryBank drops, Mem0 does not (and its store shrinks per round)."""
    s = saturation(sessions=(8, 32), names=("mem0", "memorybank"), n_personas=6, seed=seed)
    mb, m0 = s["memorybank"]["overall"], s["mem0"]["overall"]
    assert CLAIMS["memorybank_drop_long_history"].check(mb[0] - mb[1])
    assert CLAIMS["mem0_drop_long_history"].check(m0[0] - m0[1])
    assert s["mem0"]["memories_per_round"][1] < s["mem0"]["memories_per_round"][0]


@pytest.mark.parametrize("seed", [0, 2])
def test_long_history_negative_control(seed):
    """MemoryBank with forgetting off does not drop like that: the drop is the forgetting."""
    s2 = saturation(sessions=(8, 32), names=("memorybank",), n_personas=6, seed=seed,
                    factories={"memorybank": partial(SYSTEMS["memorybank"], forgetting=False)})
    nf = s2["memorybank"]["overall"]
    assert not CLAIMS["memorybank_drop_long_history"].check(nf[0] - nf[1])


@pytest.mark.parametrize("seed", range(4))
def test_memoryagentbench_lite_competencies(seed):
    """Seeds 0-3: fact-extracting systems lose test-time learning; most systems answer some
    changed fact with an old value; the update-in-place systems never do."""
    from memlab.tasks import memoryagentbench as MAB

    t = MAB.run_benchmark(MAB.generate(n_personas=3, seed=seed), MAB.systems())
    assert CLAIMS["mab_ttl_rounds_minus_facts"].check(MAB.ttl_gap(t))
    assert CLAIMS["mab_cr_stale_systems"].check(MAB.cr_failing_fraction(t))
    assert all(t[n]["cr_stale"] == 0 for n in ("full-context", "mem0", "memos", "tim"))
