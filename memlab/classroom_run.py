"""The grader's side of the sandbox: run one submission, collect its results, clean up.

What the grader guarantees (memlab.classroom, ``memlab grade``):

* every file it grades from -- instructor notebooks and submissions (each student's own
  folder) -- is read into memory and hashed before any student code runs; a submission that
  rewrites another student's file or the instructor notebook changes nothing that is graded,
  and an instructor notebook changed on disk is put back (and reported);
* each submission runs in a throwaway copy of its own folder (never the instructor's
  folder), as its own process group, started through a supervisor process so that
  ``os.kill(os.getppid(), ...)`` reaches the supervisor, not the grader; per-cell and
  per-submission wall-clock limits kill the whole group; afterwards every process still
  carrying the run's environment marker is killed;
* tests run outside IPython on plain values (see memlab.classroom_sandbox); results arrive
  through a pipe, each message carrying a token that is never in the environment, arguments or
  files of the run;
* grades are appended to ``grades.partial.jsonl`` (fsync'd) after each submission, and the
  final ``grades.csv`` / ``grades.json`` are written atomically (temporary file + rename).

What it does NOT guarantee (that needs a container or a separate user, as nbgrader's own
documentation says of nbgrader): student code runs as the grader's user, so it can read any
file that user can read (the instructor notebook under notebooks/ included), can signal the
grader if it walks /proc to find it (the grades already finished stay in the partial file),
can escape the process group with ``setsid`` and a clean environment, can use the network, and
code written against the grader's internals (frame or ``gc`` introspection to find the token,
audit hooks, threads racing a test) can still forge a result. Memory is not limited.
"""

from __future__ import annotations

import json
import os
import secrets
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["SandboxRun", "folder_files", "kill_marked", "run_sandboxed"]

MAX_FOLDER_BYTES = 50 * 2**20
MAX_REPORT_BYTES = 64 * 2**20


@dataclass
class SandboxRun:
    grades: dict = field(default_factory=dict)     # grade_id -> status (first report wins)
    outputs: dict = field(default_factory=dict)    # cell index -> nbformat outputs
    done: bool = False
    timed_out: bool = False
    crash: str = ""
    forged: int = 0                                # messages without the run's token


def folder_files(notebook: Path, own_folder: bool, skip: set[str] = frozenset()) -> dict:
    """``{relative path: bytes}`` of a submission: the notebook, and with ``own_folder`` the
    rest of its folder (other submissions in ``skip`` and anything past 50 MiB left out)."""
    notebook = Path(notebook)
    files = {notebook.name: notebook.read_bytes()}
    if own_folder:
        total = len(files[notebook.name])
        for p in sorted(notebook.parent.rglob("*")):
            if p.is_symlink() or not p.is_file() or os.path.abspath(p) in skip or \
                    p == notebook:
                continue
            size = p.stat().st_size
            if total + size > MAX_FOLDER_BYTES:
                continue
            files[p.relative_to(notebook.parent).as_posix()] = p.read_bytes()
            total += size
    return files


def kill_marked(marker: str) -> int:
    """SIGKILL every process whose environment carries ``marker``; returns how many."""
    needle, n = marker.encode(), 0
    for pid in filter(str.isdigit, os.listdir("/proc") if os.path.isdir("/proc") else []):
        if int(pid) == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                if needle in f.read():
                    os.kill(int(pid), signal.SIGKILL)
                    n += 1
        except (OSError, ProcessLookupError):
            continue
    return n


def _killpg(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def run_sandboxed(cells: list[dict], instructor_code: list[str], files: dict,
                  timeout: float, limit: float) -> SandboxRun:
    """Run ``cells`` in a fresh sandbox holding ``files``; at most ``limit`` seconds."""
    out = SandboxRun()
    work = Path(tempfile.mkdtemp(prefix="memlab-grade-"))
    marker = "memlab-sandbox-" + secrets.token_hex(8)
    token = secrets.token_hex(16)
    try:
        for rel, data in files.items():
            dest = work / rel
            if ".." in Path(rel).parts or Path(rel).is_absolute():
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(data)
        env = {k: v for k, v in os.environ.items() if not k.startswith("MEMLAB_SANDBOX")}
        env.update(MEMLAB_SANDBOX_MARK=marker, MPLBACKEND="Agg", PYTHONHASHSEED="0",
                   IPYTHONDIR=str(work / ".ipython"), TQDM_DISABLE="1")
        r, w = os.pipe()
        job = json.dumps({"token": token, "timeout": timeout, "cells": cells,
                          "instructor_code": instructor_code})
        deadline = time.monotonic() + limit
        proc = subprocess.Popen([sys.executable, "-m", "memlab.classroom_sandbox", str(w)],
                                cwd=work, env=env, stdin=subprocess.PIPE,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                pass_fds=(w,), start_new_session=True)
        os.close(w)
        try:
            proc.stdin.write(job.encode())
            proc.stdin.close()
        except (BrokenPipeError, OSError):
            pass
        _collect(r, token, deadline, out)
        os.close(r)
        _killpg(proc.pid)
        try:
            code = proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            code = None
        if not out.done and not out.timed_out:
            out.crash = f"the submission's process stopped (exit code {code})"
        kill_marked(marker)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out


def _collect(r: int, token: str, deadline: float, out: SandboxRun) -> None:
    buf, total = b"", 0
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            out.timed_out = True
            return
        ready, _, _ = select.select([r], [], [], min(left, 1.0))
        if not ready:
            continue
        chunk = os.read(r, 1 << 16)
        if not chunk:
            return
        total += len(chunk)
        if total > MAX_REPORT_BYTES:
            out.crash = "the submission wrote more than 64 MiB of output"
            return
        buf += chunk
        *lines, buf = buf.split(b"\n")
        for line in lines:
            try:
                msg = json.loads(line)
            except (ValueError, UnicodeDecodeError):
                out.forged += 1
                continue
            if not isinstance(msg, dict) or msg.get("t") != token:
                out.forged += 1
                continue
            if "grade" in msg:
                out.grades.setdefault(str(msg["grade"]), str(msg.get("status", "")))
            elif "cell" in msg and isinstance(msg.get("outputs"), list):
                out.outputs.setdefault(int(msg["cell"]), msg["outputs"])
            elif msg.get("done"):
                out.done = True
                return
