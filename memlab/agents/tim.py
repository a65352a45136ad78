"""Think-in-Memory (TiM): store the thoughts inferred from a turn, not the turn; LSH recall.

Paper: Liu et al., "Think-in-Memory: Recalling and Post-thinking Enable LLMs with Long-Term
Memory", 2023 (arXiv 2311.08719). No public code; the LSH is the cross-polytope hash of
Andoni et al. 2015 that the paper cites (as Reformer uses it).

Glossary (paper -> code here)::

    A          the agent (LLM)                           self.llm
    M          memory cache: hash index -> thoughts      store rows kind="thought", meta["bucket"]
    T          an inductive thought (head, rel, tail)    a canonical fact text, "User lives in Oslo"
    F(x)       hash-based mapping                        lsh_hash(x, R)
    R          random projection, d x b/2, N(0, 1)       self.R   (seeded by ``seed``)
    b          number of buckets                         n_buckets

Equations and algorithm::

    F(x) = argmax([x R ; -x R])                          (cross-polytope LSH, b buckets)
    Stage 1, recall:  bucket(q) = F(e(q)); candidates = thoughts with F(e(T)) = bucket(q);
                      top-k of the candidates by cosine(e(q), e(T))
    Stage 2, post-think (after the reply): thoughts = A.extract(user turn + reply); for each T:
        insert  T is new                                     -> add T to M[F(e(T))]
        forget  T contradicts a stored thought (same head and
                single-valued relation, other tail)          -> delete the old thought
        merge   T shares head and relation with a stored
                thought of a multi-valued relation (pets,
                events)                                      -> one thought holding both

Multi-probe (ours, ``multiprobe=True``): when the query's bucket holds fewer than k thoughts,
the next buckets in the order of ``[qR; -qR]`` are searched too (Lv et al. 2007). With
``multiprobe=False`` only F(q) is searched, as the paper describes; with every bucket
probed the result equals exact cosine search (:meth:`TiM.retrieve_exact`, tested equal).

Defaults: the paper gives no b; ``n_buckets = 8`` (a few thoughts per bucket at our sizes).
The "post-thinking" is the task-level LLM (:meth:`~memlab.agents.llm.LLM.extract_facts` on the
round); which of insert / forget / merge applies is decided on the parsed thought by the
rules above (the offline stand-in for the LLM's judgement, exact on the templated data).

Not included: the paper's fine-tuning of ChatGLM / Baichuan2 with LoRA, the response
generation itself (the shared reader answers), Chinese-language dialogues.
"""

from __future__ import annotations

import numpy as np

from memlab.agents.base import AgentMemory, round_text
from memlab.agents.grammar import SINGLE_VALUED, parse_facts
from memlab.agents.llm import iso_date
from memlab.agents.store import check_k

__all__ = ["TiM", "lsh_hash", "probe_order"]


def _check_R(R: np.ndarray, d: int) -> None:
    if R.ndim != 2 or R.shape[0] != d:
        raise ValueError(f"R must have shape [d={d}, b/2], got {R.shape}")


def lsh_hash(X: np.ndarray, R: np.ndarray) -> np.ndarray:
    """F(x) = argmax([xR; -xR]) for each row of ``X [n, d]``; buckets in ``[0, 2 R.shape[1])``."""
    X = np.atleast_2d(np.asarray(X, dtype=np.float64))
    _check_R(R, X.shape[1])
    P = X @ R
    return np.argmax(np.concatenate([P, -P], axis=1), axis=1)


def probe_order(q: np.ndarray, R: np.ndarray) -> np.ndarray:
    """Buckets in descending order of ``[qR; -qR]`` (the first is F(q))."""
    q = np.asarray(q, dtype=np.float64).reshape(-1)
    _check_R(R, q.shape[0])
    p = q @ R
    return np.argsort(-np.concatenate([p, -p]), kind="stable")


