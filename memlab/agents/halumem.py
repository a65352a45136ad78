"""HaluMem-lite: operation-level hallucination in memory systems, with a noisy LLM.

"HaluMem: Evaluating Hallucinations in Memory Systems of Agents" (MemTensor,
2025) scores a memory system per *operation* -- extraction, updating, question answering --
instead of only by final QA accuracy, because a wrong memory operation can stay invisible
until much later. Here the gold operations are the rule-based LLM's (exact on the templates),
and :class:`NoisyLLM` perturbs them at rate ``p``:

* ``omit``       -- extraction drops one fact (omission);
* ``fabricate``  -- extraction adds a fact never said (e.g. "User lives in Atlantis");
* ``malformed``  -- the reply is cut off mid-JSON (the system's error policy decides).

:func:`memory_integrity` compares a fact store with the dialogue's gold facts:
``omitted`` (current gold facts missing), ``fabricated`` (stored facts never stated),
``stale`` (stored facts superseded by a later statement).

Not included: HaluMem's LLM-judged QA hallucination, its 1M-token long-context variant.
"""

from __future__ import annotations

import json
import random

from memlab.agents.grammar import SINGLE_VALUED, parse_facts
from memlab.agents.llm import LLM, RuleLLM

__all__ = ["FABRICATIONS", "NoisyLLM", "gold_facts", "memory_integrity", "noise_sweep"]

FABRICATIONS = ["User lives in Atlantis", "User works as a astronaut", "User drives a Batmobile",
                "User adopted a dragon called Smaug"]


class NoisyLLM(LLM):
    """Wraps a back-end; each ``extract_facts`` reply is perturbed with probability ``p``."""

    name = "noisy"

    def __init__(self, inner: LLM | None = None, p: float = 0.2,
                 kinds=("omit", "fabricate", "malformed"), seed: int = 0):
        super().__init__()
        if not 0 <= p <= 1:
            raise ValueError(f"p must be in [0, 1], got {p}")
        bad = set(kinds) - {"omit", "fabricate", "malformed"}
        if bad:
            raise ValueError(f"unknown noise kinds {sorted(bad)}")
        self.inner, self.p, self.kinds = inner or RuleLLM(), p, tuple(kinds)
        self.rng, self.injected = random.Random(seed), []

    def complete(self, op, prompt, payload):
        raw = self.inner.complete(op, prompt, payload)
        if op != "extract_facts" or self.rng.random() >= self.p:
            return raw
        kind = self.rng.choice(self.kinds)
        facts = json.loads(raw)["facts"]
        if kind == "omit" and facts:
            facts.pop(self.rng.randrange(len(facts)))
        elif kind == "fabricate":
            facts.append(self.rng.choice(FABRICATIONS))
        elif kind == "malformed":
            self.injected.append(kind)
            return raw[: len(raw) // 2]
        else:
            return raw
        self.injected.append(kind)
        return json.dumps({"facts": facts})


def gold_facts(record: dict) -> dict:
    """``{"current": set, "stated": set}`` of canonical fact texts from the user turns."""
    current: dict[tuple, str] = {}
    stated = set()
    for date, sess in zip(record["haystack_dates"], record["haystack_sessions"]):
        iso = date[:10].replace("/", "-")
        for t in sess:
            if t["role"] != "user":
                continue
            for f in parse_facts(t["content"], iso):
                stated.add(f.text())
                key = (f.slot,) if f.slot in SINGLE_VALUED else (f.slot, f.value)
                current[key] = f.text()
    return {"current": set(current.values()), "stated": stated}


def memory_integrity(texts: list[str], gold: dict) -> dict:
    """Fractions: omitted (of current gold), fabricated and stale (of stored)."""
    stored = set(texts)
    n = max(len(stored), 1)
    return {"omitted": len(gold["current"] - stored) / max(len(gold["current"]), 1),
            "fabricated": len(stored - gold["stated"]) / n,
            "stale": len((stored & gold["stated"]) - gold["current"]) / n}


def noise_sweep(records: list[dict], names=("mem0", "mem0-add-only", "memos"),
                ps=(0.0, 0.2, 0.4), seed: int = 0, k: int | None = None) -> dict:
    """QA accuracy and memory integrity of fact stores as extraction noise grows."""
    from memlab.agents.harness import SYSTEMS, personas, replay, run_system, summarise_rows
    from memlab.agents.store import MemoryStore

    out = {}
    for name in names:
        for p in ps:
            res = summarise_rows(run_system(SYSTEMS[name], records, k,
                                            llm_factory=lambda p=p: NoisyLLM(p=p, seed=seed)))
            integ = []
            for i, r in enumerate(recs[0] for recs in personas(records)):
                sys_ = SYSTEMS[name](store=MemoryStore(), llm=NoisyLLM(p=p, seed=seed + i),
                                     user="u")
                replay(sys_, r, sessions=False, sources=False)
                integ.append(memory_integrity([it.text for it in sys_.store.items("u")],
                                              gold_facts(r)))
            out[(name, p)] = {"overall": res["overall"], "knowledge_update": res["knowledge_update"],
                              **{m: sum(x[m] for x in integ) / len(integ)
                                 for m in ("omitted", "fabricated", "stale")}}
    return out
