"""Record metrics and claims from a notebook; collect them from executed notebooks.

In a chapter::

    from memlab import report
    c = report.claim("critical_load", load, CHAPTER.claims["critical_load"])   # shown + recorded
    report.record("wall_s_hopfield", 1.3)                                       # a plain metric

and in a hidden cell (tag ``remove-cell``)::

    assert c.passed, c

Each record is displayed with the custom MIME type ``application/vnd.memlab.metric+json``
(plus a readable ``text/plain``), so that :func:`collect` can read every metric and claim back
from an executed ``.ipynb`` with nothing but nbformat: no sidecar files, no scrapbook.
Outside a kernel (pytest, scripts) records go to :data:`RECORDS` only.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Target", "between", "at_least", "at_most", "Claim", "record", "claim", "skip_claim",
           "collect", "seed_spread", "spread_text", "RECORDS", "MIME"]

MIME = "application/vnd.memlab.metric+json"
RECORDS: list[dict[str, Any]] = []


@dataclass(frozen=True)
class Target:
    """An interval a measured value must fall in: ``lo <= value <= hi`` (either may be None)."""

    lo: float | None = None
    hi: float | None = None

    def __post_init__(self):
        if self.lo is None and self.hi is None:
            raise ValueError("a Target needs lo, hi or both")
        if self.lo is not None and self.hi is not None and self.lo > self.hi:
            raise ValueError(f"Target lo={self.lo} > hi={self.hi}")

    def check(self, value: float) -> bool:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return False
        return (self.lo is None or value >= self.lo) and (self.hi is None or value <= self.hi)

    def __str__(self) -> str:
        if self.lo is not None and self.hi is not None:
            return f"in [{self.lo:g}, {self.hi:g}]"
        if self.lo is not None:
            return f">= {self.lo:g}"
        return f"<= {self.hi:g}"


def between(lo: float, hi: float) -> Target:
    return Target(lo, hi)


def at_least(lo: float) -> Target:
    return Target(lo, None)


def at_most(hi: float) -> Target:
    return Target(None, hi)


@dataclass
class Claim:
    name: str
    value: float
    target: str
    passed: bool
    note: str = ""

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        status = "PASS" if self.passed else "FAIL"
        note = f" ({self.note})" if self.note else ""
        return f"[{status}] {self.name} = {_fmt(self.value)}, target {self.target}{note}"

    __repr__ = __str__  # a cell that ends with a claim echoes the badge, not a dataclass dump

    def _repr_html_(self) -> str:
        return _claim_html(self.name, self.value, self.target, self.passed, self.note)


@dataclass
class _Metric:
    name: str
    value: Any
    unit: str = ""
    extra: dict = field(default_factory=dict)


def _fmt(v: Any) -> str:
    """Compact text for a value: 4 significant digits, small dicts and lists inline."""
    if isinstance(v, bool) or v is None:
        return str(v)
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {_fmt(x)}" for k, x in v.items()) + "}"
    if isinstance(v, (list, tuple)):
        items = [_fmt(x) for x in v[:12]]
        return "[" + ", ".join(items) + (", ..." if len(v) > 12 else "") + "]"
    return str(v)


def _esc(text: Any) -> str:
    import html

    return html.escape(str(text))


_BADGE = ("display:inline-block;padding:1px 7px;border-radius:4px;color:white;"
          "font-weight:600;font-family:sans-serif;font-size:12px;background:{}")


def _claim_html(name, value, target, passed, note, skipped=False) -> str:
    label, colour = (("SKIPPED", "#777") if skipped else
                     ("PASS", "#1b7f3b") if passed else ("FAIL", "#b3261e"))
    val = "" if skipped else f" = <b>{_esc(_fmt(value))}</b>"
    note_html = f" <span style='color:#555'>({_esc(note)})</span>" if note else ""
    return (f"<div style='margin:2px 0'><span style='{_BADGE.format(colour)}'>{label}</span> "
            f"<code>{_esc(name)}</code>{val}, target {_esc(target)}{note_html}</div>")


def _metric_html(name: str, value: Any, unit: str) -> str:
    """A metric as one line, or a dict of numbers as a small table."""
    if isinstance(value, dict) and value and all(not isinstance(x, dict) for x in value.values()):
        rows = "".join(f"<tr><td style='text-align:left'>{_esc(k)}</td>"
                       f"<td style='text-align:right'>{_esc(_fmt(x))}</td></tr>"
                       for k, x in value.items())
        return (f"<details><summary style='font-size:12px;color:#444'>metric <code>"
                f"{_esc(name)}</code> ({len(value)} values)</summary>"
                f"<table style='font-size:12px'>{rows}</table></details>")
    text = _fmt(value)
    if len(text) > 100:
        text = text[:97] + "..."
    return (f"<div style='font-size:12px;color:#444'>metric <code>{_esc(name)}</code> = "
            f"{_esc(text)}{(' ' + _esc(unit)) if unit else ''}</div>")


def _plain(v: Any) -> Any:
    """Make a value JSON-friendly (tensors and numpy scalars become Python numbers)."""
    if hasattr(v, "item") and callable(v.item):
        try:
            return v.item()
        except (ValueError, RuntimeError):
            pass
    if hasattr(v, "tolist"):
        return v.tolist()
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return v


def _emit(payload: dict[str, Any], text: str, html: str | None = None) -> None:
    RECORDS.append(payload)
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:  # pragma: no cover - IPython ships with ipykernel
        return
    if get_ipython() is None:
        return
    bundle = {MIME: payload, "text/plain": text}
    if html:
        bundle["text/html"] = html
    display(bundle, raw=True)


def record(name: str, value: Any, unit: str = "", **extra: Any) -> None:
    """Record a metric (a number, or a small JSON-able structure).

    Shown compactly (4 significant digits; a dict as a small folded table); the full value
    goes to ``metrics.json``. Returns None, so that a cell ending with it echoes nothing."""
    if not isinstance(name, str) or not name:
        raise ValueError("metric name must be a non-empty string")
    plain = _plain(value)
    payload = {"kind": "metric", **asdict(_Metric(name, plain, unit, _plain(extra)))}
    text = _fmt(plain)
    if len(text) > 100:
        text = text[:97] + "..."
    _emit(payload, f"metric {name} = {text}{(' ' + unit) if unit else ''}",
          _metric_html(name, plain, unit))


def claim(name: str, value: float, target: Target, note: str = "") -> Claim:
    """Record a chapter claim: the measured ``value`` and whether it meets ``target``."""
    if not isinstance(target, Target):
        raise TypeError(f"target must be a memlab.report.Target, got {type(target).__name__}")
    value = _plain(value)
    c = Claim(name, value, str(target), bool(target.check(value)), note)
    payload = {"kind": "claim", **asdict(c), "lo": target.lo, "hi": target.hi}
    _emit(payload, str(c), c._repr_html_())
    return c


def skip_claim(name: str, target: Target, reason: str) -> None:
    """Say that a claim was not measured in this run, and why (e.g. an optional extra is not
    installed). The report lists it as skipped with the reason; it neither passes nor fails.
    Use it only for what the environment lacks, never for a claim that came out wrong."""
    if not isinstance(target, Target):
        raise TypeError(f"target must be a memlab.report.Target, got {type(target).__name__}")
    if not reason:
        raise ValueError("skip_claim needs a reason")
    payload = {"kind": "claim", "name": name, "value": None, "target": str(target),
               "passed": None, "note": reason, "skipped": True, "lo": target.lo, "hi": target.hi}
    _emit(payload, f"[SKIPPED] {name}, target {target}: {reason}",
          _claim_html(name, None, str(target), None, reason, skipped=True))


def seed_spread(fn, seeds) -> list[float]:
    """A claim's value at each seed: ``[float(fn(s)) for s in seeds]`` (one place for it)."""
    return [float(fn(s)) for s in seeds]