class TiM(AgentMemory):
    """Thoughts (canonical facts) in LSH buckets, organised by insert / forget / merge."""

    name = "tim"

    def __init__(self, *args, n_buckets: int = 8, multiprobe: bool = True, organise: bool = True,
                 seed: int = 0, **kw):
        super().__init__(*args, **kw)
        if not isinstance(n_buckets, int) or n_buckets < 2 or n_buckets % 2:
            raise ValueError(f"n_buckets must be an even integer >= 2, got {n_buckets!r}")
        self.n_buckets, self.multiprobe, self.organise = n_buckets, multiprobe, organise
        d = self.store.embedder.dim
        self.R = np.random.default_rng(seed).standard_normal((d, n_buckets // 2))
        self.ops = {"insert": 0, "forget": 0, "merge": 0, "none": 0}

    # ---- post-thinking ------------------------------------------------------------------
    def _observe(self, user_text, assistant_text, sources):
        today = iso_date(self.clock.now)
        for thought in self._extract(round_text(user_text, assistant_text), today):
            self.post_think(thought, sources)

    def bucket_of(self, text: str) -> int:
        return int(lsh_hash(self.store.embed_for(self.user, [text]), self.R)[0])

    def _insert(self, text, sources, reason) -> int:
        meta = {"sources": list(sources), "date": iso_date(self.clock.now),
                "bucket": self.bucket_of(text)}
        self.ops["insert"] += 1
        return self.store.add(self.user, text, meta, reason=reason, kind="thought")

    def post_think(self, thought: str, sources=()) -> str:
        """Organise one new thought; returns the operation applied."""
        facts = parse_facts(thought)
        stored = self.store.items(self.user, kind="thought")
        if any(it.text == thought for it in stored):
            self.ops["none"] += 1
            return "none"
        if not self.organise or not facts:
            self._insert(thought, sources, "insert: new thought")
            return "insert"
        f = facts[0]
        same = [it for it in stored if any(g.slot == f.slot for g in parse_facts(it.text))]
        with self.store.transaction():
            if f.slot in SINGLE_VALUED and same:
                for it in same:
                    self._forget(it, thought)
                if f.polarity:
                    self._insert(thought, sources, "insert after forget")
                return "forget"
            if f.slot not in SINGLE_VALUED and same:
                self._merge(same[0], thought, sources)
                return "merge"
            self._insert(thought, sources, "insert: new thought")
        return "insert"

    def _forget(self, old, thought: str) -> None:
        """Forget: the stored thought is contradicted by the new one."""
        self.store.delete(old.id, reason=f"forget: contradicted by {thought!r}")
        self.ops["forget"] += 1

    def _merge(self, old, thought: str, sources) -> None:
        """Merge: one thought holds every tail of a multi-valued relation (one per line)."""
        text = old.text + "\n" + thought
        self.store.update(old.id, text, {"sources": old.meta.get("sources", []) + list(sources),
                                         "date": iso_date(self.clock.now),
                                         "bucket": self.bucket_of(text)},
                          reason=f"merge: {thought!r} joins the thought")
        self.ops["merge"] += 1

    # ---- recall ---------------------------------------------------------------------------
    def retrieve(self, query, k=5):
        """Stage 1: the query's bucket (then the next ones, with multi-probe), top-k by cosine."""
        k = check_k(k)
        ids, mat = self.store.vectors(self.user, kind="thought")
        if len(ids) == 0:
            return []
        q = self.store.embed_for(self.user, [query])[0]
        buckets = lsh_hash(mat, self.R)
        cand = np.zeros(len(ids), dtype=bool)
        order = probe_order(q, self.R)
        for n_probed, b in enumerate(order, 1):
            cand |= buckets == b
            if not self.multiprobe or cand.sum() >= k:
                break
        idx = np.flatnonzero(cand)
        s = mat[idx] @ q
        top = idx[np.argsort(-s, kind="stable")[:k]]
        sims = mat[top] @ q
        return self.store.hits([int(ids[i]) for i in top],
                               [{"cosine": float(v), "bucket": int(buckets[i]),
                                 "probed": n_probed} for i, v in zip(top, sims)],
                               [float(v) for v in sims], user=self.user)

    def retrieve_exact(self, query, k=5):
        """The naive form: exact cosine top-k over every thought (no hashing)."""
        return self.store.search(self.user, query, check_k(k), kind="thought")

    def state_size(self) -> int:
        """Thoughts held."""
        return len(self.store.items(self.user, kind="thought"))


# ---------------------------------------------------------------- the consistency experiment
#: paraphrases of LongMemEval-lite questions (the first of each is the canonical question).
#: The reader is given the canonical question -- it understands any phrasing, as an LLM
#: would -- while *retrieval* sees the paraphrase: only what is recalled differs.
PARAPHRASES = {
    "Where do I live now?": ["Where do I live now?", "Which city did I move to?",
                             "What city am I living in these days?",
                             "Where is home for me at the moment?"],
    "What do I work as now?": ["What do I work as now?", "What is my new job?",
                               "What job did I start?", "What is my work these days?"],
    "What car do I drive now?": ["What car do I drive now?", "What am I driving these days?",
                                 "Which car did I get after selling my old one?",
                                 "What is my car now?"],
    "Where did I grow up?": ["Where did I grow up?", "Which town am I from originally?",
                             "Where was I raised?"],
    "How many pets have I adopted?": ["How many pets have I adopted?",
                                      "How many animals did I adopt?",
                                      "Count the pets I told you about."],
}


def paraphrase_consistency(factory, records: list[dict], k: int | None = None,
                           paraphrases: dict | None = None) -> dict:
    """Ask every paraphrase of each answerable question after one replay per persona.

    Returns ``consistent`` (fraction of question groups whose paraphrases all get the same,
    non-abstaining answer), ``contradictions`` (... that get two different non-abstaining
    answers), ``all_correct`` (... and that answer is the gold one), ``groups``
    and per-group ``answers``. Abstaining never counts as consistent."""
    from memlab.agents.harness import parse_date, personas, replay
    from memlab.agents.llm import ABSTAIN
    from memlab.agents.store import MemoryStore

    paraphrases = PARAPHRASES if paraphrases is None else paraphrases
    groups = []
    for recs in personas(records):
        store = MemoryStore()
        sys_ = factory(store=store, user=recs[0]["haystack_session_ids"][0])
        replay(sys_, recs[0])
        for r in recs:
            if r["question"] not in paraphrases or r["question_id"].endswith("_abs"):
                continue
            store.clock.set(parse_date(r["question_date"]))
            answers = [sys_.llm.answer(r["question"], sys_.contexts(p, k),
                                       policy=sys_.reader_policy)
                       for p in paraphrases[r["question"]]]
            given = {a for a in answers if a != ABSTAIN}
            groups.append({"question_id": r["question_id"], "gold": r["answer"],
                           "answers": answers, "contradictory": len(given) > 1,
                           "consistent": len(set(answers)) == 1 and answers[0] != ABSTAIN,
                           "all_correct": all(a == r["answer"] for a in answers)})
        store.close()
    n = max(len(groups), 1)
    return {"consistent": sum(g["consistent"] for g in groups) / n,
            "contradictions": sum(g["contradictory"] for g in groups) / n,
            "all_correct": sum(g["all_correct"] for g in groups) / n,
            "groups": groups}
