"""`memlab grade` against hostile submissions: every attack from review is a test.

Each forging attack also has a negative control: the same cells run the way a plain IPython
kernel runs them (what the grader did before), where the attack *does* earn the marks -- so
these tests can fail."""

import copy
import json
import subprocess
import sys
import textwrap
import time

import nbformat
import pytest

from memlab.classroom import grade

pytestmark = pytest.mark.filterwarnings("ignore")

SOL = "    return 2 * x"
WRONG = "def f(x):\n    return 0"


def _nb(cells):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.cells = cells
    return nb


def _source(tmp_path):
    sol = {"nbgrader": {"solution": True, "grade": False, "grade_id": "ex1_sol",
                        "locked": False, "schema_version": 3}}
    graded = {"nbgrader": {"solution": False, "grade": True, "grade_id": "ex1", "points": 2,
                           "locked": True, "schema_version": 3}}
    nb = _nb([
        nbformat.v4.new_code_cell("import math\nfrom math import sqrt"),
        nbformat.v4.new_code_cell(f"def f(x):\n    ### BEGIN SOLUTION\n{SOL}\n"
                                  "    ### END SOLUTION", metadata=sol),
        nbformat.v4.new_code_cell(
            "assert math.isclose(f(1), 2.0)\n### BEGIN HIDDEN TESTS\n"
            "assert f(8) == 2 * sqrt(64)\nassert math.isclose(f(5), 10.0)\n"
            "### END HIDDEN TESTS",
            metadata=graded),
    ])
    path = tmp_path / "src" / "mini.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


def _submit(src, path, answer, extra_before=""):
    nb = nbformat.read(str(src), as_version=4)
    nb.cells[1].source = (extra_before + "\n" if extra_before else "") + answer
    nb.cells[2].source = "assert math.isclose(f(1), 2.0)"
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


def _points(rows):
    return {r.submission: r.points for r in rows}


def _naive(cells: list[str]) -> bool:
    """Negative control: run ``cells`` as the grader used to (one Jupyter kernel, errors
    allowed) and say whether the last one -- the test -- shows no error."""
    from nbclient import NotebookClient

    nb = _nb([nbformat.v4.new_code_cell(c) for c in cells])
    NotebookClient(nb, timeout=60, kernel_name="python3", allow_errors=True).execute()
    return not any(o.get("output_type") == "error" for o in nb.cells[-1].outputs)


TEST = ("assert math.isclose(f(1), 2.0)\nassert f(8) == 2 * sqrt(64)\n"
        "assert math.isclose(f(5), 10.0)")
