"""Chapter 18: the SAM2Long-style tree (P = 1 == greedy, memory-conditioned proposals) and the
KARMA-style memory (LRU / LFU by hand, scene graph, planning)."""

import math

import numpy as np
import pytest

from memlab.streaming import tree as TR
from memlab.streaming.karma import Agent, ObjectStateMemory, SceneGraphMemory, run_tasks
from memlab.tasks.streams import grid_house, tracking_video


@pytest.mark.parametrize("seed", range(6))
def test_tree_with_one_pathway_is_greedy(seed):
    vid = tracking_video(60, seed=seed)
    g, gm = TR.greedy_track(vid, seed=seed)
    t, tree = TR.tree_track(vid, 1, seed=seed)
    assert np.array_equal(g, t, equal_nan=True)
    assert tree.best().cum == pytest.approx(gm.cum)


def test_proposals_depend_on_the_pathways_own_memory():
    cfg = TR.TrackerConfig()
    dets = [(0.0, 1.0), (10.0, 1.0)]
    near0 = TR.proposals(TR.Pathway(0.0), dets, np.zeros(2), cfg)
    near10 = TR.proposals(TR.Pathway(10.0), dets, np.zeros(2), cfg)
    assert near0[0][1] == 0.0 and near10[0][1] == 10.0
    assert near0[0][0] == pytest.approx(1.0) and near0[-1] == (cfg.s_occ, 0.0, False)
    assert near0[1][0] == pytest.approx(math.exp(-100 / (2 * cfg.sigma ** 2)))


def test_accept_updates_memory_by_hand():
    cfg = TR.TrackerConfig(beta=0.5)
    m = TR.accept(TR.Pathway(0.0, vel=1.0), (0.8, 3.0, True), cfg)
    assert m.pos == 3.0 and m.vel == pytest.approx(0.5 * 1.0 + 0.5 * 3.0)
    assert m.cum == pytest.approx(math.log(0.8 + TR.EPS))
    c = TR.accept(m, (0.5, None, False), cfg)
    assert c.pos == pytest.approx(3.0 + 2.0) and math.isnan(c.history[-1])


def test_tree_recovers_where_greedy_locks_onto_the_lookalike():
    res = TR.benchmark(20, 3, hard=True, seed=1)
    assert res["tree"] >= res["greedy"] + 0.1
    clean = TR.benchmark(10, 3, hard=False, seed=1)
    assert clean["tree"] == clean["greedy"] == 1.0


def test_every_chapter18_memory_speaks_the_memory_vocabulary():
    from memlab.memory import Memory
    from memlab.streaming.consolidation import ShortLongMemory
    from memlab.streaming.framebank import FrameBank
    from memlab.streaming.vla import PerceptualCognitiveBank

    house = grid_house(seed=0)
    mems = [FrameBank(8), ShortLongMemory(), PerceptualCognitiveBank(4), TR.MemoryTree(0.0),
            ObjectStateMemory(), SceneGraphMemory(house)]
    for m in mems:
        assert isinstance(m, Memory), type(m).__name__
        assert isinstance(m.state_size(), int)
    tree = TR.MemoryTree(0.0, P=2)
    tree.write([(1.0, 1.0)], np.zeros(1))
    assert tree.read() == 1.0 and tree.state_size() == 2 * 24
    tree.reset(5.0)
    assert tree.read() == 5.0 and tree.trace == []


def test_tree_and_video_errors():
    with pytest.raises(ValueError, match="P"):
        TR.MemoryTree(0.0, P=0)
    with pytest.raises(ValueError, match="look_alike"):
        tracking_video(look_alike=2.0)


def test_lru_and_lfu_victims_by_hand():
    for policy, gone in (("lru", "a"), ("lfu", "b")):
        m = ObjectStateMemory(2, policy)
        m.write("a", "r1", 0)
        m.write("b", "r2", 1)
        m.read("a", 2)
        m.read("a", 3)
        m.read("b", 4)
        m.write("c", "r3", 5)
        assert gone not in m.items and "c" in m.items
    with pytest.raises(ValueError, match="policy"):
        ObjectStateMemory(2, "mru")


def test_scene_graph_and_agent_plan_with_memory():
    house = grid_house(seed=0)
    g = SceneGraphMemory(house)
    rec, room = next(iter(house.receptacles.items()))
    assert g.read(rec) is None
    g.write(rec, room)
    assert g.read(rec) == room and g.state_size() > 0
    agent = Agent(grid_house(seed=0), long_term=True, short_term="lfu", capacity=4)
    obj = "obj0"
    ok1, s1 = agent.do_task([obj], rec, budget=100)
    ok2, s2 = agent.do_task([obj], rec, budget=100)     # now it knows where both are
    assert ok1 and ok2 and s2 <= s1


def test_memory_beats_no_memory_on_composite_tasks():
    base = run_tasks(lambda: grid_house(seed=1), 40, seed=1, long_term=False, short_term=None)
    full = run_tasks(lambda: grid_house(seed=1), 40, seed=1, long_term=True, short_term="lfu",
                     capacity=6)
    assert full["success"] >= 1.3 * base["success"] and full["steps"] < base["steps"]
