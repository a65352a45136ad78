"""Audit fixes: no silent blanking by a decision, bad decisions never lose valid writes,
whole systems resume after a crash, forget(user) purges every cached text, thread safety."""

import json
import sys
import threading

import pytest

from memlab.agents import (
    AMem,
    HashingEmbedder,
    LLMOutputError,
    Mem0,
    MemGPT,
    MemoryBank,
    MemoryStore,
    MemOS,
    ReplayLLM,
    RuleLLM,
)
from memlab.agents.base import check_decisions
from memlab.agents.reliability import consistency, crash_system, memgpt_snapshot

DAY = 86400.0


def _facts(*f):
    return ("extract_facts", json.dumps({"facts": list(f)}))


def _decide(*items):
    return ("decide_update", json.dumps({"memory": list(items)}))


# ---------------------------------------------------------------- 1. no silent blanking
def test_update_without_text_is_malformed_and_never_blanks_a_memory():
    cassette = [_facts("User lives in Oslo"),
                _decide({"id": None, "text": "User lives in Oslo", "event": "ADD"}),
                _facts("User lives in Rome"),
                _decide({"id": "0", "event": "UPDATE"})]          # no text
    m = Mem0(llm=ReplayLLM(cassette), user="u")
    m.add("a")
    m.add("b")
    texts = sorted(it.text for it in m.store.items("u"))
    assert texts == ["User lives in Oslo", "User lives in Rome"]     # fallback ADD, no blank
    assert all(it.text.strip() for it in m.store.items("u"))
    assert any("UPDATE of id '0' has no 'text'" in e for e in m.errors)
    strict = Mem0(llm=ReplayLLM(cassette), user="u", on_error="raise")
    strict.add("a")
    with pytest.raises(LLMOutputError, match="has no 'text'"):
        strict.add("b")
    assert [it.text for it in strict.store.items("u")] == ["User lives in Oslo"]


def test_empty_text_decisions_and_updates_are_refused():
    llm = ReplayLLM([_decide({"id": None, "text": "  ", "event": "ADD"})])
    with pytest.raises(LLMOutputError, match="ADD of id None has no 'text'"):
        llm.decide_update(["f"], [])
    s = MemoryStore()
    mid = s.add("u", "User lives in Oslo")
    for bad in ("", "   "):
        with pytest.raises(ValueError, match="non-empty"):
            s.update(mid, bad)
    assert s.get(mid).text == "User lives in Oslo" and len(s.history(mid)) == 1
    # the helper drops a text-less ADD/UPDATE even when validation was bypassed
    plan, errors = check_decisions([{"id": "0", "event": "UPDATE"},
                                    {"id": None, "text": "x", "event": "ADD"}], {"0": 7})
    assert [p[0] for p in plan] == ["ADD"] and "no text" in errors[0]


# ---------------------------------------------------------------- 2. MemOS bad decisions
def _memos(on_error="add", *, bad):
    cassette = [_facts("User lives in Oslo"),
                _decide({"id": None, "text": "User lives in Oslo", "event": "ADD"}),
                _facts("User adopted a cat called Tom", "User lives in Rome"),
                _decide({"id": None, "text": "User adopted a cat called Tom", "event": "ADD"}, bad)]
    m = MemOS(llm=ReplayLLM(cassette), user="u", on_error=on_error)
    m.observe("a", "ok", ["s0"])
    return m


def test_memos_unknown_id_delete_without_text_keeps_the_valid_add():
    m = _memos(bad={"id": "9", "event": "DELETE"})
    m.observe("b", "ok", ["s1"])              # no KeyError, no rollback of the good ADD
    assert sorted(it.text for it in m.store.items("u")) == ["User adopted a cat called Tom",
                                                            "User lives in Oslo"]
    assert any("DELETE names id '9' that was not shown; ignored" in e for e in m.errors)


def test_memos_unknown_id_delete_with_text_does_not_re_add_the_contradicted_fact():
    m = _memos(bad={"id": "9", "text": "User lives in Oslo", "event": "DELETE"})
    m.observe("b", "ok", ["s1"])
    texts = [it.text for it in m.store.items("u")]
    assert texts.count("User lives in Oslo") == 1 and "User adopted a cat called Tom" in texts
    assert any("not shown" in e for e in m.errors)


