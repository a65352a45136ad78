"""BABILong-lite: bAbI-style facts hidden in filler text over N segments, the question at the end.

Paper: Kuratov, Bulatov, Anokhin, Rodkin, Sorokin, Sorokin, Burtsev, "BABILong: Testing the
Limits of LLMs with Long Context Reasoning-in-a-Haystack" (NeurIPS 2024 D&B); public code
``booydar/babilong`` (``babilong/babilong_utils.py``). What is kept from it:

* a sample = bAbI facts + a question + the answer + the **supporting-fact ids**;
* background = filler *sentences*; the facts are inserted **between background sentences at
  random positions, sorted so that they keep their order**; the question follows the context;
* scoring = the answer word occurs in the first sentence of the output
  (:func:`compare_answers`, BABILong's ``compare_answers``).

Tasks (token-level, one word = one token)::

    qa1 (single supporting fact)   "P went L ."  ...  "where is P ?"   -> L  (P's last move)
    qa2 (two supporting facts)     "P went L ." "P took O ." ... "where is O ?" -> the location
                                   of O's holder at the end (the take fact + the holder's last move)

Layout of one example (``n_segments * segment_size`` tokens; ``targets`` is -100 except at the
``?`` token, where it is the answer, in the LM convention of :mod:`memlab.tasks`)::

    [ filler sentences with facts between them ....................... | where is P ? ]
      segment 0 | segment 1 | ... | segment N-1 (ends with the question)

Filler words are drawn from a vocabulary disjoint from the task words with Zipf frequencies
(rank^-1), standing in for PG-19 sentences.

Not included: real bAbI templates and PG-19 text (no downloads), qa3-qa20, multi-token answers
and ``task_start_pct`` / ``task_end_pct`` (facts may fall anywhere before the question).
"""

from __future__ import annotations

import numpy as np
import torch

from memlab.tasks import IGNORE, TaskBatch

__all__ = [
    "QUESTION_LEN",
    "Vocab",
    "babilong_lite",
    "compare_answers",
    "decode",
    "fact_segments",
    "make_vocab",
]

SPECIAL = [".", "where", "is", "?"]
VERBS = ["went", "moved", "journeyed", "travelled"]
TAKE = ["took", "grabbed"]
PEOPLE = ["mary", "john", "sandra", "daniel", "fred", "bill", "julie", "emma", "jeff", "kate",
          "lucy", "tom"]
PLACES = ["kitchen", "garden", "office", "hallway", "bedroom", "bathroom", "cellar", "park",
          "school", "cinema", "attic", "garage"]
OBJECTS = ["football", "apple", "milk", "key", "book", "box"]
QUESTION_LEN = 4      # "where is X ?"
FACT_LEN = 4          # "P went L ."


class Vocab:
    """Word <-> id for one configuration; ``ids[word]``, ``words[id]``, ranges of each kind."""

    def __init__(self, n_people: int, n_places: int, n_filler: int, n_objects: int = 0):
        self.words = ["<pad>", *SPECIAL, *VERBS, *TAKE, *PEOPLE[:n_people], *PLACES[:n_places],
                      *OBJECTS[:n_objects], *(f"w{i}" for i in range(n_filler))]
        self.ids = {w: i for i, w in enumerate(self.words)}
        self.people = np.array([self.ids[p] for p in PEOPLE[:n_people]])
        self.places = np.array([self.ids[p] for p in PLACES[:n_places]])
        self.objects = np.array([self.ids[o] for o in OBJECTS[:n_objects]], dtype=np.int64)
        self.filler = np.arange(len(self.words) - n_filler, len(self.words))
        self.verbs = np.array([self.ids[v] for v in VERBS])
        self.take = np.array([self.ids[v] for v in TAKE])

    def __len__(self) -> int:
        return len(self.words)


def make_vocab(n_people: int = 6, n_places: int = 6, n_filler: int = 200,
               n_objects: int = 0) -> Vocab:
    for name, v, lo, hi in (("n_people", n_people, 1, len(PEOPLE)),
                            ("n_places", n_places, 2, len(PLACES)),
                            ("n_filler", n_filler, 1, 100_000),
                            ("n_objects", n_objects, 0, len(OBJECTS))):
        if not isinstance(v, (int, np.integer)) or not lo <= v <= hi:
            raise ValueError(f"{name} must be an int in [{lo}, {hi}], got {v!r}")
    return Vocab(int(n_people), int(n_places), int(n_filler), int(n_objects))


