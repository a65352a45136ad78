"""`memlab assign` / `memlab grade`: student versions and autograding (nbgrader markers)."""

import json

import nbformat
import pytest

from memlab.chapters import all_chapters
from memlab.classroom import (MarkerError, assign, clear_hidden_tests, clear_solutions, grade,
                              student_version)
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
    # the solution and the untouched student version share a name: both rows are kept
    solution_rows, student_rows = rows[0:2], rows[2:4]
    assert [r.points for r in solution_rows] == [2, 1]
    assert [r.points for r in student_rows] == [0, 0]
    assert all(r.status.startswith("failed: NotImplementedError") for r in student_rows)
    assert by[("cheat.ipynb", "ex1")].points == 0 and by[("cheat.ipynb", "ex1")].tampered
    assert by[("cheat.ipynb", "ex2")].points == 1 and not by[("cheat.ipynb", "ex2")].tampered
    assert by[("loop.ipynb", "ex1")].points == 0 and by[("loop.ipynb", "ex1")].status == "timeout"
    assert by[("loop.ipynb", "ex2")].points == 1
    table = json.loads((tmp_path / "grades" / "grades.json").read_text())
    assert table["totals"]["cheat.ipynb"] == {"points": 1.0, "max_points": 3.0}
    assert (tmp_path / "grades" / "grades.csv").read_text().startswith("submission,grade_id")


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
    student = assign([path], tmp_path / "student")[0]
    rows = grade([path], tmp_path / "g1", source=path, timeout=300)
    assert rows and all(r.points == r.max_points for r in rows), [r for r in rows if r.points < r.max_points]
    rows = grade([student], tmp_path / "g2", source=path, timeout=300)
    assert all(r.points == 0 for r in rows), rows
    # the student version runs up to its first exercise: no error before the first stub
    executed = nbformat.read(str(tmp_path / "g2" / "graded" / f"000_{path.name}"), as_version=4)
    assert any(c.get("outputs") for c in executed.cells if c.cell_type == "code")
    for cell in executed.cells:
        if "NotImplementedError()" in cell.source:
            break
        assert not any(o.get("output_type") == "error" for o in cell.get("outputs", [])), cell.source
