"""MemGPT-style paging: a bounded context window with core blocks, recall and archival stores.

Paper: Packer et al., "MemGPT: Towards LLMs as Operating Systems", 2023 (code: letta-ai/letta,
tag 0.2.0 for the constants below).

Tiers::

    core memory   blocks {label: text} with a char limit each (persona/human: 2,000 chars),
                  always in the prompt; edited by core_memory_append / core_memory_replace
    recall        every message ever seen, in the store (kind="recall"); conversation_search
    archival      passages (kind="archival"); archival_memory_insert / archival_memory_search

Memory pressure, after each step (``tokens`` = whitespace/regex words, deterministic)::

    total = tokens(system) + tokens(core blocks) + tokens(messages in context)
    total > 0.75 * context_window  -> insert ONE system warning (MESSAGE_SUMMARY_WARNING_FRAC)
    total > context_window         -> summarise in place: walk messages oldest-first (never the
        last 3, KEEP_N_LAST) until > 0.75 of the message tokens (TRUNC_TOKEN_FRAC); if the first
        message kept is a user turn, evict it too (Letta's "make an assistant message come
        after the cutoff", one shift); replace them by one system message holding a summary
        (<= 100 words; recursive: the old summary is summarised again), reset the flag.

``core_memory_replace(label, old, new)`` replaces every occurrence of ``old`` (Letta's
``str.replace``); an empty ``old`` is refused. A round too long to fit the context window
beside the system prompt and core memory is refused with a ValueError (it could never be
brought under budget).

Evicted messages stay in recall. The "agent" here is the rule-based LLM: for every fact it
reads in a *user* turn it edits the ``human`` block (replace the line of a single-valued slot,
else append); a block over its limit is an error, answered by archiving the fact instead.

Durability: everything needed to resume lives in the store, so a crashed process loses
nothing it acknowledged. Each block line is a row (``kind="core"``, meta ``label``, ``pos``,
``date``, ``sources``) and each edit an ``add`` / ``update`` / ``delete`` event; each message in
context is a row (``kind="message"``, deleted with a reason when evicted; its text stays in
recall); the summary, the eviction note, the warning flag and the round counter are the meta
of one ``kind="context"`` row. These bookkeeping rows have no vector (never searched). A step
(``observe``) is one transaction: after a crash the store holds whole steps only, and
``MemGPT(store=reopened, user=...)`` restores blocks, messages and summary from it;
:meth:`MemGPT.as_of` rebuilds them at an earlier time from the event log. Only ``trace``
(the occupancy diagnostics) lives in Python.

Not included: the heartbeat / function-chaining loop, persona edits by the agent, tool-call
JSON.
"""

from __future__ import annotations

import difflib

from memlab.agents.base import AgentMemory, context_of, round_text
from memlab.agents.embed import tokens
from memlab.agents.grammar import SINGLE_VALUED, parse_facts
from memlab.agents.llm import iso_date
from memlab.agents.store import Hit

__all__ = ["MemGPT", "count_tokens"]

WARNING_FRAC, TRUNC_FRAC, KEEP_LAST = 0.75, 0.75, 3
SYSTEM = "You are a helpful assistant with a memory. Core memory is below; older messages " \
         "are in recall memory and can be searched."
WARNING = "Warning: the conversation history will soon be trimmed. Save important " \
          "information with core_memory_append, core_memory_replace or archival_memory_insert."
DEFAULT_BLOCKS = {"persona": "I am a friendly assistant.", "human": ""}
_EMPTY = "(empty message)"


def count_tokens(text: str) -> int:
    return len(tokens(text))


