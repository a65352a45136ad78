"""Unit tests of memlab.agents: protocols, store, and each system's defining rule."""

import json
import math
import sys

import numpy as np
import pytest

from memlab.agents import (
    AMem,
    GenerativeAgents,
    HashingEmbedder,
    LLMOutputError,
    Mem0,
    MemGPT,
    MemoryBank,
    MemoryStore,
    MemOS,
    RecordingLLM,
    ReplayLLM,
    RuleLLM,
    retention,
)
from memlab.agents.experiments import monotone_fraction
from memlab.agents.generative import minmax
from memlab.agents.grammar import parse_facts, parse_question
from memlab.agents.llm import ABSTAIN
from memlab.agents.memorybank import DAY
from memlab.tasks.longmemeval import generate

RECS = generate(n_personas=2, n_sessions=8, seed=3)


# ---------------------------------------------------------------- embedder
def test_hashing_embedder_is_deterministic_and_normalised():
    e = HashingEmbedder()
    a, b = e.embed(["User lives in Berlin", "I moved to Oslo"]), e.embed(["User lives in Berlin"])
    assert a.shape == (2, 384) and a.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1, rtol=1e-5)
    np.testing.assert_array_equal(a[0], b[0])
    assert a[0] @ e.embed(["where does the user live"])[0] > a[1] @ e.embed(["where does the user live"])[0]


def test_embedder_bad_input():
    with pytest.raises(ValueError, match="dim"):
        HashingEmbedder(dim=2)
    with pytest.raises(TypeError, match="list of strings"):
        HashingEmbedder().embed("one string")


def test_minilm_missing_extra_has_a_clear_message(monkeypatch):
    from memlab.agents import MiniLMEmbedder

    monkeypatch.setitem(sys.modules, "sentence_transformers", None)  # as if not installed
    with pytest.raises(ImportError, match="memlab\\[embed\\]"):
        MiniLMEmbedder()


# ---------------------------------------------------------------- grammar / rule LLM
def test_rule_extraction_is_exact_on_the_templates():
    for r in RECS[::7]:
        for sess in r["haystack_sessions"]:
            for t in sess:
                facts = parse_facts(t["content"], "2023-01-01")
                assert bool(facts) == bool(t.get("has_answer")), t
                for f in facts:
                    assert parse_facts(f.text()) == [f]


def test_questions_parse():
    assert parse_question("Where do I live now?") == ("slot", "city")
    assert parse_question("What do I work as now?") == ("slot", "job")
    assert parse_question("How many days passed between the day I x y and the day I z?") == (
        "days", "x y", "z")
    assert parse_question("What is the meaning of life?") == ("unknown",)


def test_rule_decide_update_semantics():
    llm = RuleLLM()
    mems = [{"id": "0", "text": "User lives in Oslo"}, {"id": "1", "text": "User drives a Fiat Panda"}]
    out = llm.decide_update(["User lives in Berlin", "User drives a Fiat Panda",
                             "User adopted a cat called Tom", "User no longer drives a Fiat Panda"],
                            mems)
    assert [o["event"] for o in out] == ["UPDATE", "NONE", "ADD", "DELETE"]
    assert out[0]["id"] == "0" and out[0]["old_memory"] == "User lives in Oslo"
    assert out[3]["id"] == "1"


def test_rule_answer_policies_and_abstention():
    llm = RuleLLM()
    ctx = [{"text": "user: I live in Oslo these days.", "date": "2023-01-01"},
           {"text": "user: Big news: I moved to Rome last week.", "date": "2023-02-01"}]
    assert llm.answer("Where do I live now?", ctx, "rank") == "Oslo"
    assert llm.answer("Where do I live now?", ctx, "latest") == "Rome"
    assert llm.answer("What car do I drive now?", ctx) == ABSTAIN
    ev = [{"text": "User ran a half marathon on 2023-05-01", "date": ""},
          {"text": "user: Today I planted tomatoes.", "date": "2023-05-11"}]
    q = "How many days passed between the day I ran a half marathon and the day I planted tomatoes?"
    assert llm.answer(q, ev) == "10"
    with pytest.raises(ValueError, match="policy"):
        llm.answer(q, ev, "newest")


