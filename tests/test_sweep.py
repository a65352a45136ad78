"""memlab sweep: grid, keys, the results table, resume, failures, the CLI, and Ray == serial."""

import json

import pytest

from memlab import sweep as S
from memlab.cli import main


def test_expand_is_the_cartesian_product_in_sorted_name_order():
    pts = S.expand({"b": [1, 2], "a": ["x"]})
    assert pts == [{"a": "x", "b": 1}, {"a": "x", "b": 2}]
    assert S.expand({}) == [{}]
    with pytest.raises(ValueError, match="grid\\['a'\\]"):
        S.expand({"a": []})


def test_point_key_depends_on_target_params_seed_and_revision():
    base = S.point_key("atlas", {"w": 16, "m": "delta"}, 0, "abc")
    assert base == S.point_key("atlas", {"m": "delta", "w": 16}, 0, "abc")   # order-free
    others = [S.point_key("toy", {"w": 16, "m": "delta"}, 0, "abc"),
              S.point_key("atlas", {"w": 32, "m": "delta"}, 0, "abc"),
              S.point_key("atlas", {"w": 16, "m": "delta"}, 1, "abc"),
              S.point_key("atlas", {"w": 16, "m": "delta"}, 0, "abd")]
    assert len({base, *others}) == 5


def test_sweep_records_every_point_resumes_and_keeps_failures(tmp_path):
    out = tmp_path / "r.duckdb"
    grid = {"a": [1, 2], "fail": [False, True]}
    first = S.sweep("toy", grid, [0, 1], out, serial=True, progress=False, revision="r")
    assert first == {"total": 8, "skipped": 0, "ran": 8, "failed": 4}
    rows = S.load(out)
    assert len(rows) == 8 and sum(r["status"] == "error" for r in rows) == 4
    assert all("fails on purpose" in r["error"] for r in rows if r["status"] == "error")
    again = S.sweep("toy", grid, [0, 1], out, serial=True, progress=False, revision="r")
    assert again == {"total": 8, "skipped": 4, "ran": 4, "failed": 4}   # failures are retried
    new_rev = S.sweep("toy", grid, [0], out, serial=True, progress=False, revision="r2")
    assert new_rev["skipped"] == 0                                       # new code, new points
    ok = {(r["params"]["a"], r["seed"]): r["metrics"]["value"] for r in rows if r["status"] == "ok"}
    assert ok[(1, 0)] != ok[(1, 1)]                                      # the seed matters


def test_export_to_parquet_reads_back_the_ok_rows(tmp_path):
    out = tmp_path / "r.duckdb"
    S.sweep("toy", {"a": [1, 2], "fail": [False, True]}, [0], out, serial=True, progress=False,
            revision="r")
    pq = S.export_parquet(out, tmp_path / "r.parquet")
    rows = S.load(pq)
    assert len(rows) == 2 and all(r["status"] == "ok" for r in rows)
    assert rows == [r for r in S.load(out) if r["status"] == "ok"]
    with pytest.raises(FileNotFoundError, match="results="):
        S.load(tmp_path / "nope.duckdb")


def test_dry_run_prints_the_grid_and_its_size(capsys, tmp_path):
    assert main(["sweep", "atlas", "-p", "mixer", "linear,delta", "-p", "width", "16,32",
                 "--seeds", "0,1,2", "--dry-run", "-o", str(tmp_path / "x.duckdb")]) == 0
    out = capsys.readouterr().out
    assert "4 points x 3 seeds [0, 1, 2] = 12 runs" in out
    assert "mixer=delta, task=mqar, width=32" in out
    assert not (tmp_path / "x.duckdb").exists()
    assert main(["sweep", "atlas", "--profile", "medium", "--dry-run"]) == 0
    assert "= 42 runs" in capsys.readouterr().out


def test_cli_runs_serially_and_reports(capsys, tmp_path):
    out = tmp_path / "t.duckdb"
    assert main(["sweep", "toy", "-p", "a", "1,2", "--seeds", "0", "--serial", "--no-progress",
                 "-o", str(out), "--export", str(tmp_path / "t.parquet")]) == 0
    text = capsys.readouterr().out
    assert "2 runs: 0 already done, 2 ran, 0 failed" in text
    assert main(["sweep", "toy", "-p", "fail", "true", "--serial", "--no-progress",
                 "-o", str(out)]) == 1


def test_bad_grids_fail_with_clear_errors():
    with pytest.raises(ValueError, match="needs \\['width'\\]"):
        S.grid_from_args("atlas", None, [("mixer", "linear")], None)
    with pytest.raises(ValueError, match="--profile"):
        S.grid_from_args("04", "small", None, None)
    with pytest.raises(ValueError, match="seeds"):
        S.sweep("toy", {"a": [1]}, [], "unused.duckdb", serial=True)


TINY = {"mixer": ["linear", "delta"], "width": [4], "steps": [3], "n_train": [16],
        "levels": [[2]]}


@pytest.mark.slow
def test_a_two_worker_ray_run_equals_the_serial_run(tmp_path):
    ray = pytest.importorskip("ray")
    serial = S.sweep("atlas", TINY, [0, 1], tmp_path / "serial.duckdb", serial=True,
                     progress=False, revision="r")
    assert serial["failed"] == 0
    try:
        try:
            S._ray_init(ray, None, 2)
        except Exception as e:
            if "timed out during startup" not in str(e):
                raise
            pytest.skip(f"Ray's local node missed its 30 s start-up window 3 times (machine "
                        f"overloaded: load average {__import__('os').getloadavg()[0]:.0f})")
        par = S.sweep("atlas", TINY, [0, 1], tmp_path / "ray.duckdb", progress=False,
                      revision="r")
        assert ray.is_initialized() and ray.cluster_resources().get("CPU") == 2
    finally:
        ray.shutdown()
    assert par == serial == {"total": 4, "skipped": 0, "ran": 4, "failed": 0}
    a = {r["key"]: json.dumps(r["metrics"], sort_keys=True) for r in S.load(tmp_path / "serial.duckdb")}
    b = {r["key"]: json.dumps(r["metrics"], sort_keys=True) for r in S.load(tmp_path / "ray.duckdb")}
    assert a == b                      # same keys, same numbers, metric for metric


def test_a_chapter_sweep_checks_its_parameters_before_running(capsys):
    from memlab.params import ParameterError

    with pytest.raises(ParameterError, match="mqar_steps"):
        main(["sweep", "04", "-p", "mqar_stepz", "100", "--dry-run"])
    assert main(["sweep", "04", "-p", "mqar_steps", "100,300", "--seeds", "0,1", "--dry-run"]) == 0
    assert "2 points x 2 seeds [0, 1] = 4 runs of 04" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="neither a library experiment"):
        main(["sweep", "nope", "--dry-run"])
