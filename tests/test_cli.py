import subprocess
import sys
import time

import pytest

from memlab import runner
from memlab.chapters import all_chapters
from memlab.cli import main, parse_value
from memlab.params import ParameterError


def test_parse_value_like_papermill():
    assert parse_value("3") == 3 and parse_value("0.5") == 0.5
    assert parse_value("True") is True and parse_value("false") is False
    assert parse_value("cpu") == "cpu" and parse_value("None") is None


def test_list_prints_every_chapter(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for ch in all_chapters():
        assert ch.notebook in out
    assert main(["list", "--markdown"]) == 0
    assert "| # | chapter |" in capsys.readouterr().out


@pytest.mark.parametrize("ch", all_chapters(), ids=lambda c: c.notebook)
def test_plan_rejects_bad_parameters_fast(ch):
    with pytest.raises(ParameterError, match="seed"):
        runner.plan([ch.notebook], overrides={"seed": -1})
    with pytest.raises(ParameterError, match="unknown parameter 'sead'.*did you mean 'seed'"):
        runner.plan([ch.notebook], overrides={"sead": 1})
    full = runner.plan([ch.notebook], profile="full", device="cpu")[0]
    assert full.params["device"] == "cpu" and full.overrides["device"] == "cpu"


def test_report_cli_fails_in_seconds_naming_the_parameter():
    t0 = time.time()
    proc = subprocess.run([sys.executable, "-m", "memlab.cli", "report", "notebooks/00_start.ipynb",
                           "-p", "d_modle", "3"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "unknown parameter 'd_modle'; did you mean 'd_model'?" in proc.stderr
    assert time.time() - t0 < 60  # no kernel was started (generous bound for a loaded CI box)
    proc = subprocess.run([sys.executable, "-m", "memlab.cli", "report", "00", "-p",
                           "max_len", "5"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "'max_len' = 5" in proc.stderr and "16 <= value" in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "memlab.cli", "report", "42"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "no chapter" in proc.stderr


def test_bench_list_and_unknown(capsys):
    assert main(["bench", "--list"]) == 0
    assert main(["bench", "no-such-entry"]) == 2


def test_readme_chapter_table_is_generated(capsys):
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    main(["list", "--markdown"])
    table = capsys.readouterr().out
    assert table in readme, ("README's chapter table is stale: paste `memlab list --markdown` "
                             "between the chapter-table markers")


@pytest.mark.parametrize("remote", ["https://github.com/acme/memlab.git",
                                    "git@github.com:acme/memlab.git",
                                    "https://token@github.com/acme/memlab/",
                                    "ssh://git@github.com/acme/memlab"])
def test_binder_url_from_a_github_remote(remote):
    from memlab.cli import binder_url

    assert binder_url(remote, "01_associative_memory.ipynb") == (
        "https://mybinder.org/v2/gh/acme/memlab/HEAD"
        "?urlpath=lab/tree/notebooks/01_associative_memory.ipynb")


def test_binder_url_refuses_a_non_github_remote():
    from memlab.cli import binder_url

    with pytest.raises(ValueError, match="not a GitHub remote"):
        binder_url("/srv/git/memlab.git")
