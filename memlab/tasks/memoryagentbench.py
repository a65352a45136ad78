"""MemoryAgentBench-lite: the benchmark's four competencies as generated multi-session data.

Paper: Hu, Wang and McAuley, "Evaluating Memory in LLM Agents via Incremental Multi-Turn
Interactions", 2025 (arXiv 2507.05257; code HUST-AI-HYZ/MemoryAgentBench). The benchmark feeds
a memory agent its material chunk by chunk ("inject once, query multiple times") and scores
four competencies. Here each persona's history (LongMemEval-shaped records, so the chapter-13
harness runs every system on it unchanged) holds material for all four:

* **accurate retrieval (AR)** -- single facts deep in the history (name, hometown, a book the
  assistant recommended); the benchmark's RULER-QA / NIAH-MQ / LongMemEval / EventQA;
* **test-time learning (TTL)** -- a label mapping taught by examples
  (``Example: "<text>" -> label <n>``, the numbers arbitrary per persona), then a new text
  to classify; the benchmark's in-context classification (BANKING77, CLINC150, TREC, NLU);
* **long-range understanding (LRU)** -- "which activities did I tell you about, in order?":
  every event of the history, scored by token F1; the benchmark's infinity-Bench summarisation;
* **conflict resolution (CR)** -- a slot changed three times (``stale_answers`` = the older
  values); the benchmark's FactConsolidation single-hop.

:class:`BenchLLM` is the offline reader for the new question forms (nearest example for TTL,
events sorted by date for LRU) and :class:`~memlab.agents.llm.RuleLLM` for the rest; its fact
extraction is RuleLLM's, so fact-extracting systems do not keep the TTL examples (a real
extraction prompt asks for personal facts too).

Not included: FactConsolidation multi-hop (the offline reader cannot chain two facts; the
paper reports at most 7 % there for every method), movie recommendation, chunk sizes.
"""

from __future__ import annotations

import datetime as dt
import random
import re

from memlab.agents.embed import tokens
from memlab.agents.grammar import parse_facts
from memlab.agents.llm import ABSTAIN, RuleLLM
from memlab.tasks.longmemeval import (
    BOOKS,
    EVENTS,
    FILLER,
    NAMES,
    SLOT_QUESTIONS,
    SLOTS,
    TOWNS,
    _fmt_date,
)

__all__ = ["COMPETENCIES", "FACT_STORES", "INTENTS", "ROUND_STORES", "BenchLLM",
           "competency_table", "cr_failing_fraction", "generate", "run_benchmark", "systems",
           "ttl_gap"]

COMPETENCIES = ("accurate_retrieval", "test_time_learning", "long_range_understanding",
                "conflict_resolution")
INTENTS = {  # intent -> topic words (disjoint); examples and queries draw from these
    "banking": ["card", "declined", "payment", "refund", "bank", "transfer"],
    "travel": ["flight", "boarding", "luggage", "airport", "gate", "delayed"],
    "cooking": ["oven", "recipe", "dough", "simmer", "garlic", "skillet"],
    "health": ["doctor", "fever", "appointment", "pharmacy", "dose", "clinic"],
}
_GLUE = ["my", "the", "again", "today", "please", "why", "is", "about"]
LRU_QUESTION = "Which activities did I tell you about, in order?"
_EX = re.compile(r'Example: "([^"]+)" -> label (\d+)')
_TTL_Q = re.compile(r'^Which label fits: "([^"]+)"\?$')


def _phrase(words, rng) -> str:
    w = list(words) + rng.sample(_GLUE, 2)
    rng.shuffle(w)
    return " ".join(w)


def _update_sessions(rng: random.Random, n: int, m: int) -> list[int]:
    """The sessions (in time order) where a slot's m successive values are stated."""
    return sorted(rng.sample(range(n), m))


