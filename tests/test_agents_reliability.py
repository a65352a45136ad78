"""Reliability of the agent-memory store: crashes, concurrent writers, forget(user)."""

import sys

import pytest

from memlab.agents import MemoryStore
from memlab.agents.reliability import concurrent_writers, consistency, crash_writer, forget_scan

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL semantics")


def test_sigkill_mid_write_loses_nothing_committed(tmp_path):
    r = crash_writer(tmp_path / "c.db", kill_after=40)
    assert r["returncode"] == -9 and r["committed_seen"] == 40
    assert r["lost"] == 0 and r["integrity"] == "ok" and r["events_match"]
    assert r["rows_after"] >= 40          # plus whatever committed after the last line read


def test_sigkill_negative_control_writer_that_acks_before_commit_loses_writes(tmp_path):
    # the same kill, with the bug: each id is printed inside its transaction, before COMMIT
    r = crash_writer(tmp_path / "c.db", kill_after=4, ack_before_commit=True)
    assert r["returncode"] == -9 and r["committed_seen"] == 4
    assert r["lost"] >= 1 and r["rows_after"] == 3
    assert r["integrity"] == "ok" and r["events_match"]   # the file itself stays intact


def test_two_processes_write_concurrently(tmp_path):
    r = concurrent_writers(tmp_path / "w.db", n=150)
    assert r["returncodes"] == [0, 0], r["errors"]
    assert r["rows"] == r["expected"] == r["events"] == 300
    assert r["integrity"] == "ok" and r["events_match"]


def test_forget_user_leaves_no_bytes(tmp_path):
    r = forget_scan(tmp_path / "f.db")
    assert r["alice_hits"] == 0
    assert r["bob_hits"] >= 50          # the scan can see text: the other user's is still there


def test_forget_purges_rows_events_links_vectors_and_caches():
    class Evicting:
        dim = 16

        def __init__(self):
            from memlab.agents import HashingEmbedder
            self.inner, self.cache = HashingEmbedder(16), {}

        def embed(self, texts):
            for t in texts:
                self.cache[t] = 1
            return self.inner.embed(texts)

        def evict(self, texts):
            for t in texts:
                self.cache.pop(t, None)

    emb = Evicting()
    s = MemoryStore(embedder=emb)
    a = s.add("alice", "alice likes tea")
    b = s.add("alice", "alice lives in Rome")
    s.link(a, b)
    s.add("bob", "bob likes jazz")
    s.search("alice", "tea")            # fills the vector cache (and embeds the query)
    assert "tea" in emb.cache
    s.forget("alice")
    assert s.items("alice", state=None) == [] and s.events("alice") == []
    assert s.conn.execute("SELECT COUNT(*) FROM links").fetchone()[0] == 0
    assert "alice" not in s._cache and s.search("alice", "tea") == []
    assert "alice likes tea" not in emb.cache and "bob likes jazz" in emb.cache
    assert "tea" not in emb.cache                # the query embedded for alice is evicted too
    assert [it.text for it in s.items("bob")] == ["bob likes jazz"]
    assert consistency(s)["events_match"]
