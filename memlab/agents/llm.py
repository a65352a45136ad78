"""The LLM protocol: task-level operations, one JSON parse path, three back-ends.

Every memory system here calls an LLM for a handful of *tasks*; each task renders a prompt
(paraphrasing the documented prompt of the system it comes from -- never copied), asks a
back-end for a JSON string, and validates it. Back-ends only implement
``complete(op, prompt, payload) -> str``:

* :class:`RuleLLM` (offline default): computes the answer from the fact grammar in
  :mod:`memlab.agents.grammar`. It is **exact on the templated LongMemEval-lite dialogues and
  knows nothing else** -- it cannot paraphrase, infer or hallucinate. Numbers measured with it
  isolate the memory *system*; a real LLM adds its own errors.
* :class:`ReplayLLM`: returns recorded responses in order (a "cassette"), including broken
  ones (invalid JSON, a missing ``event`` key, hallucinated ids) to exercise error handling.
  :class:`RecordingLLM` wraps any back-end and records such a cassette.
* :class:`OpenAICompatLLM`: POSTs to any OpenAI-compatible ``/chat/completions`` endpoint
  (e.g. a local model server) with the standard library's ``urllib``; never used by default.

Tasks (op names): ``extract_facts`` (Mem0 FACT_RETRIEVAL), ``decide_update`` (Mem0 update
memory: ADD/UPDATE/DELETE/NONE), ``score_importance`` (Generative Agents poignancy 1-10),
``summarise`` (MemGPT/MemoryBank summaries, word cap), ``analyse_note`` and ``link_notes``
(A-MEM), ``answer`` (the reader). Malformed output raises :class:`LLMOutputError` naming the
op and what was wrong; what a system does then is the system's policy (never a deletion).
"""

from __future__ import annotations

import json
import re
import urllib.request
from collections import Counter
from datetime import datetime, timezone

from memlab.agents.embed import tokens
from memlab.agents.grammar import SINGLE_VALUED, SLOT_TAGS, parse_facts, parse_question

__all__ = [
    "ABSTAIN",
    "EVENTS",
    "LLM",
    "PROMPTS",
    "LLMOutputError",
    "OpenAICompatLLM",
    "RecordingLLM",
    "ReplayLLM",
    "RuleLLM",
]

ABSTAIN = "I don't know."
EVENTS = ("ADD", "UPDATE", "DELETE", "NONE")
PROMPTS = {  # paraphrases of the documented prompt shapes
    "extract_facts": "Extract personal facts, preferences, plans and events the USER states. "
                     "Today is {date}. Return JSON {{\"facts\": [str]}}.\nText:\n{text}",
    "decide_update": "Compare new facts with existing memories (ids are small integers). For "
                     "each fact choose ADD, UPDATE (same topic, keep id), DELETE (contradiction) "
                     "or NONE. Return JSON {{\"memory\": [{{\"id\", \"text\", \"event\", "
                     "\"old_memory\"?}}]}}.\nMemories: {memories}\nFacts: {facts}",
    "score_importance": "On a scale of 1 (mundane) to 10 (extremely poignant), rate: {text}. "
                        "Return JSON {{\"score\": int}}.",
    "summarise": "Summarise in at most {max_words} words, first person: {texts}. "
                 "Return JSON {{\"summary\": str}}.",
    "analyse_note": "Give >=3 keywords, a one-sentence context and >=3 tags for: {text}. "
                    "Return JSON {{\"keywords\", \"context\", \"tags\"}}.",
    "link_notes": "New note: {note}\nNeighbours (0..k-1): {neighbours}\nDecide whether to "
                  "evolve. Return JSON {{\"should_evolve\", \"actions\", "
                  "\"suggested_connections\", \"tags_to_update\", \"new_context_neighborhood\", "
                  "\"new_tags_neighborhood\"}}.",
    "answer": "Answer from the memories only; say you don't know if they do not say. "
              "Question: {question}\nMemories:\n{contexts}\nReturn JSON {{\"answer\": str}}.",
}
_STOP = frozenset(["a", "an", "the", "i", "you", "my", "me", "to", "of", "and", "in", "on", "for", "is", "are", "was", "it", "that", "this", "with", "can", "do", "what", "how", "any", "about", "tell", "some", "your", "at", "be", "have", "has", "by", "as", "so", "from"])
_LEXICON = {"moved": 4, "new job": 4, "adopted": 4, "marathon": 3, "passed": 3, "name": 2,
            "grew up": 2, "started": 2, "recommend": 1, "climbed": 3, "sold": 3}