ATTACKS = {
    "custom_exc": ("get_ipython().set_custom_exc((BaseException,), lambda *a, **k: None)",
                   WRONG),
    "input_transformer": (
        ("get_ipython().input_transformers_cleanup.append(\n"
         "    lambda lines: ['pass\\n'] if any('assert' in l for l in lines) else lines)"), WRONG),
    "rebound_helper": (("import math\nmath.isclose = lambda *a, **k: True\n"
                        "sqrt = lambda v: 0.0"), "def f(x):\n    return 0 if x != 1 else 2.0"),
    "always_equal": (("class Eq(float):\n    def __eq__(self, o):\n        return True\n"
                      "class Any(float):\n    __eq__ = lambda s, o: True"),
                     "def f(x):\n    return Eq(2.0) if x == 1 else Any(10.0)"),
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_forging_attacks_earn_nothing(attack, tmp_path):
    src = _source(tmp_path)
    before, answer = ATTACKS[attack]
    sub = _submit(src, tmp_path / "subs" / "eve" / "mini.ipynb", answer, before)
    rows = grade([sub], tmp_path / "g", source=src, timeout=20)
    assert [r.points for r in rows] == [0.0], rows
    assert rows[0].status.startswith("failed"), rows[0].status
    # negative control: a plain IPython kernel is fooled by every one of these
    assert _naive(["import math\nfrom math import sqrt", before, answer, TEST])


def test_honest_answers_still_pass(tmp_path):
    """Subclasses of plain types and numpy values are compared through their base class."""
    src = _source(tmp_path)
    sub = _submit(src, tmp_path / "subs" / "ann" / "mini.ipynb",
                  "import numpy as np\ndef f(x):\n    return np.float64(2 * x)")
    assert [r.points for r in grade([sub], tmp_path / "g", source=src, timeout=20)] == [2.0]


def test_instructor_notebook_and_other_students_cannot_be_changed(tmp_path):
    src = _source(tmp_path)
    original = src.read_bytes()
    subs = tmp_path / "subs"
    bob = _submit(src, subs / "bob" / "mini.ipynb", WRONG)
    bob_bytes = bob.read_bytes()
    blank = nbformat.read(str(src), as_version=4)
    blank.cells[2].source = "pass"
    # mallory runs first: she blanks the instructor's tests, gives bob the solution, and
    # looks for the instructor notebook in her working directory
    attack = textwrap.dedent(f"""
        import os, nbformat
        assert not os.path.exists("mini.ipynb") or os.path.samefile(".", os.path.dirname({str(src)!r})) is False
        open({str(src)!r}, "w").write({nbformat.writes(blank)!r})
        good = nbformat.read({str(src)!r}, as_version=4)
        good.cells[1].source = "def f(x):\\n    return 2 * x"
        nbformat.write(good, {str(bob)!r})
        with open("mini.ipynb", "w") as fh:
            fh.write("overwritten")
    """)
    mallory = _submit(src, subs / "mallory" / "mini.ipynb", WRONG, attack)
    rows = grade([mallory, bob], tmp_path / "g", source=src, timeout=20)
    assert _points(rows) == {"mallory/mini.ipynb": 0.0, "bob/mini.ipynb": 0.0}
    assert src.read_bytes() == original                       # put back
    table = json.loads((tmp_path / "g" / "grades.json").read_text())
    assert [r["after"] for r in table["instructor_restored"]] == ["mallory/mini.ipynb"]
    assert bob.read_bytes() != bob_bytes                      # the attack did write...
    # ... but bob was graded on what he handed in: negative control, his file now passes
    assert _points(grade([bob], tmp_path / "g2", source=src, timeout=20)) == {"mini.ipynb": 2.0}


def test_hang_kill_parent_and_daemon(tmp_path, monkeypatch):
    src = _source(tmp_path)
    subs, out = tmp_path / "subs", tmp_path / "g"
    hang = ("import signal\nfor s in (signal.SIGINT, signal.SIGALRM, signal.SIGTERM):\n"
            "    signal.signal(s, signal.SIG_IGN)\nwhile True:\n    pass")
    killer = "import os\nos.kill(os.getppid(), 9)"
    daemon = textwrap.dedent(f"""
        import os, time
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                time.sleep(4)
                open({str(out / 'grades.csv')!r}, "w").write("forged")
                os._exit(0)
            os._exit(0)
    """)
    paths = [_submit(src, subs / who / "mini.ipynb", ans, pre) for who, pre, ans in [
        ("hang", hang, WRONG), ("killer", killer, "def f(x):\n    return 2 * x"),
        ("daemon", daemon, "def f(x):\n    return 2 * x"),
        ("ok", "", "def f(x):\n    return 2 * x")]]
    t0 = time.monotonic()
    rows = grade(paths, out, source=src, timeout=3, submission_timeout=8)
    assert time.monotonic() - t0 < 60
    by = {r.submission: r for r in rows}
    assert by["hang/mini.ipynb"].points == 0 and by["hang/mini.ipynb"].status.startswith("timeout")
    assert by["killer/mini.ipynb"].points == 2      # os.getppid() is the supervisor
    assert by["ok/mini.ipynb"].points == 2 and by["daemon/mini.ipynb"].points == 2
    time.sleep(5)
    assert (out / "grades.csv").read_text().startswith("submission,")   # daemon was killed
    assert not (out / "grades.partial.jsonl").exists()
    # negative control: without the clean-up of marked processes the daemon forges the file
    import memlab.classroom_run as run

    monkeypatch.setattr(run, "kill_marked", lambda marker: 0)
    grade(paths[2:3], out, source=src, timeout=3, submission_timeout=8)
    time.sleep(5)
    assert (out / "grades.csv").read_text() == "forged"


def test_grades_are_written_as_they_come(tmp_path):
    """A submission that finds and kills the grader itself (walking /proc, which the sandbox
    cannot stop) loses the run's final table, but not the grades already made."""
    src = _source(tmp_path)
    subs, out = tmp_path / "subs", tmp_path / "g"
    ok = _submit(src, subs / "a_ok" / "mini.ipynb", "def f(x):\n    return 2 * x")
    assassin = _submit(src, subs / "b_assassin" / "mini.ipynb", WRONG,
                       "import os\ngrader = int(open(f'/proc/{os.getppid()}/stat').read()"
                       ".rsplit(')', 1)[1].split()[1])\nos.kill(grader, 9)")
    code = (f"from pathlib import Path\nfrom memlab.classroom import grade\n"
            f"grade([Path({str(ok)!r}), Path({str(assassin)!r})], Path({str(out)!r}), "
            f"source=Path({str(src)!r}), timeout=20)")
    proc = subprocess.run([sys.executable, "-c", code], check=False, timeout=120)
    assert proc.returncode == -9
    assert not (out / "grades.csv").exists()
    rows = [json.loads(line) for line in (out / "grades.partial.jsonl").read_text().splitlines()]
    assert [(r["submission"], r["points"]) for r in rows] == [("a_ok/mini.ipynb", 2.0)]


def test_many_cells_meet_the_submission_limit(tmp_path):
    """10**5 cells are refused before they run; 2,000 slow cells meet the submission limit."""
    src = _source(tmp_path)
    nb = json.loads(src.read_text())
    nb["cells"][1]["source"] = "def f(x):\n    return 2 * x"
    slow = {"cell_type": "code", "source": "import time; time.sleep(0.01)", "metadata": {},
            "outputs": [], "execution_count": None}
    subs = []
    for who, n in (("huge", 100_000), ("slow", 2_000)):
        big = copy.deepcopy(nb)
        big["cells"][1:1] = [dict(slow, id=f"c{i}") for i in range(n)]
        path = tmp_path / "subs" / who / "mini.ipynb"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(big))               # (nbformat.write validates: slow)
        subs.append(path)
    t0 = time.monotonic()
    rows = grade(subs, tmp_path / "g", source=src, timeout=5, submission_timeout=6)
    assert time.monotonic() - t0 < 40
    by = {r.submission: r for r in rows}
    assert by["huge/mini.ipynb"].status.startswith("unreadable: ValueError: 100003 cells")
    assert by["slow/mini.ipynb"].points == 0
    assert by["slow/mini.ipynb"].status.startswith("timeout: the submission ran past")
