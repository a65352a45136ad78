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
  test cell gains nothing (the edit is reported as ``tampered``). A graded cell earns its
  points when its test runs without error.

  A submission is untrusted code. Every instructor notebook and submission is read and hashed
  before any student code runs; each submission runs in a throwaway copy of its own folder,
  as its own process group, with a per-cell time limit (``--timeout``; an endless loop scores
  zero for that exercise) and a per-submission wall-clock limit that kills the group. Tests
  run outside IPython on plain values, after the modules the instructor imported are restored:
  a custom exception handler, an input transformer, a rebound helper or an always-equal object
  earns nothing (memlab.classroom_sandbox). Grades are appended to ``grades.partial.jsonl`` as
  each submission finishes, and ``grades.csv`` / ``grades.json`` (points per exercise and
  submission) are written atomically at the end, with each executed submission under
  ``graded/`` (the feedback a student can read). What this does *not* guarantee -- student code
  runs as the grader's user -- is listed in memlab.classroom_run.

  Submissions are identified by their path relative to the submissions directory (by default
  the deepest folder holding all of them), so ``alice/01_x.ipynb`` and ``bob/01_x.ipynb`` stay
  apart; with per-student folders the ``student`` column is the folder name. A submission that
  cannot be graded (an unreadable notebook, more than ``MAX_CELLS`` cells, no instructor
  notebook of that name) becomes rows with 0 points and a status saying why; the other
  submissions are graded as usual.
"""

from __future__ import annotations

import copy
import re
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
    if not last:                     # no hidden tests: the cell is left exactly as it was
        return source
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
from memlab.classroom_grade import (
    ExerciseGrade,
    UngradableError,
    grade,
    grade_notebook,
    not_graded,
    submission_ids,
)


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