def spread_text(values, seeds=None, fmt: str = ".4g") -> str:
    """'0.812 to 0.866 (mean 0.84) over seeds 0-2': a claim's seed spread, printed beside it."""
    values = [float(v) for v in values]
    if not values:
        raise ValueError("no values")
    where = ""
    if seeds is not None:
        seeds = list(seeds)
        where = (f" over seeds {seeds[0]}-{seeds[-1]}" if seeds == list(range(seeds[0], seeds[-1] + 1))
                 else f" over seeds {seeds}")
    lo, hi, mean = min(values), max(values), sum(values) / len(values)
    return f"{lo:{fmt}} to {hi:{fmt}} (mean {mean:{fmt}}){where}"


def collect(notebook: str | Path | dict) -> dict[str, Any]:
    """Read metrics and claims back from an executed notebook (path or nbformat node)."""
    import nbformat

    nb = notebook
    if not isinstance(notebook, dict):
        nb = nbformat.read(str(notebook), as_version=4)
    metrics: dict[str, Any] = {}
    claims: list[dict[str, Any]] = []
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if MIME not in data:
                continue
            payload = data[MIME]
            if isinstance(payload, str):
                payload = json.loads(payload)
            if payload.get("kind") == "claim":
                claims.append({k: payload.get(k) for k in
                               ("name", "value", "target", "passed", "note", "lo", "hi")}
                              | {"skipped": bool(payload.get("skipped", False))})
            else:
                metrics[payload["name"]] = payload["value"]
    return {"metrics": metrics, "claims": claims}
