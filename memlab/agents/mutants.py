"""Chapters 12-13's mutants (realistic bugs in the agent-memory systems and their store) and
the fast checks that kill them (``memlab mutants 12 13``).

Sources of the bugs: MemoryBank's public code (``exp(-t/5*S)``); the A-mem repository
(neighbour search on the combined text, links both ways, 2k results); Letta / MemGPT (the
eviction cut, ``core_memory_replace``); Mem0 (an UPDATE that appends, a decision id off by
one); MemOS (two versions of one unit active); and the review of the store (a cache never
refreshed by another process, hits not re-checked, a busy checkpoint ignored, links across
users, no Unicode normalisation). Each check is seeded and runs in about a second or less.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from unittest import mock

import numpy as np

from memlab.agents import amem as AM
from memlab.agents import harness as H
from memlab.agents import mem0 as M0
from memlab.agents import memorybank as MB
from memlab.agents import store as ST
from memlab.agents.experiments import measured_retention, monotone_fraction
from memlab.agents.generative import GenerativeAgents
from memlab.report import at_most, between
from memlab.tasks.longmemeval import generate
from memlab.testing.mutants import check, mutant

BANK, GA, MEM0, AMEM, GPT, MOS, STORE = (
    "MemoryBank forgetting", "Generative Agents retrieval", "Mem0 extract + update",
    "A-MEM linked notes", "MemGPT-style paging", "MemOS-style memory units",
    "Event-sourced SQLite store")
ONE = between(1.0, 1.0)


def _patch(obj, name, new):
    return mock.patch.object(obj, name, new)


# ------------------------------------------------------------------ MemoryBank
@mutant("12", BANK)
@contextmanager
def memorybank_precedence_bug():
    """The public code's ``math.exp(-t / 5*S)`` = exp(-t*S/5): stronger memories fade faster."""
    with _patch(MB, "retention", lambda t, S, precedence_bug=False: math.exp(-t / 5 * S)):
        yield


@mutant("12", BANK)
@contextmanager
def memorybank_strength_off_by_one():
    """exp(-t/(S+1)): still monotone in S, but not the paper's curve."""
    with _patch(MB, "retention", lambda t, S, precedence_bug=False: math.exp(-t / (S + 1))):
        yield


@mutant("12", BANK)
@contextmanager
def memorybank_keeps_when_unlucky():
    """The draw inverted: a memory is deleted when ``random() < R`` (survival 1 - R)."""
    def forget_pass(self):
        gone = 0
        with self.store.transaction():
            for it in self.store.items(self.user, kind="turn"):
                if self.rng.random() < self.retention_of(it):
                    self.store.delete(it.id, reason="forgotten")
                    gone += 1
        return gone
    with _patch(MB.MemoryBank, "forget_pass", forget_pass):
        yield


@mutant("12", BANK)
@contextmanager
def memorybank_recall_no_reinforce():
    """A recall that does not reset t nor raise S (the store update forgotten)."""
    def retrieve(self, query, k=None):
        return self.store.search(self.user, query, k or self.k)
    with _patch(MB.MemoryBank, "retrieve", retrieve):
        yield


@mutant("12", BANK)
@contextmanager
def memorybank_summaries_kept():
    """Summaries kept forever whatever the rule says (memlab's old default, "as in the code"
    while the code removes a day's summary with its last turn)."""
    orig = MB.MemoryBank.__init__

    def init(self, *a, **kw):
        orig(self, *a, **kw)
        self.summary_rule = "keep"
    with _patch(MB.MemoryBank, "__init__", init):
        yield


@check("12", "memorybank_summary_goes_with_its_day", target=ONE)
def _summary_rule():
    mb = MB.MemoryBank(user="u")
    mb.start_session("d0")
    mb.observe("I adopted a dog called Rex.", "nice", ["d0_0"])
    mb.end_session()
    mb.clock.advance(60 * MB.DAY)                # R = e^-60: the turn is forgotten
    mb.start_session("d1")
    return float(not mb.store.items("u", kind="summary"))


@check("12", "retention_curve_max_err")
def _curve():
    return measured_retention(n=300, seed=0)["max_abs_err"]


@check("12", "retention_monotone_in_strength")
def _monotone():
    return monotone_fraction(n=200, seed=0)