def test_importance_lexicon_orders_events():
    llm = RuleLLM()
    assert llm.score_importance("Big news: I moved to Rome") > llm.score_importance("Tell me a fact")
    assert 1 <= llm.score_importance("x") <= 10


@pytest.mark.parametrize("raw,match", [
    ("not json at all", "not valid JSON"),
    ('{"memory": [{"id": "0", "text": "x"}]}', "'event' missing"),
    ('{"memory": "nope"}', "must be a list"),
    ('[1, 2]', "not an object"),
])
def test_malformed_outputs_raise_clear_errors(raw, match):
    llm = ReplayLLM([("decide_update", raw)])
    with pytest.raises(LLMOutputError, match=match):
        llm.decide_update(["User lives in Rome"], [])


def test_replay_checks_op_and_exhaustion():
    llm = ReplayLLM([("extract_facts", '{"facts": []}')])
    with pytest.raises(LLMOutputError, match="expected op"):
        llm.score_importance("x")
    with pytest.raises(LLMOutputError, match="exhausted"):
        llm.extract_facts("x")


def test_record_then_replay_reproduces_a_run():
    from memlab.agents.harness import SYSTEMS, run_system
    rec = RecordingLLM(RuleLLM())
    a = run_system(SYSTEMS["mem0"], RECS[:7], llm_factory=lambda: rec)
    rep = ReplayLLM(rec.cassette)
    b = run_system(SYSTEMS["mem0"], RECS[:7], llm_factory=lambda: rep)
    assert [r["answer"] for r in a["rows"]] == [r["answer"] for r in b["rows"]]
    assert rep.pos == len(rec.cassette) > 10


# ---------------------------------------------------------------- store
def test_store_events_history_and_as_of():
    s = MemoryStore()
    s.clock.set(10)
    a = s.add("u", "User lives in Oslo", {"k": 1}, reason="extracted")
    s.clock.set(20)
    s.update(a, "User lives in Rome", reason="moved")
    s.clock.set(30)
    b = s.add("u", "User drives a Kia Niro")
    s.link(b, a, reason="related")
    s.clock.set(40)
    s.delete(b, reason="sold")
    assert s.as_of("u", 15)[a]["text"] == "User lives in Oslo"
    assert s.as_of("u", 25)[a]["text"] == "User lives in Rome"
    assert b in s.as_of("u", 35) and b not in s.as_of("u", 45)
    assert [h["op"] for h in s.history(a)] == ["add", "update"]
    assert s.history(a)[1]["reason"] == "moved" and s.history(a)[1]["old_text"] == "User lives in Oslo"
    assert [e["op"] for e in s.events("u")] == ["add", "update", "add", "link", "delete"]
    assert s.get(b) is None and s.links(b) == []


def test_store_search_explains_and_matches_bruteforce():
    s = MemoryStore()
    texts = [f"note {i} about " + w for i, w in enumerate(["jazz", "dogs", "Berlin", "cars"] * 10)]
    for t in texts:
        s.add("u", t)
    s.add("other", "note about Berlin")      # another user's memory is never returned
    hits = s.search("u", "Berlin", 5)
    assert len(hits) == 5 and all("Berlin" in h.text for h in hits)
    assert all(h.explain["cosine"] == pytest.approx(h.score) for h in hits)
    ids, mat = s.vectors("u")
    q = s.embedder.embed(["Berlin"])[0]
    assert {h.id for h in hits} == set(ids[np.argsort(-(mat @ q))[:5]].tolist())
    assert all(h.id in ids for h in hits)
    with pytest.raises(ValueError, match="k must be"):
        s.search("u", "x", 0)


def test_store_transaction_is_atomic():
    s = MemoryStore()
    s.add("u", "kept")
    with pytest.raises(RuntimeError), s.transaction():
        s.add("u", "rolled back 1")
        s.add("u", "rolled back 2")
        raise RuntimeError("crash inside a transaction")
    assert [it.text for it in s.items("u")] == ["kept"]
    assert len(s.events("u")) == 1
    assert len(s.search("u", "rolled back", 5)) == 1