class MemGPT(AgentMemory):
    name = "memgpt"

    def __init__(self, *args, context_window: int = 300, block_limit: int = 2000,
                 warning_frac: float = WARNING_FRAC, trunc_frac: float = TRUNC_FRAC,
                 keep_last: int = KEEP_LAST, **kw):
        super().__init__(*args, **kw)
        if isinstance(context_window, bool) or not isinstance(context_window, int) or \
                context_window < 50:
            raise ValueError(f"context_window must be >= 50 tokens, got {context_window}")
        if not 0 < warning_frac < 1 or not 0 < trunc_frac < 1:
            raise ValueError("warning_frac and trunc_frac must be in (0, 1)")
        self.context_window, self.block_limit = context_window, block_limit
        self.warning_frac, self.trunc_frac, self.keep_last = warning_frac, trunc_frac, keep_last
        self.trace: list[dict] = []
        self._load()

    # ---- persistence: the in-context state is rows of the store ---------------------------
    def _restore(self, rows: list[dict]) -> None:
        """Set blocks, messages, summary, flags from rows ``{id, kind, text, meta}``."""
        core = sorted((r for r in rows if r["kind"] == "core"),
                      key=lambda r: (r["meta"].get("pos", 0), r["id"]))
        self.blocks = {lab: ("\n".join(r["text"] for r in core if r["meta"]["label"] == lab)
                             if any(r["meta"]["label"] == lab for r in core) else default)
                       for lab, default in DEFAULT_BLOCKS.items()}
        self.block_dates = {r["text"]: (r["meta"].get("date", ""), r["meta"].get("sources", []))
                            for r in core}
        ctx = next((r for r in rows if r["kind"] == "context"), None)
        c = ctx["meta"] if ctx else {}
        self._ctx_id = ctx["id"] if ctx else None
        self.summary, self.warned = c.get("summary", ""), c.get("warned", False)
        self.n_seen, self.rounds = c.get("n_seen", 0), c.get("rounds", 0)
        note = [{"role": "system", "content": c["note"]}] if c.get("note") else []
        self.messages = note + [
            {"role": r["meta"]["role"], "content": "" if r["meta"].get("empty") else r["text"],
             "id": r["id"]} for r in sorted((r for r in rows if r["kind"] == "message"),
                                            key=lambda r: r["id"])]

    def _load(self) -> None:
        self._restore([{"id": it.id, "kind": it.kind, "text": it.text, "meta": it.meta}
                       for it in self.store.items(self.user)
                       if it.kind in ("core", "context", "message")])

    def as_of(self, t: float) -> dict:
        """Core blocks, messages in context and summary as they were at time ``t``."""
        rows = [{"id": mid, **v} for mid, v in self.store.as_of(self.user, t).items()
                if v["state"] == "active"]
        ghost = MemGPT.__new__(MemGPT)
        ghost._restore(rows)
        return {"blocks": ghost.blocks, "messages": ghost.messages, "summary": ghost.summary,
                "rounds": ghost.rounds}

    def _save_ctx(self) -> None:
        note = self.messages[0]["content"] if self.messages and "id" not in self.messages[0] \
            else ""
        meta = {"summary": self.summary, "note": note, "warned": self.warned,
                "n_seen": self.n_seen, "rounds": self.rounds}
        if self._ctx_id is None:
            self._ctx_id = self.store.add(self.user, "MemGPT in-context state", meta,
                                          reason="context state", kind="context", embed=False)
        else:
            self.store.update(self._ctx_id, meta=meta, reason="context state")

    def _push(self, role: str, content: str) -> None:
        mid = self.store.add(self.user, content if content.strip() else _EMPTY,
                             {"role": role, "empty": not content.strip()},
                             reason="message enters the context", kind="message", embed=False)
        self.messages.append({"role": role, "content": content, "id": mid})

    def _write_block(self, label: str, text: str, meta: dict) -> None:
        """Persist block ``label`` = ``text``: rows of unchanged lines are kept, changed lines
        updated in place, new lines added, removed lines deleted (each an event)."""
        rows = sorted((it for it in self.store.items(self.user, kind="core")
                       if it.meta.get("label") == label), key=lambda it: (it.meta["pos"], it.id))
        lines = [ln for ln in text.splitlines() if ln.strip()]
        final = [None] * len(lines)
        with self.store.transaction():
            ops = difflib.SequenceMatcher(a=[r.text for r in rows], b=lines,
                                          autojunk=False).get_opcodes()
            for tag, i1, i2, j1, j2 in ops:
                if tag == "equal":
                    final[j1:j2] = rows[i1:i2]
                    continue
                if tag == "replace":
                    n = min(i2 - i1, j2 - j1)
                    final[j1:j1 + n] = rows[i1:i1 + n]
                    i1 += n
                for r in rows[i1:i2]:
                    self.store.delete(r.id, reason=f"core_memory: line removed from {label!r}")
            for j, (row, line) in enumerate(zip(final, lines)):
                if row is None:
                    self.store.add(self.user, line, {"label": label, "pos": j, **meta},
                                   reason=f"core_memory_append to {label!r}", kind="core",
                                   embed=False)
                elif row.text != line:
                    self.store.update(row.id, line, {"pos": j, **meta},
                                      reason=f"core_memory_replace in {label!r}: was {row.text!r}")
                elif row.meta.get("pos") != j:
                    self.store.update(row.id, meta={"pos": j}, reason="core_memory: line moved")
        self.blocks[label] = "\n".join(lines)
        for row, line in zip(final, lines):
            if row is None or row.text != line:
                self.block_dates[line] = (meta.get("date", ""), meta.get("sources", []))

    # ---- the memory-editing functions ----------------------------------------------------
    def _block(self, label: str) -> str:
        if label not in self.blocks:
            raise ValueError(f"unknown core block {label!r}; blocks are {sorted(self.blocks)}")
        return self.blocks[label]

    def core_memory_append(self, label: str, content: str, meta: dict | None = None) -> None:
        new = (self._block(label) + "\n" + content).strip()
        if len(new) > self.block_limit:
            raise ValueError(f"block {label!r} would exceed its limit of {self.block_limit} chars")
        self._write_block(label, new, meta or {})

    def core_memory_replace(self, label: str, old: str, new: str,
                            meta: dict | None = None) -> None:
        if not isinstance(old, str) or not old:
            raise ValueError(f"core_memory_replace: old must be a non-empty string, got {old!r}")
        if old not in self._block(label):
            raise ValueError(f"{old!r} not found in block {label!r}")
        text = self.blocks[label].replace(old, new)       # every occurrence, as Letta does
        if len(text) > self.block_limit:
            raise ValueError(f"block {label!r} would exceed its limit of {self.block_limit} chars")
        self._write_block(label, "\n".join(line for line in text.splitlines() if line),
                          meta or {})

    def archival_memory_insert(self, content: str, sources=()) -> int:
        return self.store.add(self.user, content, {"sources": list(sources),
                                                   "date": iso_date(self.clock.now)},
                              reason="archival_memory_insert", kind="archival")

    # ---- one step ---------------------------------------------------------------------------
    def occupancy(self) -> dict:
        core = sum(count_tokens(v) for v in self.blocks.values())
        msgs = [count_tokens(m["content"]) for m in self.messages]
        summ = sum(t for t, m in zip(msgs, self.messages)
                   if m["role"] == "system" and m["content"] != WARNING)
        return {"system": count_tokens(SYSTEM), "core": core, "summary": summ,
                "messages": sum(msgs) - summ, "total": count_tokens(SYSTEM) + core + sum(msgs)}

    def _observe(self, user_text, assistant_text, sources):
        """One step, one transaction: a crash leaves the step wholly in or wholly out."""
        occ = self.occupancy()
        room = self.context_window - occ["system"] - occ["core"]
        n = count_tokens(user_text) + count_tokens(assistant_text)
        if n > room:
            raise ValueError(f"a round of {n} tokens cannot fit the context window of "
                             f"{self.context_window} tokens ({room} left after the system "
                             "prompt and core memory): split the message, or raise "
                             "context_window")
        try:
            with self.store.transaction():
                self.store.add(self.user, round_text(user_text, assistant_text),
                               {"sources": sources, "date": iso_date(self.clock.now)},
                               reason="recall: every message is kept", kind="recall")
                self._push("user", user_text)
                self._edit_core(self._extract(user_text, iso_date(self.clock.now)), sources)
                self._push("assistant", assistant_text)
                self._after_step()
                self._save_ctx()
        except BaseException:
            self._load()       # the store rolled the step back: so does the in-context state
            raise

    def _edit_core(self, facts: list[str], sources) -> None:
        lines = self.blocks["human"].splitlines()
        for text in facts:
            f = parse_facts(text)
            meta = {"date": iso_date(self.clock.now), "sources": list(sources)}
            old = [ln for ln in lines if f and f[0].slot in SINGLE_VALUED and
                   any(g.slot == f[0].slot for g in parse_facts(ln))]
            try:
                if old:
                    self.core_memory_replace("human", old[0], text, meta)
                elif text not in lines:
                    self.core_memory_append("human", text, meta)
                else:   # restated: the line's date and sources move to this mention
                    row = next(it for it in self.store.items(self.user, kind="core")
                               if it.meta.get("label") == "human" and it.text == text)
                    self.store.update(row.id, meta=meta, reason="core_memory: fact restated")
            except ValueError:
                self.archival_memory_insert(text, sources)
            lines = self.blocks["human"].splitlines()
            self.block_dates[text] = (meta["date"], meta["sources"])

    def _after_step(self) -> None:
        flushed, tries = False, 0
        if self.occupancy()["total"] > self.warning_frac * self.context_window and not self.warned:
            self._push("system", WARNING)
            self.warned = True
        # overflow -> summarise and retry the step (again if still over, at most 3 times)
        while self.occupancy()["total"] > self.context_window and tries < 3:
            if not self.summarise_inplace():
                break
            flushed, tries = True, tries + 1
        self.trace.append({**self.occupancy(), "step": len(self.trace), "flushed": flushed,
                           "warned": self.warned})

    def summarise_inplace(self) -> bool:
        msgs = self.messages
        limit = max(0, len(msgs) - self.keep_last)
        total = sum(count_tokens(m["content"]) for m in msgs)
        cut, acc = 0, 0
        while cut < limit and acc <= self.trunc_frac * total:
            acc += count_tokens(msgs[cut]["content"])
            cut += 1
        if 0 < cut < len(msgs) and msgs[cut]["role"] == "user":
            cut += 1   # Letta: the first message kept should not be a user turn
        if cut == 0:
            return False
        evicted = [m["content"] for m in msgs[:cut] if m["role"] != "system"]
        self.n_seen += sum(1 for m in msgs[:cut] if m["role"] != "system")
        self.summary = self.llm.summarise(([self.summary] if self.summary else []) + evicted,
                                          max_words=100, date=iso_date(self.clock.now))
        note = (f"Note: prior messages ({self.n_seen} of {self.n_seen + len(msgs) - cut}) have "
                f"been hidden from view. Summary of the previous messages: {self.summary}")
        self.messages = [{"role": "system", "content": note}] + msgs[cut:]
        self.warned = False
        with self.store.transaction():
            self.store.summarise(self.user, self.summary or "(empty)", [],
                                 reason=f"context overflow: {cut} messages summarised",
                                 meta={"date": iso_date(self.clock.now)})
            for m in msgs[:cut]:
                if "id" in m:
                    self.store.delete(m["id"], reason="evicted from context (summarised); "
                                      "the round stays in recall")
            self._save_ctx()
        return True

    # ---- read -----------------------------------------------------------------------------
    def conversation_search(self, query: str, k: int = 5):
        return self.store.search(self.user, query, k, kind="recall")

    def contexts(self, query, k=None):
        k = self.resolve_k(k)
        core = [{"text": ln, "date": self.block_dates.get(ln, ("", []))[0],
                 "sources": self.block_dates.get(ln, ("", []))[1], "id": None,
                 "explain": {"core_block": "human"}}
                for ln in self.blocks["human"].splitlines() if ln]
        return core + [context_of(h) for h in self.retrieve(query, k)]

    def retrieve(self, query, k=5) -> list[Hit]:
        hits = self.conversation_search(query, k)
        return hits + self.store.search(self.user, query, k, kind="archival")

    def forget(self) -> dict:
        """Purge the user: store rows and events, and the in-context state (blocks, messages)."""
        out = super().forget()
        self.trace = []
        self._load()
        return out

    def state_size(self) -> int:
        """Memories held: recall, archival and summary rows + one per ``human`` block line
        (the bookkeeping rows -- messages, context state, persona -- are not memories)."""
        return sum(1 for it in self.store.items(self.user)
                   if it.kind in ("recall", "archival", "summary")
                   or (it.kind == "core" and it.meta.get("label") == "human"))
