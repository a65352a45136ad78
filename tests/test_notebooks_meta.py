"""Static checks of the committed notebooks (no kernel): stripped, parameterised, no mechanisms."""

import json
import re
from pathlib import Path

import papermill as pm
import pytest

from memlab.chapters import NOTEBOOK_DIR, all_chapters

NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
CHAPTERS = {c.notebook: c for c in all_chapters()}


def _cells(path: Path):
    return json.loads(path.read_text())["cells"]


def _code(path: Path) -> str:
    return "\n".join("".join(c["source"]) for c in _cells(path) if c["cell_type"] == "code")


def test_every_notebook_has_a_chapter_and_back():
    names = {p.name for p in NOTEBOOKS}
    assert names, "no notebooks found"
    assert names == set(CHAPTERS), (
        f"notebooks without a chapter module: {sorted(names - set(CHAPTERS))}; "
        f"chapter modules without a notebook: {sorted(set(CHAPTERS) - names)}")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_without_outputs(path):
    for i, c in enumerate(_cells(path)):
        if c["cell_type"] == "code":
            assert not c.get("outputs"), f"{path.name} cell {i} has outputs: strip them"
            assert c.get("execution_count") is None, f"{path.name} cell {i} has an execution count"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_parameters_cell_matches_the_model(path):
    ch = CHAPTERS[path.name]
    tagged = [c for c in _cells(path) if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, f"{path.name}: exactly one cell must be tagged 'parameters'"
    found = pm.inspect_notebook(str(path))
    assert list(found) == ch.Params.names() or set(found) == set(ch.Params.names()), (
        f"{path.name}: parameters cell defines {sorted(found)}, the model {ch.Params.names()}")
    defaults = ch.Params.defaults()
    for name, info in found.items():
        assert info["inferred_type_name"] != "None", f"{path.name}: annotate {name} with a type"
        assert info["help"], f"{path.name}: give {name} a '# help' comment"
        assert eval(info["default"]) == defaults[name], (  # noqa: S307 - our own notebooks
            f"{path.name}: {name} defaults to {info['default']} in the notebook, "
            f"{defaults[name]!r} in the model")
    assert "from_namespace(globals())" in _code(path), f"{path.name}: no validation cell"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebooks_define_no_mechanism(path):
    """Functions and classes live in memlab/; the only ones a notebook may define are the
    students' answers, in nbgrader solution cells."""
    for i, c in enumerate(_cells(path)):
        if c["cell_type"] != "code" or c.get("metadata", {}).get("nbgrader", {}).get("solution"):
            continue
        defined = re.findall(r"^\s*(?:class|def|async def) (\w+)", "".join(c["source"]), re.M)
        assert not defined, (f"{path.name} cell {i} defines {defined}: mechanisms and helpers "
                             "belong in memlab/ (only exercise solution cells define functions)")
    assert "import memlab" in _code(path) or "from memlab" in _code(path)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_claims_are_measured_and_asserted_in_hidden_cells(path):
    ch = CHAPTERS[path.name]
    code = _code(path)
    hidden = [c for c in _cells(path) if "remove-cell" in c.get("metadata", {}).get("tags", [])]
    hidden_src = "\n".join("".join(c["source"]) for c in hidden)
    assert ch.claims, f"{path.name}: the chapter declares no claims"
    for name in ch.claims:
        assert re.search(rf"claims\[\s*['\"]{name}['\"]\s*\]", code), (
            f"{path.name}: claim {name!r} is never measured against CHAPTER.claims")
    assert "assert" in hidden_src, f"{path.name}: no hidden (remove-cell) assert cell"
    # every measured claim is kept in a variable that a hidden cell asserts
    for call in re.finditer(r"report\.claim\(", code):
        line = code[code.rfind("\n", 0, call.start()) + 1:call.start()]
        var = re.match(r"\s*(\w+)\s*=\s*$", line)
        assert var, f"{path.name}: assign report.claim(...) to a variable and assert it: {line!r}"
        assert re.search(rf"^\s*assert\b[^\n]*\b{var.group(1)}\b", hidden_src, re.M), (
            f"{path.name}: claim variable {var.group(1)!r} is not asserted in a hidden cell")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_exercises_use_nbgrader_markers(path):
    cells = _cells(path)
    src = "\n".join("".join(c["source"]) for c in cells)
    assert src.count("### BEGIN SOLUTION") == src.count("### END SOLUTION") >= 1, (
        f"{path.name}: unbalanced or missing solution markers")
    assert src.count("### BEGIN HIDDEN TESTS") == src.count("### END HIDDEN TESTS")
    graded = [c for c in cells if c.get("metadata", {}).get("nbgrader", {}).get("grade")]
    assert graded, f"{path.name}: no graded test cell (nbgrader metadata grade: true)"
    for c in graded:
        assert c["metadata"]["nbgrader"].get("points", 0) > 0


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_one_key_figure_for_the_report_page(path):
    tagged = [i for i, c in enumerate(_cells(path))
              if "key-figure" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, (f"{path.name}: tag exactly one code cell 'key-figure' (the "
                              f"figure shown on the report's front page); tagged: {tagged}")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_hidden_check_cells_are_collapsed_in_jupyterlab(path):
    """The report drops remove-cell cells; JupyterLab hides them only with this metadata."""
    for i, c in enumerate(_cells(path)):
        if "remove-cell" in c.get("metadata", {}).get("tags", []):
            jl = c["metadata"].get("jupyter", {})
            assert jl.get("source_hidden") and jl.get("outputs_hidden"), (
                f"{path.name} cell {i}: a hidden check cell needs metadata "
                "jupyter.source_hidden and jupyter.outputs_hidden = true")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_student_text_never_mentions_issues_or_test_files(path):
    for i, c in enumerate(_cells(path)):
        src = "".join(c["source"])
        if c["cell_type"] == "code" and c.get("metadata", {}).get("nbgrader"):
            continue
        assert not re.search(r"tests/test_\w+\.py|\bthe issue\b|\bissue (target|asks)|#\d{2,} of memlab",
                             src, re.I), f"{path.name} cell {i} talks to developers, not students"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_markdown_has_no_control_characters(path):
    """A tab or form feed in text is almost always LaTeX typed into a non-raw Python string
    ("\\text" became TAB + "ext", "\\frac" FF + "rac"), which renders as garbage."""
    for i, c in enumerate(_cells(path)):
        if c["cell_type"] == "markdown":
            bad = re.search(r"[\t\x07\x08\x0b\x0c\r]", "".join(c["source"]))
            assert not bad, f"{path.name} cell {i}: control character {bad.group()!r} in the text"
