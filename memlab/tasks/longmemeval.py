"""LongMemEval-lite: seeded multi-session user/assistant dialogues with a simulated clock.

Imitates the layout of LongMemEval (Wu et al., "LongMemEval: Benchmarking Chat Assistants on
Long-Term Interactive Memory", ICLR 2025) at toy size, offline, with canonical answers (exact
match, no LLM judge). Each record has LongMemEval's fields::

    question_id, question_type, question, answer, question_date,
    haystack_session_ids, haystack_dates, haystack_sessions, answer_session_ids

``haystack_sessions`` is a list of sessions, each a list of turns ``{role, content,
has_answer?}``; abstention questions have ids ending in ``_abs``. One extra key, ``memlab``,
holds what the harness needs and LongMemEval leaves to its LLM judge: the ``ability``, the
evidence turn ids (``<session>_<turn>``), and for knowledge updates the ``stale_answers``.

Spec (per persona, all from ``random.Random(seed)``):
* sessions 1..n on a simulated clock: start 2023-05-01 + persona offset, gaps of 1-6 days;
* facts planted in templated user turns (the rule-based LLM in ``memlab.agents.llm`` is exact
  on these templates): name, hometown (static), two of {city, job, car} mentioned then updated
  (the third is never mentioned: abstention), 2-3 pets adopted in different sessions, two
  dated events, one book recommended by the assistant; filler chit-chat rounds as haystack;
* questions of the five abilities: information extraction (``single-session-user``,
  ``single-session-assistant``), multi-session reasoning (pet count), knowledge update
  (current value of an updated slot), temporal reasoning (days between two events),
  abstention (the never-mentioned slot).

Sizes: ``tiny`` = 6 personas x 8 sessions (the shipped copy), ``small`` = 20 x 20.
"""

from __future__ import annotations

import datetime as dt
import json
import random

__all__ = ["ABILITIES", "ABSTAIN_ANSWER", "SIZES", "SLOT_QUESTIONS", "generate", "to_json"]

ABILITIES = ("information_extraction", "multi_session", "temporal", "knowledge_update",
             "abstention")
ABSTAIN_ANSWER = "You did not mention this information."
SIZES = {"tiny": (6, 8), "small": (20, 20)}

NAMES = ["Ana", "Ben", "Chloe", "Dev", "Emma", "Farid", "Grace", "Hugo", "Ines", "Jonas",
         "Kira", "Liam", "Maya", "Noah", "Olga", "Pablo", "Quinn", "Rosa", "Sam", "Tara"]
TOWNS = ["Porto", "Galway", "Bergen", "Split", "Cusco", "Nara", "Hobart", "Tromso", "Ghent",
         "Aarhus"]
CITIES = ["Berlin", "Madrid", "Toronto", "Lisbon", "Vienna", "Oslo", "Dublin", "Seoul",
          "Zurich", "Prague", "Boston", "Lyon"]
JOBS = ["nurse", "teacher", "data analyst", "carpenter", "chef", "pilot", "librarian",
        "architect", "pharmacist", "journalist"]
CARS = ["Honda Civic", "Toyota Corolla", "Tesla Model 3", "Ford Focus", "Volvo XC40",
        "Mazda CX5", "Fiat Panda", "Kia Niro"]
SPECIES = ["dog", "cat", "rabbit", "parrot", "hamster", "turtle"]
PETS = ["Rex", "Mochi", "Biscuit", "Luna", "Pepper", "Ziggy", "Olive", "Nemo", "Sunny", "Pixel"]
EVENTS = ["ran a half marathon", "visited the science museum", "went to a jazz concert",
          "planted tomatoes", "passed the driving test", "baked sourdough bread",
          "climbed Mount Snowdon", "started pottery classes", "painted the kitchen"]
BOOKS = ["The Long Way Home", "Salt and Stars", "A River of Glass", "The Quiet Orchard",
         "Paper Lanterns", "The Map Maker"]
