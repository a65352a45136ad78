"""`memlab assign` / `memlab grade`: student versions and autograding (nbgrader markers)."""

import json
import shutil
from pathlib import Path

import nbformat
import pytest

from memlab.chapters import all_chapters
from memlab.classroom import (
    MarkerError,
    assign,
    clear_hidden_tests,
    clear_solutions,
    grade,
    student_version,
    submission_ids,
)
from memlab.cli import main

CHAPTER_NBS = [c.notebook_path for c in all_chapters() if c.notebook_path.exists()]


def test_clear_solutions_keeps_indentation_and_context():
    src = "def f(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION\n\ny = 1"
    assert clear_solutions(src) == ("def f(x):\n    # YOUR CODE HERE\n"
                                    "    raise NotImplementedError()\n\ny = 1")
    assert clear_solutions("a\n### BEGIN SOLUTION\nb\n### END SOLUTION", "markdown") == \
        "a\nYOUR ANSWER HERE"


def test_clear_hidden_tests():
    src = "assert f(1) == 2\n### BEGIN HIDDEN TESTS\nassert f(2) == 4\n### END HIDDEN TESTS"
    assert clear_hidden_tests(src) == "assert f(1) == 2"


def test_unbalanced_markers_are_reported():
    with pytest.raises(MarkerError, match="never closed"):
        clear_solutions("### BEGIN SOLUTION\nx = 1")
    with pytest.raises(MarkerError, match="without"):
        clear_hidden_tests("x\n### END HIDDEN TESTS")


def _mini_notebook(tmp_path, solution="    return 2 * x", test_extra=""):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    sol_meta = {"nbgrader": {"solution": True, "grade": False, "grade_id": "ex1_sol",
                             "locked": False, "schema_version": 3}}
    def graded(gid, pts):
        return {"nbgrader": {"solution": False, "grade": True, "grade_id": gid, "points": pts,
                             "locked": True, "schema_version": 3}}
    nb.cells = [
        nbformat.v4.new_code_cell("base = 10"),
        nbformat.v4.new_code_cell(f"def f(x):\n    ### BEGIN SOLUTION\n{solution}\n"
                                  "    ### END SOLUTION", metadata=sol_meta),
        nbformat.v4.new_code_cell("assert f(1) == 2\n### BEGIN HIDDEN TESTS\nassert f(5) == 10\n"
                                  "### END HIDDEN TESTS" + test_extra, metadata=graded("ex1", 2)),
        nbformat.v4.new_code_cell("def g():\n    ### BEGIN SOLUTION\n    return base\n"
                                  "    ### END SOLUTION",
                                  metadata={"nbgrader": {**sol_meta["nbgrader"],
                                                         "grade_id": "ex2_sol"}}),
        nbformat.v4.new_code_cell("assert g() == 10", metadata=graded("ex2", 1)),
    ]
    path = tmp_path / "src" / "mini.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


