"""Reliability experiments on the SQLite store, shared by the tests and the notebook.

* :func:`crash_writer` -- a child process adds memories one transaction at a time and prints
  each committed id; the parent SIGKILLs it mid-stream, reopens the file and checks that the
  database is intact, every printed (committed) id is there, and rows and events agree.
* :func:`concurrent_writers` -- several processes (two by default) write to one file at once,
  released together by a start barrier (WAL + busy timeout + ``BEGIN IMMEDIATE``); nothing is
  lost and no "database is locked" escapes. ``busy_wait=False`` is the negative control: the
  writers open the store with no busy timeout; a collision crashes the writer, so its
  remaining writes never happen (what it acknowledged is still there).
* :func:`forget_scan` -- after ``forget(user)`` the user's text is in no byte of the file
  (main database and WAL), while another user's text still is.
* :func:`crash_system` -- the same SIGKILL, but in the middle of a whole MemGPT run (core
  blocks, messages in context, summaries): the reopened store must restore exactly the state
  of an uninterrupted run after the same rounds, every acknowledged round included, and the
  resumed run must end where the uninterrupted one ends.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from memlab.agents.store import MemoryStore

__all__ = ["concurrent_writers", "consistency", "crash_system", "crash_writer", "forget_scan",
           "memgpt_snapshot"]

_WRITER = r"""
import sys, types
root = sys.argv[4]
if "memlab" not in sys.modules:   # import the store without memlab/__init__ (and torch)
    pkg = types.ModuleType("memlab"); pkg.__path__ = [root + "/memlab"]; sys.modules["memlab"] = pkg
from memlab.agents.store import MemoryStore
mode = sys.argv[5] if len(sys.argv) > 5 else ""
s = MemoryStore(sys.argv[1], timeout=0.0 if mode == "no-busy-wait" else 30.0)
user, n = sys.argv[2], int(sys.argv[3])
ack_early = mode == "ack-before-commit"
if len(sys.argv) > 6:             # start barrier: wait until the parent releases every writer
    import os, time
    print("ready", flush=True)
    while not os.path.exists(sys.argv[6]):
        time.sleep(0.002)
for i in range(n):
    if ack_early:                 # the bug: acknowledge inside the transaction, then commit
        import time
        with s.transaction():
            mid = s.add(user, f"{user} note {i}: " + "x" * 200, {"i": i}, reason="writer")
            print(mid, flush=True)
            time.sleep(0.5)       # the work a real writer does between its ack and COMMIT
        continue
    mid = s.add(user, f"{user} note {i}: " + "x" * 200, {"i": i}, reason="writer")
    print(mid, flush=True)
"""


def _child(path, user, n, mode="ack-after-commit", go=None):
    root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ, OMP_NUM_THREADS="1")
    argv = [sys.executable, "-c", _WRITER, str(path), user, str(n), root, mode]
    return subprocess.Popen(argv + ([str(go)] if go else []), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def consistency(store: MemoryStore) -> dict:
    """Rows vs events: every row has its add event, the fold of events equals the rows."""
    rows = {r[0]: r[1] for r in store.conn.execute("SELECT id, text FROM memories")}
    users = [r[0] for r in store.conn.execute("SELECT DISTINCT user_id FROM memories")]
    folded = {}
    for u in users:
        folded.update({k: v["text"] for k, v in store.as_of(u, float("inf")).items()})
    return {"integrity": store.integrity(), "rows": len(rows), "events_match": folded == rows}


def crash_writer(path: str | Path | None = None, kill_after: int = 50, n: int = 100000,
                 timeout: float = 60.0, ack_before_commit: bool = False) -> dict:
    """SIGKILL a writer after ``kill_after`` acknowledged adds; report what survived.

    ``ack_before_commit=True`` is the negative control: a writer that acknowledges each id
    inside its transaction, before COMMIT. The kill then lands between an ack and its commit,
    and the acknowledged write is lost, so a test of ``lost == 0`` can fail."""
    path = Path(path or tempfile.mkdtemp()) / "crash.db" if path is None or Path(path).is_dir() \
        else Path(path)
    MemoryStore(str(path)).close()
    p = _child(path, "crash", n, "ack-before-commit" if ack_before_commit else "ack-after-commit")
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


def concurrent_writers(path: str | Path | None = None, n: int = 200, procs: int = 2,
                       busy_wait: bool = True) -> dict:
    """``procs`` processes add ``n`` memories each to one file, all released at once; report
    rows, events and errors. ``busy_wait=False``: the writers have no busy timeout (the bug)."""
    if isinstance(procs, bool) or not isinstance(procs, int) or procs < 1:
        raise ValueError(f"procs must be an integer >= 1, got {procs!r}")
    path = Path(path) if path else Path(tempfile.mkdtemp()) / "concurrent.db"
    MemoryStore(str(path)).close()
    go = path.with_name(path.name + ".go")
    go.unlink(missing_ok=True)
    mode = "ack-after-commit" if busy_wait else "no-busy-wait"
    children = [_child(path, f"writer{i}", n, mode, go) for i in range(procs)]
    for p in children:                       # every writer has opened the store
        if p.stdout.readline().strip() != "ready":
            break
    go.touch()
    outs = [p.communicate(timeout=300) for p in children]
    go.unlink(missing_ok=True)
    s = MemoryStore(str(path))
    acked = sum(tok.isdigit() for o, _ in outs for tok in o.split())   # ids, not "ready"
    res = {"rows": s.count(), "expected": procs * n, "acknowledged": acked,
           "events": s.conn.execute("SELECT COUNT(*) FROM events").fetchone()[0],
           "returncodes": [p.returncode for p in children],
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


_SYSTEM_RUN = r"""
import json, sys, types
root = sys.argv[3]
if "memlab" not in sys.modules:   # import the agents without memlab/__init__ (and torch)
    pkg = types.ModuleType("memlab"); pkg.__path__ = [root + "/memlab"]; sys.modules["memlab"] = pkg
