"""Grading submitted notebooks (``memlab grade``); the sandbox is in memlab.classroom_run.

See memlab.classroom for the command, and memlab.classroom_run for what the grader
guarantees against a hostile submission and what it does not.
"""

from __future__ import annotations

import contextlib
import copy
import csv
import hashlib
import io
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import nbformat

__all__ = [
    "MAX_CELLS",
    "ExerciseGrade",
    "UngradableError",
    "grade",
    "grade_notebook",
    "not_graded",
    "submission_ids",
]


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


def _job_cells(sub, reference, src) -> tuple[list[dict], list[str]]:
    """The cells the sandbox runs (graded cells carry the instructor's full test) and the
    instructor's own code (its imports are run, and rebound, before each test)."""
    given, before = [], {}
    for cell in src.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type != "code" or meta.get("solution"):
            continue
        if meta.get("grade") and meta.get("grade_id") in reference:
            before[meta["grade_id"]] = list(given)
        given.append(cell.source)
    cells, seen = [], set()
    for cell in sub.cells:
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if cell.cell_type == "code" and gid in reference and \
                cell.metadata["nbgrader"].get("grade") and gid not in seen:
            seen.add(gid)
            cells.append({"kind": "test", "grade_id": gid, "source": reference[gid].source,
                          "imports": before.get(gid, [])})
        else:
            cells.append({"kind": cell.cell_type if cell.cell_type == "code" else "markdown",
                          "source": cell.source})
    return cells, given + [c.source for c in reference.values()]


def grade_notebook(submission: Path, source: Path, timeout: int = 120,
                   kernel_name: str = "python3",
                   executed_path: Path | None = None, name: str | None = None,
                   student: str = "", submission_timeout: float | None = None,
                   files: dict[str, bytes] | None = None,
                   source_nb: nbformat.NotebookNode | None = None) -> list[ExerciseGrade]:
    """Grade one submitted notebook against the instructor's ``source`` notebook.

    ``executed_path``: where to write the graded, executed notebook (feedback for the student).
    ``name`` / ``student``: how the rows identify the submission (default: its file name).
    ``files``: the submission's folder as ``{relative path: bytes}``, read before any student
    code ran (default: the notebook alone); ``source_nb``: the instructor notebook as read and
    hashed before (default: read ``source`` now). ``submission_timeout``: wall-clock limit of
    the whole submission (default ``max(60, 5 * timeout)``); ``kernel_name`` is ignored (the
    sandbox runs the interpreter that runs the grader).
    An unreadable submission gives one 0-point row per exercise with status
    ``"unreadable: <why>"``.
    """
    from memlab.classroom_run import run_sandboxed

    name = name or Path(submission).name
    src = source_nb if source_nb is not None else \
        _read_notebook(source, "unreadable instructor notebook")
    reference = _graded_cells(src)
    try:
        if files is not None and Path(submission).name in files:
            sub = _notebook_from_bytes(files[Path(submission).name])
        else:
            sub = _read_notebook(submission)
    except UngradableError as e:
        return [ExerciseGrade(name, student, gid, 0.0,
                              float(ref.metadata["nbgrader"].get("points", 0)), e.status, False)
                for gid, ref in reference.items()] or \
            [ExerciseGrade(name, student, "", 0.0, 0.0, e.status, False)]
    from memlab.classroom import clear_hidden_tests

    released = {gid: clear_hidden_tests(c.source) for gid, c in reference.items()}
    submitted = _graded_cells(sub)
    tampered = {gid: gid in submitted and submitted[gid].source.strip() != released[gid].strip()
                for gid in reference}
    for gid, cell in submitted.items():
        if gid in reference:
            cell.source = reference[gid].source      # restore the real test, hidden part too
    cells, instructor_code = _job_cells(sub, reference, src)
    if files is None:
        files = {Path(submission).name: Path(submission).read_bytes()}
    limit = submission_timeout if submission_timeout is not None else max(60.0, 5.0 * timeout)
    run = run_sandboxed(cells, instructor_code, files, timeout, limit)
    for i, cell in enumerate(sub.cells):
        if cell.cell_type == "code":
            cell.outputs = [nbformat.from_dict(o) for o in run.outputs.get(i, [])]
            cell.execution_count = i + 1 if i in run.outputs else None
    if executed_path is not None:
        executed_path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(sub, str(executed_path))
    grades = []
    for gid, ref in reference.items():
        pts = float(ref.metadata["nbgrader"].get("points", 0))
        if gid not in submitted:
            grades.append(ExerciseGrade(name, student, gid, 0.0, pts, "missing", True))
            continue
        status = run.grades.get(gid)
        if status is None:
            status = (f"timeout: the submission ran past its limit of {limit:g} s"
                      if run.timed_out else f"failed: not executed ({run.crash})")
        grades.append(ExerciseGrade(name, student, gid, pts if status == "passed" else 0.0,
                                    pts, status, tampered[gid]))
    return grades


#: a submission with more cells than this is refused before it runs (10**5 trivial cells
#: would otherwise spend minutes in notebook validation alone)
MAX_CELLS = 5000


