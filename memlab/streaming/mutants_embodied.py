"""Chapter 18's mutants of the SAM2Long-style tree and the KARMA-style memory, with their checks
(imported by :mod:`memlab.streaming.mutants`, which holds the memoisation helper)."""

from __future__ import annotations

from contextlib import contextmanager
from unittest import mock

from memlab.report import at_least, at_most
from memlab.streaming import experiments as E
from memlab.streaming import karma as KA
from memlab.streaming import tree as TR
from memlab.streaming.mutants import CH, _memo
from memlab.testing.mutants import check, mutant

TREE, KARMA = "Memory tree (SAM2Long)", "Scene graph + object states (KARMA)"


def _tree():
    return _memo("tree", (TR, TR.MemoryTree), lambda: E.tree_claims(30, seed=0))


def _karma():
    return _memo("karma", (KA, KA.Agent, KA.ObjectStateMemory, KA.SceneGraphMemory),
                 lambda: E.karma_claims(50, seeds=(0, 1, 2)))


# ------------------------------------------------------------------ SAM2Long tree
@mutant(CH, TREE)
@contextmanager
def tree_shared_memory():
    """The trap: every pathway's proposals come from pathway 0's memory, so the pathways
    cannot disagree about where to look."""
    def bad(self, dets, noise_t):
        lead = self.pathways[0]
        branches = [TR.accept(p, c, self.cfg) for p in self.pathways
                    for c in TR.proposals(lead, dets, noise_t, self.cfg)]
        self.pathways = TR._select(branches, self.P, self.cfg)
        self.trace.append([p.pos for p in self.pathways])
    with mock.patch.object(TR.MemoryTree, "step", bad):
        yield


@mutant(CH, TREE, excused="measured: ranking by the current frame's score alone still recovers "
                          "most videos in this toy (gain 0.40 vs 0.57 over greedy on the check's "
                          "30 videos): the diversity rule does most of the work here")
@contextmanager
def tree_score_not_cumulative():
    """Pathways are ranked by the current frame's score only, not the sum of log scores."""
    orig = TR.accept

    def bad(mem, cand, cfg):
        new = orig(mem, cand, cfg)
        new.cum = new.cum - mem.cum
        return new
    with mock.patch.object(TR, "accept", bad):
        yield


@mutant(CH, TREE)
@contextmanager
def tree_no_diversity():
    """Plain top-P by cumulative score: near-copies of the leading pathway crowd out the
    'target is occluded' hypothesis."""
    with mock.patch.object(TR, "_select",
                           lambda br, P, cfg: sorted(br, key=lambda b: -b.cum)[:P]):
        yield


@mutant(CH, TREE)
@contextmanager
def tree_keeps_worst():
    """The sort is ascending: the pathways with the lowest cumulative scores survive."""
    with mock.patch.object(TR, "_select", lambda br, P, cfg: sorted(br, key=lambda b: b.cum)[:P]):
        yield


@check(CH, "tree_gain_hard")
def _tree_gain():
    return _tree()["tree_gain_hard"]


@check(CH, "tree_gap_clean")
def _tree_clean():
    return _tree()["tree_gap_clean"]


@check(CH, "tree_p1_equals_greedy")
def _tree_p1():
    return _tree()["tree_p1_equals_greedy"]


# ------------------------------------------------------------------ KARMA
@mutant(CH, KARMA)
@contextmanager
def lru_evicts_most_recent():
    """LRU's victim is the most recently used object (max for min)."""
    orig = KA.ObjectStateMemory.victim

    def bad(self):
        if self.policy == "lru":
            return max(self.items, key=lambda o: self.items[o][1])
        return orig(self)
    with mock.patch.object(KA.ObjectStateMemory, "victim", bad):
        yield


@mutant(CH, KARMA)
@contextmanager
def lfu_reads_not_counted():
    """A read does not count as a use: LFU sees only writes."""
    def bad(self, obj, t):
        return self.items[obj][0] if obj in self.items else None
    with mock.patch.object(KA.ObjectStateMemory, "read", bad):
        yield


@mutant(CH, KARMA)
@contextmanager
def planner_ignores_scene_graph():
    """The planner never reads the scene graph: it searches for the receptacle every time."""
    with mock.patch.object(KA.SceneGraphMemory, "read", lambda self, r: None):
        yield


@mutant(CH, KARMA)
@contextmanager
def planner_ignores_object_states():
    """The planner never consults short-term memory: it searches for every object."""
    with mock.patch.object(KA.ObjectStateMemory, "read", lambda self, obj, t: None):
        yield


@check(CH, "karma_success_ratio")
def _karma_ratio():
    return _karma()["karma_success_ratio"]


@check(CH, "karma_object_memory_gain", target=at_least(0.05))
def _karma_gain():
    return _karma()["object_memory_gain"]


@check(CH, "karma_replacement_by_hand", target=at_most(0.0))
def _karma_hand():
    """Hand-computed victims: capacity 2, write a (t0), b (t1), read a (t2), read a (t3),
    read b (t4), write c (t5). LRU evicts a (last used t3 < t4); LFU evicts b (2 uses < 3)."""
    wrong = 0
    for policy, victim in (("lru", "a"), ("lfu", "b")):
        m = KA.ObjectStateMemory(2, policy)
        m.write("a", "r1", 0)
        m.write("b", "r2", 1)
        m.read("a", 2)
        m.read("a", 3)
        m.read("b", 4)
        m.write("c", "r3", 5)
        wrong += victim in m.items
    return float(wrong)