@check("12", "memorybank_recall_reinforces", target=ONE)
def _reinforce():
    mb = MB.MemoryBank(user="u")
    mb.start_session("s0")
    mb.observe("I adopted a dog called Rex.", "nice", ["s0_0"])
    mb.clock.advance(3 * MB.DAY)
    mb.retrieve("dog called Rex", k=1)
    it = mb.store.items("u", kind="turn")[0]
    return float(it.meta["strength"] == 2 and it.meta["last_recall"] == mb.clock.now)


# ------------------------------------------------------------------ Generative Agents
def _minmax_raw(x):
    return np.asarray(x, dtype=np.float64)


@mutant("12", GA)
@contextmanager
def ga_no_minmax():
    """Components summed raw (importance 1-10 swamps cosine), not min-max normalised."""
    import memlab.agents.generative as G
    with _patch(G, "minmax", _minmax_raw):
        yield


@mutant("12", GA)
@contextmanager
def ga_recency_from_creation():
    """Recency decays from the creation time, not from ``last_accessed``."""
    orig = GenerativeAgents.components

    def components(self, query):
        items, _rec, imp, rel = orig(self, query)
        created = np.array([it.created_at for it in items])
        return items, self.decay ** ((self.clock.now - created) / 3600.0), imp, rel
    with _patch(GenerativeAgents, "components", components):
        yield


@mutant("12", GA)
@contextmanager
def ga_recency_inverted():
    """Recency as 0.995 ** -(hours): the oldest memory scores highest."""
    orig = GenerativeAgents.components

    def components(self, query):
        items, rec, imp, rel = orig(self, query)
        return items, 1.0 / np.maximum(rec, 1e-300), imp, rel
    with _patch(GenerativeAgents, "components", components):
        yield


@check("12", "ga_score_vs_hand_formula", target=at_most(1e-6))
def _ga_score():
    """Max |score - the paper's formula written out| over a 3-memory hand case, after one
    retrieval refreshed ``last_accessed``."""
    ga = GenerativeAgents(user="u")
    s, H_ = ga.store, 3600.0
    rows = [("I adopted a dog called Rex", 3, 0.0), ("The dog likes long walks", 8, 5 * H_),
            ("Comets have tails", 1, 9 * H_)]
    for text, imp, t in rows:
        s.clock.set(t)
        s.add("u", text, {"importance": imp, "last_accessed": t}, kind="turn")
    s.clock.set(10 * H_)
    ga.retrieve("walks", k=1)                      # refreshes one node's last_accessed
    s.clock.set(20 * H_)
    items = s.items("u")
    e = s.embedder.embed([it.text for it in items] + ["the dog"])
    rel, rec = e[:-1] @ e[-1], np.array([0.995 ** ((20 * H_ - it.meta["last_accessed"]) / H_)
                                         for it in items])
    imp = np.array([it.meta["importance"] for it in items], dtype=float)
    mm = [(v - v.min()) / (v.max() - v.min()) for v in (rec, imp, rel)]
    want = {it.id: float(sum(m[i] for m in mm)) for i, it in enumerate(items)}
    return max(abs(h.score - want[h.id]) for h in ga.retrieve("the dog", k=3))


# ------------------------------------------------------------------ Mem0
@mutant("12", MEM0)
@contextmanager
def mem0_update_appends():
    """UPDATE adds the new text as a new row and keeps the old one (both stay active)."""
    orig = M0.Mem0._apply_one

    def apply_one(self, ev, real, text, d, meta):
        return orig(self, "ADD" if ev == "UPDATE" else ev, None if ev == "UPDATE" else real,
                    text, d, meta)
    with _patch(M0.Mem0, "_apply_one", apply_one):
        yield


@mutant("12", MEM0)
@contextmanager
def mem0_ids_off_by_one():
    """The small-id remap shifted by one: the LLM's "0" names no memory (UPDATE -> ADD)."""
    orig = M0.check_decisions
    with _patch(M0, "check_decisions",
                lambda ds, to_real: orig(ds, {str(int(k) + 1): v for k, v in to_real.items()})):
        yield


@mutant("12", MEM0)
@contextmanager
def mem0_top_k_one_fact_only():
    """Only the first extracted fact is compared with stored memories (others never seen)."""
    orig = M0.Mem0._extract
    with _patch(M0.Mem0, "_extract", lambda self, text, date: orig(self, text, date)[-1:]):
        yield


