"""The fact grammar of the templated dialogues (what the rule-based LLM can read exactly).

A fact is ``(slot, value, detail, polarity, date)``, e.g. ``("city", "Berlin")`` or
``("event", "ran a half marathon", date="2023-05-07")``. The same patterns read dialogue turns
("I moved to Berlin last week.") and the canonical memory texts the systems store
("User lives in Berlin"), so a stored memory can be parsed back -- which is how the offline
stand-in decides ADD / UPDATE / DELETE / NONE and answers questions. Anything outside these
templates is invisible to it: a real LLM would read far more (and make other mistakes).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["SINGLE_VALUED", "SLOT_TAGS", "Fact", "parse_facts", "parse_question"]

SINGLE_VALUED = ("name", "hometown", "city", "job", "car", "book")
SLOT_TAGS = {"name": "identity", "hometown": "identity", "city": "location", "job": "work",
             "car": "vehicle", "pet": "pets", "event": "events", "book": "recommendations"}
_CAP = r"[A-Z][A-Za-z]+(?: [A-Z0-9][A-Za-z0-9]*)*"


@dataclass(frozen=True)
class Fact:
    slot: str
    value: str
    detail: str = ""          # pet species
    polarity: bool = True     # False: "no longer ..."
    date: str | None = None   # ISO date of an event

    def text(self) -> str:
        """The canonical memory text (what Mem0-style systems store)."""
        neg = "no longer " if not self.polarity else ""
        v = self.value
        return {
            "name": f"User's name is {v}",
            "hometown": f"User grew up in {v}",
            "city": f"User {neg}lives in {v}",
            "job": f"User {neg}works as a {v}",
            "car": f"User {neg}drives a {v}",
            "pet": f"User adopted a {self.detail} called {v}",
            "event": f"User {v} on {self.date}",
            "book": f"Assistant recommended the book {v}",
        }[self.slot]


_PATTERNS = [
    ("event_mem", re.compile(r"^User ([a-z].*?) on (\d{4}-\d{2}-\d{2})$", re.MULTILINE)),
    ("name", re.compile(r"\b(?:my name is|User's name is) ([A-Z][a-z]+)")),
    ("hometown", re.compile(rf"\bgrew up in ({_CAP})")),
    ("city", re.compile(rf"\b(no longer )?(?:live in|lives in|moved to) ({_CAP})")),
    ("job", re.compile(r"\b(no longer )?(?:work as|works as|new job as) an? "
                       r"([a-z]+(?: [a-z]+)?)(?=[.,!]|$)", re.MULTILINE)),
    ("car", re.compile(rf"\b(no longer )?drives? an? ({_CAP})")),
    ("pet", re.compile(r"\badopted an? ([a-z]+) (?:called|named) ([A-Z][a-z]+)")),
    ("event", re.compile(r"\bToday I ([a-z][^.!?\n]*)")),
    ("book", re.compile(r"\b(?:I recommend|recommended) the book ([A-Z][^.!?\n]*)")),
]


def parse_facts(text: str, date: str | None = None) -> list[Fact]:
    """Every templated fact in ``text``; ``date`` (ISO) dates "Today I ..." events."""
    out: list[Fact] = []
    for slot, pat in _PATTERNS:
        for m in pat.finditer(text):
            if slot == "event_mem":
                out.append(Fact("event", m.group(1), date=m.group(2)))
            elif slot in ("city", "job", "car"):
                out.append(Fact(slot, m.group(2).strip(), polarity=not m.group(1)))
            elif slot == "pet":
                out.append(Fact("pet", m.group(2), detail=m.group(1)))
            elif slot == "event":
                out.append(Fact("event", m.group(1).strip(), date=date))
            else:
                out.append(Fact(slot, m.group(1).strip()))
    return out


_Q = [
    (re.compile(r"^Where did I grow up\?$"), lambda m: ("slot", "hometown")),
    (re.compile(r"^What is my name\?$"), lambda m: ("slot", "name")),
    (re.compile(r"^What book did you recommend to me\?$"), lambda m: ("slot", "book")),
    (re.compile(r"^Where do I live( now)?\?$"), lambda m: ("slot", "city")),
    (re.compile(r"^What (?:is my job|do I work as)( now)?\?$"), lambda m: ("slot", "job")),
    (re.compile(r"^What car do I drive( now)?\?$"), lambda m: ("slot", "car")),
    (re.compile(r"^How many pets have I adopted\?$"), lambda m: ("count", "pet")),
    (re.compile(r"^How many days passed between the day I (.+) and the day I (.+)\?$"),
     lambda m: ("days", m.group(1), m.group(2))),
]


def parse_question(question: str) -> tuple:
    """``("slot", s)``, ``("count", "pet")``, ``("days", e1, e2)`` or ``("unknown",)``."""
    for pat, f in _Q:
        m = pat.match(question.strip())
        if m:
            return f(m)
    return ("unknown",)