FILLER = [
    ("Can you suggest a quick recipe with {x}?", "Sure: a simple {x} stir-fry with garlic works well.",
     ["lentils", "spinach", "mushrooms", "chickpeas", "salmon", "tofu"]),
    ("What is a good way to learn {x}?", "Practise a little every day and track your progress in {x}.",
     ["chess", "guitar", "Spanish", "sketching", "yoga", "coding"]),
    ("Any tips for a weekend trip to the {x}?", "Pack light and check the weather for the {x} first.",
     ["mountains", "coast", "countryside", "lakes", "desert"]),
    ("How do I keep my {x} clean?", "Wipe the {x} weekly with a mild soap solution.",
     ["keyboard", "bicycle", "oven", "windows", "sneakers"]),
    ("Tell me a fun fact about {x}.", "Here is one: {x} are more surprising than most people think.",
     ["octopuses", "volcanoes", "honeybees", "comets", "glaciers"]),
]
# slot -> (first mention, update, question, stale->current)
SLOTS = {
    "city": ("I live in {v} these days.", "Big news: I moved to {v} last week.", CITIES),
    "job": ("I work as a {v}.", "I started a new job as a {v}.", JOBS),
    "car": ("I drive a {v}.", "I sold my old car and now I drive a {v}.", CARS),
}
SLOT_QUESTIONS = {"city": "Where do I live now?", "job": "What do I work as now?",
                  "car": "What car do I drive now?"}
# The update turn's wording. "paraphrase" (the default, the shipped data): the city and job
# updates share fewer words with the question than the first mention does. "question_verb":
# every update reuses the question's verb and "now" -- same facts, same dates, same draws.
UPDATE_WORDINGS = {
    "paraphrase": {s: v[1] for s, v in SLOTS.items()},
    "question_verb": {"city": "Big news: I live in {v} now.",
                      "job": "I now work as a {v}, a new job.",
                      "car": "I sold my old car and now I drive a {v}."},
}


def _fmt_date(t: dt.datetime) -> str:
    return t.strftime("%Y/%m/%d (%a) %H:%M")


