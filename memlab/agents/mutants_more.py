"""Chapter 12's mutants, part 2: MemGPT, MemOS and the store (registered when
memlab.agents.mutants imports this module; see its docstring)."""

from __future__ import annotations

import tempfile
import unicodedata
from contextlib import contextmanager

from memlab.agents import memgpt as MG
from memlab.agents import memos as MO
from memlab.agents import store as ST
from memlab.agents.mutants import GPT, MOS, ONE, STORE, _patch
from memlab.testing.mutants import check, mutant


# ------------------------------------------------------------------ MemGPT
@mutant("12", GPT)
@contextmanager
def memgpt_cut_inverted():
    """The eviction cut extended while the last *evicted* message is a user turn (the rule
    inverted relative to Letta's, which moves past a user turn that would be kept first)."""
    def summarise(self):                  # the library's method with the old cut rule
        msgs = self.messages
        limit = max(0, len(msgs) - self.keep_last)
        total = sum(MG.count_tokens(m["content"]) for m in msgs)
        cut, acc = 0, 0
        while cut < limit and acc <= self.trunc_frac * total:
            acc += MG.count_tokens(msgs[cut]["content"])
            cut += 1
        while cut < limit and msgs[cut - 1]["role"] == "user":
            cut += 1
        if cut == 0:
            return False
        evicted = [m["content"] for m in msgs[:cut] if m["role"] != "system"]
        self.n_seen += len(evicted)
        self.summary = self.llm.summarise(([self.summary] if self.summary else []) + evicted,
                                          max_words=100, date=MG.iso_date(self.clock.now))
        self.messages = [{"role": "system", "content": f"Summary: {self.summary}"}] + msgs[cut:]
        self.warned = False
        return True
    with _patch(MG.MemGPT, "summarise_inplace", summarise):
        yield


@mutant("12", GPT)
@contextmanager
def memgpt_replace_first_only():
    """``core_memory_replace`` replaces the first occurrence only, and accepts old = ""."""
    def replace(self, label, old, new, meta=None):
        text = self._block(label).replace(old, new, 1)
        self._write_block(label, "\n".join(ln for ln in text.splitlines() if ln), meta or {})
    with _patch(MG.MemGPT, "core_memory_replace", replace):
        yield


@mutant("12", GPT)
@contextmanager
def memgpt_accepts_oversize():
    """No size check on a round: a message larger than the whole context window is stored
    and the context stays over budget."""
    def observe(self, user_text, assistant_text, sources):
        with self.store.transaction():
            self._push("user", user_text)
            self._push("assistant", assistant_text)
            self._after_step()
            self._save_ctx()
    with _patch(MG.MemGPT, "_observe", observe):
        yield


@check("12", "memgpt_cut_as_letta", target=ONE)
def _gpt_cut():
    m = MG.MemGPT(user="u", context_window=60, keep_last=1)
    m.messages = [{"role": r, "content": c} for r, c in
                  [("user", "a " * 5), ("assistant", "b " * 5), ("user", "c " * 5),
                   ("assistant", "d "), ("user", "e ")]]
    m.trunc_frac = 0.3
    m.summarise_inplace()
    return float([x["content"].strip()[:1] for x in m.messages[1:]] == ["d", "e"])


@check("12", "memgpt_replace_every_occurrence", target=ONE)
def _gpt_replace():
    m = MG.MemGPT(user="u")
    m.core_memory_append("human", "likes tea")
    m.core_memory_append("human", "likes tea at night")
    m.core_memory_replace("human", "tea", "coffee")
    try:
        m.core_memory_replace("human", "", "x")
        empty_refused = False
    except ValueError:
        empty_refused = True
    return float(empty_refused and "tea" not in m.blocks["human"])


@check("12", "memgpt_refuses_oversize", target=ONE)
def _gpt_oversize():
    try:
        MG.MemGPT(user="u").observe("word " * 5000, "ok")
    except ValueError:
        return 1.0
    return 0.0


# ------------------------------------------------------------------ MemOS
@mutant("12", MOS)
@contextmanager
def memos_double_update_forks():
    """A second UPDATE of one unit in one reply is applied to the unit the LLM named, not to
    the version the first UPDATE made (without the state check this forks the chain into two
    active versions; with it, the second update is lost)."""
    with _patch(MO, "_follow", lambda head, real: real):
        yield


@mutant("12", MOS)
@contextmanager
def memos_update_deletes_old():
    """UPDATE hard-deletes the old unit instead of archiving it: the version chain is lost."""
    orig = ST.MemoryStore.update

    def update(self, mid, text=None, meta=None, reason="", state=None, ts=None,
               embed_text=None):
        if state == "archived":
            return self.delete(mid, reason=reason)
        return orig(self, mid, text, meta, reason, state, ts, embed_text)
    with _patch(ST.MemoryStore, "update", update):
        yield


@mutant("12", MOS)
@contextmanager
def memos_version_not_bumped():
    """The new version keeps the old version number (history says v1 twice)."""
    orig = ST.MemoryStore.add

    def add(self, user, text, meta=None, *a, **kw):
        if meta and meta.get("previous") is not None:
            meta = {**meta, "version": meta["version"] - 1}
        return orig(self, user, text, meta, *a, **kw)
    with _patch(ST.MemoryStore, "add", add):
        yield


