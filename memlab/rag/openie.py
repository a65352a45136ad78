"""OpenIE, query NER and the recognition filter through the chapter-12 ``LLM`` protocol.

HippoRAG asks an LLM for named entities and (subject, relation, object) triples per passage;
HippoRAG 2 also asks it which retrieved facts are relevant to the question ("recognition
memory"). Here each task renders a prompt (a paraphrase of the documented ones) and calls
``llm.complete(op, prompt, payload)`` of any :class:`memlab.agents.llm.LLM` back-end, then
validates the JSON. The offline default, :class:`RuleOpenIE`, reads the fact world's templates
with regular expressions: it is exact on templated passages and knows nothing else.
"""

from __future__ import annotations

import json
import re

from memlab.agents.llm import LLM, LLMOutputError
from memlab.tasks.factworld import TEMPLATES

__all__ = ["OPENIE_PROMPTS", "RuleOpenIE", "openie", "query_ner", "recognise"]

OPENIE_PROMPTS = {
    "openie": "Extract (subject, relation, object) triples whose subject and object are named "
              "entities of the passage. Return JSON {{\"triples\": [[s, r, o]]}}.\nPassage: {text}",
    "ner": "List the named entities of the question. Return JSON {{\"entities\": [str]}}.\n"
           "Question: {text}",
    "recognise": "Keep at most {max_facts} facts that help answer the question. Return JSON "
                 "{{\"facts\": [[s, r, o]]}}.\nQuestion: {text}\nFacts: {facts}",
}
_PATTERNS = [(r, re.compile("^" + re.escape(t).replace(r"\{s\}", "(?P<s>.+?)")
                            .replace(r"\{o\}", "(?P<o>.+?)") + "$"))
             for r, t in sorted(((r, t) for r, ts in TEMPLATES.items() for t in ts),
                                key=lambda rt: -len(rt[1]))]      # longest template first
_QWORDS = {"Where", "Which", "What", "Who", "In", "When", "How"}
_SPAN = re.compile(r"[A-Z][\w]*\.?(?:\s+[A-Z][\w]*\.?)*")


class RuleOpenIE(LLM):
    """Deterministic back-end: template regexes (openie), capitalised spans (ner), and
    "keep facts that name a query entity" (recognise)."""

    name = "rule-openie"

    def complete(self, op: str, prompt: str, payload: dict) -> str:
        text = payload["text"]
        if op == "openie":
            out = []
            for sent in re.split(r"(?<=[a-z]\.)\s+(?=[A-Z])", text.strip()):
                for r, pat in _PATTERNS:
                    m = pat.match(sent)
                    if m:
                        out.append([m["s"], r, m["o"]])
                        break
            return json.dumps({"triples": out})
        if op == "ner":
            spans = []
            for m in _SPAN.finditer(text):
                words = m.group(0).split()
                while words and words[0] in _QWORDS:
                    words = words[1:]
                if words:
                    spans.append(" ".join(words).rstrip("?").removesuffix("'s"))
            return json.dumps({"entities": spans})
        if op == "recognise":
            low = text.lower()
            keep = [f for f in payload["facts"] if f[0].lower() in low or f[2].lower() in low]
            return json.dumps({"facts": keep[:payload["max_facts"]]})
        raise ValueError(f"RuleOpenIE does not know op {op!r}")


def _ask(llm: LLM, op: str, payload: dict, key: str):
    llm.calls[op] += 1
    prompt = OPENIE_PROMPTS[op].format(**{k: v if isinstance(v, str) else json.dumps(v)
                                          for k, v in payload.items()})
    raw = llm.complete(op, prompt, payload)
    try:
        out = json.loads(re.sub(r"^```(?:json)?\s*|\s*```$", "", raw.strip()))
    except (json.JSONDecodeError, AttributeError):
        raise LLMOutputError(f"LLM output for {op!r} is not valid JSON; got {str(raw)[:200]!r}") \
            from None
    if not isinstance(out, dict) or not isinstance(out.get(key), list):
        raise LLMOutputError(f"LLM output for {op!r} needs a list {key!r}; got {raw[:200]!r}")
    return out[key]


def _triples(items, op, raw_ok=True):
    out = []
    for t in items:
        if not (isinstance(t, list) and len(t) == 3 and all(isinstance(x, str) for x in t)):
            raise LLMOutputError(f"LLM output for {op!r}: a triple is not [s, r, o]: {t!r}")
        out.append(tuple(t))
    return out


def openie(llm: LLM, passage: str) -> list[tuple[str, str, str]]:
    return _triples(_ask(llm, "openie", {"text": passage}, "triples"), "openie")


def query_ner(llm: LLM, question: str) -> list[str]:
    ents = _ask(llm, "ner", {"text": question}, "entities")
    if not all(isinstance(e, str) for e in ents):
        raise LLMOutputError(f"LLM output for 'ner': entities must be strings: {ents!r}")
    return ents


def recognise(llm: LLM, question: str, facts: list[tuple[str, str, str]], max_facts: int = 4):
    kept = _ask(llm, "recognise", {"text": question, "facts": [list(f) for f in facts],
                                   "max_facts": max_facts}, "facts")
    return _triples(kept, "recognise")[:max_facts]
