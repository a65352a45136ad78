"""Binder: binder/requirements.txt installs into a fresh environment and every chapter runs there.

The CPU-wheel index line cannot be reached from CI (PyPI only), so it is dropped here and the
torch pin loses its `+cpu` local label (same version; whichever build the configured index
serves). The environment is built with the Python of binder/runtime.txt, as Binder does: the
exact pins of constraints.txt are for that version.
"""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BINDER = ROOT / "binder"


def test_binder_files_are_consistent():
    req = (BINDER / "requirements.txt").read_text().splitlines()
    assert any(r.startswith("-e .") for r in req), "binder must install memlab itself"
    torch_line = [r for r in req if r.startswith("torch")]
    assert torch_line and "+cpu" in torch_line[0], "binder must pin a CPU torch"
    assert any("download.pytorch.org/whl/cpu" in r for r in req)
    pins = dict(line.split("==") for line in (BINDER / "constraints.txt").read_text().splitlines()
                if "==" in line and not line.startswith("#"))
    assert torch_line[0].split("==")[1].split("+")[0] == pins["torch"].split("+")[0]
    assert (BINDER / "runtime.txt").read_text().strip().startswith("python-3.")


@pytest.mark.slow
def test_fresh_binder_environment_runs_every_chapter(tmp_path):
    version = (BINDER / "runtime.txt").read_text().strip().removeprefix("python-")
    if f"{sys.version_info[0]}.{sys.version_info[1]}" == version:
        python = sys.executable
    else:
        python = shutil.which(f"python{version}")
        if python is None:
            pytest.skip(f"Binder runs Python {version} (binder/runtime.txt); python{version} "
                        "is not installed here")
    venv = tmp_path / "venv"
    subprocess.run([python, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    reqs = tmp_path / "requirements.txt"
    lines = []
    for line in (BINDER / "requirements.txt").read_text().splitlines():
        if line.startswith("--extra-index-url"):
            continue
        if line.startswith("torch=="):
            line = re.sub(r"\+cpu$", "", line)
        if line.startswith("-c "):
            line = f"-c {BINDER / line.split()[1]}"
        lines.append(line)
    reqs.write_text("\n".join(lines) + "\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHONPATH"))}
    subprocess.run([str(py), "-m", "pip", "install", "-q", "-r", str(reqs)], cwd=ROOT, env=env,
                   check=True, timeout=1500)
    out = tmp_path / "report"
    proc = subprocess.run([str(venv / "bin" / "memlab"), "report", "--device", "cpu",
                           "--no-progress", "-o", str(out)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=2400)
    summary = json.loads((out / "summary.json").read_text())
    failed = {c["notebook"]: c["error"] or [cl for cl in c["claims"] if not cl["passed"]]
              for c in summary["chapters"] if not c["passed"]}
    assert proc.returncode == 0 and not failed, (failed, proc.stdout[-3000:], proc.stderr[-3000:])
    # what a student reads: no long floats, no object reprs, no over-long lines (memlab.lint)
    lint = {c["notebook"]: c["lint"] for c in summary["chapters"] if c["lint"]}
    assert not lint, lint
