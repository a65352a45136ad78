"""The atlas task suite: one set of tasks, one small trainer configuration per task, every mixer.

Tasks (generators from :mod:`memlab.tasks`; a *level* is the task's difficulty knob):

========================  ==========================================  =====================
task                      what must be remembered                     levels
========================  ==========================================  =====================
``mqar``                  n key-value pairs, each asked once later     pairs n = 2, 4, 8, 12
``needle``                one pair hidden in filler, asked at the end  depth 0.1, 0.5, 0.9
``selective_copying``     n data tokens scattered in noise, in order   n = 4, 8
========================  ==========================================  =====================

A *point* = (mixer, width, task, seed). :func:`run_point` trains one
:class:`memlab.train.TinyLM` (one layer, learned positions, token shift) with the mixer on a
training set that mixes every level of the task (as Zoology trains MQAR), tests at each level,
and returns its metrics: accuracy per level and on average, and the state of one sequence at the
task's length in numbers and in bytes (:func:`memlab.atlas.registry.state_bytes`). Everything
is seeded by ``seed`` and run on one CPU thread, so the same point gives the same numbers in any
process (the sweep's serial and Ray runs are compared metric for metric).

Not included: Zoology's grid over learning rates (one ``lr`` per task here), multi-layer
models, and the longer sequences (Zoology: 256-2048 tokens) a CPU cannot train in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from memlab.atlas.registry import FORMULAS, get, state_bytes, state_numbers

__all__ = ["TASKS", "TaskSpec", "make_task", "run_point", "state_bytes_error"]


@dataclass(frozen=True)
class TaskSpec:
    name: str
    level_name: str                 # "pairs", "depth", "n_tokens"
    levels: tuple
    seq_len: int = 64
    vocab: int = 64
    n_train: int = 500              # training examples per level
    n_test: int = 200
    steps: int = 200
    batch_size: int = 64
    lr: float = 3e-3


TASKS = {
    "mqar": TaskSpec("mqar", "pairs", (2, 4, 8, 12)),
    "needle": TaskSpec("needle", "depth", (0.1, 0.5, 0.9), n_train=400),
    "selective_copying": TaskSpec("selective_copying", "n_tokens", (4, 8), vocab=16, n_train=600),
}


def make_task(task: str, level, n: int, seq_len: int, vocab: int, seed: int):
    """One :class:`memlab.tasks.TaskBatch` of ``task`` at ``level``."""
    from memlab.tasks import mqar, needle, selective_copying

    if task == "mqar":
        return mqar(n, seq_len, int(level), vocab, random_non_queries=False, seed=seed)
    if task == "needle":
        return needle(n, seq_len, float(level), vocab, seed=seed)
    if task == "selective_copying":
        return selective_copying(n, seq_len, int(level), vocab, seed=seed)
    raise ValueError(f"task={task!r} is not known; use one of {list(TASKS)}")


def _mixed(spec: TaskSpec, levels, seq_len, seed):
    from memlab.tasks import TaskBatch

    parts = [make_task(spec.name, lv, spec.n_train, seq_len, spec.vocab, seed * 1000 + i)
             for i, lv in enumerate(levels)]
    return TaskBatch(torch.cat([b.inputs for b in parts]), torch.cat([b.targets for b in parts]),
                     {"task": spec.name, "levels": list(levels)})


def run_point(params: dict, seed: int, device: str = "cpu") -> dict:
    """Train and test one (mixer, width, task) at ``seed``; return its metrics.

    ``params``: ``mixer`` (a :func:`registry` name), ``width`` (d_model), ``task`` (a key of
    :data:`TASKS`, default ``"mqar"``); optional overrides ``steps``, ``seq_len``, ``n_train``,
    ``levels``, ``lr``. Returns ``{"acc", "acc_by_level": {level: acc}, "state_numbers",
    "state_bytes", "family", "input_dependent", "loss"}`` (no wall time: the same
    point gives the same metrics; the sweep records the time beside them).
    """
    from memlab.device import cpu_threads
    from memlab.train import TinyLM, accuracy, train

    name, task = params.get("mixer"), params.get("task", "mqar")
    entry = get(name)
    if task not in TASKS:
        raise ValueError(f"task={task!r} is not known; use one of {list(TASKS)}")
    width = params.get("width")
    if not isinstance(width, int) or width < 2:
        raise ValueError(f"width must be an int >= 2, got {width!r}")
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be an int >= 0, got {seed!r}")
    spec = TASKS[task]
    spec = TaskSpec(**{**spec.__dict__, **{k: params[k] for k in
                                           ("steps", "n_train", "lr", "seq_len") if k in params}})
    levels = tuple(params.get("levels", spec.levels))
    seq_len = spec.seq_len
    from memlab.device import resolve_device

    dev = resolve_device(device)
    with cpu_threads(1, dev):
        train_set = _mixed(spec, levels, seq_len, seed + 1)
        tests = {lv: make_task(task, lv, spec.n_test, seq_len, spec.vocab, 10_000 + seed * 100 + i)
                 for i, lv in enumerate(levels)}
        torch.manual_seed(seed)
        model = TinyLM(spec.vocab, width, entry.factory(), n_layers=1, max_len=seq_len,
                       token_shift=True)
        res = train(model, train_set, steps=spec.steps, batch_size=spec.batch_size, lr=spec.lr,
                    seed=seed, progress=False, device=dev)
        by_level = {str(lv): accuracy(model, tests[lv]) for lv in levels}
    return {
        "acc": sum(by_level.values()) / len(by_level), "acc_by_level": by_level,
        "state_numbers": state_numbers(model, seq_len), "state_bytes": state_bytes(model, seq_len),
        "family": entry.family, "input_dependent": entry.input_dependent,
        "loss": res.final_loss,
    }


def state_bytes_error(mixers, width: int = 8, seq_len: int = 12, n_layers: int = 2) -> float:
    """Largest relative error of :func:`state_bytes` against the hand formulas
    (``FORMULAS[name](d, T) x n_layers x bytes per number``), for float32 and float64 models."""
    from memlab.train import TinyLM

    worst = 0.0
    for name in mixers:
        if name not in FORMULAS:
            raise ValueError(f"no hand formula for mixer {name!r}; known: {sorted(FORMULAS)}")
        for dtype, size in ((torch.float32, 4), (torch.float64, 8)):
            model = TinyLM(16, width, get(name).factory(), n_layers=n_layers).to(dtype)
            want = FORMULAS[name](width, seq_len) * n_layers * size
            worst = max(worst, abs(state_bytes(model, seq_len) - want) / want)
    return worst
