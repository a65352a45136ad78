"""papermill + `memlab report`: executed notebook, HTML, metrics.json, summary.json, index.html;
a failing notebook is reported and does not stop the others; same seed -> same metrics."""

import json
from dataclasses import dataclass
from pathlib import Path

import nbformat
import papermill as pm
import pytest
from papermill.exceptions import PapermillExecutionError

from memlab import runner
from memlab.chapters import Chapter, all_chapters, get_chapter

TIMING = ("wall", "time", "_ms", "_s", "speed", "per_s")


def _deterministic(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if not any(t in k for t in TIMING)}


@dataclass(frozen=True)
class _TmpChapter(Chapter):
    path: Path = Path()

    @property
    def notebook_path(self) -> Path:
        return self.path


def _failing_chapter(tmp_path: Path) -> Chapter:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell("device: str = 'auto'  # device\nseed: int = 0  # seed",
                                          metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell("x = 1"),
                nbformat.v4.new_code_cell("raise ValueError('boom in cell two')")]
    path = tmp_path / "98_broken.ipynb"
    nbformat.write(nb, str(path))
    base = get_chapter("00")
    return _TmpChapter(number="98", slug="broken", title="broken", summary="",
                       Params=base.Params.__base__, path=path)


def test_report_writes_everything_and_survives_a_failing_notebook(tmp_path):
    plans = runner.plan(["00"], device="cpu")
    bad = _failing_chapter(tmp_path)
    plans.insert(0, runner.Plan(bad, {"device": "cpu"}, {"device": "cpu", "seed": 0}))
    out = tmp_path / "report"
    summary = runner.run(plans, out, progress=False)

    assert [c["notebook"] for c in summary["chapters"]] == [bad.notebook, "00_start.ipynb"]
    broken, tour = summary["chapters"]
    assert broken["passed"] is False
    assert "cell 2 (cell 3 of the executed notebook)" in broken["error"] and "boom in cell two" in broken["error"]
    assert tour["passed"] is True, tour
    assert summary["passed"] is False
    for c in summary["chapters"]:
        assert set(c) >= {"notebook", "passed", "wall_s", "error", "claims"}
    assert all(set(cl) == {"name", "value", "target", "passed", "skipped", "note"}
               for cl in tour["claims"])

    d = out / "00_start"
    executed = nbformat.read(str(d / "00_start.ipynb"), as_version=4)
    assert any("injected-parameters" in c.metadata.get("tags", []) for c in executed.cells)
    m = json.loads((d / "metrics.json").read_text())
    assert set(m) >= {"metrics", "claims", "parameters", "seed", "device", "versions",
                      "git_revision", "wall_s"}
    assert set(m["versions"]) == {"memlab", "torch", "numpy", "python"}
    assert m["parameters"]["device"] == "cpu"
    html = (d / "00_start.html").read_text()
    hidden = [c.source for c in executed.cells if "remove-cell" in c.metadata.get("tags", [])]
    assert hidden and all(src.strip() not in html for src in hidden)
    index = (out / "index.html").read_text()
    assert "00_start.ipynb" in index and "98_broken.ipynb" in index and "boom in cell two" in index
    # the front page carries every claim's measured value and target, and the key figure
    from memlab.report_html import _fmt
    for cl in tour["claims"]:
        assert f"<td>{cl['name']}</td><td class='num'>{_fmt(cl['value'])}</td>" in index
        assert _fmt(cl["target"]) in index
    assert "<img class='fig' alt='key figure of 00_start'" in index
    json.loads((out / "summary.json").read_text())


def test_a_declared_claim_the_notebook_never_records_fails_the_chapter(tmp_path):
    from memlab.report import at_least

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell("device: str = 'auto'  # device\nseed: int = 0  # seed",
                                          metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell("from memlab import report\n"
                                          "report.claim('measured', 1.0, report.at_least(0.5))")]
    path = tmp_path / "97_partial.ipynb"
    nbformat.write(nb, str(path))
    ch = _TmpChapter(number="97", slug="partial", title="partial", summary="",
                     Params=get_chapter("00").Params.__base__, path=path,
                     claims={"measured": at_least(0.5), "forgotten": at_least(0.5)})
    summary = runner.run([runner.Plan(ch, {"device": "cpu"}, {"device": "cpu", "seed": 0})],
                         tmp_path / "report", progress=False)
    (c,) = summary["chapters"]
    assert c["passed"] is False and "forgotten" in c["error"] and "measured," not in c["error"]


def test_bad_value_fails_inside_the_notebook_too(tmp_path):
    """Run by plain papermill (no memlab wrapper), the validation cell names the parameter."""
    with pytest.raises(PapermillExecutionError) as e:
        pm.execute_notebook(str(get_chapter("00").notebook_path), str(tmp_path / "o.ipynb"),
                            parameters={"seed": -5}, kernel_name="python3", progress_bar=False)
    assert "ParameterError" in e.value.ename and "'seed' = -5" in e.value.evalue


REPRO = [c for c in all_chapters() if c.number == "01"]


@pytest.mark.slow
@pytest.mark.parametrize("ch", REPRO, ids=lambda c: c.notebook)
def test_same_seed_gives_identical_metrics(ch, tmp_path):
    runs = []
    for i in range(2):
        p = runner.plan([ch.notebook], device="cpu")[0]
        r = runner.run_chapter(p, tmp_path / f"run{i}", "quick", progress=False)
        assert r["passed"], r["error"] or r["claims"]
        runs.append(r)
    assert _deterministic(runs[0]["metrics"]) == _deterministic(runs[1]["metrics"])
    assert [c["value"] for c in runs[0]["claims"]] == [c["value"] for c in runs[1]["claims"]]