def _persona(p: int, n_sessions: int, rng: random.Random,
             update_wording: str = "paraphrase") -> list[dict]:
    if n_sessions < 6:
        raise ValueError(f"n_sessions must be >= 6 to place every fact, got {n_sessions}")
    start = dt.datetime(2023, 5, 1, 9, 0) + dt.timedelta(days=7 * p)
    dates, t = [], start
    for _ in range(n_sessions):
        t = t + dt.timedelta(days=rng.randint(1, 6), hours=rng.randint(0, 8),
                             minutes=rng.randint(0, 59))
        dates.append(t)
    sess = [[] for _ in range(n_sessions)]   # planted rounds per session: (user, assistant, who)
    name, town = rng.choice(NAMES), rng.choice(TOWNS)
    sess[0].append((f"Hi, my name is {name}.", f"Nice to meet you, {name}!", "user", "name"))
    hs = rng.randrange(n_sessions)
    sess[hs].append((f"I grew up in {town}, near the sea.", f"{town} sounds lovely.", "user", "hometown"))
    slots = list(SLOTS)
    rng.shuffle(slots)
    updated, missing = slots[:2], slots[2]
    values = {}
    for s in updated:
        first, _, pool = SLOTS[s]
        upd = UPDATE_WORDINGS[update_wording][s]
        a, b = rng.sample(pool, 2)
        i = rng.randrange(0, n_sessions // 2)
        j = rng.randrange(n_sessions // 2, n_sessions)
        sess[i].append((first.format(v=a), "Thanks for telling me.", "user", s))
        sess[j].append((upd.format(v=b), "Congratulations on the change!", "user", s))
        values[s] = (a, b, i, j)
    n_pets = rng.randint(2, 3)
    pet_sessions = rng.sample(range(n_sessions), n_pets)
    pets = rng.sample(PETS, n_pets)
    for k, (ps, pn) in enumerate(zip(pet_sessions, pets)):
        sp = rng.choice(SPECIES)
        sess[ps].append((f"I adopted a {sp} called {pn}.", f"{pn} is a great name for a {sp}!",
                         "user", f"pet{k}"))
    e_sessions = sorted(rng.sample(range(n_sessions), 2))
    events = rng.sample(EVENTS, 2)
    for es, ev in zip(e_sessions, events):
        sess[es].append((f"Today I {ev}.", "That sounds like a memorable day.", "user", f"event:{ev}"))
    bs, book = rng.randrange(n_sessions), rng.choice(BOOKS)
    sess[bs].append(("Can you recommend a novel for my holiday?", f"I recommend the book {book}.",
                     "assistant", "book"))

    # assemble sessions: planted rounds shuffled among 2-3 filler rounds
    sessions, ids, where = [], [], {}
    for s in range(n_sessions):
        rounds = list(sess[s])
        for _ in range(rng.randint(2, 3)):
            u, a, xs = rng.choice(FILLER)
            x = rng.choice(xs)
            rounds.append((u.format(x=x), a.format(x=x), None, None))
        first = rounds[:1] if s == 0 else []
        rest = rounds[1:] if s == 0 else rounds
        rng.shuffle(rest)
        turns = []
        for u, a, who, tag in first + rest:
            ut = {"role": "user", "content": u}
            at = {"role": "assistant", "content": a}
            if who == "user":
                ut["has_answer"] = True
            if who == "assistant":
                at["has_answer"] = True
            if tag is not None:
                where.setdefault(tag, []).append((s, len(turns) + (1 if who == "assistant" else 0)))
            turns += [ut, at]
        sessions.append(turns)
        ids.append(f"p{p}_s{s}")

    def rec(qid, qtype, ability, question, answer, tags, extra=None):
        ev = [(s, t) for tag in tags for (s, t) in where[tag]]
        meta = {"ability": ability, "evidence": [f"{ids[s]}_{t}" for s, t in ev]}
        meta.update(extra or {})
        return {"question_id": qid, "question_type": qtype, "question": question,
                "answer": answer, "question_date": _fmt_date(dates[-1] + dt.timedelta(days=2)),
                "haystack_session_ids": ids, "haystack_dates": [_fmt_date(d) for d in dates],
                "haystack_sessions": sessions,
                "answer_session_ids": sorted({ids[s] for s, _ in ev}), "memlab": meta}

    out = [rec(f"p{p}_hometown", "single-session-user", "information_extraction",
               "Where did I grow up?", town, ["hometown"]),
           rec(f"p{p}_book", "single-session-assistant", "information_extraction",
               "What book did you recommend to me?", book, ["book"]),
           rec(f"p{p}_pets", "multi-session", "multi_session",
               "How many pets have I adopted?", str(n_pets), [f"pet{k}" for k in range(n_pets)])]
    for s in updated:
        a, b, _, _ = values[s]
        out.append(rec(f"p{p}_{s}_now", "knowledge-update", "knowledge_update",
                       SLOT_QUESTIONS[s], b, [s], {"stale_answers": [a]}))
    d0, d1 = (dates[e_sessions[0]].date(), dates[e_sessions[1]].date())
    out.append(rec(f"p{p}_days", "temporal-reasoning", "temporal",
                   f"How many days passed between the day I {events[0]} and the day I {events[1]}?",
                   str((d1 - d0).days), [f"event:{e}" for e in events]))
    out.append(rec(f"p{p}_{missing}_abs", "single-session-user", "abstention",
                   SLOT_QUESTIONS[missing], ABSTAIN_ANSWER, []))
    return out


def generate(n_personas: int = 6, n_sessions: int = 8, seed: int = 0,
             size: str | None = None, update_wording: str = "paraphrase") -> list[dict]:
    """LongMemEval-shaped records (7 questions per persona). ``size`` overrides the counts;
    ``update_wording`` picks the wording of the knowledge-update turns
    (:data:`UPDATE_WORDINGS`; the draws, and so every other turn, are the same)."""
    if update_wording not in UPDATE_WORDINGS:
        raise ValueError(f"update_wording must be one of {sorted(UPDATE_WORDINGS)}, "
                         f"got {update_wording!r}")
    if size is not None:
        if size not in SIZES:
            raise ValueError(f"size must be one of {sorted(SIZES)}, got {size!r}")
        n_personas, n_sessions = SIZES[size]
    if not 1 <= n_personas <= 1000:
        raise ValueError(f"n_personas must be in [1, 1000], got {n_personas}")
    rng = random.Random(seed)
    return [r for p in range(n_personas)
            for r in _persona(p, n_sessions, rng, update_wording)]


def to_json(records: list[dict]) -> bytes:
    """Deterministic bytes (sorted keys, fixed separators) for shipping with a checksum."""
    return (json.dumps(records, sort_keys=True, indent=1, ensure_ascii=True) + "\n").encode()


# ---------------------------------------------------------------- LoCoMo-shaped export
# LoCoMo (Maharana et al., ACL 2024) as its official evaluation code reads `category`:
# 1 multi-hop, 2 temporal, 3 open-domain, 4 single-hop, 5 adversarial (no `answer`, only
# `adversarial_answer`). Mem0's evaluation used 1 = single-hop, 3 = multi-hop (mem0 #2609):
# always check the mapping. LoCoMo has no knowledge-update category: those go to single-hop.
LOCOMO_CATEGORY = {"multi_session": 1, "temporal": 2, "information_extraction": 4,
                   "knowledge_update": 4, "abstention": 5}


def _locomo_date(s: str) -> str:
    t = dt.datetime.strptime(s[:10] + s[-6:], "%Y/%m/%d %H:%M")
    return f"{t.strftime('%I:%M %p').lstrip('0').lower()} on {t.day} {t.strftime('%B')}, {t.year}"


def to_locomo(records: list[dict]) -> list[dict]:
    """One LoCoMo-shaped sample per persona: ``conversation`` with ``session_N`` turns
    ``{speaker, dia_id "D<session>:<turn>", text}`` and ``session_N_date_time``, plus ``qa``
    items ``{question, answer | adversarial_answer, evidence, category}``."""
    groups: dict[tuple, list[dict]] = {}
    for r in records:
        groups.setdefault(tuple(r["haystack_session_ids"]), []).append(r)
    out = []
    for recs in groups.values():
        r0 = recs[0]
        conv = {"speaker_a": "User", "speaker_b": "Assistant"}
        dia = {}
        for i, (sid, date, sess) in enumerate(zip(r0["haystack_session_ids"], r0["haystack_dates"],
                                                  r0["haystack_sessions"]), 1):
            conv[f"session_{i}_date_time"] = _locomo_date(date)
            conv[f"session_{i}"] = [{"speaker": "User" if t["role"] == "user" else "Assistant",
                                     "dia_id": f"D{i}:{j + 1}", "text": t["content"]}
                                    for j, t in enumerate(sess)]
            for j in range(len(sess)):
                dia[f"{sid}_{j}"] = f"D{i}:{j + 1}"
        qa = []
        for r in recs:
            ab = r["memlab"]["ability"]
            item = {"question": r["question"], "evidence": [dia[e] for e in r["memlab"]["evidence"]],
                    "category": LOCOMO_CATEGORY[ab]}
            if ab == "abstention":
                item["adversarial_answer"] = "not mentioned in the conversation"
            else:
                item["answer"] = r["answer"]
            qa.append(item)
        out.append({"sample_id": r0["haystack_session_ids"][0].split("_")[0],
                    "conversation": conv, "qa": qa})
    return out


def token_f1(prediction: str, gold: str) -> float:
    """LoCoMo/SQuAD-style token F1 after lower-casing and stripping punctuation and articles."""
    import re
    from collections import Counter

    def norm(s):
        s = re.sub(r"\b(a|an|the|and)\b", " ", re.sub(r"[^a-z0-9 ]", " ", s.lower()))
        return s.split()

    p, g = norm(prediction), norm(gold)
    common = sum((Counter(p) & Counter(g)).values())
    if not p or not g or common == 0:
        return float(p == g)
    prec, rec = common / len(p), common / len(g)
    return 2 * prec * rec / (prec + rec)
