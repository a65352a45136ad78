"""The report's front page: per chapter, its claims with measured numbers and targets,
pass/fail, run time and key figure, linking to each chapter's executed HTML."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

__all__ = ["render_index"]

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:#1d2433}
h1{margin-bottom:.2em} .meta{color:#667;font-size:.9em}
.chapter{border:1px solid #dde;border-radius:8px;padding:1em 1.2em;margin:1.2em 0}
.chapter h2{margin:.1em 0 .4em;font-size:1.2em}
.pass{color:#0a7d32;font-weight:600} .fail{color:#b3261e;font-weight:600}
table{border-collapse:collapse;width:100%;font-size:.92em}
th,td{text-align:left;padding:.3em .6em;border-bottom:1px solid #eef}
th{background:#f5f6fa} td.num{font-variant-numeric:tabular-nums}
.fig{max-width:100%;margin-top:.6em;border:1px solid #eee}
.err{background:#fdecea;padding:.5em;border-radius:4px;white-space:pre-wrap;font-family:monospace}
.summary{font-size:1.05em;margin:1em 0}
"""


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return html.escape(str(v))


def render_index(summary: dict[str, Any], out_dir: Path) -> str:
    from memlab.runner import key_figure

    chapters = summary.get("chapters", [])
    n_pass = sum(c["passed"] for c in chapters)
    n_claims = sum(len(c["claims"]) for c in chapters)
    n_claims_pass = sum(bool(cl["passed"]) for c in chapters for cl in c["claims"])
    n_skipped = sum(bool(cl.get("skipped")) for c in chapters for cl in c["claims"])
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>memlab report</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>memlab report</h1>",
        f"<p class='meta'>profile <b>{_fmt(summary.get('profile'))}</b> · git "
        f"{_fmt(summary.get('git_revision'))} · created {_fmt(summary.get('created'))} · "
        + " · ".join(f"{k} {_fmt(v)}" for k, v in summary.get("versions", {}).items())
        + "</p>",
        f"<p class='summary'>{n_pass}/{len(chapters)} chapters passed · "
        f"{n_claims_pass}/{n_claims} claims met"
        + (f" · {n_skipped} skipped (see their notes)" if n_skipped else "") + "</p>",
    ]
    for c in chapters:
        stem = c["notebook"].removesuffix(".ipynb")
        ok = "<span class='pass'>PASS</span>" if c["passed"] else "<span class='fail'>FAIL</span>"
        parts.append("<div class='chapter'>")
        parts.append(f"<h2>{ok} {html.escape(c['notebook'])} · {_fmt(c.get('title', ''))}</h2>")
        parts.append(f"<p class='meta'>run time {c['wall_s']:.1f} s · device "
                     f"{_fmt(c.get('device', ''))} · <a href='{stem}/{stem}.html'>executed "
                     f"notebook (HTML)</a> · <a href='{stem}/metrics.json'>metrics.json</a></p>")
        if c.get("error"):
            parts.append(f"<div class='err'>{html.escape(c['error'])}</div>")
        if c["claims"]:
            parts.append("<table><tr><th>claim</th><th>measured</th><th>target</th>"
                         "<th>result</th><th>note</th></tr>")
            for cl in c["claims"]:
                if cl.get("skipped"):
                    res = "<span class='meta'>skipped</span>"
                elif cl["passed"]:
                    res = "<span class='pass'>met</span>"
                else:
                    res = "<span class='fail'>not met</span>"
                value = "" if cl["value"] is None else _fmt(cl["value"])
                parts.append(f"<tr><td>{_fmt(cl['name'])}</td><td class='num'>"
                             f"{value}</td><td>{_fmt(cl['target'])}</td>"
                             f"<td>{res}</td><td>{_fmt(cl.get('note') or '')}</td></tr>")
            parts.append("</table>")
        png = key_figure(out_dir / stem / c["notebook"])
        if png:
            parts.append(f"<img class='fig' alt='key figure of {html.escape(stem)}' "
                         f"src='data:image/png;base64,{png.strip()}'>")
        parts.append("</div>")
    parts.append("</body></html>")
    return "\n".join(parts)
