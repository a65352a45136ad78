"""MemOS-style memory units: payload + provenance + version + lifecycle state.

Papers: Li et al., "MemOS: A Memory OS for AI System", 2025, and "MemOS: An Operating System
for Memory-Augmented Generation (MAG) in Large Language Models", 2025 (code: MemTensor/MemOS).

A unit (the textual part of a MemCube) is one store row::

    payload      text (a canonical fact)
    provenance   meta["provenance"] = {"sources": turn ids, "extractor": llm name, "session"}
    version      meta["version"] (1, 2, ...); meta["previous"] = id of the version it replaced
    state        row state: activated (store "active") -> archived | deleted
    history      meta["history"]: [{"version", "update_type", "at"}], update_type in
                 {extract, conflict, duplicate}
    memory_type  "UserMemory";  confidence 0-100 (rule extractor: 100)

Write: the same extract -> top-5 -> decide pipeline as Mem0, but nothing is destroyed:
UPDATE archives the old unit and activates a new version that points to it (update_type
"conflict"); NONE records a duplicate sighting; DELETE moves the unit to state "deleted".
Read: cosine search over *activated* units only (MemOS PR #880 recalls activated only).
So the current answer is what Mem0 gives, and the trail of versions is kept for audit.

Two decisions on one unit in one reply (UPDATE twice) follow the chain: the second applies to
the version the first made, so a unit never has two active versions.

Bad decisions (the same policy as Mem0, :func:`~memlab.agents.base.check_decisions`): a
DELETE or UPDATE naming a unit that was never shown, or an ADD / UPDATE without text, is
recorded in ``self.errors`` and never applied as a deletion (an unknown-id UPDATE becomes a
new unit; an unknown-id DELETE is dropped); the valid decisions of the same reply are still
written. ``on_error="raise"`` raises :class:`~memlab.agents.llm.LLMOutputError` instead,
before anything is written.

Not included: activation (KV-cache) and parametric (LoRA) memory, the scheduler that moves
units between tiers, tree-structured textual memory, merge-on-add.
"""

from __future__ import annotations

from memlab.agents.base import AgentMemory, check_decisions
from memlab.agents.llm import LLMOutputError, iso_date

__all__ = ["STATES", "MemOS"]

STATES = {"active": "activated", "archived": "archived", "deleted": "deleted"}


def _follow(head: dict, real):
    """The newest version made this round of unit ``real`` (``real`` itself if none)."""
    while real in head:
        real = head[real]
    return real


class MemOS(AgentMemory):
    name = "memos"

    def __init__(self, *args, top_k: int = 5, on_error: str = "add", **kw):
        super().__init__(*args, **kw)
        if on_error not in ("add", "raise"):
            raise ValueError(f"on_error must be 'add' or 'raise', got {on_error!r}")
        self.top_k, self.on_error, self.errors = top_k, on_error, []

    def _observe(self, user_text, assistant_text, sources):
        today = iso_date(self.clock.now)
        facts = self._extract(user_text, today)
        if not facts:
            return
        cands = {}
        for f in facts:
            for h in self.store.search(self.user, f, self.top_k):
                cands.setdefault(h.id, h)
        small = {str(i): mid for i, mid in enumerate(cands)}
        try:
            decisions = self.llm.decide_update(facts, [{"id": s, "text": cands[m].text}
                                                       for s, m in small.items()])
        except LLMOutputError as e:
            if self.on_error == "raise":
                raise
            self.errors.append(str(e))
            decisions = [{"id": None, "text": f, "event": "ADD"} for f in facts]
        plan, errors = check_decisions(decisions, small)
        if errors and self.on_error == "raise":
            raise LLMOutputError("decide_update: " + "; ".join(errors))
        self.errors += errors
        prov = {"sources": sources, "extractor": self.llm.name,
                "session": getattr(self, "session_id", "")}
        now = self.clock.now
        head: dict = {}                       # unit id -> its newest version in this round
        with self.store.transaction():
            for ev, real, text, d in plan:
                real = _follow(head, real)    # a second decision on one unit: its new version
                if real is not None and ev != "ADD" and (self.store.get(real) is None or
                                                         self.store.get(real).state != "active"):
                    self.errors.append(f"{ev} of unit {real}: not active; skipped")
                    continue
                if ev == "ADD":
                    self.store.add(self.user, text, {
                        "provenance": prov, "version": 1, "previous": None, "date": today,
                        "sources": sources, "memory_type": "UserMemory", "confidence": 100,
                        "history": [{"version": 1, "update_type": "extract", "at": now}]},
                        reason="new unit (extract)")
                elif ev == "UPDATE":
                    old = self.store.get(real)
                    v = old.meta["version"] + 1
                    self.store.update(real, state="archived",
                                      reason=f"archived: superseded by version {v} (conflict)")
                    head[real] = self.store.add(self.user, text, {
                        "provenance": prov, "version": v, "previous": real, "date": today,
                        "sources": sources, "memory_type": "UserMemory", "confidence": 100,
                        "history": old.meta["history"] + [{"version": v,
                                                           "update_type": "conflict", "at": now}]},
                        reason=f"version {v} of unit {real}")
                elif ev == "NONE" and real is not None:
                    old = self.store.get(real)
                    self.store.update(real, meta={"history": old.meta["history"] + [
                        {"version": old.meta["version"], "update_type": "duplicate", "at": now}]},
                        reason="duplicate sighting")
                elif ev == "DELETE":
                    self.store.update(real, state="deleted", reason="deleted: contradicted")

    def retrieve(self, query, k=5):
        return self.store.search(self.user, query, k)

    def versions(self, mid: int) -> list:
        """The chain of versions ending at unit ``mid`` (newest first)."""
        out = []
        while mid is not None:
            it = self.store.get(mid)
            out.append(it)
            mid = it.meta.get("previous")
        return out