def test_grading_solution_student_tampered_and_endless_loop(tmp_path):
    src = _mini_notebook(tmp_path)
    student = assign([src], tmp_path / "student")[0]
    st = nbformat.read(str(student), as_version=4)
    assert "NotImplementedError" in st.cells[1].source and "BEGIN HIDDEN" not in st.cells[2].source

    # a cheating student: wrong answer (passes the visible test only) + test cell emptied
    cheat = nbformat.read(str(student), as_version=4)
    cheat.cells[1].source = "def f(x):\n    return 2 if x == 1 else 0"
    cheat.cells[2].source = "pass"
    cheat.cells[3].source = "def g():\n    return base"
    nbformat.write(cheat, str(tmp_path / "student" / "cheat.ipynb"))

    # an endless loop in the first exercise; the second is answered
    loop = nbformat.read(str(student), as_version=4)
    loop.cells[1].source = "def f(x):\n    while True:\n        pass"
    loop.cells[3].source = "def g():\n    return base"
    nbformat.write(loop, str(tmp_path / "student" / "loop.ipynb"))

    rows = grade([src, student, tmp_path / "student" / "cheat.ipynb",
                  tmp_path / "student" / "loop.ipynb"], tmp_path / "grades", source=src,
                 timeout=5)
    by = {(r.submission, r.grade_id): r for r in rows}
    # the solution and the untouched student version share a file name: their paths differ
    solution_rows, student_rows = rows[0:2], rows[2:4]
    assert {r.submission for r in solution_rows} == {"src/mini.ipynb"}
    assert {r.submission for r in student_rows} == {"student/mini.ipynb"}
    assert [r.points for r in solution_rows] == [2, 1]
    assert [r.points for r in student_rows] == [0, 0]
    assert all(r.status.startswith("failed: NotImplementedError") for r in student_rows)
    cheat, loop = "student/cheat.ipynb", "student/loop.ipynb"
    assert by[(cheat, "ex1")].points == 0 and by[(cheat, "ex1")].tampered
    assert by[(cheat, "ex2")].points == 1 and not by[(cheat, "ex2")].tampered
    assert by[(loop, "ex1")].points == 0 and by[(loop, "ex1")].status == "timeout"
    assert by[(loop, "ex2")].points == 1
    table = json.loads((tmp_path / "grades" / "grades.json").read_text())
    assert table["totals"][cheat] == {"student": "student", "points": 1.0, "max_points": 3.0}
    assert table["totals"]["src/mini.ipynb"]["points"] == 3.0
    assert table["totals"]["student/mini.ipynb"]["points"] == 0.0
    assert table["not_graded"] == {}
    assert (tmp_path / "grades" / "grades.csv").read_text().startswith(
        "submission,student,grade_id")


def test_submission_ids_relative_to_the_submissions_directory(tmp_path):
    subs = [tmp_path / "subs" / "alice" / "01_x.ipynb", tmp_path / "subs" / "bob" / "01_x.ipynb"]
    assert submission_ids(subs) == [("alice/01_x.ipynb", "alice"), ("bob/01_x.ipynb", "bob")]
    # flat layout: the file name is the id, no student folder
    flat = [tmp_path / "subs" / "alice_01.ipynb", tmp_path / "subs" / "bob_01.ipynb"]
    assert submission_ids(flat) == [("alice_01.ipynb", ""), ("bob_01.ipynb", "")]
    # one student's file alone keeps its folder when the submissions directory is given
    assert submission_ids(subs[:1], tmp_path / "subs") == [("alice/01_x.ipynb", "alice")]
    assert submission_ids(subs[:1]) == [("01_x.ipynb", "")]


