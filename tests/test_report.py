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
