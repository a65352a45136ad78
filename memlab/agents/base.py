"""What every agent-memory system shares: the store, the LLM, the clock, and the reader.

A system sees a conversation one *round* (user turn + assistant reply) at a time through
:meth:`AgentMemory.observe`, with ``start_session`` / ``end_session`` around each session and
the simulated clock set to the session's date. A question is answered by the same reader for
every system: :meth:`AgentMemory.contexts` (what the system retrieves, best first) then
``llm.answer``. ``reader_policy`` says how the offline reader resolves two values for one slot:
``rank`` (the first retrieved wins -- a reader with no sense of time) or ``latest``.
"""

from __future__ import annotations

from memlab.agents.llm import LLM, LLMOutputError, RuleLLM, iso_date
from memlab.agents.store import Hit, MemoryStore, check_k

__all__ = ["AgentMemory", "check_decisions", "context_of", "round_text"]


def round_text(user: str, assistant: str) -> str:
    return f"user: {user}\nassistant: {assistant}"


def check_decisions(decisions: list[dict], to_real: dict) -> tuple[list[tuple], list[str]]:
    """Resolve an update decision list (Mem0 / MemOS) *before* anything is written.

    ``to_real`` maps the small ids shown to the LLM to store ids. Returns ``(plan, errors)``,
    ``plan`` = ``[(event, real_id | None, text, decision)]`` holding only applicable steps:

    * UPDATE naming an id that was never shown -> ADD of its text (nothing lost), an error;
    * DELETE naming an id that was never shown -> dropped (never a deletion, and never a
      re-add of the contradicted text), an error;
    * ADD / UPDATE without text -> dropped, an error (it would blank a memory out).
    """
    plan, errors = [], []
    for d in decisions:
        ev, text = d.get("event"), d.get("text") or ""
        real = to_real.get(str(d["id"])) if d.get("id") is not None else None
        if ev in ("UPDATE", "DELETE") and real is None:
            errors.append(f"{ev} names id {d.get('id')!r} that was not shown; "
                          f"{'added instead' if ev == 'UPDATE' else 'ignored'}")
            if ev == "DELETE":
                continue
            ev = "ADD"
        if ev in ("ADD", "UPDATE") and not text.strip():
            errors.append(f"{ev} of id {d.get('id')!r} has no text; ignored")
            continue
        if ev not in ("ADD", "UPDATE", "DELETE", "NONE"):
            errors.append(f"unknown event {ev!r}; ignored")
            continue
        plan.append((ev, real, text, d))
    return plan, errors


def context_of(hit: Hit) -> dict:
    return {"text": hit.text, "date": hit.meta.get("date", iso_date(hit.created_at)),
            "sources": hit.meta.get("sources", []), "id": hit.id, "explain": hit.explain}


class AgentMemory:
    """Base class: ``observe`` writes, ``retrieve`` reads, ``ask`` answers."""

    name = "base"
    reader_policy = "rank"
    #: top-k when a caller passes ``k=None`` (MemoryBank: the code's 6)
    default_k = 5

    def __init__(self, store: MemoryStore | None = None, llm: LLM | None = None,
                 user: str = "user"):
        self.store = store if store is not None else MemoryStore()
        self.llm = llm if llm is not None else RuleLLM()
        self.user = user
        self.clock = self.store.clock
        self.rounds = 0

    # ---- write side -------------------------------------------------------------------
    def _extract(self, text: str, date: str) -> list[str]:
        """``llm.extract_facts`` with the error policy: a malformed reply stores nothing for
        this turn and is recorded in ``self.errors`` (``on_error="raise"`` re-raises)."""
        try:
            return self.llm.extract_facts(text, date=date)
        except LLMOutputError as e:
            if getattr(self, "on_error", "add") == "raise":
                raise
            self.errors = getattr(self, "errors", [])
            self.errors.append(str(e))
            return []

    def start_session(self, session_id: str = "") -> None:
        self.session_id = session_id

    def observe(self, user_text: str, assistant_text: str, sources: list[str] = ()) -> None:
        self.rounds += 1
        self._observe(user_text, assistant_text, list(sources))

    def _observe(self, user_text, assistant_text, sources):
        raise NotImplementedError

    def end_session(self) -> None:
        pass

    # ---- read side ----------------------------------------------------------------------
    def retrieve(self, query: str, k: int = 5) -> list[Hit]:
        raise NotImplementedError

    def resolve_k(self, k: int | None) -> int:
        """``k``, or this system's own :attr:`default_k` when ``k`` is None."""
        return self.default_k if k is None else check_k(k)

    def contexts(self, query: str, k: int | None = None) -> list[dict]:
        return [context_of(h) for h in self.retrieve(query, self.resolve_k(k))]

    def ask(self, question: str, k: int | None = None) -> tuple[str, list[dict]]:
        ctx = self.contexts(question, k)
        return self.llm.answer(question, ctx, policy=self.reader_policy), ctx

    # ---- the shared memlab vocabulary (memlab.memory.Memory) --------------------------
    def write(self, user_text: str, assistant_text: str = "", sources: list[str] = ()) -> None:
        """``Memory.write``: observe one round."""
        self.observe(user_text, assistant_text, sources)

    def read(self, query: str, k: int | None = None) -> list[Hit]:
        """``Memory.read``: the system's retrieval (``k=None``: the system's default)."""
        return self.retrieve(query, self.resolve_k(k))

    def forget(self) -> dict:
        """``Memory.forget``: purge this user from the store (rows, events, vectors, caches)."""
        self.rounds = 0
        return self.store.forget(self.user)

    # ---- cost ---------------------------------------------------------------------------
    def state_size(self) -> int:
        """Memories held (active rows) for this user."""
        return len(self.store.items(self.user))

    def write_calls(self) -> int:
        return sum(v for op, v in self.llm.calls.items() if op != "answer")

    def reset(self) -> None:
        self.forget()