def test_two_students_same_file_name_and_bad_submissions(tmp_path, monkeypatch, capsys):
    """alice and bob hand in files of the same name: separate rows and totals. A corrupt
    notebook and one with no instructor notebook get 0-point rows; the run goes on."""
    import memlab.chapters

    src = _mini_notebook(tmp_path)
    monkeypatch.setattr(memlab.chapters, "NOTEBOOK_DIR", src.parent)   # instructor notebooks
    student = nbformat.read(str(assign([src], tmp_path / "student")[0]), as_version=4)
    subs = tmp_path / "subs"
    for who in ("alice", "bob", "carol"):
        (subs / who).mkdir(parents=True)
    nbformat.write(nbformat.read(str(src), as_version=4), str(subs / "alice" / "mini.ipynb"))
    nbformat.write(student, str(subs / "bob" / "mini.ipynb"))
    text = (subs / "bob" / "mini.ipynb").read_text()
    (subs / "carol" / "mini.ipynb").write_text(text[: len(text) // 2])   # truncated upload
    (subs / "carol" / "homework.ipynb").write_text(text)                 # unknown chapter
    paths = [subs / "alice" / "mini.ipynb", subs / "bob" / "mini.ipynb",
             subs / "carol" / "mini.ipynb", subs / "carol" / "homework.ipynb"]

    assert main(["grade", *map(str, paths), "-o", str(tmp_path / "g"), "--timeout", "30"]) == 0
    printed = capsys.readouterr().out
    table = json.loads((tmp_path / "g" / "grades.json").read_text())
    totals = table["totals"]
    assert totals["alice/mini.ipynb"] == {"student": "alice", "points": 3.0, "max_points": 3.0}
    assert totals["bob/mini.ipynb"] == {"student": "bob", "points": 0.0, "max_points": 3.0}
    # the corrupt notebook: one 0-point row per exercise, the exercise points still count
    assert totals["carol/mini.ipynb"] == {"student": "carol", "points": 0.0, "max_points": 3.0}
    carol = [r for r in table["exercises"] if r["submission"] == "carol/mini.ipynb"]
    assert [r["grade_id"] for r in carol] == ["ex1", "ex2"]
    assert all(r["status"].startswith("unreadable: ") and r["points"] == 0 for r in carol)
    hw = [r for r in table["exercises"] if r["submission"] == "carol/homework.ipynb"]
    assert len(hw) == 1 and hw[0]["points"] == 0
    assert hw[0]["status"].startswith("no matching chapter")
    assert set(table["not_graded"]) == {"carol/mini.ipynb", "carol/homework.ipynb"}
    # the summary line names both; the csv has every row, the graded notebooks mirror the tree
    summary = [ln for ln in printed.splitlines() if "could not be graded" in ln]
    assert len(summary) == 1 and "carol/mini.ipynb (unreadable" in summary[0]
    assert "carol/homework.ipynb (no matching chapter" in summary[0]
    csv_rows = (tmp_path / "g" / "grades.csv").read_text().splitlines()
    assert len(csv_rows) == 1 + 2 + 2 + 2 + 1
    assert (tmp_path / "g" / "graded" / "alice" / "mini.ipynb").exists()
    assert (tmp_path / "g" / "graded" / "bob" / "mini.ipynb").exists()


def test_unreadable_instructor_notebook_fails_before_grading(tmp_path):
    bad = tmp_path / "src.ipynb"
    bad.write_text("{ not json")
    with pytest.raises(ValueError, match="unreadable instructor notebook"):
        grade([bad], tmp_path / "g", source=bad)


@pytest.mark.parametrize("path", CHAPTER_NBS, ids=lambda p: p.name)
def test_assign_every_chapter(path, tmp_path):
    nb = nbformat.read(str(path), as_version=4)
    st = student_version(nb, path.name)
    src = "\n".join(c.source for c in st.cells)
    markers = {"### BEGIN SOLUTION", "### END SOLUTION", "### BEGIN HIDDEN TESTS",
               "### END HIDDEN TESTS"}
    assert not [line for line in src.splitlines() if line.strip() in markers]
    assert "raise NotImplementedError()" in src
    assert len(st.cells) == len(nb.cells)
    untouched = [(a.source, b.source) for a, b in zip(nb.cells, st.cells)
                 if "###" not in a.source]
    assert all(a == b for a, b in untouched)
    assert main(["assign", str(path), "-o", str(tmp_path)]) == 0


@pytest.mark.slow
@pytest.mark.parametrize("path", CHAPTER_NBS, ids=lambda p: p.name)
def test_grade_every_chapter_solution_full_student_zero(path, tmp_path):
    # grade a copy: the grader restores an instructor notebook changed during a run, which must
    # never touch the repository's notebooks
    (tmp_path / "src").mkdir()
    path = Path(shutil.copy(path, tmp_path / "src" / path.name))
    student = assign([path], tmp_path / "student")[0]
    rows = grade([path], tmp_path / "g1", source=path, timeout=300)
    assert rows and all(r.points == r.max_points for r in rows), [r for r in rows if r.points < r.max_points]
    rows = grade([student], tmp_path / "g2", source=path, timeout=300)
    assert all(r.points == 0 for r in rows), rows
    # the student version runs up to its first exercise: no error before the first stub
    executed = nbformat.read(str(tmp_path / "g2" / "graded" / path.name), as_version=4)
    assert any(c.get("outputs") for c in executed.cells if c.cell_type == "code")
    for cell in executed.cells:
        if "NotImplementedError()" in cell.source:
            break
        assert not any(o.get("output_type") == "error" for o in cell.get("outputs", [])), cell.source
