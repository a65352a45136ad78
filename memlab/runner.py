"""``memlab report``: execute chapter notebooks with papermill and write a reproducible report.

Per notebook, in ``OUT/<notebook stem>/``:
    <notebook>.ipynb   the executed notebook (parameters injected by papermill)
    <notebook>.html    an HTML rendering, cells tagged ``remove-cell`` left out
    metrics.json       metrics, claims, parameters, seed, device, versions, git revision, wall time
and in ``OUT/``: ``summary.json`` (machine-readable, see :func:`run`) and ``index.html``.

A failing notebook is reported (which cell, which error) and does not stop the others.
Parameters are validated against the chapter's model before any kernel starts.
"""

from __future__ import annotations

import json
import platform
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from memlab.chapters import NOTEBOOK_DIR, Chapter, get_chapter
from memlab.params import ParameterError

__all__ = ["Plan", "plan", "run", "run_chapter", "versions", "git_revision"]


@dataclass
class Plan:
    chapter: Chapter
    overrides: dict[str, Any]       # what papermill injects
    params: dict[str, Any]          # the full validated parameter set


def plan(notebooks: list[str], profile: str = "quick", device: str | None = None,
         overrides: dict[str, Any] | None = None) -> list[Plan]:
    """Resolve chapters and validate every parameter set; raises ParameterError fast."""
    from memlab.chapters import all_chapters

    chapters = [get_chapter(n) for n in notebooks] if notebooks else all_chapters()
    plans = []
    for ch in chapters:
        merged = {**ch.Params.profile(profile), **(overrides or {})}
        if device is not None:
            merged["device"] = device
        try:
            params = ch.Params.build({**ch.Params.defaults(), **merged})
        except ParameterError as e:
            raise ParameterError(f"{ch.notebook}: {e}") from None
        plans.append(Plan(ch, merged, params.as_dict()))
    return plans


def versions() -> dict[str, str]:
    import numpy
    import torch

    import memlab

    return {"memlab": memlab.__version__, "torch": torch.__version__,
            "numpy": numpy.__version__, "python": platform.python_version()}


def git_revision(repo: Path = NOTEBOOK_DIR.parent) -> str:
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True,
                             text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=repo, capture_output=True,
                               text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    if rev.returncode != 0:
        return "unknown"
    return rev.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def _render_html(nb_path: Path, html_path: Path) -> None:
    import nbformat
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import TagRemovePreprocessor

    nb = nbformat.read(str(nb_path), as_version=4)
    exporter = HTMLExporter()
    exporter.register_preprocessor(
        TagRemovePreprocessor(remove_cell_tags={"remove-cell"}, enabled=True), enabled=True)
    body, _ = exporter.from_notebook_node(nb)
    html_path.write_text(body, encoding="utf-8")


def key_figure(nb_path: Path) -> str | None:
    """The base64 PNG of the cell tagged ``key-figure`` (else the first figure), if any."""
    import nbformat

    try:
        nb = nbformat.read(str(nb_path), as_version=4)
    except Exception:  # noqa: BLE001 - a broken notebook simply has no figure
        return None
    first = None
    for cell in nb.cells:
        pngs = [o["data"]["image/png"] for o in cell.get("outputs", [])
                if "image/png" in o.get("data", {})]
        if pngs and "key-figure" in cell.get("metadata", {}).get("tags", []):
            return pngs[0]
        if pngs and first is None:
            first = pngs[0]
    return first


def _cell_label(executed: Path, index: int) -> str:
    """Name a failing cell by its index in the SOURCE notebook (papermill inserts a cell)."""
    import nbformat

    try:
        cells = nbformat.read(str(executed), as_version=4).cells
        injected = [i for i, c in enumerate(cells)
                    if "injected-parameters" in c.metadata.get("tags", [])]
    except Exception:  # noqa: BLE001
        return f"cell {index} of the executed notebook"
    src_index = index - 1 if injected and injected[0] < index else index
    return f"cell {src_index} (cell {index} of the executed notebook)"


