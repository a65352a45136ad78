"""``memlab sweep``: run an experiment over a grid of parameters x seeds, as tasks on Ray.

A *target* is a library experiment (``atlas``: :func:`memlab.atlas.suite.run_point`) or a
chapter (its papermill report: the chapter's metrics and claims, as in ``metrics.json``). A
*point* is one parameter set and one seed; its key is

    key = sha256(json([target, params, seed, code revision]))[:16]

Each finished point becomes one row of a DuckDB table ``results`` (key, target, params, seed,
revision, status, error, metrics as JSON, wall_s). A re-run skips the keys already ``ok`` in
the table, so a sweep that crashed resumes where it stopped; a failing point is stored with
its error (status ``error``) and the sweep carries on (it is tried again on the next run).

    memlab sweep atlas --profile medium -o atlas.duckdb            # local Ray, all cores
    memlab sweep atlas -p mixer linear,delta -p width 16,32 --seeds 0,1,2 --dry-run
    memlab sweep 04 -p mqar_steps 100,300 --seeds 0,1 -o ch04.duckdb  # a chapter's report
    RAY_ADDRESS=ray://head:10001 memlab sweep atlas --profile full --device cuda
    (or --address ray://head:10001; memlab must be installed on every node)

``ray.init()`` starts a local instance by default (``--workers`` CPUs, no dashboard);
``--address`` or ``RAY_ADDRESS`` joins an existing cluster. Each task asks Ray for one CPU, and
for one GPU with ``--device cuda``. ``--serial`` runs the same points in this process, without
Ray: the test suite checks that both give the same numbers. Only this process writes the table.

Read it back with :func:`load` (a list of dicts) or from DuckDB directly::

    import duckdb; duckdb.connect("atlas.duckdb").sql("select * from results").show()

Not included: retries with back-off, and scheduling by cost (points run in grid order).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = ["PROFILES", "TARGETS", "ResultStore", "expand", "export_parquet", "load", "merge",
           "point_key",
           "run_one", "sweep", "toy_point"]

_ATLAS_MIXERS = ["attention", "linear", "delta", "gated_delta", "s4d", "mamba", "titans"]
#: named grids of the ``atlas`` target (``seeds`` is the seed list)
PROFILES: dict[str, dict[str, Any]] = {
    "small": {"mixer": ["attention", "linear", "delta"], "width": [16], "task": ["mqar"],
              "steps": [100], "seeds": [0, 1]},
    "medium": {"mixer": _ATLAS_MIXERS, "width": [8, 16], "task": ["mqar"],
               "steps": [200], "seeds": [0, 1, 2]},
    "full": {"mixer": _ATLAS_MIXERS + ["mom"], "width": [16, 32, 64, 128],
             "task": ["mqar", "needle", "selective_copying"], "steps": [2000],
             "seeds": [0, 1, 2, 3, 4]},
}


def expand(grid: dict[str, list]) -> list[dict]:
    """Every combination of the grid's values, as a list of parameter dicts (sorted names)."""
    if not isinstance(grid, dict):
        raise TypeError(f"grid must be a dict name -> list of values, got {type(grid).__name__}")
    names = sorted(grid)
    for n in names:
        if not isinstance(grid[n], (list, tuple)) or not grid[n]:
            raise ValueError(f"grid[{n!r}] must be a non-empty list, got {grid[n]!r}")
    return [dict(zip(names, vals)) for vals in itertools.product(*(grid[n] for n in names))]


