"""Lint an executed chapter notebook for what a student should not have to read.

Rules (each finding names the cell):
- ``long-float``: a number printed with more than 6 significant digits (``0.12345678``);
- ``repr``: an object echoed instead of shown (``Claim(``, ``Params(``, ``<torch.``,
  ``<matplotlib.``, ``<Figure size``, ``at 0x``);
- ``long-line``: a printed line over 120 characters (HTML tables are exempt);
- ``traceback``: an error output.
Only what a reader sees is checked: stdout/stderr streams and ``text/plain`` of outputs that
have no richer representation. The report's own machine-readable payload is skipped.
``memlab report`` writes the findings to ``metrics.json`` (``lint``); the suite asserts that
every chapter has none.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

__all__ = ["lint_notebook", "RULES"]

RULES = ("long-float", "repr", "long-line", "traceback")
MAX_LINE = 120
MAX_DIGITS = 6

_FLOAT = re.compile(r"(?<![\w.])[-+]?(\d+\.\d+)(?:[eE][-+]?\d+)?(?![\w.])")
_REPRS = ("Claim(", "Params(", "<torch.", "<matplotlib.", "<Figure size", " at 0x")
_RICH = ("text/html", "image/png", "image/svg+xml", "application/vnd.jupyter.widget-view+json")


def _significant(digits: str) -> int:
    return len(digits.replace(".", "").lstrip("0"))


def _visible_text(out: dict[str, Any]) -> str:
    kind = out.get("output_type")
    if kind == "stream":
        text = out.get("text", "")
        return "".join(text) if isinstance(text, list) else text
    if kind in ("execute_result", "display_data"):
        data = out.get("data", {})
        if any(k in data for k in _RICH) or any(k.startswith("application/vnd.memlab") for k in data):
            return ""
        text = data.get("text/plain", "")
        return "".join(text) if isinstance(text, list) else text
    return ""


def lint_notebook(notebook: str | Path | dict) -> list[str]:
    """Findings as ``"cell N: rule: excerpt"`` strings; empty when the notebook reads clean."""
    import nbformat

    nb = notebook if isinstance(notebook, dict) else nbformat.read(str(notebook), as_version=4)
    found: list[str] = []
    for i, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                found.append(f"cell {i}: traceback: {out.get('ename')}: {out.get('evalue')}"[:160])
                continue
            for line in _visible_text(out).splitlines():
                if "%|" in line or "it/s]" in line:      # a progress bar's last frame
                    continue
                for m in _FLOAT.finditer(line):
                    if _significant(m.group(1)) > MAX_DIGITS:
                        found.append(f"cell {i}: long-float: {m.group(0)} in {line.strip()[:80]!r}")
                        break
                for r in _REPRS:
                    if r in line:
                        found.append(f"cell {i}: repr: {line.strip()[:100]!r}")
                        break
                if len(line) > MAX_LINE:
                    found.append(f"cell {i}: long-line ({len(line)} chars): {line[:60]!r}...")
    return found