def _ku():
    recs = generate(n_personas=2, seed=0)
    return H.evaluate(recs, {n: H.SYSTEMS[n] for n in ("mem0", "plain-retrieval")})


@check("12", "mem0_ku_accuracy")
def _mem0_ku():
    return _ku()["mem0"]["knowledge_update"]


@check("12", "mem0_stale_rate")
def _mem0_stale():
    return _ku()["mem0"]["stale_rate"]


@check("12", "mem0_update_in_place", target=ONE)
def _mem0_in_place():
    m = M0.Mem0(user="u")
    m.add("I live in Oslo these days.", ["s0_0"])
    m.add("I work as a nurse. I live in Rome.", ["s1_0"])        # two facts, one turn
    return float(sorted(it.text for it in m.store.items("u")) ==
                 ["User lives in Rome", "User works as a nurse"])


# ------------------------------------------------------------------ A-MEM
@mutant("12", AMEM)
@contextmanager
def amem_returns_2k():
    """Linked notes appended after the k hits and never cut: up to 2k results."""
    def retrieve(self, query, k=5):
        hits = self.store.search(self.user, query, k)
        seen, extra = {h.id for h in hits}, []
        for h in hits:
            for j in self.store.links(h.id):
                if j not in seen and len(extra) < k:
                    seen.add(j)
                    extra += self.store.hits([j], [{"linked_from": h.id}], [0.0], user=self.user)
        return hits + extra
    with _patch(AM.AMem, "retrieve", retrieve):
        yield


@mutant("12", AMEM)
@contextmanager
def amem_links_both_ways():
    """Links followed backwards too (a note pulls in the notes that point at it)."""
    orig = ST.MemoryStore.links
    with _patch(ST.MemoryStore, "links", lambda self, mid, both=False: orig(self, mid, True)):
        yield


@mutant("12", AMEM)
@contextmanager
def amem_neighbours_on_combined_text():
    """The write-time neighbour search embeds content + context + keywords + tags, not the
    content alone (A-mem's ``find_related_memories(note.content, k)``)."""
    orig = AM.AMem.add_note

    def add_note(self, content, sources=()):
        a = self.llm.analyse_note(content)
        self.llm.calls["analyse_note"] = self.llm.calls.get("analyse_note", 1) - 1
        return orig(self, AM._embed_text(content, {"context": a["context"],
                                                   "keywords": a["keywords"],
                                                   "tags": a["tags"]}), sources)
    with _patch(AM.AMem, "add_note", add_note):
        yield


def _linked_store():
    s = ST.MemoryStore()
    a = AM.AMem(s, user="u")
    x = s.add("u", "alpha note about kayaks")
    s.add("u", "kayaks and canoes on the lake")
    z = s.add("u", "zulu unrelated", embed=False)     # reachable through a link only
    return s, a, x, z


@check("12", "amem_at_most_k", target=at_most(1.0))
def _amem_k():
    s, a, x, z = _linked_store()
    s.link(x, z)
    return max(len(a.retrieve("kayaks", k)) / k for k in (1, 2))


@check("12", "amem_forward_links_only", target=ONE)
def _amem_forward():
    s, a, x, z = _linked_store()
    s.link(z, x)                                     # z -> x: x must not pull z in
    return float(all(h.id != z for h in a.retrieve("kayaks", k=3)))


@check("12", "amem_neighbour_search_on_content", target=ONE)
def _amem_content():
    s = ST.MemoryStore()
    a, queries = AM.AMem(s, user="u"), []
    orig = s.search
    s.search = lambda user, q, k=5, **kw: queries.append(q) or orig(user, q, k, **kw)
    notes = ["user: I adopted a dog called Rex.\nassistant: nice",
             "user: I adopted a cat called Tom.\nassistant: nice"]
    for n in notes:
        a.add_note(n)
    return float(queries == notes and [it.text for it in s.items("u")] == notes)


import memlab.agents.mutants_seed  # noqa: F401 - registers part 3 (TiM, MemGAS, MAB-lite)
from memlab.agents import (
    mutants_harness,  # noqa: F401 - registers chapter 13's
    mutants_more,  # noqa: F401 - registers part 2
)