def decode(tokens, vocab: Vocab) -> str:
    """Token ids -> text (pads dropped)."""
    return " ".join(vocab.words[int(t)] for t in tokens if int(t) != 0)


def compare_answers(output: str, answer: str) -> bool:
    """BABILong's scoring: the answer word occurs in the first sentence of the output."""
    first = output.strip().lower().split(".")[0]
    return answer.strip().lower() in first.split()


def _filler_sentences(rng, vocab: Vocab, n_tokens: int, cdf: np.ndarray) -> list[list[int]]:
    """Filler sentences (3-7 Zipf-drawn words + '.') totalling exactly ``n_tokens`` tokens."""
    if n_tokens <= 0:
        return []
    words = vocab.filler[np.searchsorted(cdf, rng.random(n_tokens), side="right").clip(
        max=len(cdf) - 1)]
    lengths = rng.integers(4, 9, size=n_tokens // 4 + 1)          # words + the full stop
    ends = np.cumsum(lengths)
    ends = np.append(ends[ends < n_tokens], n_tokens)
    out, start, dot = [], 0, vocab.ids["."]
    for end in ends:
        sent = words[start:end].tolist()
        sent[-1] = dot
        out.append(sent)
        start = end
    return out


def _qa1_facts(rng, vocab: Vocab, n_facts: int):
    who = rng.choice(vocab.people, size=n_facts)
    where = rng.choice(vocab.places, size=n_facts)
    facts = [[int(p), int(rng.choice(vocab.verbs)), int(loc), vocab.ids["."]]
             for p, loc in zip(who, where)]
    ask = int(rng.choice(np.unique(who)))
    last = max(i for i in range(n_facts) if who[i] == ask)
    return facts, ask, int(where[last]), [last]


def _qa2_facts(rng, vocab: Vocab, n_facts: int):
    """Moves of people, one 'P took O' fact; ask where O is (= holder's last location)."""
    if n_facts < 2:
        raise ValueError("qa2 needs n_facts >= 2 (a move and a take)")
    who = rng.choice(vocab.people, size=n_facts)
    where = rng.choice(vocab.places, size=n_facts)
    obj = int(rng.choice(vocab.objects))
    t_take = int(rng.integers(0, n_facts))
    holder = int(who[t_take])
    moves = [i for i in range(n_facts) if i != t_take and who[i] == holder]
    if not moves:                                  # make sure the holder moved somewhere
        i = int(rng.choice([i for i in range(n_facts) if i != t_take]))
        who[i] = holder
        moves = [i]
    facts = []
    for i in range(n_facts):
        if i == t_take:
            facts.append([holder, int(rng.choice(vocab.take)), obj, vocab.ids["."]])
        else:
            facts.append([int(who[i]), int(rng.choice(vocab.verbs)), int(where[i]), vocab.ids["."]])
    last = max(moves)
    return facts, obj, int(where[last]), sorted([t_take, last])


def babilong_lite(n_examples: int, n_segments: int, segment_size: int = 32, *, task: str = "qa1",
                  n_facts: tuple[int, int] | int = (2, 4), n_people: int = 6, n_places: int = 6,
                  n_filler: int = 200, n_objects: int = 4, task_start_pct: float = 0.0,
                  task_end_pct: float = 1.0, seed: int = 0) -> TaskBatch:
    """``n_examples`` samples of ``n_segments * segment_size`` tokens (see the module docstring).

    ``n_facts``: number of facts per sample (an int or an inclusive range ``(lo, hi)``).
    ``task_start_pct``, ``task_end_pct``: the facts lie within this fraction of the context
    (BABILong's options of the same names); e.g. ``task_end_pct = (N-1)/N`` keeps every fact
    out of the last segment, so that segment-local attention cannot see it.
    ``meta``: ``vocab`` (a :class:`Vocab`), ``answer [n]``, ``fact_pos [n, max_facts]`` (start
    token of each fact, -1 = none), ``supporting [n, 2]`` (fact ids, -1 = none), ``n_facts [n]``.
    """
    if task not in ("qa1", "qa2"):
        raise ValueError(f"task must be 'qa1' or 'qa2', got {task!r}")
    for name, v, lo in (("n_examples", n_examples, 1), ("n_segments", n_segments, 1),
                        ("segment_size", segment_size, QUESTION_LEN + 1)):
        if not isinstance(v, (int, np.integer)) or v < lo:
            raise ValueError(f"{name} must be an int >= {lo}, got {v!r}")
    lo_f, hi_f = (n_facts, n_facts) if isinstance(n_facts, (int, np.integer)) else n_facts
    if not 1 <= lo_f <= hi_f:
        raise ValueError(f"n_facts must be >= 1 (or a range lo <= hi), got {n_facts!r}")
    T = n_segments * segment_size
    if hi_f * FACT_LEN + QUESTION_LEN > T:
        raise ValueError(f"n_facts up to {hi_f} ({FACT_LEN} tokens each) and the question do not "
                         f"fit in n_segments * segment_size = {T} tokens")
    if not 0.0 <= task_start_pct < task_end_pct <= 1.0:
        raise ValueError(f"need 0 <= task_start_pct < task_end_pct <= 1, got "
                         f"{task_start_pct}, {task_end_pct}")
    vocab = make_vocab(n_people, n_places, n_filler, n_objects if task == "qa2" else 0)
    if task == "qa2" and n_objects < 1:
        raise ValueError("qa2 needs n_objects >= 1")
    rng = np.random.default_rng(seed)
    zipf = 1.0 / np.arange(1, n_filler + 1)
    cdf = np.cumsum(zipf / zipf.sum())
    inputs = np.zeros((n_examples, T), dtype=np.int64)
    targets = np.full((n_examples, T), IGNORE, dtype=np.int64)
    answer = np.zeros(n_examples, dtype=np.int64)
    fact_pos = np.full((n_examples, hi_f), -1, dtype=np.int64)
    supporting = np.full((n_examples, 2), -1, dtype=np.int64)
    counts = np.zeros(n_examples, dtype=np.int64)
    for i in range(n_examples):
        k = int(rng.integers(lo_f, hi_f + 1))
        facts, ask, ans, sup = (_qa1_facts if task == "qa1" else _qa2_facts)(rng, vocab, k)
        background = _filler_sentences(rng, vocab, T - QUESTION_LEN - k * FACT_LEN, cdf)
        # insert the facts between background sentences at random places, in order
        # (a boundary is allowed when all k facts placed there still end inside the range)
        prefix = np.concatenate([[0], np.cumsum([len(b) for b in background])])
        ctx = T - QUESTION_LEN
        ok = np.flatnonzero((prefix >= task_start_pct * ctx)
                            & (prefix + k * FACT_LEN <= task_end_pct * ctx))
        if len(ok) == 0:
            raise ValueError(f"no room for {k} facts between task_start_pct={task_start_pct} and "
                             f"task_end_pct={task_end_pct} of {ctx} context tokens")
        slots = np.sort(rng.choice(ok, size=k))
        seq, f = [], 0
        for s in range(len(background) + 1):
            while f < k and slots[f] == s:
                fact_pos[i, f] = len(seq)
                seq += facts[f]
                f += 1
            if s < len(background):
                seq += background[s]
        seq += [vocab.ids["where"], vocab.ids["is"], ask, vocab.ids["?"]]
        inputs[i] = seq
        targets[i, T - 1] = ans
        answer[i], counts[i] = ans, k
        supporting[i, :len(sup)] = sup
    return TaskBatch(torch.from_numpy(inputs), torch.from_numpy(targets),
                     {"task": task, "n_segments": n_segments, "segment_size": segment_size,
                      "vocab": vocab, "seed": seed, "answer": torch.from_numpy(answer),
                      "fact_pos": torch.from_numpy(fact_pos),
                      "supporting": torch.from_numpy(supporting),
                      "n_facts": torch.from_numpy(counts)})


def fact_segments(batch: TaskBatch) -> torch.Tensor:
    """Segment index of each example's (last) supporting fact ``[n]``."""
    sup = batch.meta["supporting"].max(1).values
    pos = batch.meta["fact_pos"].gather(1, sup[:, None])[:, 0]
    return pos // batch.meta["segment_size"]
