"""ReMe-style experience pool: retrieve by scenario, credit what was used, prune by utility.

ReMe ("Remember Me, Refine Me: A Dynamic Procedural Memory Framework for Experience-Driven
Agent Evolution", 2025; code ``agentscope-ai/ReMe``, task-memory operators
``UpdateMemoryFreqOp`` / ``UpdateMemoryUtilityOp`` / ``DeleteMemoryOp``). An experience ``e_i``
holds a scenario ``w_i`` (``when_to_use``), an insight, and two counters::

    read(q)          = top-k of cos(embed(q), embed(w_i)), kept if >= sim_floor
    credit(U_t, y_t):  freq_i += 1  and  utility_i += y_t   for i in U_t (the USED ones)
    prune:           delete i  if  freq_i >= F  and  utility_i / freq_i < U

Symbols: ``q`` the new task's text; ``U_t`` the experiences the agent actually used on task
``t`` (not every retrieved one: that is a known pitfall); ``y_t`` in {0, 1} the task's success;
``F`` = ``freq_threshold`` (the usage floor: no verdict before F uses); ``U`` =
``utility_threshold``. ReMe's default values were not found in its code; this reference uses
F = 3, U = 0.5 (a choice, swept in the chapter). ``U = 0`` never prunes: the pool is then
exactly an append-only memory (tested equal).

Storage: the chapter-12 :class:`~memlab.agents.MemoryStore` (SQLite + event log), one row per
experience (``kind`` = success / failure / comparative, the scenario embedded, counters in
``meta``); every credit is an ``update`` event and every prune a ``delete`` event with its
reason, so the pool's whole history can be replayed with ``store.as_of``. Ties in similarity
(experiences of one scenario) come back in the store's order, oldest first: a reader with no
sense of time, like chapter 12's ``rank`` reader.

Not included: ReMe's LLM rewriting of retrieved insights (here: re-binding the object), its
quality score, and its de-duplication.
"""

from __future__ import annotations

import numpy as np

from memlab.agents.store import Hit, MemoryStore, check_k
from memlab.experience.distill import KINDS

__all__ = ["ExperiencePool", "should_prune"]


def should_prune(freq: int, utility: float, F: int = 3, U: float = 0.5) -> bool:
    """ReMe's rule: enough uses (``freq >= F``) and a low success rate (``utility/freq < U``)."""
    return freq >= F and utility / freq < U


class ExperiencePool:
    """A ``Memory`` of distilled experiences on a :class:`MemoryStore` (one user = one agent).

    ``utility_threshold = 0`` (or ``prune=False``) gives the append-only pool. ``credit`` is
    ``"used"`` (ReMe), or a negative control: ``"random"`` (utility drawn at random, success
    ignored, seeded by ``seed``) or ``"none"`` (utility never credited: every experience is
    deleted after ``F`` uses, useful or not)."""

    def __init__(self, store: MemoryStore | None = None, user: str = "agent", k: int = 5,
                 sim_floor: float = 0.3, freq_threshold: int = 3,
                 utility_threshold: float = 0.5, prune: bool = True, credit: str = "used",
                 seed: int = 0):
        check_k(k)
        if not isinstance(freq_threshold, int) or freq_threshold < 1:
            raise ValueError(f"freq_threshold must be an integer >= 1, got {freq_threshold!r}")
        if not 0.0 <= utility_threshold <= 1.0:
            raise ValueError(f"utility_threshold must be in [0, 1], got {utility_threshold!r}")
        if not -1.0 <= sim_floor <= 1.0:
            raise ValueError(f"sim_floor must be in [-1, 1], got {sim_floor!r}")
        if credit not in ("used", "random", "none"):
            raise ValueError(f"credit must be 'used', 'random' or 'none', got {credit!r}")
        self.store = store if store is not None else MemoryStore()
        self.user, self.k, self.sim_floor = user, k, float(sim_floor)
        self.F, self.U, self.prune_on = freq_threshold, float(utility_threshold), bool(prune)
        self.credit_mode, self._rng = credit, np.random.default_rng([seed, 14])
        self.pruned: list[dict] = []

    # ---- Memory vocabulary ---------------------------------------------------------------
    def write(self, insight: dict) -> int:
        """Add one validated insight (``kind``, ``when_to_use``, ``content`` + its fields)."""
        kind = insight.get("kind")
        if kind not in KINDS:
            raise ValueError(f"insight kind must be one of {KINDS}, got {kind!r}")
        scen = insight.get("when_to_use")
        if not isinstance(scen, str) or not scen.strip():
            raise ValueError("insight needs a non-empty 'when_to_use'")
        meta = {k: v for k, v in insight.items() if k not in ("kind", "content", "when_to_use")}
        meta.update(when_to_use=scen, freq=0, utility=0.0)
        return self.store.add(self.user, insight.get("content") or scen, meta,
                              reason=f"distilled {kind}", kind=kind, embed_text=scen)

    def read(self, query: str, k: int | None = None) -> list[Hit]:
        """Top-``k`` experiences by scenario similarity, those below ``sim_floor`` dropped."""
        hits = self.store.search(self.user, query, k=check_k(k or self.k))
        return [h for h in hits if h.score >= self.sim_floor]

    def credit(self, used_ids, success: bool) -> list[int]:
        """``freq += 1``, ``utility += success`` for each used experience; then prune those.
        Returns the ids pruned."""
        gone = []
        for mid in dict.fromkeys(used_ids):
            it = self.store.get(mid)
            if it is None:
                continue
            gain = (float(self._rng.random() < 0.5) if self.credit_mode == "random" else
                    0.0 if self.credit_mode == "none" else float(success))
            freq, util = int(it.meta["freq"]) + 1, float(it.meta["utility"]) + gain
            self.store.update(mid, meta={"freq": freq, "utility": util},
                              reason=f"used; task {'succeeded' if success else 'failed'}")
            if self.prune_on and should_prune(freq, util, self.F, self.U):
                self.store.delete(mid, reason=f"prune: freq {freq} >= {self.F}, "
                                              f"utility/freq {util / freq:.2f} < {self.U:g}")
                self.pruned.append({"id": mid, "kind": it.kind, "freq": freq, "utility": util})
                gone.append(mid)
        return gone

    def state_size(self) -> int:
        """Experiences held (every row of the pool's user is an active experience: pruning
        deletes rows)."""
        return self.store.count(self.user)

    def items(self):
        return self.store.items(self.user)

    def forget(self) -> dict:
        return self.store.forget(self.user)

    def reset(self) -> None:
        self.forget()
        self.pruned = []