class LLMOutputError(ValueError):
    """A back-end returned text that is not the JSON the task asked for."""


def _need(cond: bool, op: str, what: str, raw: str) -> None:
    if not cond:
        raise LLMOutputError(f"LLM output for {op!r} is malformed: {what}; got {raw[:200]!r}")


class LLM:
    """Task-level operations over ``complete``; counts calls per op in ``self.calls``."""

    name = "llm"

    def __init__(self):
        self.calls: Counter = Counter()

    def complete(self, op: str, prompt: str, payload: dict) -> str:
        raise NotImplementedError

    def _call(self, op: str, payload: dict) -> tuple[dict, str]:
        self.calls[op] += 1
        prompt = PROMPTS[op].format(**{k: (v if isinstance(v, str) else json.dumps(v))
                                       for k, v in payload.items()})
        raw = self.complete(op, prompt, payload)
        _need(isinstance(raw, str), op, "not a string", repr(raw))
        text = re.sub(r"^```(?:json)?\s*|\s*```$", "", raw.strip())
        try:
            out = json.loads(text)
        except json.JSONDecodeError as e:
            raise LLMOutputError(f"LLM output for {op!r} is not valid JSON ({e.msg}); "
                                 f"got {raw[:200]!r}") from None
        _need(isinstance(out, dict), op, "top level is not an object", raw)
        return out, raw

    # ---- tasks -------------------------------------------------------------------------
    def extract_facts(self, text: str, date: str = "") -> list[str]:
        out, raw = self._call("extract_facts", {"text": text, "date": date})
        facts = out.get("facts")
        _need(isinstance(facts, list) and all(isinstance(f, str) for f in facts),
              "extract_facts", "'facts' must be a list of strings", raw)
        return facts

    def decide_update(self, facts: list[str], memories: list[dict]) -> list[dict]:
        """``memories``: ``[{"id": "0", "text": ...}]`` (ids already remapped to integers)."""
        out, raw = self._call("decide_update", {"facts": facts, "memories": memories})
        items = out.get("memory")
        _need(isinstance(items, list), "decide_update", "'memory' must be a list", raw)
        for it in items:
            _need(isinstance(it, dict), "decide_update", "an item is not an object", raw)
            _need(it.get("event") in EVENTS, "decide_update",
                  f"'event' missing or not one of {EVENTS}", raw)
            _need(isinstance(it.get("text", ""), str) and "id" in it, "decide_update",
                  "each item needs 'id' and a string 'text'", raw)
            # an ADD or UPDATE without text would store (or overwrite with) nothing: a silent
            # deletion. It is malformed, not a decision.
            _need(it["event"] not in ("ADD", "UPDATE") or str(it.get("text") or "").strip(),
                  "decide_update", f"{it['event']} of id {it.get('id')!r} has no 'text'", raw)
        return items

    def score_importance(self, text: str) -> int:
        out, raw = self._call("score_importance", {"text": text})
        s = out.get("score")
        _need(isinstance(s, (int, float)) and 1 <= s <= 10, "score_importance",
              "'score' must be a number in [1, 10]", raw)
        return round(s)

    def summarise(self, texts: list[str], max_words: int = 100, date: str = "") -> str:
        out, raw = self._call("summarise", {"texts": texts, "max_words": str(max_words),
                                            "date": date})
        _need(isinstance(out.get("summary"), str), "summarise", "'summary' must be a string", raw)
        return _cap_words(out["summary"], max_words)

    def analyse_note(self, text: str) -> dict:
        out, raw = self._call("analyse_note", {"text": text})
        _need(isinstance(out.get("keywords"), list) and isinstance(out.get("tags"), list)
              and isinstance(out.get("context"), str), "analyse_note",
              "needs keywords (list), context (str), tags (list)", raw)
        return out

    def link_notes(self, note: str, neighbours: list[str]) -> dict:
        out, raw = self._call("link_notes", {"note": note, "neighbours": neighbours})
        _need(isinstance(out.get("should_evolve"), bool), "link_notes",
              "'should_evolve' must be a bool", raw)
        return out

    def answer(self, question: str, contexts: list[dict], policy: str = "rank") -> str:
        """``contexts``: ``[{"text", "date"}]`` best first. ``policy``: how the offline reader
        resolves conflicting values: ``rank`` (first hit wins) or ``latest`` (newest date)."""
        if policy not in ("rank", "latest"):
            raise ValueError(f"policy must be 'rank' or 'latest', got {policy!r}")
        ctx = "\n".join(f"[{c.get('date', '')}] {c['text']}" for c in contexts)
        out, raw = self._call("answer", {"question": question, "contexts": ctx,
                                         "_contexts": contexts, "policy": policy})
        _need(isinstance(out.get("answer"), str), "answer", "'answer' must be a string", raw)
        return out["answer"]


