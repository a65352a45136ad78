"""The agent store's small types and input checks: the simulated clock, items and hits,
and the validation every write and read shares (finite numbers, positive integer ``k``,
non-empty NFC-normalised user ids). Split from :mod:`memlab.agents.store`; import from there."""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass, field

import numpy as np

__all__ = ["OPS", "ForgetIncomplete", "Hit", "Item", "SimClock", "check_k", "nfc"]


class ForgetIncomplete(RuntimeError):
    """``forget`` deleted the rows but could not purge the file: another connection holds a
    read transaction, so the old pages stay in the WAL. ``report`` says what was done; call
    ``forget`` again once the readers are closed."""

    def __init__(self, msg: str, report: dict):
        super().__init__(msg)
        self.report = report


def nfc(s: str) -> str:
    """Unicode NFC: "José" typed as e + combining accent and as é is one user, one text."""
    return unicodedata.normalize("NFC", s)


def _finite(x, name: str) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a finite number, got {x!r}") from None
    if not math.isfinite(v):
        raise ValueError(f"{name} must be a finite number, got {x!r}")
    return v


def check_k(k) -> int:
    """``k`` must be a positive integer (``k = 2.5`` is refused, not truncated)."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be an integer >= 1, got {k!r}")
    return int(k)


def _user(user) -> str:
    if not isinstance(user, str) or not user:
        raise ValueError(f"user must be a non-empty string, got {user!r}")
    return nfc(user)


OPS = ("add", "update", "delete", "link", "forget", "summarise")


class SimClock:
    """Injectable simulated time in seconds (all decay and temporal logic read it)."""

    def __init__(self, now: float = 0.0):
        self.now = _finite(now, "now")

    def set(self, t: float) -> None:
        self.now = _finite(t, "t")

    def advance(self, seconds: float) -> None:
        seconds = _finite(seconds, "seconds")
        if seconds < 0:
            raise ValueError(f"time cannot go backwards: advance({seconds})")
        self.now += seconds


@dataclass
class Item:
    id: int
    user_id: str
    kind: str
    state: str
    text: str
    meta: dict
    created_at: float
    updated_at: float


@dataclass
class Hit:
    id: int
    text: str
    score: float
    explain: dict = field(default_factory=dict)
    meta: dict = field(default_factory=dict)
    created_at: float = 0.0
    updated_at: float = 0.0
    kind: str = "memory"
