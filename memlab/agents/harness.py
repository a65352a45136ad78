"""One harness: every system on the same LongMemEval-lite data, the same reader, the same k.

For each persona (records sharing a haystack) a *fresh* system reads the sessions in order,
the simulated clock set to each session's date; then every question is asked at its
``question_date``. Metrics (LongMemEval's where they exist):

* accuracy per ability (exact match after normalisation; abstention questions are right iff
  the reader abstains, and abstaining elsewhere is wrong), and LoCoMo's token F1;
* ``recall_any@k``: some evidence turn (``<session>_<turn>``) is among the sources of the
  retrieved contexts (non-abstention questions);
* stale-fact rate: knowledge-update questions answered with the *old* value;
* store growth: memories held per round read; LLM calls per write (round).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from collections import defaultdict
from functools import partial

from memlab.agents.amem import AMem
from memlab.agents.baselines import FullContext, PlainRetrieval
from memlab.agents.generative import GenerativeAgents
from memlab.agents.llm import ABSTAIN, RuleLLM
from memlab.agents.mem0 import Mem0
from memlab.agents.memgpt import MemGPT
from memlab.agents.memorybank import MemoryBank
from memlab.agents.memos import MemOS
from memlab.agents.store import MemoryStore
from memlab.tasks.longmemeval import token_f1

__all__ = [
    "ABILITIES",
    "SYSTEMS",
    "evaluate",
    "load_lite",
    "parse_date",
    "per_ability_table",
    "personas",
    "replay",
    "run_system",
]

ABILITIES = ("information_extraction", "multi_session", "temporal", "knowledge_update",
             "abstention")
SYSTEMS = {
    "full-context": FullContext,
    "plain-retrieval": PlainRetrieval,
    "plain-retrieval+time": partial(PlainRetrieval, reader_policy="latest"),
    "memorybank": MemoryBank,
    "generative-agents": GenerativeAgents,
    "mem0": Mem0,
    "mem0-add-only": partial(Mem0, mode="add_only"),
    "a-mem": AMem,
    "memgpt": MemGPT,
    "memos": MemOS,
}


def parse_date(s: str) -> float:
    """LongMemEval's ``"2023/05/20 (Sat) 02:21"`` -> seconds (UTC) for the simulated clock."""
    m = re.match(r"(\d{4})/(\d{2})/(\d{2}) \(\w+\) (\d{2}):(\d{2})$", s)
    if not m:
        raise ValueError(f"not a LongMemEval date: {s!r}")
    y, mo, d, h, mi = map(int, m.groups())
    return dt.datetime(y, mo, d, h, mi, tzinfo=dt.timezone.utc).timestamp()


def load_lite() -> list[dict]:
    """The shipped LongMemEval-lite copy (checksum-verified)."""
    from memlab.data import load_path

    return json.loads(load_path("longmemeval_lite.json").read_text())


def _norm(s: str) -> str:
    return re.sub(r"[^a-z0-9 ]", "", s.lower()).strip()


def personas(records: list[dict]) -> list[list[dict]]:
    """The records grouped by persona (the same haystack), in order of first appearance."""
    g = defaultdict(list)
    for r in records:
        g[tuple(r["haystack_session_ids"])].append(r)
    return list(g.values())


def replay(system, record: dict, sessions: bool = True, sources: bool = True) -> None:
    """Feed ``record``'s haystack to ``system`` one (user, assistant) round at a time, with the
    simulated clock at each session's date. ``sessions``: call ``start_session`` /
    ``end_session`` around each session; ``sources``: give each round its two turn ids."""
    for sid, date, sess in zip(record["haystack_session_ids"], record["haystack_dates"],
                               record["haystack_sessions"]):
        system.clock.set(parse_date(date))
        if sessions:
            system.start_session(sid)
        for t in range(0, len(sess) - 1, 2):
            system.observe(sess[t]["content"], sess[t + 1]["content"],
                           [f"{sid}_{t}", f"{sid}_{t + 1}"] if sources else [])
        if sessions:
            system.end_session()


