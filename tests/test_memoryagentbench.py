"""MemoryAgentBench-lite: the generated data, the offline reader's new questions, the table."""

import pytest

from memlab.agents.baselines import FullContext
from memlab.agents.harness import personas, run_system
from memlab.agents.llm import ABSTAIN
from memlab.tasks import memoryagentbench as MAB


def test_records_are_longmemeval_shaped_and_deterministic():
    recs = MAB.generate(n_personas=2, seed=0)
    assert len(recs) == 16 and MAB.generate(n_personas=2, seed=0) == recs
    assert {r["memlab"]["ability"] for r in recs} == set(MAB.COMPETENCIES)
    assert len(personas(recs)) == 2
    for r in recs:
        turns = {f"{sid}_{i}" for sid, s in zip(r["haystack_session_ids"],
                                                r["haystack_sessions"]) for i in range(len(s))}
        assert set(r["memlab"]["evidence"]) <= turns and r["memlab"]["evidence"]
    cr = [r for r in recs if r["memlab"]["ability"] == "conflict_resolution"]
    assert all(len(r["memlab"]["stale_answers"]) == 3 for r in cr)
    assert all(r["answer"] not in r["memlab"]["stale_answers"] for r in cr)


def test_bad_sizes():
    with pytest.raises(ValueError, match="n_personas"):
        MAB.generate(n_personas=0)
    with pytest.raises(ValueError, match="n_sessions"):
        MAB.generate(n_sessions=5)


def _ask(question, texts, dates=None):
    ctx = [{"text": t, "date": d} for t, d in zip(texts, dates or [""] * len(texts))]
    return MAB.BenchLLM().answer(question, ctx)


def test_reader_ttl_takes_the_label_of_the_nearest_example():
    texts = ['user: Example: "my card declined again" -> label 7.\nassistant: Noted.',
             'user: Example: "flight delayed at the gate" -> label 2.\nassistant: Noted.']
    assert _ask('Which label fits: "the gate flight"?', texts) == "2"
    assert _ask('Which label fits: "card payment"?', texts) == "7"
    assert _ask('Which label fits: "oven recipe"?', texts) == ABSTAIN      # nothing shared
    assert _ask('Which label fits: "card"?', []) == ABSTAIN


def test_reader_lru_lists_events_by_date():
    texts = ["user: Today I planted tomatoes.", "User ran a half marathon on 2024-01-02"]
    ans = _ask(MAB.LRU_QUESTION, texts, ["2024-01-05", "2024-01-09"])
    assert ans == "ran a half marathon; planted tomatoes"
    assert _ask("Where did I grow up?", ["user: I grew up in Porto, near the sea."]) == "Porto"


def test_the_oracle_is_exact_on_every_competency():
    rows = run_system(FullContext, MAB.generate(n_personas=2, seed=1), 5,
                      llm_factory=MAB.BenchLLM)["rows"]
    assert all(r["correct"] for r in rows)
    t = MAB.competency_table(rows)
    assert all(t[c] == 1.0 for c in MAB.COMPETENCIES) and t["cr_stale"] == 0.0


def test_table_helpers():
    table = {"a": {"cr_stale": 0.5, "test_time_learning": 1.0},
             "b": {"cr_stale": 0.0, "test_time_learning": 0.0}}
    assert MAB.cr_failing_fraction(table) == 0.5
    full = {n: {"test_time_learning": 1.0 if n in MAB.ROUND_STORES else 0.25}
            for n in MAB.ROUND_STORES + MAB.FACT_STORES}
    assert MAB.ttl_gap(full) == 0.75
    assert {"tim", "memgas", "mem0", "full-context"} <= set(MAB.systems())
