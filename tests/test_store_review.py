"""The store review's good news, kept as tests: repeated kill -9 mid-write, four writer
processes at once, confusable user ids, and no network. Each has a negative control that
breaks the mechanism (not the input), so the test can fail."""

import socket
import sys
import unicodedata

import numpy as np
import pytest

import memlab.agents.store as store_mod
import memlab.agents.store_reads as reads_mod
from memlab.agents import MemoryStore
from memlab.agents.reliability import concurrent_writers, crash_writer

posix = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL semantics")


@posix
def test_repeated_kills_mid_write_lose_nothing_acknowledged(tmp_path):
    """Twelve SIGKILLs at random points of a writer's stream (the review ran 100 trials)."""
    rng = np.random.default_rng(0)
    acked = 0
    for trial, kill_after in enumerate(rng.integers(1, 80, size=12)):
        r = crash_writer(tmp_path / f"k{trial}.db", kill_after=int(kill_after))
        assert r["returncode"] == -9 and r["committed_seen"] == kill_after, (trial, r)
        assert r["lost"] == 0 and r["integrity"] == "ok" and r["events_match"], (trial, r)
        acked += r["committed_seen"]
    assert acked >= 12
    # the negative control (a writer that acknowledges before COMMIT loses writes) is
    # test_agents_reliability.py: test_sigkill_negative_control_writer_that_acks_before_commit_...


@posix
def test_four_writer_processes_lose_nothing(tmp_path):
    r = concurrent_writers(tmp_path / "w.db", n=100, procs=4)
    assert r["returncodes"] == [0] * 4, r["errors"]
    assert r["rows"] == r["expected"] == r["events"] == r["acknowledged"] == 400
    assert r["integrity"] == "ok" and r["events_match"]


@posix
def test_four_writers_without_a_busy_timeout_collide(tmp_path):
    """Negative control: the same writers opened with no busy timeout (the usual bug) get
    "database is locked" and stop; the file stays consistent, but writes are missing."""
    r = concurrent_writers(tmp_path / "w.db", n=100, procs=4, busy_wait=False)
    assert any("database is locked" in e for e in r["errors"]), r
    assert r["rows"] < r["expected"] and r["rows"] == r["acknowledged"]
    assert r["integrity"] == "ok" and r["events_match"]


CYRILLIC = str.maketrans("aeioc", "\u0430\u0435\u0456\u043e\u0441")     # look-alike letters
FULLWIDTH = {c: c + 0xFEE0 for c in range(0x21, 0x7F)}
VARIANTS = [
    lambda b: b, str.upper, str.title, lambda b: b[:-1] + b[-1].upper(),
    lambda b: " " + b, lambda b: b + " ", lambda b: b + "\t", lambda b: b + "\u00a0",
    lambda b: b + "\u2003", lambda b: b + "\u200b", lambda b: "\u200b" + b,
    lambda b: b.translate(CYRILLIC), lambda b: b.translate(FULLWIDTH),
    lambda b: b + ".", lambda b: b + "_", lambda b: "_" + b, lambda b: b + "%",
    lambda b: b + "*", lambda b: b + "'", lambda b: b + "\\", lambda b: b + "/",
    lambda b: b + "-", lambda b: b + "1", lambda b: b[:-1], lambda b: b * 2,
    lambda b: b + "\U0001F600",
]


def _confusable_ids() -> list[str]:
    """User ids a person (or a sloppy normaliser) could take for one another: 4 names x 26
    look-alike spellings, plus SQL and shell metacharacters. Canonically equivalent
    spellings (NFC vs NFD) are one user by design, so they are not among them."""
    ids = {v(base) for base in ("alice", "bob", "chloé", "li wei") for v in VARIANTS}
    ids |= {"%", "_", "*", "-", "'", "' OR '1'='1", "0", " ", "null", "None"}
    return sorted({unicodedata.normalize("NFC", u) for u in ids})


