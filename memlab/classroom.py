"""Assignments and autograding with nbgrader's marker syntax.

``memlab assign NOTEBOOK... -o DIR`` writes student versions:
  * code between ``### BEGIN SOLUTION`` / ``### END SOLUTION`` becomes
    ``# YOUR CODE HERE`` + ``raise NotImplementedError()`` (indented like the markers);
    in Markdown cells the region becomes ``YOUR ANSWER HERE`` (nbgrader's ClearSolutions);
  * ``### BEGIN HIDDEN TESTS`` ... ``### END HIDDEN TESTS`` blocks are removed
    (nbgrader's ClearHiddenTests);
  * outputs are cleared; everything else, nbgrader cell metadata included, is kept, so an
    instructor can switch to nbgrader itself.

``memlab grade SUBMISSION... [-o DIR] [--source NB] [--timeout S]`` grades submissions:
  every graded cell (metadata ``nbgrader.grade: true`` with ``points``) gets its test code back
  from the instructor's notebook, hidden tests included, so a student who edits or deletes a
  test cell gains nothing (the edit is reported as ``tampered``). The notebook runs in a fresh
  kernel with errors allowed and a per-cell time limit (an endless loop is interrupted and
  scores zero for that exercise); a graded cell earns its points when it runs without error.
  Writes ``grades.csv`` and ``grades.json`` (points per exercise and submission) and each
  executed submission under ``graded/`` (the feedback a student can read).

  Submissions are identified by their path relative to the submissions directory (by default
  the deepest folder holding all of them), so ``alice/01_x.ipynb`` and ``bob/01_x.ipynb`` stay
  apart; with per-student folders the ``student`` column is the folder name. A submission that
  cannot be graded (an unreadable notebook, no instructor notebook of that name) becomes rows
  with 0 points and a status saying why; the other submissions are graded as usual.
"""

from __future__ import annotations

import copy
import csv
import json
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import nbformat

__all__ = [
    "ExerciseGrade",
    "UngradableError",
    "assign",
    "clear_hidden_tests",
    "clear_solutions",
    "grade",
    "grade_notebook",
    "main",
    "not_graded",
    "student_version",
    "submission_ids",
]

_BEGIN_SOL, _END_SOL = "### BEGIN SOLUTION", "### END SOLUTION"
_BEGIN_HID, _END_HID = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"


class MarkerError(ValueError):
    """Unbalanced or nested nbgrader markers."""


def _regions(lines: list[str], begin: str, end: str, where: str):
    """Yield (start, stop) line indices of marker regions; raise on unbalanced markers."""
    start = None
    for i, line in enumerate(lines):
        s = line.strip()
        if s == begin:
            if start is not None:
                raise MarkerError(f"{where}: nested {begin!r} at line {i + 1}")
            start = i
        elif s == end:
            if start is None:
                raise MarkerError(f"{where}: {end!r} without {begin!r} at line {i + 1}")
            yield start, i
            start = None
    if start is not None:
        raise MarkerError(f"{where}: {begin!r} at line {start + 1} is never closed")


def clear_solutions(source: str, cell_type: str = "code", where: str = "cell") -> str:
    lines = source.split("\n")
    out, last = [], 0
    for a, b in _regions(lines, _BEGIN_SOL, _END_SOL, where):
        out += lines[last:a]
        indent = re.match(r"\s*", lines[a]).group(0)
        if cell_type == "code":
            out += [f"{indent}# YOUR CODE HERE", f"{indent}raise NotImplementedError()"]
        else:
            out += ["YOUR ANSWER HERE"]
        last = b + 1
    return "\n".join(out + lines[last:])


def clear_hidden_tests(source: str, where: str = "cell") -> str:
    lines = source.split("\n")
    out, last = [], 0
    for a, b in _regions(lines, _BEGIN_HID, _END_HID, where):
        out += lines[last:a]
        last = b + 1
    return "\n".join(out + lines[last:]).rstrip("\n")


def student_version(nb: nbformat.NotebookNode, name: str = "notebook") -> nbformat.NotebookNode:
    st = copy.deepcopy(nb)
    for i, cell in enumerate(st.cells):
        where = f"{name} cell {i}"
        src = clear_hidden_tests(clear_solutions(cell.source, cell.cell_type, where), where)
        cell.source = src
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    st.metadata["memlab"] = {"student_version_of": name}
    return st


