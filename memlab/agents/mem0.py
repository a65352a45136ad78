"""Mem0: extract facts, compare with the top-5 similar memories, ADD / UPDATE / DELETE / NONE.

Paper: Chhikara et al., "Mem0: Building Production-Ready AI Agents with Scalable Long-Term
Memory", 2025 (arXiv 2504.19413); code mem0ai/mem0 ``memory/main.py`` (classic pipeline,
<= v2.0.0b0) and the v3 "ADD-only" pipeline.

Classic pipeline, per round (two LLM calls)::

    facts  = LLM.extract_facts(user turn, today)           # {"facts": [str]}
    cands  = union over facts of store.search(fact, top_k=5)
    remap  = {uuid -> "0", "1", ...}                        # anti-hallucination id remap
    events = LLM.decide_update(facts, cands with small ids) # ADD / UPDATE / DELETE / NONE
    apply: ADD -> new row; UPDATE -> new text, same id, re-embedded; DELETE -> *hard* delete;
           NONE -> nothing. Every op is an event with its reason (Mem0's history table).

``mode="add_only"`` is the v3 pipeline reduced to its decision rule: every extracted fact is
added unless an identical text (md5) is already stored; contradictions coexist.

Robustness (what Mem0 users hit with local models, issues #2043, #3391, #4536): a decision
that is not valid JSON, lacks ``event``, has an ADD / UPDATE without text, or names an id
that was never shown is *never* applied as a deletion. ``on_error="add"`` (default): a reply
that does not parse falls back to ADD for the facts (nothing lost, maybe a duplicate); a bad
item inside a valid reply is dropped or turned into an ADD (:func:`check_decisions`) while
the valid items are applied; each problem is recorded in ``self.errors``. A decision that
fails when applied (an id named twice, deleted by the first) is skipped and recorded, and the
other decisions of the list are still applied, as mem0's loop does.
``on_error="raise"`` raises :class:`~memlab.agents.llm.LLMOutputError` before anything is
written.

Not included: graph memory, the entity store and BM25 fusion of v3 search, procedural memory,
agent_id/run_id scopes (one ``user`` scope here).
"""

from __future__ import annotations

import hashlib

from memlab.agents.base import AgentMemory, check_decisions
from memlab.agents.llm import LLMOutputError, iso_date

__all__ = ["Mem0"]


class Mem0(AgentMemory):
    name = "mem0"

    def __init__(self, *args, top_k: int = 5, mode: str = "classic", on_error: str = "add",
                 **kw):
        super().__init__(*args, **kw)
        if mode not in ("classic", "add_only"):
            raise ValueError(f"mode must be 'classic' or 'add_only', got {mode!r}")
        if on_error not in ("add", "raise"):
            raise ValueError(f"on_error must be 'add' or 'raise', got {on_error!r}")
        self.top_k, self.mode, self.on_error = top_k, mode, on_error
        self.errors: list[str] = []
        if mode == "add_only":
            self.name = "mem0-add-only"

    def _observe(self, user_text, assistant_text, sources):
        self.add(user_text, sources)

    def add(self, text: str, sources: list[str] = ()) -> list[dict]:
        """Mem0's ``add``: returns ``[{"id", "memory", "event"}]`` like ``{"results": [...]}``."""
        today = iso_date(self.clock.now)
        facts = self._extract(text, today)
        if not facts:
            return []
        meta = {"sources": list(sources), "date": today}
        if self.mode == "add_only":
            have = {it.meta.get("hash") for it in self.store.items(self.user)}
            out = []
            for f in dict.fromkeys(facts):
                h = hashlib.md5(f.encode()).hexdigest()
                if h not in have:
                    mid = self.store.add(self.user, f, {**meta, "hash": h}, reason="ADD (v3)")
                    out.append({"id": mid, "memory": f, "event": "ADD"})
            return out
        cands = {}
        for f in facts:
            for h in self.store.search(self.user, f, self.top_k):
                cands.setdefault(h.id, h)
        to_small = {mid: str(i) for i, mid in enumerate(cands)}
        to_real = {v: k for k, v in to_small.items()}
        shown = [{"id": to_small[mid], "text": h.text} for mid, h in cands.items()]
        try:
            decisions = self.llm.decide_update(facts, shown)
        except LLMOutputError as e:
            if self.on_error == "raise":
                raise
            self.errors.append(str(e))
            decisions = [{"id": None, "text": f, "event": "ADD",
                          "_reason": "fallback ADD: malformed decision"} for f in facts]
        return self._apply(decisions, to_real, meta)

    def _apply(self, decisions, to_real, meta) -> list[dict]:
        plan, errors = check_decisions(decisions, to_real)
        if errors and self.on_error == "raise":
            raise LLMOutputError("decide_update: " + "; ".join(errors))
        self.errors += errors
        out = []
        with self.store.transaction():
            for ev, real, text, d in plan:
                try:
                    step = self._apply_one(ev, real, text, d, meta)
                except (KeyError, ValueError) as e:   # e.g. an id named twice, deleted first:
                    self.errors.append(f"{ev} of id {d.get('id')!r} failed: {e}; skipped")
                    continue                        # as mem0 does: log it, apply the rest
                if step is not None:
                    out.append(step)
        return out

    def _apply_one(self, ev, real, text, d, meta) -> dict | None:
        """One decision; a KeyError (the id is gone, e.g. named twice) skips only it."""
        if ev == "ADD":
            h = hashlib.md5(text.encode()).hexdigest()
            mid = self.store.add(self.user, text, {**meta, "hash": h},
                                 reason=d.get("_reason", "ADD: new information"))
        elif ev == "UPDATE":
            old = self.store.get(real)
            if old is None:
                raise KeyError(f"no memory with id {real}")
            mid = real
            self.store.update(real, text, {"sources": old.meta.get("sources", []) +
                                           meta["sources"], "date": meta["date"],
                                           "hash": hashlib.md5(text.encode()).hexdigest()},
                              reason=f"UPDATE: was {old.text!r}")
        elif ev == "DELETE":
            mid = real
            self.store.delete(real, reason=f"DELETE: contradicted by {text!r}")
        else:
            return None
        return {"id": mid, "memory": text, "event": ev}

    def retrieve(self, query, k=5):
        return self.store.search(self.user, query, k)
