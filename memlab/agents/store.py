"""One durable, inspectable store under every agent-memory system: SQLite + an event log.

Every write is one transaction that changes a row *and* appends an immutable event::

    events(seq, ts, user_id, memory_id, op, text, old_text, meta, reason)
    op in {add, update, delete, link, forget, summarise}

so any memory can be shown as of an earlier time (:meth:`MemoryStore.as_of` folds the events
up to ``t``), every change says why (``reason``), and :meth:`MemoryStore.history` is the trail
Mem0 keeps in its ``history`` table. Vectors (float32 BLOBs) live in the same row, so a crash
can never leave a memory without its vector or the other way round.

Durability choices (what Mem0 users asked for in its issues): WAL journal (readers do not block
the writer), ``BEGIN IMMEDIATE`` transactions (two processes cannot deadlock on the
read->write upgrade), a busy timeout (no "database is locked" under concurrent writers),
``synchronous=NORMAL`` (a killed *process* loses nothing committed; ``FULL`` also survives
power loss), and ``secure_delete`` + checkpoint + VACUUM in :meth:`forget` so a forgotten
user's text leaves no bytes in the file.

Search is exact cosine over an in-process matrix cache (per user, rebuilt after writes by
other processes when ``fresh=True``); every hit carries ``explain`` = its score components.
Rows written with ``embed=False`` (a system's bookkeeping: MemGPT's in-context messages) have
no vector and are never searched. Simulated time: all timestamps come from an injectable
:class:`SimClock` (seconds).

Caches: when the embedder keeps a cache of its own (it has ``evict(texts)``, e.g. the on-disk
cache of :class:`~memlab.agents.embed.MiniLMEmbedder`), every text embedded on a user's behalf
(stored texts, vector texts such as A-MEM's combined note text, *queries*) is recorded in the
table ``embedded``, so that :meth:`forget` can evict every one of them.

Threads: one connection is shared (``check_same_thread=False``); a re-entrant lock makes a
transaction one thread's at a time (nested calls on the same thread join the outer one) and
guards the vector cache. Reads on the shared connection can see another thread's open
transaction; for isolated readers open one store per thread (or process) on the same file.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from contextlib import contextmanager

import numpy as np

from memlab.agents.embed import Embedder, HashingEmbedder
from memlab.agents.store_reads import AUDIT_ACTOR, StoreReads
from memlab.agents.store_types import (
    OPS,
    ForgetIncomplete,
    Hit,
    Item,
    SimClock,
    _finite,
    _user,
    check_k,
    nfc,
)

__all__ = ["AUDIT_ACTOR", "ForgetIncomplete", "Hit", "Item", "MemoryStore", "SimClock",
           "check_k", "nfc"]

#: the actor of the store's own audit events (a forget is logged under it) is AUDIT_ACTOR, the
#: empty string, which no user id can be, so no user's forget can erase the audit trail

_SCHEMA = """
CREATE TABLE IF NOT EXISTS memories(
  id INTEGER PRIMARY KEY AUTOINCREMENT, user_id TEXT NOT NULL, kind TEXT NOT NULL,
  state TEXT NOT NULL DEFAULT 'active', text TEXT NOT NULL, meta TEXT NOT NULL, vec BLOB,
  created_at REAL NOT NULL, updated_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS memories_user ON memories(user_id, state);
CREATE TABLE IF NOT EXISTS events(
  seq INTEGER PRIMARY KEY AUTOINCREMENT, ts REAL NOT NULL, user_id TEXT NOT NULL,
  memory_id INTEGER, op TEXT NOT NULL, text TEXT, old_text TEXT, meta TEXT, reason TEXT);
CREATE INDEX IF NOT EXISTS events_user ON events(user_id, memory_id);
CREATE TABLE IF NOT EXISTS links(
  user_id TEXT NOT NULL, src INTEGER NOT NULL, dst INTEGER NOT NULL, created_at REAL,
  PRIMARY KEY(src, dst));
CREATE TABLE IF NOT EXISTS embedded(
  user_id TEXT NOT NULL, text TEXT NOT NULL, PRIMARY KEY(user_id, text));
CREATE TABLE IF NOT EXISTS store_meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class MemoryStore(StoreReads):
    """SQLite store (``path=":memory:"`` for throw-away use) with an event log and search."""

    def __init__(self, path: str = ":memory:", embedder: Embedder | None = None,
                 clock: SimClock | None = None, timeout: float = 30.0,
                 synchronous: str = "NORMAL"):
        if synchronous not in ("OFF", "NORMAL", "FULL"):
            raise ValueError(f"synchronous must be OFF, NORMAL or FULL, got {synchronous!r}")
        self.path, self.embedder = str(path), embedder or HashingEmbedder()
        self.clock = clock or SimClock()
        self.conn = sqlite3.connect(self.path, timeout=timeout, isolation_level=None,
                                    check_same_thread=False)
        self._busy_ms = int(timeout * 1000)
        self.conn.execute(f"PRAGMA busy_timeout={self._busy_ms}")
        if self.path != ":memory:":
            self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute(f"PRAGMA synchronous={synchronous}")
        self.conn.execute("PRAGMA secure_delete=ON")
        self._lock, self._local = threading.RLock(), threading.local()
        self.conn.executescript("BEGIN IMMEDIATE;" + _SCHEMA + "COMMIT;")
        self._check_embedder()
        self._cache: dict[str, tuple] = {}   # user -> (ids, kinds, matrix)
        self._pending: dict[str, list] = {}  # user -> [(id, kind, vec)] added since
        self._data_version = self._version()

    def _check_embedder(self) -> None:
        """The file remembers the embedder that wrote its vectors (identity and dimension);
        reopening it with another one is refused (its hits would be silently wrong)."""
        e = self.embedder
        ident = {"embedder": str(getattr(e, "identity", type(e).__qualname__)),
                 "dim": str(int(e.dim))}
        with self.transaction():
            have = dict(self.conn.execute("SELECT key, value FROM store_meta"))
            if not have:
                row = self.conn.execute("SELECT vec FROM memories WHERE vec IS NOT NULL "
                                        "LIMIT 1").fetchone()
                if row is not None and len(row[0]) != 4 * int(e.dim):
                    raise ValueError(f"{self.path} holds {len(row[0]) // 4}-d vectors; the "
                                     f"embedder given makes {e.dim}-d ones")
                self.conn.executemany("INSERT INTO store_meta VALUES (?,?)", ident.items())
                return
        if have != ident:
            raise ValueError(f"{self.path} was written with embedder {have.get('embedder')} "
                             f"(dim {have.get('dim')}); it cannot be searched with "
                             f"{ident['embedder']} (dim {ident['dim']}): open it with the "
                             "same embedder, or re-embed into a new store")

    def _version(self) -> int:
        return self.conn.execute("PRAGMA data_version").fetchone()[0]

    # ---- transactions --------------------------------------------------------------------
    @property
    def _depth(self) -> int:
        """Transaction nesting depth of the *calling thread*."""
        return getattr(self._local, "depth", 0)

    @contextmanager
    def transaction(self):
        """All writes inside happen atomically (nested calls join the outer transaction).

        The lock is held from BEGIN to COMMIT, so two threads sharing this store never
        interleave statements inside one SQLite transaction."""
        with self._lock:
            if self._depth:
                self._local.depth += 1
                try:
                    yield self
                finally:
                    self._local.depth -= 1
                return
            self._local.depth = 1
            try:
                self.conn.execute("BEGIN IMMEDIATE")
                try:
                    yield self
                    self.conn.execute("COMMIT")
                except BaseException:
                    self.conn.execute("ROLLBACK")
                    self._cache.clear()
                    self._pending.clear()
                    raise
            finally:
                self._local.depth = 0

    def embed_for(self, user: str, texts: list[str]) -> np.ndarray:
        """Embed on ``user``'s behalf; record the texts when the embedder caches them.
        Vectors of the wrong shape or with NaN / inf are refused."""
        user, texts = _user(user), [nfc(t) for t in texts]
        if hasattr(self.embedder, "evict") and texts:
            with self.transaction():
                self.conn.executemany("INSERT OR IGNORE INTO embedded VALUES (?,?)",
                                      [(user, t) for t in texts])
        vecs = np.asarray(self.embedder.embed(texts))
        if vecs.shape != (len(texts), self.embedder.dim):
            raise ValueError(f"the embedder returned shape {vecs.shape}, expected "
                             f"({len(texts)}, {self.embedder.dim})")
        if not np.isfinite(vecs).all():
            raise ValueError("the embedder returned NaN or inf for "
                             f"{[t[:40] for t, ok in zip(texts, np.isfinite(vecs).all(1)) if not ok]}")
        return vecs

    def _ts(self, ts) -> float:
        return self.clock.now if ts is None else _finite(ts, "ts")

    def _event(self, user, mid, op, text=None, old=None, meta=None, reason="", ts=None):
        assert op in OPS, op
        ts = self._ts(ts)
        self.conn.execute(
            "INSERT INTO events(ts,user_id,memory_id,op,text,old_text,meta,reason) "
            "VALUES (?,?,?,?,?,?,?,?)",
            (ts, user, mid, op, text, old,
             json.dumps(meta) if meta is not None else None, reason))

    # ---- writes ---------------------------------------------------------------------------
    def add(self, user: str, text: str, meta: dict | None = None, reason: str = "",
            kind: str = "memory", state: str = "active", ts: float | None = None,
            op: str = "add", embed_text: str | None = None, embed: bool = True) -> int:
        """Store ``text`` (its vector from ``embed_text`` when given; no vector and never
        searched with ``embed=False``); returns the new id."""
        if not isinstance(text, str) or not text.strip():
            raise ValueError("text must be a non-empty string")
        user, text = _user(user), nfc(text)
        ts = self._ts(ts)
        meta = dict(meta or {})
        with self.transaction():
            vec = (self.embed_for(user, [embed_text or text])[0].astype(np.float32)
                   if embed else None)
            cur = self.conn.execute(
                "INSERT INTO memories(user_id,kind,state,text,meta,vec,created_at,updated_at) "
                "VALUES (?,?,?,?,?,?,?,?)",
                (user, kind, state, text, json.dumps(meta),
                 None if vec is None else vec.tobytes(), ts, ts))
            mid = cur.lastrowid
            self._event(user, mid, op, text, None, {**meta, "_kind": kind, "_state": state},
                        reason, ts)
            # (a rollback of an enclosing transaction clears _pending with the cache)
            if vec is not None and user in self._cache and state == "active":
                self._pending.setdefault(user, []).append((mid, kind, vec))
        return mid

    def update(self, mid: int, text: str | None = None, meta: dict | None = None,
               reason: str = "", state: str | None = None, ts: float | None = None,
               embed_text: str | None = None) -> Item:
        """Change a memory's text, meta and/or state (re-embedded when the text changes).
        ``text=None`` keeps the text; an empty text is refused (that would be a silent
        deletion: use :meth:`delete`, which logs it as one)."""
        if text is not None and (not isinstance(text, str) or not text.strip()):
            raise ValueError(f"update of memory {mid}: text must be a non-empty string or None "
                             f"(to remove a memory use delete), got {text!r}")
        text = None if text is None else nfc(text)
        ts = self._ts(ts)
        with self.transaction():
            old = self.get(mid)
            if old is None:
                raise KeyError(f"no memory with id {mid}")
            new_text = old.text if text is None else text
            new_meta = {**old.meta, **(meta or {})}
            new_state = old.state if state is None else state
            has_vec = self.conn.execute("SELECT vec IS NOT NULL FROM memories WHERE id=?",
                                        (mid,)).fetchone()[0]
            vec = (self.embed_for(old.user_id, [embed_text or new_text])[0].astype(np.float32)
                   .tobytes() if has_vec and (new_text != old.text or embed_text) else None)
            self.conn.execute(
                "UPDATE memories SET text=?, meta=?, state=?, updated_at=?, vec=COALESCE(?, vec) "
                "WHERE id=?", (new_text, json.dumps(new_meta), new_state, ts, vec, mid))
            self._event(old.user_id, mid, "update", new_text, old.text,
                        {**new_meta, "_kind": old.kind, "_state": new_state}, reason, ts)
        if vec is not None or new_state != old.state:
            self._drop(old.user_id)
        return self.get(mid)

    def delete(self, mid: int, reason: str = "", ts: float | None = None) -> None:
        """Hard delete of the row (Mem0 classic); the event log keeps what it said."""
        ts = self._ts(ts)
        with self.transaction():
            old = self.get(mid)
            if old is None:
                raise KeyError(f"no memory with id {mid}")
            self.conn.execute("DELETE FROM memories WHERE id=?", (mid,))
            self.conn.execute("DELETE FROM links WHERE src=? OR dst=?", (mid, mid))
            self._event(old.user_id, mid, "delete", None, old.text, None, reason, ts)
        self._drop(old.user_id)

    def _drop(self, user: str) -> None:
        self._cache.pop(user, None)
        self._pending.pop(user, None)

    def link(self, src: int, dst: int, reason: str = "", ts: float | None = None) -> None:
        """Link ``src -> dst``; both must be the same user's (a link never crosses users)."""
        ts = self._ts(ts)
        with self.transaction():
            a, b = self.get(src), self.get(dst)
            if a is None or b is None:
                raise KeyError(f"cannot link {src} -> {dst}: unknown id")
            if a.user_id != b.user_id:
                raise ValueError(f"cannot link {src} -> {dst}: they belong to different users")
            self.conn.execute("INSERT OR IGNORE INTO links VALUES (?,?,?,?)",
                              (a.user_id, src, dst, ts))
            self._event(a.user_id, src, "link", str(dst), None, {"dst": dst}, reason, ts)

    def summarise(self, user: str, text: str, sources: list[int], reason: str = "",
                  meta: dict | None = None) -> int:
        return self.add(user, text, {**(meta or {}), "sources": list(sources)}, reason,
                        kind="summary", op="summarise")

    def forget(self, user: str, reason: str = "user asked to be forgotten",
               busy_wait: float = 5.0) -> dict:
        """Purge every trace of ``user``: rows, vectors, links (either end), events, caches,
        freed pages. User ids are compared after NFC normalisation, so rows written under
        another normalisation of the same name go too.

        The embedder's cache loses every text embedded for the user: stored texts, texts
        replaced by updates (``old_text`` of events), vector texts and queries (``embedded``).
        The file is then checkpointed and vacuumed; while another connection holds a read
        transaction the checkpoint cannot finish (old pages stay in the WAL): it is retried
        for ``busy_wait`` seconds, then :class:`ForgetIncomplete` is raised (the rows are
        gone; call ``forget`` again when the readers have closed)."""
        user = _user(user)
        with self.transaction():
            names = [u for (u,) in self.conn.execute(
                "SELECT DISTINCT user_id FROM memories UNION SELECT DISTINCT user_id FROM events "
                "UNION SELECT DISTINCT user_id FROM embedded") if u and nfc(u) == user]
            texts, n, e = set(), 0, 0
            for u in names:
                texts |= {r[0] for r in self.conn.execute(
                    "SELECT text FROM memories WHERE user_id=? UNION SELECT text FROM events "
                    "WHERE user_id=? AND text IS NOT NULL UNION SELECT old_text FROM events "
                    "WHERE user_id=? AND old_text IS NOT NULL UNION SELECT text FROM embedded "
                    "WHERE user_id=?", (u,) * 4)}
                self.conn.execute("DELETE FROM links WHERE user_id=? OR src IN (SELECT id FROM "
                                  "memories WHERE user_id=?) OR dst IN (SELECT id FROM memories "
                                  "WHERE user_id=?)", (u, u, u))
                n += self.conn.execute("DELETE FROM memories WHERE user_id=?", (u,)).rowcount
                e += self.conn.execute("DELETE FROM events WHERE user_id=?", (u,)).rowcount
                self.conn.execute("DELETE FROM embedded WHERE user_id=?", (u,))
            # the purge itself is logged without naming the user (a count, not an identity)
            self._event(AUDIT_ACTOR, None, "forget", None, None, {"rows": n, "events": e},
                        reason)
        for u in names + [user]:
            self._drop(u)
        if hasattr(self.embedder, "evict"):
            self.embedder.evict(sorted(texts))
        report = {"rows": n, "events": e, "file": "purged"}
        if self.path != ":memory:":
            report["file"] = self._purge_file(busy_wait, report)
        return report

    def _checkpoint(self) -> bool:
        busy, _, _ = self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        return busy == 0

    def _purge_file(self, busy_wait: float, report: dict) -> str:
        deadline = time.monotonic() + max(0.0, busy_wait)
        with self._lock:
            # the loop below does the waiting (busy_wait), not SQLite's busy handler, which
            # would block each checkpoint for the store's whole timeout
            self.conn.execute("PRAGMA busy_timeout=50")
            try:
                while True:
                    try:
                        if self._checkpoint():
                            self.conn.execute("VACUUM")
                            if self._checkpoint():
                                return "purged"
                    except sqlite3.OperationalError as err:   # VACUUM: "database is locked"
                        if "locked" not in str(err) and "busy" not in str(err):
                            raise
                    if time.monotonic() >= deadline:
                        report["file"] = "not purged"
                        raise ForgetIncomplete(
                            f"forget: the rows are deleted, but another connection holds a "
                            f"read transaction on {self.path}, so their old pages are still in "
                            f"the file / WAL after {busy_wait:g} s of retries; close the other "
                            "connections' transactions and call forget again", report)
                    time.sleep(0.05)
            finally:
                self.conn.execute(f"PRAGMA busy_timeout={self._busy_ms}")

    def close(self) -> None:
        self.conn.close()
