"""BABILong-lite: layout, facts in order among filler, supporting facts, answers, scoring."""

import pytest
import torch

from memlab.tasks import IGNORE
from memlab.tasks import babilong as BL


def test_layout_question_at_the_end_and_one_answer_per_story():
    b = BL.babilong_lite(20, 3, 16, seed=0)
    v = b.meta["vocab"]
    assert b.inputs.shape == (20, 48)
    assert (b.targets != IGNORE).sum(1).tolist() == [1] * 20
    assert (b.targets[:, -1] == b.meta["answer"]).all()
    assert (b.inputs[:, -4] == v.ids["where"]).all() and (b.inputs[:, -1] == v.ids["?"]).all()
    # people, places and filler never share ids
    assert not set(v.people) & set(v.places) and not set(v.filler) & set(v.places)


def test_qa1_answer_is_the_last_location_of_the_asked_person_and_facts_keep_order():
    b = BL.babilong_lite(50, 4, 16, n_facts=(2, 4), n_people=3, seed=1)
    for i in range(50):
        pos = [int(p) for p in b.meta["fact_pos"][i] if p >= 0]
        assert pos == sorted(pos) and len(pos) == int(b.meta["n_facts"][i])
        asked = int(b.inputs[i, -2])
        facts = [b.inputs[i, p:p + 4].tolist() for p in pos]
        last = max(j for j, f in enumerate(facts) if f[0] == asked)
        assert int(b.meta["supporting"][i, 0]) == last
        assert facts[last][2] == int(b.meta["answer"][i])


def test_qa2_answer_is_where_the_holder_of_the_object_went_last():
    b = BL.babilong_lite(30, 3, 16, task="qa2", n_facts=3, n_people=2, seed=2)
    v = b.meta["vocab"]
    for i in range(30):
        pos = [int(p) for p in b.meta["fact_pos"][i] if p >= 0]
        facts = [b.inputs[i, p:p + 4].tolist() for p in pos]
        take, move = b.meta["supporting"][i].tolist()
        take, move = (take, move) if facts[take][1] in v.take else (move, take)
        assert facts[take][2] == int(b.inputs[i, -2])            # the asked object
        assert facts[move][0] == facts[take][0]                  # moved by its holder
        assert facts[move][2] == int(b.meta["answer"][i])


def test_task_end_pct_keeps_facts_out_of_the_last_segment():
    b = BL.babilong_lite(100, 4, 16, task_end_pct=3 / 4, seed=3)
    last_fact_end = (b.meta["fact_pos"].max(1).values + 3)
    assert (last_fact_end < 3 * 16).all()
    assert (BL.fact_segments(b) < 3).all()


def test_deterministic_and_scoring_follows_babilong():
    a, b = BL.babilong_lite(5, 2, 16, seed=7), BL.babilong_lite(5, 2, 16, seed=7)
    assert torch.equal(a.inputs, b.inputs)
    assert BL.compare_answers("She is in the Kitchen. Then garden", "kitchen")
    assert not BL.compare_answers("office. kitchen", "kitchen")
    assert not BL.compare_answers("kitchens", "kitchen")
    assert BL.decode([0, 1], a.meta["vocab"]) == "."


@pytest.mark.parametrize("kwargs, match", [
    ({"n_segments": 1, "segment_size": 4}, "segment_size"),
    ({"n_segments": 1, "segment_size": 8, "n_facts": (3, 3)}, "do not fit"),
    ({"n_segments": 2, "segment_size": 16, "task": "qa9"}, "task"),
    ({"n_segments": 2, "segment_size": 16, "task_end_pct": 0.01}, "no room"),
    ({"n_segments": 2, "segment_size": 16, "n_people": 0}, "n_people"),
])
def test_bad_arguments_raise_naming_them(kwargs, match):
    with pytest.raises(ValueError, match=match):
        BL.babilong_lite(3, **kwargs)
