"""MemoryBank: Ebbinghaus forgetting with reinforcement on recall.

Paper: Zhong et al., "MemoryBank: Enhancing Large Language Models with Long-Term Memory",
AAAI 2024 (code: zhongwanjun/MemoryBank-SiliconFriend).

Glossary (paper -> code here)::

    R   retention probability            retention(t, S)
    t   whole days since the memory was last recalled, as the code's ``(now - last).days``:
        floor((clock.now - meta["last_recall"]) / DAY)   (``whole_days=False``: fractional)
    S   memory strength, 1 at first mention        meta["strength"]

Equations::

    R = exp(-t / S)                    (paper)
    recall:  S <- S + 1,  t <- 0        (last_recall = now)
    forget:  at each load (a new session = a new day), each turn is deleted if random() > R

The public code writes ``math.exp(-t / 5*S)``; Python reads it as ``exp(-t * S / 5)``, so a
*stronger* memory decays *faster* -- the opposite of the docstring. ``precedence_bug=True``
reproduces it; the test ``retention is monotone in strength`` fails with it on.

Units: one round (user + assistant) per memory, as in the code. Each session ends with an
event summary (``kind="summary"``). The public code removes a day's summary once every turn
of that day has been forgotten; ``summary_rule="code"``, the default, does that.
``summary_rule="keep"`` keeps summaries forever, an ablation that is kinder to MemoryBank: on
the shipped LongMemEval-lite (harness, top-6) accuracy is 0.79 with summaries kept and 0.24 with
the code's rule -- with S = 1 and sessions days apart, nearly every turn is forgotten before the
questions come, and the summaries were what answered. Retrieval: top ``k = 6`` by cosine (the
code's LangChain FAISS top_k); the harness uses it unless a caller passes another ``k``. Forgetting is random: seeded
per session (``random.Random(f"{seed}:{session_id}")``), so a resumed run draws as an
uninterrupted one would.

Durability: the input of the session summary is the store, not a Python list: every round
row carries its ``session``, and one bookkeeping row (``kind="session"``, no vector) says which
session is open. A process that crashes mid-session and is restarted on the same file
(``MemoryBank(store=reopened, user=...)``) resumes that session, and its summary covers every
round acknowledged before the crash.

Not included: daily/global personality analyses, chunking into 200-character pieces with
merging of neighbours, the Chinese-language pipeline.
"""

from __future__ import annotations

import math
import random

from memlab.agents.base import AgentMemory, round_text
from memlab.agents.llm import iso_date

__all__ = ["DAY", "MemoryBank", "retention"]

DAY = 86400.0


def retention(t: float, S: float, precedence_bug: bool = False) -> float:
    """R = exp(-t/S) (paper); with ``precedence_bug`` the code's exp(-t/5*S) = exp(-t*S/5)."""
    if S <= 0:
        raise ValueError(f"strength S must be > 0, got {S}")
    if t < 0:
        raise ValueError(f"elapsed time t must be >= 0, got {t}")
    return math.exp(-t / 5 * S) if precedence_bug else math.exp(-t / S)


class MemoryBank(AgentMemory):
    name = "memorybank"

    def __init__(self, *args, k: int = 6, forgetting: bool = True, precedence_bug: bool = False,
                 summaries: bool = True, seed: int = 0, summary_rule: str = "code",
                 whole_days: bool = True, **kw):
        super().__init__(*args, **kw)
        if summary_rule not in ("keep", "code"):
            raise ValueError(f"summary_rule must be 'keep' or 'code', got {summary_rule!r}")
        self.summary_rule, self.whole_days = summary_rule, whole_days
        self.k, self.forgetting, self.precedence_bug = k, forgetting, precedence_bug
        self.default_k = k                       # what ask / read use when k is None
        self.summaries, self.seed, self.rng = summaries, seed, random.Random(seed)
        self._load()

    def _load(self) -> None:
        """Resume from the store: the open session (if any) and its rounds."""
        row = next(iter(self.store.items(self.user, kind="session")), None)
        self._session_row = row.id if row else None
        self.session_id = row.meta["session"] if row and row.meta.get("open") else ""
        self.rng = random.Random(f"{self.seed}:{self.session_id}" if row else self.seed)
        self._session = [(it.text, it.meta["sources"])
                         for it in self.store.items(self.user, kind="turn")
                         if row and row.meta.get("open")
                         and it.meta.get("session") == self.session_id]

    def _mark_session(self, open_: bool) -> None:
        meta = {"session": self.session_id, "open": open_}
        if self._session_row is None:
            self._session_row = self.store.add(self.user, "MemoryBank session state", meta,
                                               reason="session opened", kind="session",
                                               embed=False)
        else:
            self.store.update(self._session_row, meta=meta,
                              reason="session opened" if open_ else "session closed")

    def retention_of(self, item) -> float:
        t = max(0.0, (self.clock.now - item.meta["last_recall"]) / DAY)
        t = math.floor(t) if self.whole_days else t
        return retention(t, item.meta["strength"], self.precedence_bug)

    def start_session(self, session_id=""):
        super().start_session(session_id)
        self._session = []
        self.rng = random.Random(f"{self.seed}:{session_id}")
        with self.store.transaction():
            self._mark_session(True)
            if self.forgetting:
                self.forget_pass()

    def forget_pass(self) -> int:
        """The load-time pass: delete each turn with probability 1 - R. Returns #deleted."""
        gone = 0
        with self.store.transaction():
            for it in self.store.items(self.user, kind="turn"):
                R = self.retention_of(it)
                if self.rng.random() > R:
                    self.store.delete(it.id, reason=f"forgotten: R={R:.3f} "
                                      f"(S={it.meta['strength']})")
                    gone += 1
            if self.summary_rule == "code":      # a day's summary goes with its last turn
                days = {it.meta.get("session") for it in self.store.items(self.user, kind="turn")}
                for sm in self.store.items(self.user, kind="summary"):
                    if sm.meta.get("session") not in days:
                        self.store.delete(sm.id, reason="summary removed: every turn of its "
                                                        "day is forgotten (the code's rule)")
        return gone

    def _observe(self, user_text, assistant_text, sources):
        text = round_text(user_text, assistant_text)
        self.store.add(self.user, text, {"sources": sources, "date": iso_date(self.clock.now),
                                         "strength": 1, "last_recall": self.clock.now,
                                         "session": getattr(self, "session_id", "")},
                       reason="new turn, S=1", kind="turn")
        self._session.append((text, sources))

    def end_session(self):
        with self.store.transaction():
            if self.summaries and self._session:
                summary = self.llm.summarise([t for t, _ in self._session], max_words=100,
                                             date=iso_date(self.clock.now))
                if summary.strip():
                    self.store.summarise(self.user, summary,
                                         [s for _, ss in self._session for s in ss],
                                         reason="daily event summary",
                                         meta={"date": iso_date(self.clock.now),
                                               "session": self.session_id})
            if self._session_row is not None:
                self._mark_session(False)
        self._session = []

    def forget(self) -> dict:
        out = super().forget()
        self._load()
        return out

    def state_size(self) -> int:
        """Memories held: rounds and summaries (not the session bookkeeping row)."""
        return sum(1 for it in self.store.items(self.user) if it.kind != "session")

    def retrieve(self, query, k=None):
        hits = self.store.search(self.user, query, k or self.k)
        with self.store.transaction():
            for h in hits:
                if h.kind == "turn":
                    S = h.meta["strength"] + 1
                    self.store.update(h.id, meta={"strength": S, "last_recall": self.clock.now},
                                      reason=f"recalled: S -> {S}, t -> 0")
                    h.meta["strength"] = S
        return hits
