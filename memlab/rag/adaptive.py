"""Adaptive retrieval: trust parametric memory for popular entities, retrieve for the tail.

Paper: Mallen, Asai, Zhong, Das, Khashabi, Hajishirzi, "When Not to Trust Language Models:
Investigating Effectiveness of Parametric and Non-Parametric Memories" (ACL 2023; PopQA).
Procedure as in its notebook (``AlexTMallen/adaptive-retrieval``, ``adaptive-retrieval.ipynb``):
per relation type, bin ``log s_pop`` with ``np.histogram`` (10 bins); on a random 75 % train
split choose the bin edge ``theta`` that maximises the accuracy of "retrieve when
log s_pop < theta, else answer parametrically"; evaluate on the other 25 %; average over 100
random splits; relation types weighted by their test size.

**The parametric memory here is a model, not an LM.** :class:`CountMemoriser` stands for what
pre-training does to a fact: the training stream mentions subject i about
``n_mentions * p_i`` times (``p_i`` proportional to its popularity; Poisson counts), and a
(name, relation) fact is memorised once it was seen at least ``m_r`` times (``m_r`` differs per
relation: some relations are harder to memorise). Subjects that share a name share one
memory slot, which keeps the fact of the most-mentioned one. Unknown facts are answered with
the relation's most common object (a guess). So parametric accuracy rises with popularity by
construction of the model; what the chapter measures is what adaptive retrieval does with it.
The retriever is real: BM25 over the passages, read by a rule reader (first retrieved passage
of the asked relation). It does not care about popularity; it fails where names collide.

Glossary
    s_pop           popularity (page views)          popularity
    theta_r         threshold of relation r          thresholds[r]
    m_r             mentions needed to memorise      min_mentions[r]

Not included: real LMs of several sizes, GenRead, the paper's Contriever retriever.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from memlab.rag.dense import BM25Retriever, rank
from memlab.tasks.factworld import POP_RELATIONS, POP_TEMPLATES, PopQALite

__all__ = [
    "CountMemoriser",
    "accuracy_by_popularity",
    "adaptive_eval",
    "choose_threshold",
    "retrieval_answers",
    "retrieve_mask",
    "spearman",
]


class CountMemoriser:
    """Popularity-dependent memoriser (see the module docstring)."""

    def __init__(self, n_mentions: float = 20_000, min_mentions: dict | None = None, seed: int = 0):
        self.n_mentions = n_mentions
        self.min_mentions = min_mentions or {"occupation": 2, "country": 4, "sport": 8}
        self.seed = seed

    def fit(self, data: PopQALite) -> CountMemoriser:
        rng = np.random.default_rng(self.seed)
        p = data.popularity / data.popularity.sum()
        self.slots: dict[tuple[str, str], tuple[float, str]] = {}
        for (i, r), o in data.facts.items():
            seen = rng.poisson(self.n_mentions * p[i])
            key = (data.names[i], r)
            if seen >= self.min_mentions[r] and seen > self.slots.get(key, (0, ""))[0]:
                self.slots[key] = (seen, o)
        self.prior = {r: Counter(o for (i, rr), o in data.facts.items() if rr == r).most_common(1)[0][0]
                      for r in POP_RELATIONS}
        return self

    def answer(self, name: str, relation: str) -> str:
        return self.slots.get((name, relation), (0, self.prior[relation]))[1]

    def answers(self, data: PopQALite) -> list[str]:
        return [self.answer(data.names[s], r) for s, r in zip(data.q_subject, data.q_relation)]


def retrieval_answers(data: PopQALite, k: int = 10, retriever=None) -> list[str]:
    """BM25 top-k passages per question; the rule reader answers from the first passage of the
    asked relation (unknown if none)."""
    ret = (retriever or BM25Retriever()).fit(data.passages)
    rel_of = [next(r for r, (t, _) in POP_TEMPLATES.items() if t.split("{o}")[0].split("{s}")[1] in p)
              for p in data.passages]
    obj_of = [p.rstrip(".").split()[-1] for p in data.passages]
    out = []
    for lo in range(0, len(data.q_text), 1000):
        top = rank(ret.scores(data.q_text[lo:lo + 1000]), k)
        for row, r in zip(top, data.q_relation[lo:lo + 1000]):
            hit = next((obj_of[j] for j in row if rel_of[j] == r), "")
            out.append(hit)
    return out


def retrieve_mask(logpop: np.ndarray, theta: float) -> np.ndarray:
    """Retrieve for the long tail: ``log s_pop < theta``."""
    return logpop < theta


def choose_threshold(logpop: np.ndarray, param_ok: np.ndarray, retr_ok: np.ndarray,
                     n_bins: int = 10) -> float:
    """The bin edge theta maximising mean(where(logpop < theta, retr_ok, param_ok))."""
    if not (len(logpop) == len(param_ok) == len(retr_ok)) or len(logpop) == 0:
        raise ValueError("logpop, param_ok and retr_ok must be non-empty and of equal length")
    _, edges = np.histogram(logpop, bins=n_bins)
    edges = np.concatenate([edges[:-1], [np.inf]])      # the last edge: retrieve always
    accs = [np.mean(np.where(logpop < e, retr_ok, param_ok)) for e in edges]
    return float(edges[int(np.argmax(accs))])


def adaptive_eval(data: PopQALite, param: list[str], retr: list[str], n_splits: int = 100,
                  train_frac: float = 0.75, n_bins: int = 10, seed: int = 0) -> dict:
    """Test accuracy of parametric-only, retrieval-only and adaptive answers, and the fraction
    of test questions for which adaptive retrieves; means over ``n_splits`` random splits."""
    if not 0 < train_frac < 1:
        raise ValueError(f"train_frac must be in (0, 1), got {train_frac}")
    ans = np.array(data.q_answer)
    p_ok, r_ok = np.array(param) == ans, np.array(retr) == ans
    logpop = np.log(data.popularity[data.q_subject])
    rel = np.array(data.q_relation)
    rng = np.random.default_rng(seed)
    res = {"parametric": [], "retrieval": [], "adaptive": [], "retrieve_frac": []}
    for _ in range(n_splits):
        tot = {k: 0.0 for k in res}
        n_test = 0
        for r in POP_RELATIONS:
            idx = rng.permutation(np.nonzero(rel == r)[0])
            cut = int(train_frac * len(idx))
            tr, te = idx[:cut], idx[cut:]
            theta = choose_threshold(logpop[tr], p_ok[tr], r_ok[tr], n_bins)
            use = retrieve_mask(logpop[te], theta)
            tot["parametric"] += p_ok[te].sum()
            tot["retrieval"] += r_ok[te].sum()
            tot["adaptive"] += np.where(use, r_ok[te], p_ok[te]).sum()
            tot["retrieve_frac"] += use.sum()
            n_test += len(te)
        for k, v in res.items():
            v.append(tot[k] / n_test)
    return {k: float(np.mean(v)) for k, v in res.items()}


def accuracy_by_popularity(data: PopQALite, answers: list[str], n_bins: int = 10):
    """(bin centres of log s_pop, accuracy per bin) over equal-count bins."""
    ok = np.array(answers) == np.array(data.q_answer)
    lp = np.log(data.popularity[data.q_subject])
    order = np.argsort(lp, kind="stable")
    chunks = np.array_split(order, n_bins)
    return (np.array([lp[c].mean() for c in chunks]), np.array([ok[c].mean() for c in chunks]))


def spearman(x, y) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(x, y).statistic)