def _persona(p: int, n_sessions: int, rng: random.Random) -> list[dict]:
    if n_sessions < 8:
        raise ValueError(f"n_sessions must be >= 8 to place every competency, got {n_sessions}")
    t, dates = dt.datetime(2024, 1, 1, 9, 0) + dt.timedelta(days=10 * p), []
    for _ in range(n_sessions):
        t += dt.timedelta(days=rng.randint(1, 4), hours=rng.randint(0, 8))
        dates.append(t)
    plant = [[] for _ in range(n_sessions)]          # (user, assistant, tag, who)
    name, town, book = rng.choice(NAMES), rng.choice(TOWNS), rng.choice(BOOKS)
    plant[0].append((f"Hi, my name is {name}.", f"Nice to meet you, {name}!", "name", "user"))
    plant[rng.randrange(n_sessions)].append((f"I grew up in {town}, near the sea.",
                                             f"{town} sounds lovely.", "hometown", "user"))
    plant[rng.randrange(n_sessions)].append(("Can you recommend a novel for my holiday?",
                                             f"I recommend the book {book}.", "book", "assistant"))
    labels = dict(zip(INTENTS, rng.sample(range(1, 10), len(INTENTS))))   # TTL mapping
    taught = {}
    for intent, words in INTENTS.items():
        taught[intent] = []
        for _ in range(2):
            ws = rng.sample(words, 3)
            taught[intent] += ws
            plant[rng.randrange(n_sessions)].append((
                f'Example: "{_phrase(ws, rng)}" -> label {labels[intent]}.',
                "Noted, I will remember that label.", f"ttl:{intent}", "user"))
    events = rng.sample(EVENTS, 6)
    ev_sessions = sorted(rng.sample(range(n_sessions), len(events)))
    for s, ev in zip(ev_sessions, events):
        plant[s].append((f"Today I {ev}.", "That sounds like a memorable day.", f"event:{ev}", "user"))
    slots = rng.sample(sorted(SLOTS), 2)
    values = {}
    for slot in slots:
        first, upd, pool = SLOTS[slot]
        vals = rng.sample(pool, 4)
        when = _update_sessions(rng, n_sessions, 4)
        for j, (v, s) in enumerate(zip(vals, when)):
            plant[s].append(((first if j == 0 else upd).format(v=v), "Thanks for telling me.",
                             slot, "user"))
        values[slot] = vals
    sessions, ids, where = [], [f"mab{p}_s{s}" for s in range(n_sessions)], {}
    for s in range(n_sessions):
        rounds = list(plant[s])
        for _ in range(2):
            u, a, xs = rng.choice(FILLER)
            x = rng.choice(xs)
            rounds.append((u.format(x=x), a.format(x=x), None, None))
        head, rest = (rounds[:1], rounds[1:]) if s == 0 else ([], rounds)
        rng.shuffle(rest)
        turns = []
        for u, a, tag, who in head + rest:
            if tag is not None:
                where.setdefault(tag, []).append(f"{ids[s]}_{len(turns) + (who == 'assistant')}")
            turns += [{"role": "user", "content": u}, {"role": "assistant", "content": a}]
        sessions.append(turns)

    qdate = _fmt_date(dates[-1] + dt.timedelta(days=1))

    def rec(qid, comp, question, answer, tags, stale=()):
        ev = [e for tag in tags for e in where[tag]]
        return {"question_id": f"mab{p}_{qid}", "question_type": comp, "question": question,
                "answer": answer, "question_date": qdate, "haystack_session_ids": ids,
                "haystack_dates": [_fmt_date(d) for d in dates], "haystack_sessions": sessions,
                "answer_session_ids": sorted({e.rsplit("_", 1)[0] for e in ev}),
                "memlab": {"ability": comp, "evidence": ev, "stale_answers": list(stale)}}

    out = [rec("name", "accurate_retrieval", "What is my name?", name, ["name"]),
           rec("hometown", "accurate_retrieval", "Where did I grow up?", town, ["hometown"]),
           rec("book", "accurate_retrieval", "What book did you recommend to me?", book, ["book"])]
    for intent in rng.sample(sorted(INTENTS), 2):
        q = _phrase(rng.sample(sorted(set(taught[intent])), 2), rng)
        out.append(rec(f"ttl_{intent}", "test_time_learning", f'Which label fits: "{q}"?',
                       str(labels[intent]), [f"ttl:{intent}"]))
    out.append(rec("lru", "long_range_understanding", LRU_QUESTION, "; ".join(events),
                   [f"event:{e}" for e in events]))
    for slot in slots:
        out.append(rec(f"cr_{slot}", "conflict_resolution", SLOT_QUESTIONS[slot],
                       values[slot][-1], [slot], values[slot][:-1]))
    return out


