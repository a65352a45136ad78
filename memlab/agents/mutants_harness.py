"""Chapter 13's mutants: the harness and the claims it measures (registered when
memlab.agents.mutants imports this module; see its docstring)."""

from __future__ import annotations

from contextlib import contextmanager

from memlab.agents import harness as H
from memlab.agents.experiments import ability_contrasts
from memlab.agents.mutants import ONE, _patch
from memlab.report import at_most, between
from memlab.tasks.longmemeval import generate
from memlab.testing.mutants import check, mutant

# ------------------------------------------------------------------ chapter 13: the harness
HARNESS = "Memory harness"


@mutant("13", HARNESS)
@contextmanager
def harness_stale_never_flagged():
    """The stale flag compares the answer with the *current* value, so it is never set."""
    orig = H.run_system

    def run_system(*a, **kw):
        out = orig(*a, **kw)
        for r in out["rows"]:
            r["stale"] = False
        return out
    with _patch(H, "run_system", run_system):
        yield


@mutant("13", HARNESS)
@contextmanager
def harness_recall_counts_any_source():
    """recall_any is true whenever anything was retrieved (evidence ids not compared)."""
    orig = H.run_system

    def run_system(*a, **kw):
        out = orig(*a, **kw)
        for r in out["rows"]:
            if r["recall_any"] is not None:
                r["recall_any"] = True
        return out
    with _patch(H, "run_system", run_system):
        yield


@mutant("13", HARNESS)
@contextmanager
def harness_k_ignored():
    """The harness asks every system for k = 1, whatever k it was given."""
    orig = H.run_system
    with _patch(H, "run_system", lambda f, recs, k=5, *a, **kw: orig(f, recs, 1, *a, **kw)):
        yield


@mutant("13", HARNESS)
@contextmanager
def harness_fixed_k5():
    """The harness passes k = 5 to every system (the review's bug: MemoryBank's own top-6,
    the code's, is never used)."""
    orig = H.run_system
    with _patch(H, "run_system", lambda f, recs, k=None, *a, **kw: orig(f, recs, k or 5, *a, **kw)):
        yield


@mutant("13", HARNESS)
@contextmanager
def harness_update_recall_counts_stale_mention():
    """The update's evidence includes the first, stale mention (the review's finding: the gap
    was measured on any evidence turn)."""
    with _patch(H, "update_evidence", lambda record: set(record["memlab"]["evidence"])):
        yield


@check("13", "harness_uses_each_systems_k", target=ONE)
def _system_k():
    from memlab.agents.memorybank import MemoryBank

    seen = set()

    class Spy(MemoryBank):
        def retrieve(self, query, k=None):
            seen.add(k)
            return super().retrieve(query, k)
    H.run_system(Spy, generate(n_personas=1, seed=0))
    return float(seen == {6})


@check("13", "harness_update_evidence_is_the_update_turn", target=ONE)
def _update_turn():
    recs = [r for r in generate(n_personas=2, seed=0)
            if r["memlab"]["ability"] == "knowledge_update"]
    ok = []
    for r in recs:
        ev = H.update_evidence(r)
        sessions = {e.rsplit("_", 1)[0] for e in r["memlab"]["evidence"]}
        ok.append(len(sessions) == 2 and len(ev) == 1
                  and next(iter(ev)).rsplit("_", 1)[0] == max(
                      sessions, key=r["haystack_session_ids"].index))
    return float(all(ok))


@check("13", "memorybank_forgetting_cost")
def _forgetting_cost():
    from memlab.agents.experiments import forgetting_cost

    return forgetting_cost(generate(n_personas=3, seed=0))["cost"]


def _contrasts():
    return ability_contrasts(generate(n_personas=3, seed=0))


@check("13", "plain_ku_recall_minus_accuracy")
def _ku_gap():
    return _contrasts()["ku_gap"]["plain-retrieval"]


@check("13", "ga_temporal_deficit")
def _ga_deficit():
    return _contrasts()["ga_temporal_deficit"]


@check("13", "plain_stale_rate_measured", target=between(0.3, 1.0))
def _plain_stale():
    recs = generate(n_personas=3, seed=0)
    return H.evaluate(recs, {"plain-retrieval": H.SYSTEMS["plain-retrieval"]})[
        "plain-retrieval"]["stale_rate"]


@check("13", "mem0_gap_control", target=at_most(0.05))
def _mem0_gap():
    return _contrasts()["ku_gap"]["mem0"]


def _amnesiac(*a, **kw):
    from memlab.agents.baselines import PlainRetrieval

    m = PlainRetrieval(*a, **kw)
    m.retrieve = lambda query, k=5: []
    return m


@check("13", "harness_recall_of_no_memory", target=at_most(0.0))
def _no_memory_recall():
    out = H.run_system(_amnesiac, generate(n_personas=2, seed=0))
    rec = [r["recall_any"] for r in out["rows"] if r["recall_any"] is not None]
    return sum(rec) / len(rec)