def assign(notebooks: list[Path], out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for path in notebooks:
        nb = nbformat.read(str(path), as_version=4)
        dest = out_dir / Path(path).name
        nbformat.write(student_version(nb, Path(path).name), str(dest))
        written.append(dest)
    return written


# ------------------------------------------------------------------------------ grading
@dataclass
class ExerciseGrade:
    submission: str      # path relative to the submissions directory, e.g. "alice/01_x.ipynb"
    student: str         # first folder of ``submission`` ("" when submissions are not in folders)
    grade_id: str
    points: float
    max_points: float
    status: str          # "passed" | "failed: <error>" | "missing" | "timeout"
    #                      | "unreadable: <why>" | "no matching chapter: <why>"
    tampered: bool


#: statuses of a submission that was not run at all (it gets 0 points)
NOT_GRADED = ("unreadable", "no matching chapter", "error")


class UngradableError(Exception):
    """A submission that cannot be run; ``status`` is the grade-table status it gets."""

    def __init__(self, status: str):
        super().__init__(status)
        self.status = status


def _read_notebook(path: Path, what: str = "unreadable") -> nbformat.NotebookNode:
    try:
        nb = nbformat.read(str(path), as_version=4)
        if not isinstance(nb.get("cells"), list):
            raise TypeError("not a notebook: no list of cells")
        return nb
    except Exception as e:
        why = str(e).strip().splitlines()[0][:200] if str(e).strip() else ""
        raise UngradableError(f"{what}: {type(e).__name__}{': ' + why if why else ''}") from e


def _graded_cells(nb) -> dict[str, nbformat.NotebookNode]:
    found = {}
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("grade") and cell.cell_type == "code":
            found[meta["grade_id"]] = cell
    return found


def _error_of(cell) -> str | None:
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            return f"{out.get('ename')}: {out.get('evalue')}"
    return None


def grade_notebook(submission: Path, source: Path, timeout: int = 120,
                   kernel_name: str = "python3",
                   executed_path: Path | None = None, name: str | None = None,
                   student: str = "") -> list[ExerciseGrade]:
    """Grade one submitted notebook against the instructor's ``source`` notebook.

    ``executed_path``: where to write the graded, executed notebook (feedback for the student).
    ``name`` / ``student``: how the rows identify the submission (default: its file name).
    An unreadable submission gives one 0-point row per exercise with status
    ``"unreadable: <why>"``.
    """
    from nbclient import NotebookClient

    name = name or Path(submission).name
    src = _read_notebook(source, "unreadable instructor notebook")
    reference = _graded_cells(src)
    try:
        sub = _read_notebook(submission)
    except UngradableError as e:
        return [ExerciseGrade(name, student, gid, 0.0,
                              float(ref.metadata["nbgrader"].get("points", 0)), e.status, False)
                for gid, ref in reference.items()] or \
            [ExerciseGrade(name, student, "", 0.0, 0.0, e.status, False)]
    released = {gid: clear_hidden_tests(c.source) for gid, c in reference.items()}
    submitted = _graded_cells(sub)
    tampered = {gid: gid in submitted and submitted[gid].source.strip() != released[gid].strip()
                for gid in reference}
    for gid, cell in submitted.items():
        if gid in reference:
            cell.source = reference[gid].source      # restore the real test, hidden part too
    for cell in sub.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    client = NotebookClient(sub, timeout=timeout, kernel_name=kernel_name, allow_errors=True,
                            interrupt_on_timeout=True, record_timing=False,
                            resources={"metadata": {"path": str(Path(source).parent)}})
    try:
        client.execute()
    except Exception as e:  # noqa: BLE001 - a dead kernel still yields a grade table
        crash = f"{type(e).__name__}: {e}"
    else:
        crash = None
    if executed_path is not None:
        executed_path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(sub, str(executed_path))
    grades = []
    for gid, ref in reference.items():
        pts = float(ref.metadata["nbgrader"].get("points", 0))
        if gid not in submitted:
            grades.append(ExerciseGrade(name, student, gid, 0.0, pts, "missing", True))
            continue
        cell = submitted[gid]
        err = _error_of(cell)
        if cell.execution_count is None and err is None:
            status = f"failed: not executed ({crash or 'kernel stopped'})"
        elif err is None:
            status = "passed"
        else:
            status = "timeout" if "KeyboardInterrupt" in err or "Timeout" in err else \
                f"failed: {err}"
        grades.append(ExerciseGrade(name, student, gid, pts if status == "passed" else 0.0,
                                    pts, status, tampered[gid]))
    return grades


def _find_source(submission: Path) -> Path:
    from memlab.chapters import NOTEBOOK_DIR

    candidate = NOTEBOOK_DIR / submission.name
    if not candidate.exists():
        raise UngradableError(f"no matching chapter: no instructor notebook {candidate.name} "
                              "in notebooks/ (name the file as the chapter notebook, or pass "
                              "--source)")
    return candidate


def submission_ids(submissions: list[Path], submissions_dir: Path | None = None
                   ) -> list[tuple[str, str]]:
    """``(submission, student)`` per path: the path relative to ``submissions_dir`` (default:
    the deepest folder holding every submission) and its first folder, or ``""`` if none."""
    paths = [Path(os.path.abspath(p)) for p in submissions]
    if submissions_dir is not None:
        base = Path(os.path.abspath(submissions_dir))
    elif paths:
        base = Path(os.path.commonpath([str(p.parent) for p in paths]))
    ids = []
    for given, p in zip(submissions, paths):
        try:
            rel = p.relative_to(base)
        except ValueError:                       # outside --submissions-dir: keep it whole
            rel = Path(given)
        parts = rel.parts
        student = parts[0] if len(parts) > 1 and not rel.is_absolute() and parts[0] != ".." \
            else ""
        ids.append((rel.as_posix(), student))
    return ids


def grade(submissions: list[Path], out_dir: Path, source: Path | None = None,
          timeout: int = 120, submissions_dir: Path | None = None) -> list[ExerciseGrade]:
    """Grade every submission; rows and totals are keyed on :func:`submission_ids`.

    A submission that cannot be graded gets 0-point rows with a status naming why
    (``unreadable: ...``, ``no matching chapter: ...``) and the others are still graded.
    An explicit ``source`` that cannot be read stops the run before anything is graded.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    if source is not None:
        try:
            _read_notebook(Path(source), "unreadable instructor notebook")
        except UngradableError as e:
            raise ValueError(f"--source {source}: {e.status}") from e
    subs, seen = [], set()
    for sub in map(Path, submissions):           # the same file twice is graded once
        key = os.path.abspath(sub)
        if key not in seen:
            seen.add(key)
            subs.append(sub)
    rows = []
    for i, (sub, (name, student)) in enumerate(zip(subs, submission_ids(subs, submissions_dir))):
        graded = Path(name)                      # graded/alice/01_x.ipynb
        if graded.is_absolute() or ".." in graded.parts:
            graded = Path(f"{i:03d}_{sub.name}")
        try:
            src = Path(source) if source else _find_source(sub)
            rows += grade_notebook(sub, src, timeout, executed_path=out_dir / "graded" / graded,
                                   name=name, student=student)
        except UngradableError as e:
            rows.append(ExerciseGrade(name, student, "", 0.0, 0.0, e.status, False))
        except Exception as e:  # noqa: BLE001 - one bad submission never stops the others
            rows.append(ExerciseGrade(name, student, "", 0.0, 0.0,
                                      f"error: {type(e).__name__}: {e}", False))
    fields = list(ExerciseGrade.__dataclass_fields__)
    with open(out_dir / "grades.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        for r in rows:
            w.writerow(asdict(r))
    totals: dict[str, dict] = {}
    for r in rows:
        t = totals.setdefault(r.submission, {"student": r.student, "points": 0.0,
                                             "max_points": 0.0})
        t["points"] += r.points
        t["max_points"] += r.max_points
    (out_dir / "grades.json").write_text(json.dumps(
        {"exercises": [asdict(r) for r in rows], "totals": totals,
         "not_graded": not_graded(rows)}, indent=2))
    return rows


def not_graded(rows: list[ExerciseGrade]) -> dict[str, str]:
    """``{submission: status}`` of the submissions that could not be run at all."""
    out = {}
    for r in rows:
        if r.status.startswith(NOT_GRADED):
            out.setdefault(r.submission, r.status)
    return out


def main(args) -> int:
    if args.command == "assign":
        for p in assign([Path(n) for n in args.notebooks], Path(args.output)):
            print(f"wrote {p}")
        return 0
    subs_dir = getattr(args, "submissions_dir", None)
    rows = grade([Path(s) for s in args.submissions], Path(args.output),
                 getattr(args, "source", None), args.timeout,
                 Path(subs_dir) if subs_dir else None)
    for r in rows:
        flag = " (test cell was edited: original restored)" if r.tampered else ""
        print(f"{r.submission:36s} {r.grade_id:28s} {r.points:g}/{r.max_points:g} {r.status}{flag}")
    bad = not_graded(rows)
    if bad:
        print(f"{len(bad)} submission(s) could not be graded (0 points): " +
              "; ".join(f"{k} ({v})" for k, v in bad.items()))
    print(f"grades written to {Path(args.output) / 'grades.csv'} and grades.json")
    return 0
