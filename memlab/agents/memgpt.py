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
        last 3, KEEP_N_LAST) until > 0.75 of the message tokens (TRUNC_TOKEN_FRAC), extend the
        cut so it does not end on a user turn, replace them by one system message holding a
        summary (<= 100 words; recursive: the old summary is summarised again), reset the flag.

Evicted messages stay in recall. The "agent" here is the rule-based LLM: for every fact it
reads in a *user* turn it edits the ``human`` block (replace the line of a single-valued slot,
else append); a block over its limit is an error, answered by archiving the fact instead.

Not included: the heartbeat / function-chaining loop, persona edits, tool-call JSON.
"""

from __future__ import annotations

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


def count_tokens(text: str) -> int:
    return len(tokens(text))


class MemGPT(AgentMemory):
    name = "memgpt"

    def __init__(self, *args, context_window: int = 300, block_limit: int = 2000,
                 warning_frac: float = WARNING_FRAC, trunc_frac: float = TRUNC_FRAC,
                 keep_last: int = KEEP_LAST, **kw):
        super().__init__(*args, **kw)
        if context_window < 50:
            raise ValueError(f"context_window must be >= 50 tokens, got {context_window}")
        if not 0 < warning_frac < 1 or not 0 < trunc_frac < 1:
            raise ValueError("warning_frac and trunc_frac must be in (0, 1)")
        self.context_window, self.block_limit = context_window, block_limit
        self.warning_frac, self.trunc_frac, self.keep_last = warning_frac, trunc_frac, keep_last
        self.blocks = {"persona": "I am a friendly assistant.", "human": ""}
        self.block_dates: dict[str, tuple] = {}   # line -> (date, sources)
        self.messages: list[dict] = []   # {"role", "content"} in context
        self.summary, self.warned, self.trace, self.n_seen = "", False, [], 0

    # ---- the memory-editing functions ----------------------------------------------------
    def core_memory_append(self, label: str, content: str) -> None:
        new = (self.blocks[label] + "\n" + content).strip()
        if len(new) > self.block_limit:
            raise ValueError(f"block {label!r} would exceed its limit of {self.block_limit} chars")
        self.blocks[label] = new

    def core_memory_replace(self, label: str, old: str, new: str) -> None:
        if old not in self.blocks[label]:
            raise ValueError(f"{old!r} not found in block {label!r}")
        text = self.blocks[label].replace(old, new, 1)
        if len(text) > self.block_limit:
            raise ValueError(f"block {label!r} would exceed its limit of {self.block_limit} chars")
        self.blocks[label] = "\n".join(line for line in text.splitlines() if line)

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
        self.store.add(self.user, round_text(user_text, assistant_text),
                       {"sources": sources, "date": iso_date(self.clock.now)},
                       reason="recall: every message is kept", kind="recall")
        self.messages.append({"role": "user", "content": user_text})
        self._edit_core(self._extract(user_text, iso_date(self.clock.now)), sources)
        self.messages.append({"role": "assistant", "content": assistant_text})
        self._after_step()

    def _edit_core(self, facts: list[str], sources) -> None:
        lines = self.blocks["human"].splitlines()
        for text in facts:
            f = parse_facts(text)
            old = [ln for ln in lines if f and f[0].slot in SINGLE_VALUED and
                   any(g.slot == f[0].slot for g in parse_facts(ln))]
            try:
                if old:
                    self.core_memory_replace("human", old[0], text)
                elif text not in lines:
                    self.core_memory_append("human", text)
            except ValueError:
                self.archival_memory_insert(text, sources)
            lines = self.blocks["human"].splitlines()
            self.block_dates[text] = (iso_date(self.clock.now), list(sources))

    def _after_step(self) -> None:
        flushed, tries = False, 0
        if self.occupancy()["total"] > self.warning_frac * self.context_window and not self.warned:
            self.messages.append({"role": "system", "content": WARNING})
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
        while cut < limit and msgs[cut - 1]["role"] == "user":
            cut += 1   # do not end the evicted block on a user turn
        if cut == 0:
            return False
        evicted = [m["content"] for m in msgs[:cut] if m["role"] != "system"]
        self.n_seen += sum(1 for m in msgs[:cut] if m["role"] != "system")
        self.summary = self.llm.summarise(([self.summary] if self.summary else []) + evicted,
                                          max_words=100, date=iso_date(self.clock.now))
        self.store.summarise(self.user, self.summary or "(empty)", [],
                             reason=f"context overflow: {cut} messages summarised",
                             meta={"date": iso_date(self.clock.now)})
        note = (f"Note: prior messages ({self.n_seen} of {self.n_seen + len(msgs) - cut}) have "
                f"been hidden from view. Summary of the previous messages: {self.summary}")
        self.messages = [{"role": "system", "content": note}] + msgs[cut:]
        self.warned = False
        return True

    # ---- read -----------------------------------------------------------------------------
    def conversation_search(self, query: str, k: int = 5):
        return self.store.search(self.user, query, k, kind="recall")

    def contexts(self, query, k=5):
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
        self.blocks["human"], self.block_dates, self.messages = "", {}, []
        self.summary, self.warned, self.n_seen = "", False, 0
        return super().forget()

    def state_size(self) -> int:
        """Stored rows + one per core-block line."""
        return super().state_size() + len(self.blocks["human"].splitlines())