def point_key(target: str, params: dict, seed: int, revision: str) -> str:
    """The point's identity: a hash of (target, parameters, seed, code revision)."""
    text = json.dumps([str(target), params, int(seed), str(revision)], sort_keys=True,
                      default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def toy_point(params: dict, seed: int, device: str = "cpu") -> dict:
    """A point that costs nothing (for tests and checks): a seeded number, or an error when
    ``params["fail"]`` is true."""
    if params.get("fail"):
        raise RuntimeError(f"this point fails on purpose ({params})")
    digest = hashlib.sha256(json.dumps([params, seed], sort_keys=True).encode()).digest()
    return {"value": int.from_bytes(digest[:4], "little") / 2**32, "seed": seed}


#: library experiments a sweep can run by name (a chapter is named by its number instead)
TARGETS = {"atlas": "memlab.atlas.suite:run_point", "toy": "memlab.sweep:toy_point"}


_NICED = [0]


def run_one(target: str, params: dict, seed: int, device: str = "cpu", nice: int = 0) -> dict:
    """Run one point; never raises: ``{"status": "ok"|"error", "metrics", "error", "wall_s"}``.

    ``nice``: lower this process's CPU priority by that much first (once per process), to share
    a machine politely; Ray's own services keep their priority, so they still start in time.
    """
    if nice > _NICED[0] and hasattr(os, "nice"):
        os.nice(nice - _NICED[0])
        _NICED[0] = nice
    t0 = time.perf_counter()
    try:
        if target in TARGETS:
            import importlib

            mod, fn = TARGETS[target].split(":")
            metrics = getattr(importlib.import_module(mod), fn)(params, seed, device=device)
        else:
            metrics = _run_chapter(target, params, seed, device)
        return {"status": "ok", "metrics": metrics, "error": None,
                "wall_s": time.perf_counter() - t0}
    except Exception as e:  # noqa: BLE001 - a failing point is recorded, the sweep goes on
        return {"status": "error", "metrics": None, "error": f"{type(e).__name__}: {e}"[:2000],
                "wall_s": time.perf_counter() - t0}


def _run_chapter(chapter: str, params: dict, seed: int, device: str) -> dict:
    from memlab import runner

    plans = runner.plan([chapter], device=device, overrides={**params, "seed": seed})
    with tempfile.TemporaryDirectory() as tmp:
        res = runner.run_chapter(plans[0], Path(tmp), "quick", progress=False)
    if res["error"]:
        raise RuntimeError(res["error"])
    return {"metrics": res["metrics"], "claims": res["claims"], "passed": res["passed"]}


class ResultStore:
    """The results table (a DuckDB file). Only the driver process writes it, and it holds the
    file only while writing one row, so a notebook can query the table during a sweep."""

    COLUMNS = ("key", "target", "params", "seed", "revision", "status", "error", "metrics",
               "wall_s")

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as con:
            con.execute("create table if not exists results (key varchar primary key, "
                        "target varchar, params varchar, seed integer, revision varchar, "
                        "status varchar, error varchar, metrics varchar, wall_s double)")

    def _connect(self):
        import duckdb

        return duckdb.connect(str(self.path))

    def done(self) -> set[str]:
        """Keys of the points already finished without error."""
        with self._connect() as con:
            return {r[0] for r in con.execute(
                "select key from results where status = 'ok'").fetchall()}

    def write(self, key: str, target: str, params: dict, seed: int, revision: str,
              result: dict) -> None:
        metrics = None if result["metrics"] is None else json.dumps(result["metrics"],
                                                                    sort_keys=True)
        with self._connect() as con:
            con.execute("insert or replace into results values (?, ?, ?, ?, ?, ?, ?, ?, ?)", [
                key, target, json.dumps(params, sort_keys=True), int(seed), revision,
                result["status"], result["error"], metrics, float(result["wall_s"])])


def load(path: str | Path) -> list[dict]:
    """Rows of a results table (DuckDB file or a Parquet export), params and metrics decoded."""
    import duckdb

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"results={str(path)!r} does not exist")
    parquet = path.suffix == ".parquet"
    for attempt in range(20):       # a running sweep holds the file while it writes one row
        try:
            with duckdb.connect(":memory:" if parquet else str(path),
                                read_only=not parquet) as con:
                rel = con.execute(f"select * from read_parquet('{path.as_posix()}')" if parquet
                                  else "select * from results")
                cols = [d[0] for d in rel.description]
                rows = [dict(zip(cols, r)) for r in rel.fetchall()]
            break
        except duckdb.IOException:
            if attempt == 19:
                raise
            time.sleep(0.25)
    for r in rows:
        r["params"] = json.loads(r["params"])
        r["metrics"] = json.loads(r["metrics"]) if r["metrics"] else None
    return sorted(rows, key=lambda r: (json.dumps(r["params"], sort_keys=True), r["seed"]))


