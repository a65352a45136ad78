"""bAbI-lite: seeded stories for tasks 1 and 2 of bAbI (Weston et al. 2015), plus a real-bAbI reader.

Task 1 (single supporting fact)::

    mary moved to the bathroom          <- supporting fact (Mary's last move)
    john went to the hallway
    where is mary ?                     -> bathroom

Task 2 (two supporting facts)::

    john went to the kitchen             <- supporting fact 2 (John's last move)
    john got the football                <- supporting fact 1 (who holds it)
    mary journeyed to the garden         (other people keep moving after the pick-up)
    where is the football ?              -> kitchen

Every example is a dict ``{"story": [[words]], "question": [words], "answer": word,
"support": [indices into story]}``; the supporting facts are listed in the order a reader
chains them (task 2: the object's get/drop fact first, then the holder's move). The generator is designed so that the shortcut "answer the
last location mentioned" is weak: in task 2 one to three other people move after the last
supporting fact; in task 1 the person asked about is rarely the last to move.
:func:`shortcut_accuracy` measures that baseline. :func:`read_babi` reads a real bAbI folder
(``qa1_*_train.txt`` ...) supplied by the user; nothing is downloaded. :func:`encode` turns
examples into tensors for :class:`memlab.slots.MemN2N`.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

import torch

__all__ = [
    "LOCATIONS",
    "OBJECTS",
    "PEOPLE",
    "build_vocab",
    "encode",
    "generate",
    "read_babi",
    "shortcut_accuracy",
]

PEOPLE = ("mary", "john", "sandra", "daniel")
LOCATIONS = ("bathroom", "hallway", "garden", "office", "kitchen", "bedroom")
OBJECTS = ("football", "apple", "milk")
MOVE = ("moved to the", "went to the", "journeyed to the", "travelled to the")
GET = ("got the", "picked up the", "grabbed the")
DROP = ("dropped the", "discarded the", "put down the")


def _move(rng, people_loc, who=None, avoid=None):
    who = who or rng.choice(PEOPLE)
    options = [loc for loc in LOCATIONS if loc != people_loc.get(who) and loc != avoid]
    loc = rng.choice(options)
    people_loc[who] = loc
    return who, [who, *rng.choice(MOVE).split(), loc]


def _task1(rng, min_len, max_len):
    n = rng.randint(min_len, max_len)
    loc, story, last_move = {}, [], {}
    for i in range(n):
        who, s = _move(rng, loc)
        story.append(s)
        last_move[who] = i
    # ask preferably about someone who is NOT the last to move (the shortcut then fails)
    last = story[-1][0]
    asked = [p for p in last_move if p != last] or [last]
    who = rng.choice(asked)
    return {"story": story, "question": ["where", "is", who], "answer": loc[who],
            "support": [last_move[who]]}


def _task2(rng, min_len, max_len):
    n_body = rng.randint(max(min_len - 3, 2), max(max_len - 3, 2))
    loc, holder, story = {}, {}, []
    last_move, last_touch = {}, {}      # person -> index of last move; object -> index of get/drop
    move_before = {}                     # object -> index of the holder's move before a drop
    for _ in range(n_body):
        i = len(story)
        free = [o for o in OBJECTS if o not in holder]
        placed = [p for p in loc]        # people with a known location
        r = rng.random()
        if r < 0.3 and free and placed:
            who, obj = rng.choice(placed), rng.choice(free)
            holder[obj] = who
            story.append([who, *rng.choice(GET).split(), obj])
            last_touch[obj] = i
        elif r < 0.4 and holder:
            obj = rng.choice(sorted(holder))
            who = holder.pop(obj)
            story.append([who, *rng.choice(DROP).split(), obj])
            last_touch[obj] = i
            move_before[obj] = (last_move[who], loc[who])
        else:
            who, s = _move(rng, loc)
            story.append(s)
            last_move[who] = i
    touched = sorted(last_touch)
    if not touched:                      # make sure some object has been touched
        who = rng.choice(sorted(loc)) if loc else None
        if who is None:
            who, s = _move(rng, loc)
            last_move[who] = len(story)
            story.append(s)
        obj = rng.choice(OBJECTS)
        holder[obj] = who
        last_touch[obj] = len(story)
        story.append([who, *rng.choice(GET).split(), obj])
        touched = [obj]
    obj = rng.choice(touched)
    if obj in holder:
        who = holder[obj]
        answer, support = loc[who], [last_touch[obj], last_move[who]]
    else:
        move_i, answer = move_before[obj]
        support = [last_touch[obj], move_i]
        who = None
    # other people move after the supporting facts: the last location mentioned is a distractor
    others = [p for p in PEOPLE if p != who]
    for _ in range(rng.randint(1, 3)):
        _, s = _move(rng, loc, who=rng.choice(others))
        story.append(s)
    return {"story": story, "question": ["where", "is", "the", obj], "answer": answer,
            "support": support}


def generate(task: int, n: int, seed: int = 0, min_len: int = 4, max_len: int = 12) -> list[dict]:
    """``n`` seeded bAbI-lite examples of ``task`` (1 or 2), stories of ``min_len..max_len`` sentences."""
    if task not in (1, 2):
        raise ValueError(f"task must be 1 or 2, got {task!r}")
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if not 2 <= min_len <= max_len:
        raise ValueError(f"need 2 <= min_len <= max_len, got min_len={min_len}, max_len={max_len}")
    rng = random.Random(seed * 7919 + task)
    make = _task1 if task == 1 else _task2
    return [make(rng, min_len, max_len) for _ in range(n)]


def shortcut_accuracy(examples: list[dict]) -> float:
    """Accuracy of "answer = the last location mentioned in the story" (a baseline, not a model)."""
    hits = 0
    for ex in examples:
        last = next((w for s in reversed(ex["story"]) for w in reversed(s) if w in LOCATIONS), None)
        hits += last == ex["answer"]
    return hits / max(len(examples), 1)


def _tokens(text: str) -> list[str]:
    return re.findall(r"[a-z]+", text.lower())


def read_babi(folder: str | Path, task: int, split: str = "train") -> list[dict]:
    """Read ``qa{task}_*_{split}.txt`` of a user-supplied bAbI folder into bAbI-lite examples.

    One example per question: the story so far (questions removed) and the supporting-fact ids
    mapped to indices of that story. Raises FileNotFoundError naming the folder if absent.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    files = sorted(Path(folder).glob(f"qa{task}_*_{split}.txt"))
    if not files:
        raise FileNotFoundError(f"no qa{task}_*_{split}.txt in folder {str(folder)!r}")
    out: list[dict] = []
    story: list[list[str]] = []
    line_to_idx: dict[int, int] = {}
    for line in files[0].read_text().splitlines():
        if not line.strip():
            continue
        num, text = line.split(" ", 1)
        num = int(num)
        if num == 1:
            story, line_to_idx = [], {}
        if "\t" in text:
            q, a, sup = (text.split("\t") + [""])[:3]
            out.append({"story": [list(s) for s in story], "question": _tokens(q),
                        "answer": _tokens(a)[0],
                        "support": [line_to_idx[int(x)] for x in sup.split()]})
        else:
            line_to_idx[num] = len(story)
            story.append(_tokens(text))
    return out