def test_store_bad_input():
    s = MemoryStore()
    with pytest.raises(ValueError, match="text"):
        s.add("u", "  ")
    with pytest.raises(KeyError, match="no memory"):
        s.update(99, "x")
    with pytest.raises(ValueError, match="synchronous"):
        MemoryStore(synchronous="SOMETIMES")


# ---------------------------------------------------------------- MemoryBank
def test_retention_hand_values_and_monotonicity():
    assert retention(1, 1) == pytest.approx(math.exp(-1))
    assert retention(2, 2) == pytest.approx(math.exp(-1))
    assert retention(0, 3) == 1.0
    assert retention(1, 5) > retention(1, 1)                  # stronger memories last longer
    assert retention(1, 5, precedence_bug=True) < retention(1, 1, precedence_bug=True)
    assert monotone_fraction() == 1.0 and monotone_fraction(precedence_bug=True) == 0.0
    with pytest.raises(ValueError, match="strength"):
        retention(1, 0)


def test_memorybank_recall_strengthens_and_resets_time():
    mb = MemoryBank(forgetting=False, user="u")
    mb.observe("I live in Oslo these days.", "ok", ["s_0"])
    mb.clock.advance(3 * DAY)
    it = mb.store.items("u", kind="turn")[0]
    assert mb.retention_of(it) == pytest.approx(math.exp(-3))
    mb.retrieve("Where do I live?")
    it = mb.store.get(it.id)
    assert it.meta["strength"] == 2 and mb.retention_of(it) == 1.0
    mb.clock.advance(2 * DAY)
    assert mb.retention_of(mb.store.get(it.id)) == pytest.approx(math.exp(-1))


def test_memorybank_forgetting_is_seeded_and_spares_summaries():
    def run(seed):
        mb = MemoryBank(seed=seed, user="u")
        mb.start_session("a")
        for i in range(30):
            mb.observe(f"Tell me a fun fact about topic {i}.", "ok", [f"a_{i}"])
        mb.observe("I adopted a cat called Tom.", "ok", ["a_x"])
        mb.end_session()
        mb.clock.advance(2 * DAY)
        mb.start_session("b")
        return [it.text for it in mb.store.items("u")], mb
    a, mb = run(0)
    assert a == run(0)[0]
    turns = mb.store.items("u", kind="turn")
    assert 0 < len(turns) < 31                           # exp(-2) ~ 0.14 survive
    assert len(mb.store.items("u", kind="summary")) == 1
    assert "adopted a cat called Tom" in mb.store.items("u", kind="summary")[0].text
    assert any(e["op"] == "delete" and e["reason"].startswith("forgotten") for e in
               mb.store.events("u"))


# ---------------------------------------------------------------- Generative Agents
def test_minmax():
    np.testing.assert_allclose(minmax([1, 3, 2]), [0, 1, 0.5])
    np.testing.assert_allclose(minmax([4, 4]), [0.5, 0.5])


def test_generative_agents_score_hand_computed():
    ga = GenerativeAgents(user="u")
    ga.clock.set(0)
    ga.observe("Tell me a fun fact about comets.", "ok", ["s_0"])        # importance 1
    ga.clock.set(10 * 3600)
    ga.observe("Big news: I moved to Rome last week.", "ok", ["s_2"])   # importance 5
    ga.clock.set(20 * 3600)
    hits = ga.retrieve("comets fact", k=2)
    top = {h.text.split("\n")[0]: h for h in hits}
    new, old = top["user: Big news: I moved to Rome last week."], top["user: Tell me a fun fact about comets."]
    # two nodes: each component min-max normalises to {0, 1}
    assert new.explain["recency"] == 1 and old.explain["recency"] == 0
    assert new.explain["importance"] == 1 and old.explain["importance"] == 0
    assert old.explain["relevance"] == 1 and new.explain["relevance"] == 0
    assert new.score == pytest.approx(2) and old.score == pytest.approx(1)
    assert old.explain["raw_recency"] == pytest.approx(0.995 ** 20)
    assert all(ga.store.get(h.id).meta["last_accessed"] == 20 * 3600 for h in hits)