def _leaks(store: MemoryStore, ids: list[str]) -> list[tuple[str, str]]:
    """(reader, text) pairs where a user's read returns another user's text."""
    for i, u in enumerate(ids):
        store.add(u, f"secret of {u!r}: token {i:04d}")
    bad = []
    for u in ids:
        mine = f"secret of {u!r}:"
        got = [it.text for it in store.items(u)]
        got += [h.text for h in store.search(u, f"secret token {u}", 5)]
        bad += [(u, t) for t in got if not t.startswith(mine)]
    return bad


def test_confusable_user_ids_leak_nothing():
    ids = _confusable_ids()
    assert len(ids) == 114
    s = MemoryStore()
    assert _leaks(s, ids) == []
    # forgetting one of them leaves every look-alike's memories where they were
    before = {u: s.count(u) for u in ids}
    s.forget("alice")
    assert all(s.count(u) == before[u] for u in ids if u != "alice") and s.count("alice") == 0


def test_confusable_ids_negative_control_a_harder_normaliser_leaks(monkeypatch):
    """A store that "helpfully" casefolds and strips user ids (NFKC) merges look-alikes."""
    def sloppy(user):
        if not isinstance(user, str) or not user:
            raise ValueError("user must be a non-empty string")
        return unicodedata.normalize("NFKC", user).casefold().strip() or user
    for mod in (store_mod, reads_mod):
        monkeypatch.setattr(mod, "_user", sloppy)
    leaks = _leaks(MemoryStore(), _confusable_ids())
    assert len(leaks) > 50
    assert any(reader == "alice" and text.startswith("secret of 'ALICE'") for reader, text in leaks)


class _NoNetwork:
    """Every way out (DNS, TCP/UDP connect, send to an address) is recorded and refused."""

    def __init__(self, monkeypatch):
        self.attempts = []

        def refuse(name):
            def f(*a, **k):
                self.attempts.append((name, a[1:2] if name.startswith("socket.") else a[:1]))
                raise OSError(f"network blocked by the test ({name})")
            return f
        for name in ("connect", "connect_ex", "sendto"):
            monkeypatch.setattr(socket.socket, name, refuse("socket." + name))
        monkeypatch.setattr(socket, "getaddrinfo", refuse("getaddrinfo"))
        monkeypatch.setattr(socket, "create_connection", refuse("create_connection"))


def test_agents_never_touch_the_network(tmp_path, monkeypatch):
    """Chapter 12's seven systems over the shipped set, on a file store, then forget; chapter
    14's pool and chapter 15's attack and defence: no socket is ever opened."""
    from memlab.agents import harness as H
    from memlab.security import experiments as SE

    guard = _NoNetwork(monkeypatch)
    recs = H.load_lite()
    for name, factory in H.SYSTEMS.items():
        out = H.run_system(factory, recs[:12], store_path=str(tmp_path / f"{name}.db"))
        assert len(out["rows"]) == 12
    s = MemoryStore(str(tmp_path / "f.db"))
    s.add("u", "User lives in Oslo")
    assert s.forget("u")["file"] == "purged"
    SE.minja_run(n_benign=5, guard="memguard", seed=0, n_patients=10)
    assert guard.attempts == []


def test_no_network_negative_control_the_guard_sees_a_real_client(monkeypatch):
    """The same guard catches an agent that does reach out: OpenAICompatLLM pointed at a
    server. (The guard would miss a client written in C; the test's claim is Python-level.)"""
    from memlab.agents.llm import OpenAICompatLLM

    guard = _NoNetwork(monkeypatch)
    llm = OpenAICompatLLM("http://memlab-test.invalid:9/v1", model="m", timeout=1)
    with pytest.raises(OSError, match="network blocked"):
        llm.complete("extract_facts", "hello", {"text": "hello"})
    assert guard.attempts and guard.attempts[0][0] in ("getaddrinfo", "create_connection")