def build_vocab(*datasets: list[dict]) -> dict[str, int]:
    """Word -> id, sorted; id 0 is the nil (padding) word."""
    words = sorted({w for data in datasets for ex in data
                    for w in [*(w for s in ex["story"] for w in s), *ex["question"], ex["answer"]]})
    return {w: i + 1 for i, w in enumerate(words)}


def encode(examples: list[dict], vocab: dict[str, int], memory_size: int = 50,
           sentence_len: int | None = None) -> dict[str, torch.Tensor]:
    """Tensors for MemN2N: the last ``memory_size`` sentences of each story, oldest first.

    Returns ``story [N, M, J]`` (0 = nil), ``query [N, J]``, ``answer [N]``, ``n_mem [N]``
    (filled slots, slots ``0..n_mem-1``), ``support [N, 2]`` (slot ids, -1 where none).
    """
    if memory_size < 1:
        raise ValueError(f"memory_size must be >= 1, got {memory_size}")
    J = sentence_len or max(max(len(s) for ex in examples for s in ex["story"]),
                            max(len(ex["question"]) for ex in examples))
    M = min(memory_size, max(len(ex["story"]) for ex in examples))
    N = len(examples)
    story = torch.zeros(N, M, J, dtype=torch.long)
    query = torch.zeros(N, J, dtype=torch.long)
    answer = torch.zeros(N, dtype=torch.long)
    n_mem = torch.zeros(N, dtype=torch.long)
    support = torch.full((N, 2), -1, dtype=torch.long)
    for i, ex in enumerate(examples):
        sents = ex["story"][-M:]
        offset = len(ex["story"]) - len(sents)
        for m, s in enumerate(sents):
            if len(s) > J:
                raise ValueError(f"sentence_len={J} is shorter than a sentence of {len(s)} words")
            story[i, m, :len(s)] = torch.tensor([vocab[w] for w in s])
        query[i, :len(ex["question"])] = torch.tensor([vocab[w] for w in ex["question"][:J]])
        answer[i] = vocab[ex["answer"]]
        n_mem[i] = len(sents)
        for j, s in enumerate(ex["support"][:2]):      # -1: outside the memory window
            support[i, j] = s - offset if s >= offset else -1
    return {"story": story, "query": query, "answer": answer, "n_mem": n_mem, "support": support}