def _notebook_from_bytes(data: bytes) -> nbformat.NotebookNode:
    try:
        raw = json.loads(data.decode("utf-8"))
        n = len(raw.get("cells", [])) if isinstance(raw, dict) else 0
        if n > MAX_CELLS:
            raise ValueError(f"{n} cells, more than the {MAX_CELLS} a submission may have")
        nb = nbformat.reads(data.decode("utf-8"), as_version=4)
        if not isinstance(nb.get("cells"), list):
            raise TypeError("not a notebook: no list of cells")
        return nb
    except Exception as e:
        why = str(e).strip().splitlines()[0][:200] if str(e).strip() else ""
        raise UngradableError(f"unreadable: {type(e).__name__}{': ' + why if why else ''}") from e


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
          timeout: int = 120, submissions_dir: Path | None = None,
          submission_timeout: float | None = None) -> list[ExerciseGrade]:
    """Grade every submission; rows and totals are keyed on :func:`submission_ids`.

    Every instructor notebook and every submission (with its student's folder) is read and
    hashed before any student code runs; each submission then runs sandboxed (see
    :mod:`memlab.classroom_run` for what that guarantees and what it does not). Rows are
    appended to ``grades.partial.jsonl`` as each submission finishes; ``grades.csv`` and
    ``grades.json`` are written atomically at the end. An instructor notebook found changed
    on disk after a submission ran is written back and listed under ``instructor_restored``;
    the changed file is kept under ``instructor_changed/`` in ``out_dir`` (so an edit made by
    the instructor during a run is not lost: do not edit instructor notebooks while grading).

    A submission that cannot be graded gets 0-point rows with a status naming why
    (``unreadable: ...``, ``no matching chapter: ...``) and the others are still graded.
    An explicit ``source`` that cannot be read stops the run before anything is graded.
    """
    from memlab.classroom_run import folder_files

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
    ids = submission_ids(subs, submissions_dir)
    # ---- phase 0: read (and hash) everything before any student code runs
    instructors: dict[str, tuple] = {}           # abspath -> (bytes, sha256, notebook)
    jobs = []
    for i, (sub, (name, student)) in enumerate(zip(subs, ids)):
        try:
            src = Path(source) if source else _find_source(sub)
            key = os.path.abspath(src)
            if key not in instructors:
                data = src.read_bytes()
                nb = _notebook_from_bytes(data)
                instructors[key] = (data, hashlib.sha256(data).hexdigest(), nb)
            files = folder_files(sub, bool(student), seen)
            jobs.append((i, sub, name, student, src, files, None))
        except UngradableError as e:
            jobs.append((i, sub, name, student, None, None, e.status))
        except Exception as e:  # noqa: BLE001
            jobs.append((i, sub, name, student, None, None, f"error: {type(e).__name__}: {e}"))
    partial = out_dir / "grades.partial.jsonl"
    partial.write_text("")
    rows, restored = [], []
    for i, sub, name, student, src, files, status in jobs:
        graded = Path(name)                      # graded/alice/01_x.ipynb
        if graded.is_absolute() or ".." in graded.parts:
            graded = Path(f"{i:03d}_{sub.name}")
        if status is not None:
            new = [ExerciseGrade(name, student, "", 0.0, 0.0, status, False)]
        else:
            try:
                new = grade_notebook(sub, src, timeout, executed_path=out_dir / "graded" / graded,
                                     name=name, student=student,
                                     submission_timeout=submission_timeout, files=files,
                                     source_nb=copy.deepcopy(instructors[os.path.abspath(src)][2]))
            except UngradableError as e:
                new = [ExerciseGrade(name, student, "", 0.0, 0.0, e.status, False)]
            except Exception as e:  # noqa: BLE001 - one bad submission never stops the others
                new = [ExerciseGrade(name, student, "", 0.0, 0.0,
                                     f"error: {type(e).__name__}: {e}", False)]
        rows += new
        with open(partial, "a") as f:
            f.write("".join(json.dumps(asdict(r)) + "\n" for r in new))
            f.flush()
            os.fsync(f.fileno())
        for path, (data, digest, _) in instructors.items():
            try:
                now = hashlib.sha256(Path(path).read_bytes()).hexdigest()
            except OSError:
                now = None
            if now != digest:                    # keep what was found, put back the original
                aside = out_dir / "instructor_changed" / f"{len(restored):03d}_{Path(path).name}"
                aside.parent.mkdir(parents=True, exist_ok=True)
                with contextlib.suppress(OSError):
                    aside.write_bytes(Path(path).read_bytes())
                _atomic_write(Path(path), data)
                restored.append({"notebook": path, "after": name, "saved_as": str(aside)})
    fields = list(ExerciseGrade.__dataclass_fields__)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=fields)
    w.writeheader()
    for r in rows:
        w.writerow(asdict(r))
    _atomic_write(out_dir / "grades.csv", buf.getvalue().encode())
    totals: dict[str, dict] = {}
    for r in rows:
        t = totals.setdefault(r.submission, {"student": r.student, "points": 0.0,
                                             "max_points": 0.0})
        t["points"] += r.points
        t["max_points"] += r.max_points
    _atomic_write(out_dir / "grades.json", json.dumps(
        {"exercises": [asdict(r) for r in rows], "totals": totals,
         "not_graded": not_graded(rows), "instructor_restored": restored,
         "instructor_sha256": {p: v[1] for p, v in instructors.items()}},
        indent=2).encode())
    partial.unlink(missing_ok=True)
    return rows


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def not_graded(rows: list[ExerciseGrade]) -> dict[str, str]:
    """``{submission: status}`` of the submissions that could not be run at all."""
    out = {}
    for r in rows:
        if r.status.startswith(NOT_GRADED):
            out.setdefault(r.submission, r.status)
    return out


