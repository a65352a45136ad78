"""Reliability experiments on the SQLite store, shared by the tests and the notebook.

* :func:`crash_writer` -- a child process adds memories one transaction at a time and prints
  each committed id; the parent SIGKILLs it mid-stream, reopens the file and checks that the
  database is intact, every printed (committed) id is there, and rows and events agree.
* :func:`concurrent_writers` -- two processes write to one file at once (WAL + busy timeout +
  ``BEGIN IMMEDIATE``); nothing is lost and no "database is locked" escapes.
* :func:`forget_scan` -- after ``forget(user)`` the user's text is in no byte of the file
  (main database and WAL), while another user's text still is.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from memlab.agents.store import MemoryStore

__all__ = ["concurrent_writers", "consistency", "crash_writer", "forget_scan"]

_WRITER = r"""
import sys, types
root = sys.argv[4]
if "memlab" not in sys.modules:   # import the store without memlab/__init__ (and torch)
    pkg = types.ModuleType("memlab"); pkg.__path__ = [root + "/memlab"]; sys.modules["memlab"] = pkg
from memlab.agents.store import MemoryStore
s = MemoryStore(sys.argv[1])
user, n = sys.argv[2], int(sys.argv[3])
for i in range(n):
    mid = s.add(user, f"{user} note {i}: " + "x" * 200, {"i": i}, reason="writer")
    print(mid, flush=True)
"""


def _child(path, user, n):
    root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.Popen([sys.executable, "-c", _WRITER, str(path), user, str(n), root],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def consistency(store: MemoryStore) -> dict:
    """Rows vs events: every row has its add event, the fold of events equals the rows."""
    rows = {r[0]: r[1] for r in store.conn.execute("SELECT id, text FROM memories")}
    users = [r[0] for r in store.conn.execute("SELECT DISTINCT user_id FROM memories")]
    folded = {}
    for u in users:
        folded.update({k: v["text"] for k, v in store.as_of(u, float("inf")).items()})
    return {"integrity": store.integrity(), "rows": len(rows), "events_match": folded == rows}


def crash_writer(path: str | Path | None = None, kill_after: int = 50, n: int = 100000,
                 timeout: float = 60.0) -> dict:
    """SIGKILL a writer after ``kill_after`` committed adds; report what survived."""
    path = Path(path or tempfile.mkdtemp()) / "crash.db" if path is None or Path(path).is_dir() \
        else Path(path)
    MemoryStore(str(path)).close()
    p = _child(path, "crash", n)
    committed, t0 = [], time.monotonic()
    while len(committed) < kill_after and time.monotonic() - t0 < timeout:
        line = p.stdout.readline()
        if not line:
            break
        committed.append(int(line))
    p.send_signal(signal.SIGKILL)
    p.wait()
    s = MemoryStore(str(path))
    have = {r[0] for r in s.conn.execute("SELECT id FROM memories")}
    out = {"committed_seen": len(committed), "lost": len(set(committed) - have),
           "rows_after": len(have), **consistency(s), "returncode": p.returncode}
    s.close()
    return out


def concurrent_writers(path: str | Path | None = None, n: int = 200) -> dict:
    """Two processes add ``n`` memories each to one file; report rows, events and errors."""
    path = Path(path) if path else Path(tempfile.mkdtemp()) / "concurrent.db"
    MemoryStore(str(path)).close()
    procs = [_child(path, u, n) for u in ("alice", "bob")]
    outs = [p.communicate(timeout=300) for p in procs]
    s = MemoryStore(str(path))
    res = {"rows": s.count(), "expected": 2 * n,
           "events": s.conn.execute("SELECT COUNT(*) FROM events").fetchone()[0],
           "returncodes": [p.returncode for p in procs],
           "errors": [e for _, e in outs if e.strip()], **consistency(s)}
    s.close()
    return res


def forget_scan(path: str | Path | None = None, n: int = 50) -> dict:
    """Write two users, forget one, and count the bytes of each left in the files."""
    path = Path(path) if path else Path(tempfile.mkdtemp()) / "forget.db"
    s = MemoryStore(str(path))
    for i in range(n):
        s.add("alice", f"alice-secret {i}: my bank PIN is {1000 + i}", {"tag": "alice-meta"})
        s.add("bob", f"bob-note {i}: likes jazz", {"tag": "bob-meta"})
    a = s.search("alice", "bank PIN", 3)
    s.update(a[0].id, "alice-secret updated PIN", reason="alice-reason")
    s.forget("alice")
    s.close()
    blob = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    return {"alice_hits": blob.count(b"alice"), "bob_hits": blob.count(b"bob-note"),
            "files": sorted(p.name for p in path.parent.glob(path.name + "*"))}