def run_chapter(p: Plan, out_dir: Path, profile: str, timeout: int | None = None,
                progress: bool = True) -> dict[str, Any]:
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    from memlab.device import describe
    from memlab.lint import lint_notebook
    from memlab.report import collect

    ch = p.chapter
    dest = out_dir / ch.notebook.removesuffix(".ipynb")
    dest.mkdir(parents=True, exist_ok=True)
    out_nb = dest / ch.notebook
    error = None
    t0 = time.perf_counter()
    try:
        pm.execute_notebook(str(ch.notebook_path), str(out_nb), parameters=p.overrides,
                            kernel_name="python3", cwd=str(ch.notebook_path.parent),
                            progress_bar=progress, execution_timeout=timeout)
    except PapermillExecutionError as e:
        error = f"{_cell_label(out_nb, e.cell_index)}: {e.ename}: {e.evalue}"
    except Exception as e:  # noqa: BLE001 - any failure is reported, the others still run
        error = f"{type(e).__name__}: {e}"
    wall = time.perf_counter() - t0
    found = collect(out_nb) if out_nb.exists() else {"metrics": {}, "claims": []}
    lint = lint_notebook(out_nb) if out_nb.exists() else []
    if out_nb.exists():
        try:
            _render_html(out_nb, dest / ch.notebook.replace(".ipynb", ".html"))
        except Exception as e:  # noqa: BLE001
            error = error or f"HTML rendering failed: {type(e).__name__}: {e}"
    claims = found["claims"]
    recorded = {c["name"] for c in claims}
    missing = [name for name in ch.claims if name not in recorded]
    if error is None and not claims:
        error = "the notebook recorded no claim"
    elif error is None and missing:
        # a claim the chapter declares must be measured (or skipped with a reason), not dropped
        error = f"declared claims not recorded by the notebook: {', '.join(missing)}"
    passed = error is None and all(c["passed"] for c in claims if not c["skipped"])
    try:
        dev = describe(p.params.get("device", "auto"))
    except Exception as e:  # noqa: BLE001
        dev = f"unavailable ({e})"
    result = {
        "notebook": ch.notebook, "chapter": ch.number, "title": ch.title, "profile": profile,
        "passed": passed, "error": error, "wall_s": round(wall, 2),
        "parameters": p.params, "seed": p.params.get("seed"), "device": dev,
        "versions": versions(), "git_revision": git_revision(),
        "metrics": found["metrics"], "claims": claims, "lint": lint,
    }
    (dest / "metrics.json").write_text(json.dumps(result, indent=2, default=str))
    return result


def run(plans: list[Plan], out_dir: Path, profile: str = "quick", timeout: int | None = None,
        progress: bool = True) -> dict[str, Any]:
    """Run every plan; write summary.json and index.html; return the summary.

    ``summary.json``: ``{"chapters": [{"notebook", "passed", "wall_s", "error",
    "claims": [{"name", "value", "target", "passed"}]}], "profile", "git_revision", ...}``.
    """
    from tqdm.auto import tqdm

    from memlab.report_html import render_index

    out_dir.mkdir(parents=True, exist_ok=True)
    results = []
    for p in tqdm(plans, desc="chapters", disable=not progress or len(plans) < 2):
        r = run_chapter(p, out_dir, profile, timeout, progress)
        status = "passed" if r["passed"] else f"FAILED ({r['error'] or 'a claim failed'})"
        print(f"{p.chapter.notebook}: {status} in {r['wall_s']:.1f} s", flush=True)
        results.append(r)
    summary = {
        "profile": profile, "git_revision": git_revision(), "versions": versions(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "passed": all(r["passed"] for r in results),
        "chapters": [{k: r[k] for k in ("notebook", "title", "passed", "wall_s", "error",
                                        "device")}
                     | {"lint": r["lint"]}
                     | {"claims": [{k: c.get(k) for k in ("name", "value", "target", "passed",
                                                          "skipped", "note")}
                                   for c in r["claims"]]}
                     for r in results],
    }
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    (out_dir / "index.html").write_text(render_index(summary, out_dir), encoding="utf-8")
    return summary