def test_generative_agents_code_variant_gives_oldest_the_highest_recency():
    ga = GenerativeAgents(variant="code", user="u")
    for i in range(3):
        ga.clock.set(i * 3600)
        ga.observe(f"Tell me a fun fact about topic {i}.", "ok", [f"s_{i}"])
    items, rec, _, _ = ga.components("anything")
    oldest = min(range(3), key=lambda i: items[i].meta["last_accessed"])
    assert rec[oldest] == pytest.approx(0.99) and rec.argmax() == oldest
    assert ga.weights == {"recency": 0.5, "importance": 2.0, "relevance": 3.0}
    with pytest.raises(ValueError, match="variant"):
        GenerativeAgents(variant="blog")


# ---------------------------------------------------------------- Mem0
class _Spy(RuleLLM):
    def __init__(self):
        super().__init__()
        self.shown = []

    def complete(self, op, prompt, payload):
        if op == "decide_update":
            self.shown.append(payload["memories"])
        return super().complete(op, prompt, payload)


def test_mem0_update_keeps_id_and_history_with_small_ids():
    spy = _Spy()
    s = MemoryStore()
    for i in range(12):                               # make real ids large
        s.add("other", f"filler {i}")
    m = Mem0(store=s, llm=spy, user="u")
    m.add("I live in Oslo these days.", ["s0_0"])
    m.add("I work as a nurse.", ["s0_2"])
    out = m.add("Big news: I moved to Rome last week.", ["s1_0"])
    assert out[0]["event"] == "UPDATE"
    assert [it.text for it in s.items("u")] == ["User lives in Rome", "User works as a nurse"]
    assert {mm["id"] for mm in spy.shown[-1]} <= {"0", "1"}   # remapped, never the real ids
    h = s.history(out[0]["id"])
    assert [e["op"] for e in h] == ["add", "update"] and h[1]["old_text"] == "User lives in Oslo"
    assert s.get(out[0]["id"]).meta["sources"] == ["s0_0", "s1_0"]
    assert m.add("I live in Rome these days.") == [] and s.count("u") == 2   # NONE: a no-op
    assert m.ask("Where do I live now?")[0] == "Rome"


def test_mem0_delete_is_hard_but_logged():
    m = Mem0(user="u")
    m.add("I drive a Kia Niro.")
    out = m.add("I no longer drive a Kia Niro.")
    assert out[0]["event"] == "DELETE" and m.store.count("u") == 0
    assert m.store.events("u")[-1]["op"] == "delete"


def test_mem0_malformed_decision_never_deletes():
    bad = ReplayLLM([("extract_facts", '{"facts": ["User drives a Kia Niro"]}'),
                     ("decide_update", '{"memory": [{"id": "0", "text": "User drives a Kia Niro", "event": "ADD"}]}'),
                     ("extract_facts", '{"facts": ["User lives in Rome"]}'),
                     ("decide_update", '{"memory": [{"id": "0", "event": "DELETE"}'),   # truncated
                     ("extract_facts", '{"facts": ["User lives in Oslo"]}'),
                     ("decide_update", '{"memory": [{"id": "7", "text": "x", "event": "DELETE"}]}')])
    m = Mem0(llm=bad, user="u")
    m.add("a")
    m.add("b")
    m.add("c")
    texts = sorted(it.text for it in m.store.items("u"))
    assert texts == ["User drives a Kia Niro", "User lives in Rome"]
    assert any("not valid JSON" in e for e in m.errors) and any("not shown" in e for e in m.errors)
    strict = Mem0(llm=ReplayLLM([("extract_facts", '{"facts": ["User lives in Rome"]}'),
                                 ("decide_update", "{}")]), on_error="raise", user="u")
    with pytest.raises(LLMOutputError, match="decide_update"):
        strict.add("x")