def generate(n_personas: int = 4, n_sessions: int = 10, seed: int = 0) -> list[dict]:
    """LongMemEval-shaped records, 8 questions per persona (3 AR, 2 TTL, 1 LRU, 2 CR)."""
    if not 1 <= n_personas <= 500:
        raise ValueError(f"n_personas must be in [1, 500], got {n_personas}")
    rng = random.Random(seed)
    return [r for p in range(n_personas) for r in _persona(p, n_sessions, rng)]


class BenchLLM(RuleLLM):
    """RuleLLM plus the TTL (nearest taught example) and LRU (events by date) questions."""

    name = "bench-rule"

    def _answer(self, p):
        q, ctx = p["question"].strip(), p["_contexts"]
        m = _TTL_Q.match(q)
        if m:
            want = set(tokens(m.group(1))) - set(_GLUE)
            best, label = 0, None
            for c in ctx:
                for text, lab in _EX.findall(c["text"]):
                    overlap = len(want & set(tokens(text)))
                    if overlap > best:
                        best, label = overlap, lab
            return {"answer": label if label is not None else ABSTAIN}
        if q == LRU_QUESTION:
            seen = {}
            for c in ctx:
                for f in parse_facts(c["text"], c.get("date") or None):
                    if f.slot == "event":
                        seen.setdefault(f.value, f.date or c.get("date") or "")
            if not seen:
                return {"answer": ABSTAIN}
            return {"answer": "; ".join(sorted(seen, key=lambda v: (seen[v], v)))}
        return super()._answer(p)


def run_benchmark(records: list[dict], systems: dict, k: int | None = None) -> dict[str, dict]:
    """Every system through the chapter-13 harness with :class:`BenchLLM`; per competency:
    accuracy (AR, TTL, CR), token F1 (LRU), and CR's stale rate."""
    from memlab.agents.harness import run_system

    return {name: competency_table(run_system(f, records, k, llm_factory=BenchLLM)["rows"])
            for name, f in systems.items()}


def competency_table(rows: list[dict]) -> dict:
    out = {}
    for comp in COMPETENCIES:
        sel = [r for r in rows if r["ability"] == comp]
        key = "f1" if comp == "long_range_understanding" else "correct"
        out[comp] = sum(float(r[key]) for r in sel) / len(sel) if sel else float("nan")
    cr = [r for r in rows if r["ability"] == "conflict_resolution"]
    out["cr_stale"] = sum(r["stale"] for r in cr) / len(cr) if cr else float("nan")
    return out


# systems that keep the rounds verbatim vs systems that keep only extracted facts
ROUND_STORES = ("plain-retrieval", "memorybank", "a-mem")
FACT_STORES = ("mem0", "memos", "tim")


def systems() -> dict:
    """Every chapter-12 system: the harness's, plus Think-in-Memory and MemGAS."""
    from memlab.agents.harness import SYSTEMS
    from memlab.agents.memgas import MemGAS
    from memlab.agents.tim import TiM

    return {**SYSTEMS, "tim": TiM, "memgas": MemGAS}


def ttl_gap(table: dict) -> float:
    """Mean TTL accuracy of the round stores minus that of the fact stores."""
    def mean(names):
        return sum(table[n]["test_time_learning"] for n in names) / len(names)
    return mean(ROUND_STORES) - mean(FACT_STORES)


def cr_failing_fraction(table: dict) -> float:
    """Fraction of systems that answer some conflict-resolution question with an old value."""
    return sum(m["cr_stale"] > 0 for m in table.values()) / len(table)
