import json

import nbformat
import pytest

from memlab import report


def test_targets():
    assert report.between(0.1, 0.2).check(0.15)
    assert not report.between(0.1, 0.2).check(0.25)
    assert report.at_least(0.99).check(0.99) and not report.at_least(0.99).check(0.98)
    assert report.at_most(0.05).check(0.0) and not report.at_most(0.05).check(0.06)
    assert not report.at_least(0.0).check(float("nan"))
    assert str(report.between(0.1, 0.2)) == "in [0.1, 0.2]"
    with pytest.raises(ValueError):
        report.between(2, 1)
    with pytest.raises(ValueError):
        report.Target()


def test_claim_records_and_reports_failure():
    c = report.claim("x", 0.5, report.at_least(0.9))
    assert not c.passed and "FAIL" in str(c) and ">= 0.9" in str(c)
    assert report.RECORDS[-1]["name"] == "x" and report.RECORDS[-1]["passed"] is False
    with pytest.raises(TypeError):
        report.claim("x", 0.5, 0.9)


def test_record_converts_tensors():
    import torch

    report.record("acc", torch.tensor(0.25))
    assert report.RECORDS[-1]["value"] == 0.25
    with pytest.raises(ValueError):
        report.record("", 1)


def test_collect_reads_metrics_back_from_a_notebook():
    payload = {"kind": "claim", "name": "load", "value": 0.17, "target": "in [0.1, 0.2]",
               "passed": True, "note": "", "lo": 0.1, "hi": 0.2}
    metric = {"kind": "metric", "name": "acc", "value": 0.9, "unit": "", "extra": {}}
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("...")
    cell.outputs = [nbformat.v4.new_output("display_data", data={report.MIME: payload}),
                    nbformat.v4.new_output("display_data", data={report.MIME: json.dumps(metric)}),
                    nbformat.v4.new_output("stream", text="hello")]
    nb.cells.append(cell)
    got = report.collect(nb)
    assert got["metrics"] == {"acc": 0.9}
    assert got["claims"][0]["name"] == "load" and got["claims"][0]["passed"] is True


def test_skip_claim_is_collected_as_skipped_not_passed():
    report.skip_claim("ann_recall", report.at_least(0.9), "faiss is not installed")
    payload = report.RECORDS[-1]
    assert payload["skipped"] is True and payload["passed"] is None and payload["value"] is None
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("...")
    cell.outputs = [nbformat.v4.new_output("display_data", data={report.MIME: payload})]
    nb.cells.append(cell)
    got = report.collect(nb)["claims"][0]
    assert got["skipped"] is True and got["note"] == "faiss is not installed"
    with pytest.raises(ValueError, match="reason"):
        report.skip_claim("x", report.at_least(0), "")
    with pytest.raises(TypeError, match="Target"):
        report.skip_claim("x", 0.5, "why")


def test_index_page_lists_skipped_claims_and_notes(tmp_path):
    from memlab.report_html import render_index

    summary = {"profile": "quick", "chapters": [{
        "notebook": "07_knn_memory.ipynb", "title": "kNN", "passed": True, "wall_s": 1.0,
        "error": None, "device": "cpu",
        "claims": [{"name": "a", "value": 0.5, "target": ">= 0.4", "passed": True,
                    "skipped": False, "note": "N=200"},
                   {"name": "b", "value": None, "target": ">= 0.9", "passed": None,
                    "skipped": True, "note": "faiss is not installed"}]}]}
    page = render_index(summary, tmp_path)
    assert "1/2 claims met" in page and "1 skipped" in page
    assert "faiss is not installed" in page and "N=200" in page