def test_mem0_add_only_keeps_contradictions_and_dedups():
    m = Mem0(mode="add_only", user="u")
    m.add("I live in Oslo these days.")
    m.add("I live in Oslo these days.")
    m.add("Big news: I moved to Rome last week.")
    assert sorted(it.text for it in m.store.items("u")) == ["User lives in Oslo", "User lives in Rome"]


# ---------------------------------------------------------------- A-MEM
def test_amem_notes_links_and_evolution():
    a = AMem(user="u")
    n1 = a.add_note("user: I adopted a dog called Rex.\nassistant: nice")
    a.add_note("user: Tell me a fun fact about comets.\nassistant: ok")
    n3 = a.add_note("user: I adopted a cat called Tom.\nassistant: nice")
    meta = a.store.get(n3).meta
    assert {"keywords", "context", "tags"} <= set(meta) and len(meta["keywords"]) >= 3
    assert a.store.links(n3) == [n1]
    assert a.store.get(n1).meta["context"].startswith("Linked to a later turn")
    # A-mem's search_agentic returns memories[:k]: the linked neighbour never pushes a hit out
    assert [h.id for h in a.retrieve("I adopted a cat called Tom", k=1)] == [n3]
    assert all(len(a.retrieve("adopted", k=k)) <= k for k in (1, 2, 3))
    assert a.store.links(n1) == []                 # links are forward: n1 does not point to n3


def test_amem_follows_forward_links_only():
    s = MemoryStore()
    a = AMem(s, user="u")
    x = s.add("u", "alpha note about kayaks")
    y = s.add("u", "omega entry, unrelated words")
    s.link(y, x)                                    # y -> x only
    got = a.retrieve("kayaks", k=2)
    assert got[0].id == x and len(got) == 2
    s2 = MemoryStore()
    b = AMem(s2, user="u")
    x2 = s2.add("u", "alpha note about kayaks")
    s2.add("u", "zzz", embed=False)                 # no vector: only a link can bring it
    z = s2.add("u", "zulu unrelated", embed=False)
    s2.link(x2, z)
    assert [h.id for h in b.retrieve("kayaks", k=3)] == [x2, z]
    s2.link(z, x2)
    assert [h.explain for h in b.retrieve("kayaks", k=3)][1] == {"linked_from": x2}


def test_amem_rank_as_position_bug_rewrites_the_wrong_note():
    def build(flag):
        a = AMem(user="u", rank_as_position=flag)
        ids = [a.add_note(f"user: Tell me a fun fact about topic {i}.\nassistant: ok") for i in range(3)]
        ids.append(a.add_note("user: I adopted a dog called Rex.\nassistant: nice"))
        a.add_note("user: I adopted a cat called Tom.\nassistant: nice")
        return a, ids
    good, ids = build(False)
    bad, ids_b = build(True)
    assert good.store.get(ids[3]).meta["context"].startswith("Linked")
    assert not bad.store.get(ids_b[3]).meta["context"].startswith("Linked")
    assert any(bad.store.get(i).meta["context"].startswith("Linked") for i in ids_b[:3])


def test_amem_unvalidated_links_are_dropped_by_default():
    llm = ReplayLLM([("analyse_note", '{"keywords": ["a","b","c"], "context": "c", "tags": ["t"]}'),
                     ("analyse_note", '{"keywords": ["a","b","c"], "context": "c", "tags": ["t"]}'),
                     ("link_notes", json.dumps({"should_evolve": True, "actions": ["strengthen"],
                                                "suggested_connections": [0, "0", 7]}))])
    a = AMem(llm=llm, user="u")
    n1 = a.add_note("first")
    n2 = a.add_note("second")
    assert a.store.links(n2) == [n1] and a.bad_links == ["0", 7]


# ---------------------------------------------------------------- MemGPT
def test_memgpt_blocks_limits_and_errors():
    m = MemGPT(user="u", block_limit=40)
    m.core_memory_append("human", "User lives in Oslo")
    with pytest.raises(ValueError, match="not found"):
        m.core_memory_replace("human", "User lives in Rome", "x")
    with pytest.raises(ValueError, match="limit"):
        m.core_memory_append("human", "x" * 40)
    m.observe("I adopted a cat called Tommy and more.", "ok", ["s_0"])    # over limit -> archival
    assert m.store.items("u", kind="archival")[0].text == "User adopted a cat called Tommy"