class RuleLLM(LLM):
    """Offline stand-in: exact on the templated dialogues (see module docstring)."""

    name = "rule"

    def complete(self, op: str, prompt: str, payload: dict) -> str:
        return json.dumps(getattr(self, "_" + op)(payload))

    def _extract_facts(self, p):
        return {"facts": [f.text() for f in parse_facts(p["text"], p.get("date") or None)]}

    def _decide_update(self, p):
        mems = [(m["id"], parse_facts(m["text"]), m["text"]) for m in p["memories"]]
        out = []
        for text in p["facts"]:
            new = parse_facts(text)
            ev = {"id": None, "text": text, "event": "ADD"}
            for mid, facts, mtext in mems:
                if mtext == text:
                    ev = {"id": mid, "text": text, "event": "NONE"}
                    break
                same = [f for f in facts if new and f.slot == new[0].slot]
                if not same or new[0].slot not in SINGLE_VALUED:
                    continue
                if not new[0].polarity and same[0].value == new[0].value:
                    ev = {"id": mid, "text": mtext, "event": "DELETE"}
                elif new[0].polarity:
                    ev = {"id": mid, "text": text, "event": "UPDATE", "old_memory": mtext}
                break
            if ev["event"] == "ADD" and new and not new[0].polarity:
                ev["event"] = "NONE"   # a negation of nothing stored: nothing to do
            out.append(ev)
        return {"memory": out}

    def _score_importance(self, p):
        t = p["text"].lower()
        return {"score": min(10, 1 + sum(w for k, w in _LEXICON.items() if k in t))}

    def _summarise(self, p):
        facts = list(dict.fromkeys(f.text() for t in p["texts"]
                                   for f in parse_facts(t, p.get("date") or None)))
        rest = [t for t in p["texts"] if not parse_facts(t)]
        return {"summary": _cap_words("\n".join(facts + rest), int(p["max_words"]))}

    def _analyse_note(self, p):
        words = [w for w in tokens(p["text"]) if w not in _STOP and not w.isdigit()]
        kw = sorted(dict.fromkeys(words), key=lambda w: (-len(w), w))[:5]
        tags = sorted({SLOT_TAGS[f.slot] for f in parse_facts(p["text"])}) or ["chit-chat"]
        tags = tags + ["user", "conversation"]
        return {"keywords": kw, "context": f"A conversation turn about {', '.join(tags[:-2])}.",
                "tags": tags}

    def _link_notes(self, p):
        mine = {f.slot for f in parse_facts(p["note"])}
        link = [i for i, n in enumerate(p["neighbours"]) if mine & {f.slot for f in parse_facts(n)}]
        if not link:
            return {"should_evolve": False, "actions": [], "suggested_connections": [],
                    "tags_to_update": [], "new_context_neighborhood": [],
                    "new_tags_neighborhood": []}
        tags = sorted({SLOT_TAGS[s] for s in mine})
        return {"should_evolve": True, "actions": ["strengthen", "update_neighbor"],
                "suggested_connections": link, "tags_to_update": tags + ["user"],
                "new_context_neighborhood": [f"Linked to a later turn about {', '.join(tags)}."
                                             if i in link else None
                                             for i in range(len(p["neighbours"]))],
                "new_tags_neighborhood": [tags + ["user"] if i in link else None
                                          for i in range(len(p["neighbours"]))]}

    def _answer(self, p):
        q, ctx = parse_question(p["question"]), p["_contexts"]
        found = []  # (fact, context index, date)
        for i, c in enumerate(ctx):
            for f in parse_facts(c["text"], c.get("date") or None):
                found.append((f, i, f.date or c.get("date") or ""))
        if q[0] == "slot":
            hits = [x for x in found if x[0].slot == q[1]]
            if p["policy"] == "latest":
                hits.sort(key=lambda x: (x[2], x[1]), reverse=True)
            if hits and hits[0][0].polarity:
                return {"answer": hits[0][0].value}
        elif q[0] == "count":
            names = {f.value for f, _, _ in found if f.slot == "pet"}
            if names:
                return {"answer": str(len(names))}
        elif q[0] == "days":
            dates = []
            for phrase in q[1:]:
                d = [x[2] for x in found if x[0].slot == "event" and x[0].value == phrase and x[2]]
                dates.append(d[0] if d else None)
            if all(dates):
                a, b = (datetime.fromisoformat(d[:10]) for d in dates)
                return {"answer": str(abs((b - a).days))}
        return {"answer": ABSTAIN}