def test_memos_on_error_raise_is_an_llm_output_error_and_writes_nothing():
    m = _memos("raise", bad={"id": "9", "event": "DELETE"})
    n = len(m.store.events("u"))
    with pytest.raises(LLMOutputError, match="not shown"):
        m.observe("b", "ok", ["s1"])
    assert len(m.store.events("u")) == n


# ---------------------------------------------------------------- 3. resume after a crash
def _talk(m, rounds):
    for t, (u, a) in enumerate(rounds):
        m.clock.set(t * DAY)
        m.observe(u, a, [f"s{t}_0"])


ROUNDS = [("I live in Oslo these days.", "ok"), ("I adopted a cat called Tom.", "nice")] + \
    [(f"Tell me a fun fact about topic number {i} please.", "Here is one fact.") for i in range(8)] + \
    [("Big news: I moved to Rome last week.", "ok")]


def test_memgpt_state_is_in_the_store_and_restored(tmp_path):
    path = str(tmp_path / "m.db")
    m = MemGPT(store=MemoryStore(path), user="u", context_window=120)
    _talk(m, ROUNDS)
    assert m.summary and m.messages[0]["content"].startswith("Note:")
    before = memgpt_snapshot(m)
    m.store.close()
    back = MemGPT(store=MemoryStore(path), user="u", context_window=120)
    assert memgpt_snapshot(back) == before
    assert back.ask("Where do I live now?")[0] == "Rome"
    # every core edit is an event: the block can be shown as of an earlier time
    assert back.as_of(5 * DAY)["blocks"]["human"] == "User lives in Oslo\nUser adopted a cat called Tom"
    assert back.as_of(20 * DAY)["blocks"]["human"] == back.blocks["human"]
    assert consistency(back.store)["events_match"]


def test_memgpt_restore_negative_control(tmp_path, monkeypatch):
    """Without the restore (the old in-Python state), the reopened agent has lost its core."""
    path = str(tmp_path / "m.db")
    _talk(MemGPT(store=MemoryStore(path), user="u", context_window=120), ROUNDS[:2])
    monkeypatch.setattr(MemGPT, "_load", lambda self: self._restore([]))
    back = MemGPT(store=MemoryStore(path), user="u", context_window=120)
    assert back.blocks["human"] == "" and back.rounds == 0


def test_memgpt_failed_step_rolls_back_store_and_context():
    m = MemGPT(user="u", context_window=120)
    _talk(m, ROUNDS[:3])
    before = memgpt_snapshot(m)

    def boom(*a, **k):
        raise RuntimeError("crash inside the step")
    m.llm.extract_facts = boom
    with pytest.raises(RuntimeError):
        m.observe("I adopted a dog called Rex.", "ok", ["x"])
    assert memgpt_snapshot(m) == before and len(m.store.items("u", kind="recall")) == 3


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL semantics")
def test_sigkill_mid_system_run_loses_nothing_acknowledged(tmp_path):
    r = crash_system(tmp_path, kill_after=12, context_window=150)
    assert r["returncode"] == -9 and r["acked"] == 12, r
    assert r["summaries_before_kill"] > 0          # paging had happened before the kill
    assert r["restored_rounds"] >= r["acked"] and r["lost"] == 0
    assert r["restored_equal"] and r["resumed_equal"]
    assert r["integrity"] == "ok" and r["events_match"]


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL semantics")
def test_crash_system_negative_control(tmp_path, monkeypatch):
    monkeypatch.setattr(MemGPT, "_load", lambda self: self._restore([]))
    r = crash_system(tmp_path, kill_after=12, context_window=150)
    assert r["restored_rounds"] == 0 and r["lost"] == 12 and not r["restored_equal"]


def test_memorybank_resumes_an_open_session_from_the_store(tmp_path):
    path = str(tmp_path / "mb.db")
    mb = MemoryBank(store=MemoryStore(path), user="u", forgetting=False)
    mb.start_session("s0")
    mb.observe("I adopted a cat called Tom.", "nice", ["s0_0"])
    mb.observe("I live in Oslo these days.", "ok", ["s0_2"])
    mb.store.close()                                   # the process dies mid-session
    back = MemoryBank(store=MemoryStore(path), user="u", forgetting=False)
    assert back.session_id == "s0" and len(back._session) == 2
    back.observe("I work as a nurse.", "ok", ["s0_4"])
    back.end_session()
    summ = back.store.items("u", kind="summary")[0]
    assert summ.meta["sources"] == ["s0_0", "s0_2", "s0_4"]
    assert all(f in summ.text for f in ("Tom", "Oslo", "nurse"))
    again = MemoryBank(store=back.store, user="u")
    assert again.session_id == "" and again._session == []          # closed sessions stay closed
    assert back.state_size() == 4                                   # 3 rounds + 1 summary