def test_memgpt_core_replace_on_update_and_paging():
    m = MemGPT(user="u", context_window=150)
    m.observe("I live in Oslo these days.", "ok", ["s_0"])
    warned_at = None
    for i in range(12):
        m.observe(f"Tell me a fun fact about topic number {i} please.", "Here is one fact.", [f"s_{i}"])
        if m.warned and warned_at is None:
            warned_at = i
    m.observe("Big news: I moved to Rome last week.", "ok", ["s_x"])
    assert m.blocks["human"] == "User lives in Rome"
    assert warned_at is not None
    assert any(t["flushed"] for t in m.trace)
    assert any(t["total"] > 0.75 * 150 for t in m.trace)
    assert all(t["total"] <= 150 for t in m.trace)
    assert m.messages[0]["content"].startswith("Note: prior messages")
    assert len(m.store.items("u", kind="recall")) == 14          # nothing lost from recall
    assert m.ask("Where do I live now?")[0] == "Rome"


# ---------------------------------------------------------------- MemOS
def test_memos_versions_and_lifecycle():
    m = MemOS(user="u")
    m.observe("I live in Oslo these days.", "ok", ["s0_0"])
    m.observe("Big news: I moved to Rome last week.", "ok", ["s1_0"])
    m.observe("I moved to Rome recently.", "ok", ["s2_0"])
    active = m.store.items("u")
    assert [it.text for it in active] == ["User lives in Rome"]
    chain = m.versions(active[0].id)
    assert [c.meta["version"] for c in chain] == [2, 1]
    assert [c.state for c in chain] == ["active", "archived"]
    assert [h["update_type"] for h in active[0].meta["history"]] == ["extract", "conflict", "duplicate"]
    assert active[0].meta["provenance"]["sources"] == ["s1_0"]
    assert m.ask("Where do I live now?")[0] == "Rome"


# ---------------------------------------------------------------- data + harness
def test_longmemeval_layout_and_determinism():
    recs = generate(n_personas=2, seed=1)
    assert recs == generate(n_personas=2, seed=1) and recs != generate(n_personas=2, seed=2)
    keys = {"question_id", "question_type", "question", "answer", "question_date",
            "haystack_session_ids", "haystack_dates", "haystack_sessions", "answer_session_ids"}
    for r in recs:
        assert keys <= set(r)
        assert len(r["haystack_session_ids"]) == len(r["haystack_dates"]) == len(r["haystack_sessions"])
        assert set(r["answer_session_ids"]) <= set(r["haystack_session_ids"])
        if r["memlab"]["ability"] == "abstention":
            assert r["question_id"].endswith("_abs") and not r["answer_session_ids"]
        for ev in r["memlab"]["evidence"]:
            sid, t = ev.rsplit("_", 1)
            turn = r["haystack_sessions"][r["haystack_session_ids"].index(sid)][int(t)]
            assert turn.get("has_answer")
    assert {r["memlab"]["ability"] for r in recs} == {"information_extraction", "multi_session",
                                                     "temporal", "knowledge_update", "abstention"}
    with pytest.raises(ValueError, match="n_sessions"):
        generate(n_sessions=3)


def test_shipped_copy_matches_generator():
    from memlab.agents.harness import load_lite
    from memlab.data import DATA_DIR
    from memlab.datagen import longmemeval_lite
    from memlab.tasks.longmemeval import to_json
    assert (DATA_DIR / longmemeval_lite.FILENAME).read_bytes() == longmemeval_lite.generate()
    assert longmemeval_lite.generate() == to_json(generate(size="tiny", seed=0))
    assert len(load_lite()) == 42


