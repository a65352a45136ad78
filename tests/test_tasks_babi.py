"""bAbI-lite: the stories say what the generator claims, the shortcut is weak, real bAbI reads."""

import pytest

from memlab.tasks import babi


def _replay(ex):
    """Recompute the answer and supports from the story text alone."""
    loc, holder, dropped_at, last_move, touch = {}, {}, {}, {}, {}
    for i, s in enumerate(ex["story"]):
        who, obj = s[0], s[-1]
        if obj in babi.LOCATIONS:
            loc[who], last_move[who] = obj, i
        elif "dropped" in s or "discarded" in s or "down" in s:
            holder.pop(obj)
            dropped_at[obj] = (loc[who], last_move[who])
            touch[obj] = i
        else:
            holder[obj] = who
            touch[obj] = i
    q = ex["question"][-1]
    if q in babi.PEOPLE:
        return loc[q], [last_move[q]]
    if q in holder:
        return loc[holder[q]], [touch[q], last_move[holder[q]]]
    return dropped_at[q][0], [touch[q], dropped_at[q][1]]


@pytest.mark.parametrize("task", [1, 2])
def test_answers_and_supporting_facts_follow_from_the_story(task):
    data = babi.generate(task, 300, seed=3)
    for ex in data:
        answer, support = _replay(ex)
        assert ex["answer"] == answer
        assert ex["support"] == support
        assert all(len(s) <= 7 for s in ex["story"]) and len(ex["question"]) <= 7


def test_generator_is_seeded_and_the_shortcut_is_weak():
    assert babi.generate(2, 20, seed=1) == babi.generate(2, 20, seed=1)
    assert babi.generate(2, 20, seed=1) != babi.generate(2, 20, seed=2)
    for task in (1, 2):
        assert babi.shortcut_accuracy(babi.generate(task, 1000, seed=0)) < 0.3
    # in task 2 someone else always moves after the supporting facts
    for ex in babi.generate(2, 200, seed=0):
        assert max(ex["support"]) < len(ex["story"]) - 1


def test_shortcut_accuracy_by_hand():
    ex = {"story": [["john", "went", "to", "the", "garden"], ["mary", "went", "to", "the", "office"]],
          "question": ["where", "is", "john"], "answer": "garden", "support": [0]}
    assert babi.shortcut_accuracy([ex]) == 0.0
    assert babi.shortcut_accuracy([dict(ex, answer="office")]) == 1.0


def test_encode_keeps_the_last_sentences_and_maps_supports():
    data = babi.generate(2, 50, seed=0)
    vocab = babi.build_vocab(data)
    enc = babi.encode(data, vocab, memory_size=4)
    assert enc["story"].shape[1] == 4 and (enc["n_mem"] <= 4).all()
    for i, ex in enumerate(data):
        n = int(enc["n_mem"][i])
        last = ex["story"][-n:]
        assert [vocab[w] for w in last[-1]] == enc["story"][i, n - 1][:len(last[-1])].tolist()
        for j, s in zip(enc["support"][i].tolist(), ex["support"]):
            if j >= 0:
                assert last[j] == ex["story"][s]


def test_bad_arguments_name_the_argument(tmp_path):
    with pytest.raises(ValueError, match="task"):
        babi.generate(3, 10)
    with pytest.raises(ValueError, match="min_len"):
        babi.generate(1, 10, min_len=5, max_len=3)
    with pytest.raises(FileNotFoundError, match="folder"):
        babi.read_babi(tmp_path, 1)


def test_read_babi_folder(tmp_path):
    (tmp_path / "qa2_two-supporting-facts_train.txt").write_text(
        "1 Mary moved to the bathroom.\n2 Sandra journeyed to the bedroom.\n"
        "3 Mary got the football there.\n4 John went to the kitchen.\n"
        "5 Where is the football?\tbathroom\t3 1\n6 Mary went back to the kitchen.\n"
        "7 Where is the football?\tkitchen\t3 6\n1 John moved to the office.\n"
        "2 Where is John?\toffice\t1\n")
    data = babi.read_babi(tmp_path, 2, "train")
    assert len(data) == 3
    assert data[0]["answer"] == "bathroom" and data[0]["support"] == [2, 0]
    assert len(data[1]["story"]) == 5 and data[1]["support"] == [2, 4]
    assert data[2]["story"] == [["john", "moved", "to", "the", "office"]]
    enc = babi.encode(data, babi.build_vocab(data))
    assert enc["support"][1].tolist() == [2, 4]