def test_memorybank_forgetting_draws_are_resumable(tmp_path):
    def run(split):
        path = str(tmp_path / f"r{split}.db")
        mb = MemoryBank(store=MemoryStore(path), user="u", seed=3)
        for d in range(6):
            if d == split:
                mb = MemoryBank(store=MemoryStore(path), user="u", seed=3)   # a restart
            mb.clock.set(d * DAY)
            mb.start_session(f"s{d}")
            mb.observe(f"Tell me a fun fact about topic {d}.", "ok", [f"s{d}_0"])
            mb.end_session()
        return sorted(it.text for it in mb.store.items("u"))
    assert run(split=-1) == run(split=3)


# ---------------------------------------------------------------- 4. forget purges caches
class _Caching:
    """An embedder with a cache (like MiniLMEmbedder's on-disk one)."""
    dim = 32

    def __init__(self):
        self.inner, self.cache = HashingEmbedder(32), set()

    def embed(self, texts):
        self.cache.update(texts)
        return self.inner.embed(texts)

    def evict(self, texts):
        self.cache.difference_update(texts)


def test_forget_evicts_queries_replaced_texts_and_vector_texts():
    emb = _Caching()
    s = MemoryStore(embedder=emb)
    a = AMem(store=s, user="alice")
    a.add_note("user: I adopted a dog called Rex.\nassistant: nice")
    a.add_note("user: I adopted a cat called Tom.\nassistant: nice")
    m = Mem0(store=s, user="alice")
    m.add("I live in Oslo these days.")
    m.add("Big news: I moved to Rome last week.")        # UPDATE: old text replaced
    a.retrieve("which pets do I have?")
    s.search("alice", "tea")
    Mem0(store=s, user="bob").add("I live in Paris these days.")
    s.search("bob", "coffee")
    alice_texts = {t for t in emb.cache if "bob" not in t and "Paris" not in t
                   and t != "coffee"}
    assert {"tea", "which pets do I have?", "User lives in Oslo"} <= alice_texts
    assert any("Linked to a later turn" in t for t in alice_texts)   # A-MEM vector text
    s.forget("alice")
    assert emb.cache & alice_texts == set(), emb.cache & alice_texts
    assert {"coffee", "User lives in Paris"} <= emb.cache             # bob's stay
    assert s.conn.execute("SELECT COUNT(*) FROM embedded WHERE user_id='alice'").fetchone()[0] == 0


def test_forget_cache_negative_control():
    """Evicting only the stored rows' texts (the old forget) leaves the query cached."""
    emb = _Caching()
    s = MemoryStore(embedder=emb)
    s.add("alice", "alice likes tea")
    s.search("alice", "tea")
    s.conn.execute("DELETE FROM embedded")           # what an untracked store would know
    s.forget("alice")
    assert "tea" in emb.cache and "alice likes tea" not in emb.cache


# ---------------------------------------------------------------- 5. threads
def test_two_threads_share_one_store_safely():
    s = MemoryStore()
    errors = []

    def work(user):
        try:
            for i in range(60):
                with s.transaction():                 # an outer transaction per write ...
                    mid = s.add(user, f"{user} note {i}")
                    with s.transaction():             # ... with a nested one inside
                        s.update(mid, meta={"i": i})
        except Exception as e:  # noqa: BLE001 - collected for the assert
            errors.append(repr(e))

    ts = [threading.Thread(target=work, args=(u,)) for u in ("alice", "bob")]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert errors == []
    assert s.count("alice") == s.count("bob") == 60 and s._depth == 0
    assert len(s.events("alice")) == len(s.events("bob")) == 120
    assert consistency(s)["events_match"]


def test_rule_llm_unaffected():
    m = Mem0(llm=RuleLLM(), user="u")
    m.add("I live in Oslo these days.")
    assert m.add("Big news: I moved to Rome last week.")[0]["event"] == "UPDATE" and m.errors == []