def test_harness_oracle_is_perfect_and_parse_date():
    from memlab.agents.harness import SYSTEMS, parse_date, run_system, summarise_rows
    assert parse_date("2023/05/02 (Tue) 00:00") - parse_date("2023/05/01 (Mon) 00:00") == 86400
    with pytest.raises(ValueError, match="LongMemEval date"):
        parse_date("yesterday")
    m = summarise_rows(run_system(SYSTEMS["full-context"], RECS))
    assert m["overall"] == 1.0 and m["recall_any@k"] == 1.0


def test_every_system_speaks_the_shared_memory_protocol():
    from memlab.agents.harness import SYSTEMS
    from memlab.memory import Memory
    for name, factory in SYSTEMS.items():
        m = factory(user="u")
        assert isinstance(m, Memory), name
        m.write("I adopted a cat called Tom.", "Nice!", ["s_0"])
        assert m.state_size() >= 1 and m.read("cat Tom"), name
        m.reset()
        assert m.store.count("u") == 0 and m.store.events("u") == [], name
        assert "Tom" not in repr(vars(m)), name          # no trace left in the object either


def test_locomo_export_and_token_f1():
    from memlab.tasks.longmemeval import to_locomo, token_f1
    recs = generate(n_personas=2, seed=0)
    lo = to_locomo(recs)
    assert len(lo) == 2 and lo[0]["sample_id"] == "p0"
    conv = lo[0]["conversation"]
    assert conv["session_1"][0]["dia_id"] == "D1:1" and conv["session_1"][0]["speaker"] == "User"
    assert conv["session_1_date_time"].count(",") == 1 and " on " in conv["session_1_date_time"]
    turns = {t["dia_id"]: t["text"] for k, v in conv.items() if k.startswith("session_")
             and not k.endswith("date_time") for t in v}
    for qa in lo[0]["qa"]:
        if qa["category"] == 5:
            assert "answer" not in qa and "adversarial_answer" in qa
        else:
            assert qa["evidence"] and all(e in turns for e in qa["evidence"])
    book = next(q for q in lo[0]["qa"] if q["question"].startswith("What book"))
    assert book["answer"] in turns[book["evidence"][0]]
    assert token_f1("The Long Way Home", "long way home") == 1.0
    assert token_f1("Berlin", "Prague") == 0.0
    assert 0 < token_f1("data analyst in Oslo", "data analyst") < 1


def test_noisy_llm_and_memory_integrity():
    from memlab.agents.halumem import FABRICATIONS, NoisyLLM, gold_facts, memory_integrity
    clean = NoisyLLM(p=0.0)
    assert clean.extract_facts("I live in Oslo these days.") == ["User lives in Oslo"]
    fab = NoisyLLM(p=1.0, kinds=("fabricate",), seed=1)
    out = fab.extract_facts("I live in Oslo these days.")
    assert out[0] == "User lives in Oslo" and out[1] in FABRICATIONS and fab.injected == ["fabricate"]
    assert NoisyLLM(p=1.0, kinds=("omit",)).extract_facts("I live in Oslo these days.") == []
    m = Mem0(llm=NoisyLLM(p=1.0, kinds=("malformed",)), user="u")
    m.add("I live in Oslo these days.")                    # cut-off JSON: stored nothing, said so
    assert m.store.count("u") == 0 and "not valid JSON" in m.errors[0]
    with pytest.raises(ValueError, match="noise kinds"):
        NoisyLLM(kinds=("lie",))
    rec = {"haystack_dates": ["2023/05/01 (Mon) 09:00", "2023/05/03 (Wed) 09:00"],
           "haystack_sessions": [[{"role": "user", "content": "I live in Oslo these days."}],
                                 [{"role": "user", "content": "Big news: I moved to Rome last week."},
                                  {"role": "assistant", "content": "I recommend the book X."}]]}
    g = gold_facts(rec)
    assert g["current"] == {"User lives in Rome"}
    assert g["stated"] == {"User lives in Oslo", "User lives in Rome"}
    integ = memory_integrity(["User lives in Oslo", "User lives in Atlantis"], g)
    assert integ == {"omitted": 1.0, "fabricated": 0.5, "stale": 0.5}