def export_parquet(db: str | Path, dest: str | Path) -> Path:
    """Copy the ``ok`` rows of a results table into a small Parquet file, in key order."""
    import duckdb

    with duckdb.connect(str(db), read_only=True) as con:
        con.execute(f"copy (select * from results where status = 'ok' order by key) "
                    f"to '{Path(dest).as_posix()}' (format parquet, compression zstd)")
    return Path(dest)


def merge(dest: str | Path, *sources: str | Path) -> int:
    """Copy the rows of other results tables into ``dest`` (same keys: the later row wins);
    for sweeps split by hand across machines. Returns the rows in ``dest``."""
    import duckdb

    ResultStore(dest)
    with duckdb.connect(str(dest)) as con:
        for i, src in enumerate(sources):
            con.execute(f"attach '{Path(src).as_posix()}' as src{i} (read_only)")
            con.execute(f"insert or replace into results select * from src{i}.results")
            con.execute(f"detach src{i}")
        return con.execute("select count(*) from results").fetchone()[0]


def sweep(target: str, grid: dict[str, list], seeds: list[int], out: str | Path, *,
          workers: int | None = None, address: str | None = None, device: str = "cpu",
          serial: bool = False, progress: bool = True, revision: str | None = None,
          nice: int = 0) -> dict:
    """Run every (point, seed) not yet done; return ``{"total", "skipped", "ran", "failed"}``."""
    from tqdm.auto import tqdm

    if not seeds or not all(isinstance(s, int) and s >= 0 for s in seeds):
        raise ValueError(f"seeds must be a non-empty list of ints >= 0, got {seeds!r}")
    if revision is None:
        from memlab.runner import git_revision
        revision = git_revision()
    store = ResultStore(out)
    todo, done = [], store.done()
    points = [(p, s) for p in expand(grid) for s in seeds]
    for p, s in points:
        k = point_key(target, p, s, revision)
        if k not in done:
            todo.append((k, p, s))
    summary = {"total": len(points), "skipped": len(points) - len(todo), "ran": 0, "failed": 0}
    bar = tqdm(total=len(todo), desc=f"sweep {target}", disable=not progress)

    def record(k, p, s, result):
        store.write(k, target, p, s, revision, result)
        summary["ran"] += 1
        summary["failed"] += result["status"] != "ok"
        bar.update(1)

    try:
        if serial:
            for k, p, s in todo:
                record(k, p, s, run_one(target, p, s, device, nice))
        elif todo:
            _run_ray(todo, target, device, workers, address, record, nice)
    finally:
        bar.close()
    return summary


def _ray_init(ray, address, workers, attempts: int = 3) -> None:
    """Join ``address``, or start a local instance; a local start is tried ``attempts`` times
    (on a loaded machine Ray's agents can miss their 30 s start-up window once)."""
    if address:
        ray.init(address=address, log_to_driver=False)
        return
    for i in range(attempts):
        try:
            ray.init(num_cpus=workers or os.cpu_count(), include_dashboard=False,
                     log_to_driver=False)
            return
        except Exception:
            ray.shutdown()
            if i == attempts - 1:
                raise


def _run_ray(todo, target, device, workers, address, record, nice=0) -> None:
    import ray

    started = False
    if not ray.is_initialized():
        _ray_init(ray, address or os.environ.get("RAY_ADDRESS"), workers)
        started = True
    try:
        task = ray.remote(run_one).options(
            num_cpus=1, num_gpus=1 if str(device).startswith("cuda") else 0, max_retries=0)
        pending = {task.remote(target, p, s, device, nice): (k, p, s) for k, p, s in todo}
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                k, p, s = pending.pop(ref)
                try:
                    result = ray.get(ref)
                except Exception as e:  # noqa: BLE001 - a worker that died is a failed point
                    result = {"status": "error", "metrics": None, "wall_s": 0.0,
                              "error": f"{type(e).__name__}: {e}"[:2000]}
                record(k, p, s, result)
    finally:
        if started:
            ray.shutdown()