class ReplayLLM(LLM):
    """Returns recorded responses in order: ``cassette = [(op, response_text), ...]``."""

    name = "replay"

    def __init__(self, cassette: list[tuple[str, str]]):
        super().__init__()
        self.cassette, self.pos = list(cassette), 0

    def complete(self, op, prompt, payload):
        if self.pos >= len(self.cassette):
            raise LLMOutputError(f"replay cassette exhausted at call {self.pos + 1} ({op!r})")
        rec_op, text = self.cassette[self.pos]
        self.pos += 1
        if rec_op != op:
            raise LLMOutputError(f"replay cassette expected op {rec_op!r}, the system asked {op!r}")
        return text


class RecordingLLM(LLM):
    """Wraps a back-end and records ``(op, response)`` pairs for a :class:`ReplayLLM`."""

    name = "recording"

    def __init__(self, inner: LLM):
        super().__init__()
        self.inner, self.cassette = inner, []

    def complete(self, op, prompt, payload):
        text = self.inner.complete(op, prompt, payload)
        self.cassette.append((op, text))
        return text


class OpenAICompatLLM(LLM):
    """Any OpenAI-compatible chat endpoint, e.g. ``http://127.0.0.1:8000/v1`` (stdlib only)."""

    name = "openai-compat"

    def __init__(self, base_url: str, model: str, api_key: str | None = None,
                 timeout: float = 60.0):
        super().__init__()
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must start with http:// or https://, got {base_url!r}")
        self.base_url, self.model, self.api_key, self.timeout = (
            base_url.rstrip("/"), model, api_key, timeout)

    def complete(self, op, prompt, payload):
        body = {"model": self.model, "temperature": 0,
                "response_format": {"type": "json_object"},
                "messages": [{"role": "system", "content": "Reply with one JSON object."},
                             {"role": "user", "content": prompt}]}
        req = urllib.request.Request(self.base_url + "/chat/completions",
                                     data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        if self.api_key:
            req.add_header("Authorization", f"Bearer {self.api_key}")
        with urllib.request.urlopen(req, timeout=self.timeout) as resp:
            data = json.loads(resp.read().decode())
        try:
            return data["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            raise LLMOutputError(f"endpoint reply has no choices[0].message.content: "
                                 f"{str(data)[:200]}") from None


def _cap_words(text: str, n: int) -> str:
    """The first ``n`` words of ``text``, keeping its line breaks."""
    lines, left = [], n
    for line in text.splitlines():
        words = line.split()[:left]
        if not words:
            break
        lines.append(" ".join(words))
        left -= len(words)
    return "\n".join(lines)


def iso_date(ts: float) -> str:
    """Simulated-clock seconds -> ISO date (UTC), the date format facts carry."""
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%d")
