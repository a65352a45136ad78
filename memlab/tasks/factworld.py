"""A generated fact world for retrieval and graph memory (chapter 11), and PopQA-lite.

``fact_world(...)``: people, companies and cities; relations ``born_in`` (person -> city),
``works_for`` (person -> company), ``spouse_of`` (person <-> person), ``located_in``
(company -> city). Every fact is one templated passage. A fraction ``alias_frac`` of the
entities has an alias ("John Q. Smith" for "John Smith", "Acme Corporation" for "Acme Corp")
that half of their passages use, so synonymy edges matter. Questions:

* one-hop: "Where was John Smith born?" -- support: the ``born_in`` passage;
* two-hop, the bridge never named: "In which city is the employer of John Smith located?"
  (support: John's ``works_for`` passage and the employer's ``located_in`` passage) and
  "Where was the spouse of John Smith born?".

``popqa_lite(...)``: subjects with Zipf-distributed popularity (PopQA's ``s_pop`` stands for
Wikipedia page views), one question per (subject, relation), and passages for a retriever.
Names are drawn from a small pool so some subjects share a name (retrieval then has to guess,
whatever the subject's popularity).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import numpy as np

__all__ = ["TEMPLATES", "FactWorld", "PopQALite", "Question", "fact_world", "popqa_lite"]

FIRST = ["John", "Mary", "Ahmed", "Li", "Sofia", "Pierre", "Anna", "Kenji", "Olga", "Diego",
         "Fatima", "Lars", "Priya", "Tomas", "Elena", "Kwame", "Yuki", "Marco", "Ines", "Ravi",
         "Hannah", "Omar", "Chloe", "Igor", "Nadia", "Pablo", "Greta", "Sami", "Lena", "Felix"]
LAST = ["Smith", "Garcia", "Okafor", "Chen", "Rossi", "Dubois", "Novak", "Tanaka", "Ivanova",
        "Silva", "Haddad", "Larsen", "Sharma", "Keller", "Moreau", "Mensah", "Sato", "Bianchi",
        "Costa", "Patel", "Weber", "Nasser", "Laurent", "Petrov", "Karimi", "Ortega", "Berg",
        "Kowalski", "Fischer", "Brandt", "Horvat", "Lindqvist", "Abara", "Quinn", "Yamada"]
SYLL = ["ver", "lan", "tor", "mi", "ka", "del", "sur", "qua", "bel", "ron", "zen", "fa",
        "mor", "ti", "gal", "nox", "pra", "dun", "vel", "sol", "cor", "bri", "han", "ost"]
TEMPLATES = {
    "born_in": ["{s} was born in {o}.", "{s} was born in the city of {o}."],
    "works_for": ["{s} works for {o}.", "{s} is employed by {o}."],
    "spouse_of": ["{s} is married to {o}.", "{s} is the spouse of {o}."],
    "located_in": ["{s} is located in {o}.", "{s} has its headquarters in {o}."],
}
QUESTIONS = {
    "born_in": "Where was {s} born?",
    "works_for": "Which company does {s} work for?",
    "located_in": "In which city is {s} located?",
    "employer_city": "In which city is the employer of {s} located?",
    "spouse_birthplace": "Where was the spouse of {s} born?",
}


@dataclass
class Question:
    text: str
    answer: str
    hops: int
    kind: str
    entity: str                     # the named entity (canonical name)
    support: list[int]              # passage ids needed


@dataclass
class FactWorld:
    entities: dict[str, str]                    # canonical name -> kind
    aliases: dict[str, str]                     # canonical -> alias
    triples: list[tuple[str, str, str]]         # (subject, relation, object), canonical names
    passages: list[str]
    passage_triples: list[tuple[str, str, str]]  # surface names as written in each passage
    questions: list[Question] = field(default_factory=list)

    def by_hops(self, hops: int) -> list[Question]:
        return [q for q in self.questions if q.hops == hops]


def _names(rng, n, make):
    out: list[str] = []
    seen = set()
    while len(out) < n:
        x = make()
        if x not in seen:
            seen.add(x)
            out.append(x)
    return out


def fact_world(n_people: int = 120, n_companies: int = 40, n_cities: int = 20,
               alias_frac: float = 0.2, n_questions: int = 60, seed: int = 0) -> FactWorld:
    """Generate the world; ``n_questions`` per question kind (one-hop: born_in, works_for;
    two-hop: employer_city, spouse_birthplace)."""
    for name, v, lo in (("n_people", n_people, 4), ("n_companies", n_companies, 2),
                        ("n_cities", n_cities, 2), ("n_questions", n_questions, 1)):
        if not isinstance(v, int) or v < lo:
            raise ValueError(f"{name} must be an int >= {lo}, got {v!r}")
    if not 0.0 <= alias_frac <= 1.0:
        raise ValueError(f"alias_frac must be in [0, 1], got {alias_frac}")
    if n_people > len(FIRST) * len(LAST):
        raise ValueError(f"n_people must be <= {len(FIRST) * len(LAST)}, got {n_people}")
    rng = random.Random(seed)
    people = _names(rng, n_people, lambda: f"{rng.choice(FIRST)} {rng.choice(LAST)}")
    word = lambda k: "".join(rng.choice(SYLL) for _ in range(k)).capitalize()
    companies = _names(rng, n_companies, lambda: f"{word(2)} {rng.choice(['Corp', 'Labs', 'Works'])}")
    cities = _names(rng, n_cities, lambda: word(3))
    entities = {**{p: "person" for p in people}, **{c: "company" for c in companies},
                **{c: "city" for c in cities}}
    aliases = {}
    for p in people:
        if rng.random() < alias_frac:
            f, last = p.split(" ")
            aliases[p] = f"{f} {rng.choice('ABCDEFGHJKLMNPRSTW')}. {last}"
    for c in companies:
        if rng.random() < alias_frac:
            head, kind = c.split(" ")
            aliases[c] = f"{head} { {'Corp': 'Corporation', 'Labs': 'Laboratories', 'Works': 'Workshop'}[kind]}"
    triples = []
    for p in people:
        triples.append((p, "born_in", rng.choice(cities)))
        triples.append((p, "works_for", rng.choice(companies)))
    order = people[:]
    rng.shuffle(order)
    spouse = {}
    for a, b in zip(order[0::2], order[1::2]):
        if rng.random() < 0.7:
            spouse[a], spouse[b] = b, a
            triples.append((a, "spouse_of", b))
    for c in companies:
        triples.append((c, "located_in", rng.choice(cities)))
    rng.shuffle(triples)
    surface = lambda e: aliases[e] if e in aliases and rng.random() < 0.5 else e
    passages, ptriples, where = [], [], {}
    for s, r, o in triples:
        ss, so = surface(s), surface(o)
        passages.append(rng.choice(TEMPLATES[r]).format(s=ss, o=so))
        ptriples.append((ss, r, so))
        where[(s, r)] = len(passages) - 1
    fact = {(s, r): o for s, r, o in triples}
    qs: list[Question] = []
    for kind in ("born_in", "works_for", "employer_city", "spouse_birthplace"):
        pool = [p for p in people if kind != "spouse_birthplace" or p in spouse]
        for p in rng.sample(pool, min(n_questions, len(pool))):
            if kind in ("born_in", "works_for"):
                qs.append(Question(QUESTIONS[kind].format(s=p), fact[(p, kind)], 1, kind, p,
                                   [where[(p, kind)]]))
            elif kind == "employer_city":
                c = fact[(p, "works_for")]
                qs.append(Question(QUESTIONS[kind].format(s=p), fact[(c, "located_in")], 2, kind,
                                   p, [where[(p, "works_for")], where[(c, "located_in")]]))
            else:
                sp = spouse[p]
                key = (p, "spouse_of") if (p, "spouse_of") in where else (sp, "spouse_of")
                qs.append(Question(QUESTIONS[kind].format(s=p), fact[(sp, "born_in")], 2, kind,
                                   p, [where[key], where[(sp, "born_in")]]))
    return FactWorld(entities, aliases, triples, passages, ptriples, qs)


# ---------------------------------------------------------------------------- PopQA-lite
POP_RELATIONS = {"occupation": ["farmer", "painter", "doctor", "teacher", "sailor", "judge",
                                "baker", "poet"],
                 "country": ["Norland", "Suvia", "Kestria", "Marovia", "Tesh", "Aldera"],
                 "sport": ["rowing", "chess", "tennis", "judo", "fencing"]}
POP_TEMPLATES = {"occupation": ("{s} worked as a {o}.", "What is {s}'s occupation?"),
                 "country": ("{s} is a citizen of {o}.", "In what country is {s}?"),
                 "sport": ("{s} plays {o}.", "What sport does {s} play?")}


@dataclass
class PopQALite:
    names: list[str]                 # subject surface names (may repeat)
    popularity: np.ndarray           # [n_subjects] s_pop (page views), Zipf
    facts: dict[tuple[int, str], str]
    passages: list[str]
    passage_subject: list[int]
    q_subject: np.ndarray            # [n_q]
    q_relation: list[str]
    q_text: list[str]
    q_answer: list[str]


def popqa_lite(n_subjects: int = 2000, zipf_a: float = 1.1, n_first: int = 30, n_last: int = 35,
               seed: int = 0) -> PopQALite:
    """Subjects with popularity ``s_pop ~ 1e6 / rank^zipf_a`` (random rank order); one
    passage and one question per (subject, relation)."""
    if not isinstance(n_subjects, int) or n_subjects < 10:
        raise ValueError(f"n_subjects must be an int >= 10, got {n_subjects!r}")
    if zipf_a <= 0:
        raise ValueError(f"zipf_a must be > 0, got {zipf_a}")
    rng = np.random.default_rng(seed)
    names = [f"{FIRST[rng.integers(min(n_first, len(FIRST)))]} "
             f"{LAST[rng.integers(min(n_last, len(LAST)))]}" for _ in range(n_subjects)]
    pop = 1e6 / rng.permutation(np.arange(1, n_subjects + 1)) ** zipf_a
    facts, passages, psub = {}, [], []
    qs, qr, qt, qa = [], [], [], []
    for i in range(n_subjects):
        for r, objs in POP_RELATIONS.items():
            o = objs[rng.integers(len(objs))]
            facts[(i, r)] = o
            passages.append(POP_TEMPLATES[r][0].format(s=names[i], o=o))
            psub.append(i)
            qs.append(i), qr.append(r), qt.append(POP_TEMPLATES[r][1].format(s=names[i]))
            qa.append(o)
    return PopQALite(names, pop, facts, passages, psub, np.array(qs), qr, qt, qa)
