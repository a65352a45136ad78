"""Fidelity to the public code: Mem0's per-action loop, MemOS version chains, MemGPT's core
memory edits and eviction cut, each with a hand-made case."""

import json

import pytest

from memlab.agents import Mem0, MemGPT, MemoryStore, MemOS, ReplayLLM


def _decide(items):
    return json.dumps({"memory": items})


def test_mem0_id_named_twice_skips_only_the_bad_action():
    s = MemoryStore()
    llm = ReplayLLM([
        ("extract_facts", '{"facts": ["User lives in Oslo"]}'),
        ("decide_update", _decide([{"id": "0", "text": "User lives in Oslo", "event": "ADD"}])),
        ("extract_facts", '{"facts": ["User lives in Rome", "User owns a cat"]}'),
        ("decide_update", _decide([{"id": "0", "text": "User lives in Rome", "event": "DELETE"},
                                   {"id": "0", "text": "User lives in Rome", "event": "DELETE"},
                                   {"id": "1", "text": "User owns a cat", "event": "ADD"}])),
    ])
    m = Mem0(s, llm=llm, user="u")
    m.add("I live in Oslo")
    out = m.add("I moved to Rome and have a cat")
    assert [it.text for it in s.items("u")] == ["User owns a cat"]     # the ADD is not lost
    assert [o["event"] for o in out] == ["DELETE", "ADD"]
    assert any("failed" in e for e in m.errors)


def test_memos_two_updates_of_one_unit_do_not_fork():
    s = MemoryStore()
    llm = ReplayLLM([
        ("extract_facts", '{"facts": ["User lives in Oslo"]}'),
        ("decide_update", _decide([{"id": "0", "text": "User lives in Oslo", "event": "ADD"}])),
        ("extract_facts", '{"facts": ["User lives in Rome", "User lives in Paris"]}'),
        ("decide_update", _decide([{"id": "0", "text": "User lives in Rome", "event": "UPDATE"},
                                   {"id": "0", "text": "User lives in Paris", "event": "UPDATE"}])),
    ])
    m = MemOS(s, llm=llm, user="u")
    m.observe("I live in Oslo", "ok", ["s0"])
    m.observe("Rome, no, Paris", "ok", ["s1"])
    active = s.items("u")
    assert [it.text for it in active] == ["User lives in Paris"]
    chain = [it.text for it in m.versions(active[0].id)]
    assert chain == ["User lives in Paris", "User lives in Rome", "User lives in Oslo"]
    assert [it.meta["version"] for it in m.versions(active[0].id)] == [3, 2, 1]


def test_memgpt_core_memory_replace_every_occurrence_and_no_empty_old():
    m = MemGPT(user="u")
    m.core_memory_append("human", "likes tea")
    m.core_memory_append("human", "likes tea at night")
    m.core_memory_replace("human", "tea", "coffee")
    assert m.blocks["human"].splitlines()[-2:] == ["likes coffee", "likes coffee at night"]
    with pytest.raises(ValueError, match="non-empty"):
        m.core_memory_replace("human", "", "x")


def test_memgpt_cut_moves_past_a_user_turn_as_letta():
    m = MemGPT(user="u", context_window=60, keep_last=1)
    m.messages = [{"role": "user", "content": "a " * 5}, {"role": "assistant", "content": "b " * 5},
                  {"role": "user", "content": "c " * 5}, {"role": "assistant", "content": "d "},
                  {"role": "user", "content": "e "}]
    m.trunc_frac = 0.3                               # 30% of 17 tokens: the first two messages
    assert m.summarise_inplace()
    # the cut lands on "c" (a user turn): Letta shifts it by one, so "d" is the first kept
    assert [x["content"].strip()[:1] for x in m.messages[1:]] == ["d", "e"]


def test_memorybank_code_rule_drops_a_days_summary_with_its_last_turn():
    from memlab.agents import MemoryBank
    from memlab.agents.memorybank import DAY

    def run(rule):
        mb = MemoryBank(user="u", summary_rule=rule)
        mb.start_session("d0")
        mb.observe("I adopted a dog called Rex.", "nice", ["d0_0"])
        mb.end_session()
        mb.clock.advance(60 * DAY)                   # R = e^-60: the turn is forgotten
        mb.start_session("d1")
        return [it.kind for it in mb.store.items("u") if it.kind in ("turn", "summary")]
    assert run("keep") == ["summary"]
    assert run("code") == []
    with pytest.raises(ValueError, match="summary_rule"):
        MemoryBank(user="u", summary_rule="never")


def test_memorybank_counts_whole_days_as_the_code():
    import math

    from memlab.agents import MemoryBank
    from memlab.agents.memorybank import DAY

    for whole, want in ((True, math.exp(-1)), (False, math.exp(-1.5))):
        mb = MemoryBank(user="u", whole_days=whole)
        mb.clock.set(10 * DAY)
        mid = mb.store.add("u", "x", {"strength": 1, "last_recall": 8.5 * DAY}, kind="turn")
        assert mb.retention_of(mb.store.get(mid)) == pytest.approx(want)


def test_memorybank_defaults_to_the_codes_rules_and_the_harness_uses_its_k():
    """Review: summaries were kept forever by default, and the harness always passed k = 5, so
    MemoryBank's own top-6 was never used. Now the code's rule is the default and ``k=None``
    (the harness default) means each system's own k; an explicit k still wins."""
    from memlab.agents import MemoryBank
    from memlab.agents.baselines import PlainRetrieval
    from memlab.agents.harness import run_system
    from memlab.tasks.longmemeval import generate

    assert MemoryBank(user="u").summary_rule == "code"
    seen = []

    def spy(cls):
        class Spy(cls):
            def retrieve(self, query, k=None):
                seen.append((cls.__name__, k))
                return super().retrieve(query, k)
        return Spy

    recs = generate(n_personas=1, seed=0)
    for cls, want in ((MemoryBank, 6), (PlainRetrieval, 5)):
        seen.clear()
        run_system(spy(cls), recs)
        assert {k for _, k in seen} == {want}, seen
        seen.clear()
        run_system(spy(cls), recs, k=3)
        assert {k for _, k in seen} == {3}, seen