def update_evidence(record: dict) -> set[str]:
    """A knowledge-update question's evidence from its latest session: the update turn, not
    the stale first mention (which is evidence too, of the old value)."""
    order = {sid: i for i, sid in enumerate(record["haystack_session_ids"])}
    ev = record["memlab"]["evidence"]
    if not ev:
        return set()
    session = {e: order[e.rsplit("_", 1)[0]] for e in ev}
    last = max(session.values())
    return {e for e in ev if session[e] == last}


def run_system(factory, records: list[dict], k: int | None = None, llm_factory=RuleLLM,
               store_path: str = ":memory:") -> dict:
    """Run one system over every persona; returns ``{"rows": [...], "cost": {...}}``.
    ``k=None`` asks each system with its own top-k (MemoryBank: 6; the others: 5)."""
    rows, rounds, held, calls, t0 = [], 0, 0, 0, time.perf_counter()
    for recs in personas(records):
        r0 = recs[0]
        store = MemoryStore(store_path)
        sys_ = factory(store=store, llm=llm_factory(), user=r0["haystack_session_ids"][0])
        replay(sys_, r0)
        rounds += sys_.rounds
        held += sys_.state_size()
        calls += sys_.write_calls()
        for r in recs:
            store.clock.set(parse_date(r["question_date"]))
            ans, ctx = sys_.ask(r["question"], k)
            meta = r["memlab"]
            abst = r["question_id"].endswith("_abs")
            ok = (ans == ABSTAIN) if abst else (_norm(ans) == _norm(r["answer"]))
            srcs = {s for c in ctx for s in c.get("sources", [])}
            rows.append({"question_id": r["question_id"], "ability": meta["ability"],
                         "answer": ans, "gold": r["answer"], "correct": bool(ok),
                         "f1": float(ok) if abst else token_f1(ans, r["answer"]),
                         "stale": _norm(ans) in {_norm(a) for a in meta.get("stale_answers", [])},
                         "recall_any": (bool(srcs & set(meta["evidence"])) if not abst else None),
                         "recall_all": (set(meta["evidence"]) <= srcs if not abst else None),
                         "recall_update": (bool(srcs & update_evidence(r))
                                           if meta["ability"] == "knowledge_update" else None),
                         "n_contexts": len(ctx)})
        store.close()
    return {"rows": rows, "cost": {"rounds": rounds, "memories_per_round": held / max(rounds, 1),
                                   "llm_calls_per_write": calls / max(rounds, 1),
                                   "wall_s": time.perf_counter() - t0}}


def summarise_rows(out: dict) -> dict:
    rows = out["rows"]
    m = {}
    for ab in ABILITIES:
        sel = [r["correct"] for r in rows if r["ability"] == ab]
        m[ab] = sum(sel) / len(sel) if sel else float("nan")
    m["overall"] = sum(r["correct"] for r in rows) / len(rows)
    m["f1"] = sum(r["f1"] for r in rows) / len(rows)
    rec = [r["recall_any"] for r in rows if r["recall_any"] is not None]
    m["recall_any@k"] = sum(rec) / len(rec)
    ku = [r for r in rows if r["ability"] == "knowledge_update"]
    m["stale_rate"] = sum(r["stale"] for r in ku) / len(ku) if ku else float("nan")
    m.update(out["cost"])
    return m


def evaluate(records: list[dict], systems: dict | None = None, k: int | None = None,
             progress: bool = False) -> dict[str, dict]:
    """``{system: metrics}`` for every system in ``systems`` (default: :data:`SYSTEMS`)."""
    systems = SYSTEMS if systems is None else systems
    items = systems.items()
    if progress:
        from tqdm.auto import tqdm
        items = tqdm(list(items), desc="systems")
    return {name: summarise_rows(run_system(f, records, k)) for name, f in items}


def per_ability_table(results: dict[str, dict]) -> str:
    cols = list(ABILITIES) + ["overall", "recall_any@k", "stale_rate", "memories_per_round",
                              "llm_calls_per_write"]
    short = ["info", "multi", "temporal", "update", "abstain", "overall", "R@k", "stale",
             "mem/rnd", "calls/wr"]
    w = max(len(n) for n in results) + 1
    lines = ["system".ljust(w) + " ".join(s.rjust(8) for s in short)]
    for name, m in results.items():
        lines.append(name.ljust(w) + " ".join(f"{m[c]:8.2f}" for c in cols))
    return "\n".join(lines)
