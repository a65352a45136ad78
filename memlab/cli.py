"""The ``memlab`` command line.

    memlab list [--markdown]                       the chapters, their mechanisms and state sizes
    memlab report [NOTEBOOK...] [--profile quick|full] [--device auto|cpu|cuda]
                  [-p NAME VALUE]... [-o DIR] [--timeout S]
    memlab bench [NAME...] [--quick] [--list]      speed ratios of fast vs naive forms
    memlab data verify | regenerate                shipped data files and their checksums
    memlab assign NOTEBOOK... -o DIR               student versions (nbgrader markers)
    memlab grade SUBMISSION... [-o DIR] [--source NB]  run hidden tests, write a grade table
    memlab binder [NOTEBOOK] [--remote NAME]       the Binder link of this checkout's GitHub repo
    memlab sweep atlas|CHAPTER [--profile P] [-p NAME V1,V2]... [--seeds 0,1] [--address A]
                 [--dry-run]                       a grid x seeds as Ray tasks, into one table
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["binder_url", "main", "parse_value"]


def parse_value(text: str):
    """Parse a ``-p`` value like papermill: bool, int, float, None, else the string."""
    low = text.strip()
    if low in ("True", "true"):
        return True
    if low in ("False", "false"):
        return False
    if low in ("None", "none", "null"):
        return None
    for cast in (int, float):
        try:
            return cast(low)
        except ValueError:
            pass
    return text


def _cmd_list(args) -> int:
    from memlab.chapters import all_chapters

    chapters = all_chapters()
    if args.markdown:
        print("| # | chapter | notebook | mechanisms (state size) |")
        print("|---|---|---|---|")
        for ch in chapters:
            mechs = "; ".join(f"{m.name} ({m.state_size})" for m in ch.mechanisms) or "-"
            mechs = mechs.replace("|", "\\|")  # |K| must not split a markdown cell
            print(f"| {ch.number} | {ch.title} | `notebooks/{ch.notebook}` | {mechs} |")
        return 0
    for ch in chapters:
        print(f"{ch.number}  {ch.title:<40} notebooks/{ch.notebook}")
        for m in ch.mechanisms:
            print(f"      - {m.name}: state {m.state_size}")
    return 0


def _cmd_report(args) -> int:
    from memlab import runner
    from memlab.params import ParameterError

    overrides = {name: parse_value(value) for name, value in (args.parameters or [])}
    try:
        plans = runner.plan(args.notebooks, args.profile, args.device, overrides)
    except (ParameterError, KeyError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
        print(f"memlab report: {msg}", file=sys.stderr)
        return 2
    summary = runner.run(plans, Path(args.output), args.profile, args.timeout,
                         progress=not args.no_progress)
    n_ok = sum(c["passed"] for c in summary["chapters"])
    print(f"{n_ok}/{len(summary['chapters'])} chapters passed; report in "
          f"{Path(args.output) / 'index.html'}")
    return 0 if summary["passed"] else 1


def _cmd_bench(args) -> int:
    from memlab.bench import entries, format_table

    found = entries()
    if args.list:
        for name, e in found.items():
            print(f"{name:<32} [{e.family}] {e.doc}")
        return 0
    names = args.names or list(found)
    unknown = [n for n in names if n not in found]
    if unknown:
        print(f"memlab bench: unknown entries {unknown}; known: {list(found)}", file=sys.stderr)
        return 2
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{'quick' if args.quick else 'full'} sizes")
    for n in names:
        e = found[n]
        print(f"\n== {n} [{e.family}]: {e.doc}")
        print(format_table(e.fn(args.quick)), flush=True)
    return 0


def _cmd_data(args) -> int:
    from memlab import data

    if args.action == "regenerate":
        for name, digest in data.regenerate().items():
            print(f"{digest}  {name}")
        return 0
    problems = data.verify()
    for p in problems:
        print(p, file=sys.stderr)
    print("data: all files match their checksums" if not problems else
          f"data: {len(problems)} problem(s)")
    return 1 if problems else 0


def _cmd_classroom(args) -> int:
    try:
        from memlab import classroom
    except ImportError as e:  # pragma: no cover - classroom ships with memlab
        print(f"memlab {args.command}: unavailable ({e})", file=sys.stderr)
        return 2
    return classroom.main(args)


def binder_url(remote_url: str, notebook: str = "00_start.ipynb", ref: str = "HEAD") -> str:
    """The mybinder.org link that opens ``notebooks/<notebook>`` of a GitHub repository, from
    its git remote URL (https or ssh form)."""
    import re

    m = re.match(r"^(?:https?://(?:[^@/]+@)?github\.com/|git@github\.com:|ssh://git@github\.com/)"
                 r"([\w.-]+)/([\w.-]+?)(?:\.git)?/?$", remote_url.strip())
    if not m:
        raise ValueError(f"not a GitHub remote: {remote_url!r} (Binder builds from GitHub; push "
                         "this repository there first)")
    owner, repo = m.groups()
    return (f"https://mybinder.org/v2/gh/{owner}/{repo}/{ref}"
            f"?urlpath=lab/tree/notebooks/{notebook}")


def _cmd_mutants(args) -> int:
    import json

    from memlab.chapters import all_chapters
    from memlab.testing import mutants as M

    known = sorted({m.chapter for m in M.mutants()})
    chapters = [f"{int(c):02d}" for c in args.chapters] if args.chapters else known
    if args.list:
        for m in M.mutants():
            if m.chapter in chapters:
                ex = f"  [excused: {m.excused}]" if m.excused else ""
                print(f"{m.chapter}  {m.mechanism:32s} {m.name}{ex}\n      {m.doc.splitlines()[0]}")
        return 0
    titles = {c.number: c.title for c in all_chapters()}
    out, bad = [], 0
    for ch in chapters:
        if ch not in titles:
            print(f"memlab mutants: no chapter {ch}", file=sys.stderr)
            return 2
        mat = M.kill_matrix(ch)
        out.extend(mat.as_json())
        bad += len(mat.survivors()) + len(mat.baseline_failures())
        if not args.json:
            print(f"== {ch} {titles[ch]}")
            print(M.format_matrix(mat))
            print()
    if args.json:
        print(json.dumps({"mutants": out}, indent=1))
    else:
        killed = sum(1 for r in out if r["killed_by"])
        print(f"{len(out)} mutants: {killed} killed, "
              f"{sum(1 for r in out if not r['killed_by'] and r['excused'])} excused, "
              f"{sum(1 for r in out if not r['killed_by'] and not r['excused'])} survived")
    return 1 if bad else 0


def _cmd_binder(args) -> int:
    import subprocess

    root = Path(__file__).resolve().parents[1]
    try:
        url = subprocess.run(["git", "remote", "get-url", args.remote], cwd=root, check=True,
                             capture_output=True, text=True).stdout.strip()
        print(binder_url(url, args.notebook, args.ref))
    except (subprocess.CalledProcessError, FileNotFoundError):
        print(f"memlab binder: this checkout has no git remote {args.remote!r}; push it to "
              "GitHub and add the remote first", file=sys.stderr)
        return 2
    except ValueError as e:
        print(f"memlab binder: {e}", file=sys.stderr)
        return 2
    return 0


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="memlab", description=__doc__.split("\n")[1].strip(),
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)

    p = sub.add_parser("list", help="list the chapters")
    p.add_argument("--markdown", action="store_true", help="print a markdown table")
    p.set_defaults(fn=_cmd_list)

    p = sub.add_parser("report", help="execute notebooks and write a reproducible report")
    p.add_argument("notebooks", nargs="*", help="notebook paths, names or numbers (default: all)")
    p.add_argument("--profile", choices=["quick", "full"], default="quick")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default=None)
    p.add_argument("-p", "--parameter", dest="parameters", nargs=2, action="append",
                   metavar=("NAME", "VALUE"), help="override a parameter (as in papermill)")
    p.add_argument("-o", "--output", default="reports", help="output directory")
    p.add_argument("--timeout", type=int, default=None, help="per-cell timeout in seconds")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(fn=_cmd_report)

    p = sub.add_parser("bench", help="print speed ratios of fast vs naive forms")
    p.add_argument("names", nargs="*", help="entries to run (default: all)")
    p.add_argument("--quick", action="store_true", help="small sizes (seconds)")
    p.add_argument("--list", action="store_true", help="list the entries")
    p.add_argument("--threads", type=int, default=None, help="torch threads")
    p.set_defaults(fn=_cmd_bench)

    p = sub.add_parser("data", help="verify or regenerate the shipped data files")
    p.add_argument("action", choices=["verify", "regenerate"])
    p.set_defaults(fn=_cmd_data)

    p = sub.add_parser("assign", help="make student versions of chapter notebooks")
    p.add_argument("notebooks", nargs="+")
    p.add_argument("-o", "--output", required=True)
    p.set_defaults(fn=_cmd_classroom)

    p = sub.add_parser("grade", help="grade submitted notebooks with the hidden tests")
    p.add_argument("submissions", nargs="+")
    p.add_argument("-o", "--output", default="grades")
    p.add_argument("--source", default=None,
                   help="instructor notebook (default: notebooks/<same name>)")
    p.add_argument("--timeout", type=int, default=120, help="per-cell time limit (s)")
    p.add_argument("--submissions-dir", default=None,
                   help="folder the submission ids are relative to (default: the deepest folder "
                        "holding all of them); with per-student folders the first folder is the "
                        "student id")
    p.set_defaults(fn=_cmd_classroom)

    p = sub.add_parser("mutants", help="run each chapter's checks against its mutants "
                                       "(realistic bugs) and print the kill matrix")
    p.add_argument("chapters", nargs="*", help="chapter numbers (default: every chapter with mutants)")
    p.add_argument("--json", action="store_true", help="print the matrix as JSON")
    p.add_argument("--list", action="store_true", help="list the mutants without running them")
    p.set_defaults(fn=_cmd_mutants)

    p = sub.add_parser("binder", help="print the Binder link of this checkout's GitHub remote")
    p.add_argument("notebook", nargs="?", default="00_start.ipynb")
    p.add_argument("--remote", default="origin")
    p.add_argument("--ref", default="HEAD", help="branch, tag or commit")
    p.set_defaults(fn=_cmd_binder)

    from memlab.sweep import add_parser as _add_sweep
    _add_sweep(sub)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.fn(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