from memlab.agents.memgpt import MemGPT
from memlab.agents.store import MemoryStore
plan = json.load(open(sys.argv[2]))
m = MemGPT(store=MemoryStore(sys.argv[1]), user="u", context_window=plan["context_window"])
for i, (t, u, a, src) in enumerate(plan["rounds"]):
    m.clock.set(t)
    m.observe(u, a, src)
    print(i, flush=True)          # acknowledged: observe() returned
"""


def memgpt_snapshot(m) -> dict:
    """Everything a MemGPT run has to resume from (all but the ``trace`` diagnostics)."""
    rows = sorted((it.kind, it.text) for it in m.store.items(m.user)
                  if it.kind in ("recall", "archival", "summary"))
    return {"blocks": dict(m.blocks), "block_dates": {k: (d, list(s)) for k, (d, s) in
                                                      m.block_dates.items() if k in
                                                      m.blocks["human"].splitlines()},
            "messages": [(x["role"], x["content"]) for x in m.messages], "summary": m.summary,
            "warned": m.warned, "n_seen": m.n_seen, "rounds": m.rounds, "rows": rows}


def _persona_rounds(records) -> list:
    from memlab.agents.harness import parse_date

    r0 = records[0]
    return [(parse_date(date), sess[t]["content"], sess[t + 1]["content"], [f"{sid}_{t}"])
            for sid, date, sess in zip(r0["haystack_session_ids"], r0["haystack_dates"],
                                       r0["haystack_sessions"])
            for t in range(0, len(sess) - 1, 2)]


def crash_system(path: str | Path | None = None, kill_after: int = 20, context_window: int = 150,
                 records=None, timeout: float = 60.0) -> dict:
    """SIGKILL a process mid-way through a MemGPT run, reopen, compare and resume.

    Returns ``acked`` (rounds the child acknowledged), ``restored_rounds`` (whole steps found in
    the store), ``lost`` (acknowledged rounds missing), ``restored_equal`` (the reopened
    system's state == an uninterrupted in-memory run after ``restored_rounds`` rounds),
    ``resumed_equal`` (after finishing the run on the reopened store, the states agree again),
    and the store's integrity / event consistency."""
    from memlab.agents.memgpt import MemGPT
    from memlab.tasks.longmemeval import generate

    path = Path(path or tempfile.mkdtemp())
    path = path / "system.db" if path.is_dir() else path
    rounds = _persona_rounds(records or generate(n_personas=1, seed=0))
    plan = path.with_suffix(".plan.json")
    plan.write_text(json.dumps({"rounds": rounds, "context_window": context_window}))
    MemoryStore(str(path)).close()
    root = str(Path(__file__).resolve().parents[2])
    p = subprocess.Popen([sys.executable, "-c", _SYSTEM_RUN, str(path), str(plan), root],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env=dict(os.environ, OMP_NUM_THREADS="1"))
    acked, t0 = [], time.monotonic()
    while len(acked) < kill_after and time.monotonic() - t0 < timeout:
        line = p.stdout.readline()
        if not line:
            break
        acked.append(int(line))
    p.send_signal(signal.SIGKILL)
    p.wait()
    s = MemoryStore(str(path))
    m = MemGPT(store=s, user="u", context_window=context_window)
    n = m.rounds
    ref = MemGPT(user="u", context_window=context_window)
    for t, u, a, src in rounds[:n]:
        ref.clock.set(t)
        ref.observe(u, a, src)
    out = {"acked": len(acked), "restored_rounds": n, "total_rounds": len(rounds),
           "lost": sum(1 for i in acked if i >= n), "returncode": p.returncode,
           "summaries_before_kill": len(s.items("u", kind="summary")),
           "restored_equal": memgpt_snapshot(m) == memgpt_snapshot(ref), **consistency(s)}
    for sysm in (m, ref):
        for t, u, a, src in rounds[n:]:
            sysm.clock.set(t)
            sysm.observe(u, a, src)
    out["resumed_equal"] = memgpt_snapshot(m) == memgpt_snapshot(ref)
    s.close()
    return out