def _memos_case():
    llm = __import__("memlab.agents.llm", fromlist=["ReplayLLM"]).ReplayLLM([
        ("extract_facts", '{"facts": ["User lives in Oslo"]}'),
        ("decide_update", '{"memory": [{"id": "0", "text": "User lives in Oslo", "event": "ADD"}]}'),
        ("extract_facts", '{"facts": ["User lives in Rome", "User lives in Paris"]}'),
        ("decide_update", ('{"memory": [{"id": "0", "text": "User lives in Rome", "event": '
                           '"UPDATE"}, {"id": "0", "text": "User lives in Paris", "event": '
                           '"UPDATE"}]}'))])
    m = MO.MemOS(llm=llm, user="u")
    m.observe("I live in Oslo", "ok", ["s0"])
    m.observe("Rome, no, Paris", "ok", ["s1"])
    return m


@check("12", "memos_one_active_version", target=ONE)
def _memos_one():
    return float([it.text for it in _memos_case().store.items("u")] == ["User lives in Paris"])


@check("12", "memos_version_chain", target=ONE)
def _memos_chain():
    m = _memos_case()
    head = m.store.items("u")[-1]
    return float([it.meta["version"] for it in m.versions(head.id)] == [3, 2, 1])


# ------------------------------------------------------------------ the store
@mutant("12", STORE)
@contextmanager
def store_cache_never_refreshed():
    """The per-process vector cache ignores ``PRAGMA data_version``: another process's
    writes stay invisible to this one's searches."""
    with _patch(ST.MemoryStore, "_version", lambda self: 0), \
            _patch(ST.MemoryStore, "_check_embedder", lambda self: None):
        yield


@mutant("12", STORE)
@contextmanager
def store_hits_not_rechecked():
    """``hits`` returns any row still in the table, whatever its state or user."""
    orig = ST.MemoryStore.hits
    with _patch(ST.MemoryStore, "hits", lambda self, ids, ex, sc, user=None, state="active":
                orig(self, ids, ex, sc, None, None)):
        yield


@mutant("12", STORE)
@contextmanager
def store_checkpoint_busy_ignored():
    """``forget`` ignores the checkpoint's busy result and reports success while the
    forgotten text is still in the WAL."""
    with _patch(ST.MemoryStore, "_checkpoint", lambda self: (
            self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone(), True)[1]):
        yield


@mutant("12", STORE)
@contextmanager
def store_no_unicode_normalisation():
    """User ids taken as typed: NFC "José" and NFD "José" are two users."""
    from memlab.agents import store_types
    with _patch(ST, "nfc", lambda s: s), _patch(store_types, "nfc", lambda s: s):
        yield


@mutant("12", STORE)
@contextmanager
def store_links_cross_users():
    """``link`` joins two users' notes (A-MEM then hands alice's text to bob)."""
    def link(self, src, dst, reason="", ts=None):
        a = self.get(src)
        self.conn.execute("INSERT OR IGNORE INTO links VALUES (?,?,?,?)",
                          (a.user_id, src, dst, self.clock.now))
    with _patch(ST.MemoryStore, "link", link):
        yield


@check("12", "store_sees_other_connections", target=ONE)
def _store_fresh():
    with tempfile.TemporaryDirectory() as d:
        s1, s2 = ST.MemoryStore(f"{d}/a.db"), ST.MemoryStore(f"{d}/a.db")
        s1.add("u", "User lives in Oslo")
        s1.search("u", "lives")
        rome = s2.add("u", "User lives in Rome")
        s2.update(s1.items("u")[0].id, state="archived")
        got = [h.id for h in s1.search("u", "lives", 5)]
        s1.close()
        s2.close()
    return float(got == [rome])


@check("12", "store_hits_recheck", target=ONE)
def _store_hits():
    s = ST.MemoryStore()
    a, b = s.add("u", "x one"), s.add("v", "y two")
    s.update(a, state="archived")
    return float(s.hits([a], [{}], [1.0]) == [] and s.hits([b], [{}], [1.0], user="u") == [])


@check("12", "store_forget_reports_busy", target=ONE)
def _store_busy():
    import sqlite3

    with tempfile.TemporaryDirectory() as d:
        s = ST.MemoryStore(f"{d}/f.db")
        s.add("alice", "alice-secret")
        r = sqlite3.connect(f"{d}/f.db", isolation_level=None)
        r.execute("BEGIN")
        r.execute("SELECT COUNT(*) FROM memories").fetchone()
        try:
            s.forget("alice", busy_wait=0.0)
            raised = False
        except ST.ForgetIncomplete:
            raised = True
        r.close()
        s.close()
    return float(raised)


@check("12", "store_one_user_per_name", target=ONE)
def _store_nfc():
    s = ST.MemoryStore()
    s.add(unicodedata.normalize("NFD", "José"), "likes tea")
    n = s.forget(unicodedata.normalize("NFC", "José"))["rows"]
    return float(n == 1 and s.count() == 0)


@check("12", "store_links_within_user", target=ONE)
def _store_links():
    s = ST.MemoryStore()
    a, b = s.add("alice", "alice note"), s.add("bob", "bob note")
    try:
        s.link(b, a)
    except ValueError:
        return 1.0
    return 0.0
