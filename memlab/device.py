"""Device choice and seeding, the same in every chapter.

``resolve_device("auto")`` -> CUDA when available, else CPU. The environment variable
``MEMLAB_DEVICE`` (``cpu`` / ``cuda`` / ``cuda:1`` ...) overrides ``auto`` so that a GPU runner
or a CPU-only CI can force a choice without editing notebooks.

``seed_everything(seed)`` seeds Python, NumPy and torch and switches torch to deterministic
algorithms where it can, so that two runs with one seed record identical metrics.
"""

from __future__ import annotations

import contextlib
import os
import random

import numpy as np
import torch

__all__ = ["resolve_device", "seed_everything", "describe", "cpu_threads"]

_ALLOWED = ("auto", "cpu", "cuda")


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """Map ``"auto" | "cpu" | "cuda" | "cuda:N"`` to a :class:`torch.device`.

    ``"auto"`` honours ``MEMLAB_DEVICE`` first, then picks CUDA when present.
    Asking for CUDA on a machine without it raises a clear error.
    """
    if isinstance(device, torch.device):
        return device
    if not isinstance(device, str):
        raise TypeError(f"device must be a string like 'auto', 'cpu' or 'cuda', got {device!r}")
    name = device.strip().lower()
    if name == "auto":
        env = os.environ.get("MEMLAB_DEVICE", "").strip().lower()
        if env and env != "auto":
            return resolve_device(env)
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    base = name.split(":")[0]
    if base not in _ALLOWED:
        raise ValueError(f"device={device!r} is not allowed: use 'auto', 'cpu' or 'cuda[:N]'")
    if base == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device={device!r} was asked for, but CUDA is not available here; "
                           "use device='auto' or 'cpu'")
    return torch.device(name)


def seed_everything(seed: int) -> torch.Generator:
    """Seed python, numpy and torch (CPU and CUDA); return a torch.Generator seeded alike."""
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    g = torch.Generator()
    g.manual_seed(seed)
    return g


def describe(device: torch.device | str = "auto") -> str:
    """A one-line description of the device, e.g. for a report header."""
    dev = resolve_device(device)
    if dev.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(dev)})"
    return f"cpu ({torch.get_num_threads()} threads)"


@contextlib.contextmanager
def cpu_threads(n: int | None, device: torch.device | str = "cpu"):
    """Run a block with ``n`` torch threads on the CPU, restoring the count afterwards.

    Loops of tiny ops (the CPU-sized training in the chapters) run as fast on one thread on an
    idle machine and far faster on a busy one, where several OpenMP threads per process thrash
    (measured 6-25x slower with 2 threads on a loaded 2-core box). ``n=None`` or a CUDA
    ``device`` leaves the setting alone.
    """
    if n is None or torch.device(device).type != "cpu":
        yield
        return
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"cpu_threads needs a positive thread count, got {n!r}")
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