def grid_from_args(target: str, profile: str | None, parameters, seeds_text: str | None):
    """(grid, seeds) from ``--profile``, ``-p NAME V1,V2`` axes and ``--seeds 0,1,2``."""
    from memlab.cli import parse_value

    grid, seeds = {}, [0]
    if profile is not None:
        if target != "atlas":
            raise ValueError(f"--profile {profile} is a grid of the atlas; for a chapter give "
                             "its axes with -p NAME V1,V2")
        grid = {k: list(v) for k, v in PROFILES[profile].items()}
        seeds = grid.pop("seeds")
    for name, values in parameters or []:
        grid[name] = [parse_value(v) for v in values.split(",") if v.strip()]
    if seeds_text is not None:
        seeds = [int(s) for s in seeds_text.split(",") if s.strip()]
    if target == "atlas":
        grid.setdefault("task", ["mqar"])
        missing = [n for n in ("mixer", "width") if n not in grid]
        if missing:
            raise ValueError(f"the atlas grid needs {missing}: give --profile or -p NAME V1,V2")
    return grid, seeds                 # {} = a chapter at its defaults, over seeds only


def main_cli(args) -> int:
    """The ``memlab sweep`` command (see the module docstring)."""
    if args.target not in TARGETS:
        from memlab.chapters import get_chapter
        try:
            args.target = get_chapter(args.target).number
        except KeyError:
            raise SystemExit(f"memlab sweep: target {args.target!r} is neither a library "
                             f"experiment ({', '.join(TARGETS)}) nor a chapter") from None
    grid, seeds = grid_from_args(args.target, args.profile, args.parameters, args.seeds)
    points = expand(grid)
    if args.target not in TARGETS:           # a chapter: bad parameters fail before any run
        from memlab import runner
        for p in points:
            runner.plan([args.target], overrides={**p, "seed": seeds[0]})
    out = args.output or f"sweeps/{args.target}.duckdb"
    if args.dry_run:
        for p in points:
            print("  " + ", ".join(f"{k}={v}" for k, v in p.items()))
        print(f"{len(points)} points x {len(seeds)} seeds {seeds} = {len(points) * len(seeds)} "
              f"runs of {args.target} -> {out}")
        return 0
    summary = sweep(args.target, grid, seeds, out,
                    workers=args.workers, address=args.address, device=args.device,
                    serial=args.serial, progress=not args.no_progress, nice=args.nice)
    print(f"{summary['total']} runs: {summary['skipped']} already done, {summary['ran']} ran, "
          f"{summary['failed']} failed -> {out}")
    if args.export:
        print(f"ok rows exported to {export_parquet(out, args.export)}")
    return 1 if summary["failed"] else 0


def add_parser(sub) -> None:
    """The ``sweep`` subcommand's arguments (called by :mod:`memlab.cli`)."""
    p = sub.add_parser("sweep", help="run the atlas or a chapter over a grid of parameters "
                                     "x seeds, as Ray tasks (local by default)")
    p.add_argument("target", help="'atlas' or a chapter (number, slug or notebook)")
    p.add_argument("-p", "--parameter", dest="parameters", nargs=2, action="append",
                   metavar=("NAME", "VALUES"), help="one grid axis, values separated by commas")
    p.add_argument("--profile", choices=sorted(PROFILES), default=None,
                   help="a named atlas grid (its seeds too)")
    p.add_argument("--seeds", default=None, help="comma-separated seeds (default 0)")
    p.add_argument("-o", "--output", default=None,
                   help="results table, a DuckDB file (default sweeps/TARGET.duckdb)")
    p.add_argument("--address", default=None,
                   help="join a running Ray cluster (default: $RAY_ADDRESS, else start one here)")
    p.add_argument("--workers", type=int, default=None, help="CPUs of the local Ray instance")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                   help="cuda: each task asks Ray for one GPU")
    p.add_argument("--serial", action="store_true", help="run in this process, without Ray")
    p.add_argument("--dry-run", action="store_true", help="print the grid and its size")
    p.add_argument("--export", default=None, help="also write the ok rows to this Parquet file")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--nice", type=int, default=0,
                   help="lower the tasks' CPU priority by this much (a shared machine)")
    p.set_defaults(fn=main_cli)
