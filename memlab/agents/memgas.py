"""MemGAS: memory at four granularities, an entropy router over them, and association by GMM.

Paper: Xu et al., "Towards Multi-Granularity Memory Association and Selection for Long-Term
Conversational Agents", 2025 (arXiv 2505.19549); code quqxui/MemGAS
(``src/retrieval/run_retrieval.py``, ``src/construct/construct_asso.py``).

Glossary (paper -> code here)::

    g in G        granularity: session text, turns (mean of the round vectors), summary,
                  keywords                                     GRANULARITIES
    e_g(s)        session s's vector at granularity g          _matrices()[g][s]
    s_g = q e_g   query relevance over the sessions            [S]
    tau           router temperature                           temp = 0.1 (code default)
    H_g           entropy of softmax(s_g / tau)
    w_g           router weight of granularity g
    K_seed        seed nodes kept for the graph walk           num_seednodes = 15
    m             association candidates per new node          mem_threshold = 30
    C             GMM components                               n_components = 2
    d             PageRank damping (igraph: prob. of a step)   damping = 0.1

Equations::

    p_g = softmax(s_g / tau),   H_g = -sum_s p_g(s) log p_g(s)
    w_g = (1 - H^_g) / sum_g' (1 - H^_g'),   H^_g = H_g / log S      (normalised, default)
    node score  x(s, g) = w_g s_g(s); all but the top K_seed set to 0 (and negatives to 0)
    PPR:  pi = (1 - d) r + d A_rw^T pi,   r = x / sum(x)   (dangling nodes jump to r)
    session score = sum_g pi(s, g);  the top-k sessions are returned

Association (write time, sessions 6 on, as the code: ``range(5*4, ...)``): each new node is
compared with every node of earlier sessions; the top m scores are split by a 2-component
Gaussian mixture and the nodes of the higher-mean component are linked to it.

The public code computes ``w = (1 - H) / sum(1 - H)`` on the *raw* entropy. Once H > 1 (with
more than e sessions a flat distribution has H = log S > 1) both numerator and denominator
are negative and the *flattest* granularity gets the largest weight -- the opposite of the
paper's "lower entropy, more confident". ``entropy_norm=False`` reproduces the code; the
default normalises H by log S so that every weight lies in [0, 1] as the paper intends.

Modes: ``granularity="multi"`` (router + graph walk) or one of :data:`GRANULARITIES` (plain
cosine ranking on that granularity, the code's ``*_level`` baselines); ``router="uniform"``
keeps the graph walk with equal weights (the ablation).

Units are built when a session ends (``end_session``): a session still open is not searched.
The association graph lives in memory (``self.edges``, node ``4 s + g``), not in the store.

Not included: the LLM filter that refines retrieved memories before generation, the paper's
hybrid granularity, real embedders (the hashing embedder here knows no synonyms).
"""

from __future__ import annotations

import math

import numpy as np

from memlab.agents.base import AgentMemory, round_text
from memlab.agents.llm import iso_date
from memlab.agents.store import check_k

__all__ = ["GRANULARITIES", "MemGAS", "gmm_em_1d", "gmm_select", "granularity_comparison", "ppr",
           "router_weights"]

GRANULARITIES = ("session", "turn", "summary", "keywords")


def router_weights(scores: list[np.ndarray], temp: float = 0.1, normalise: bool = True) -> np.ndarray:
    """w_g from the entropy of softmax(s_g / temp) for each granularity's score vector."""
    if temp <= 0:
        raise ValueError(f"temp must be > 0, got {temp}")
    H = []
    for s in scores:
        s = np.asarray(s, dtype=np.float64) / temp
        p = np.exp(s - s.max())
        p /= p.sum()
        h = float(-(p * np.log(p + 1e-12)).sum())
        H.append(h / math.log(len(s)) if normalise and len(s) > 1 else h)
    w = 1.0 - np.array(H)
    return w / w.sum()


def ppr(A: np.ndarray, reset: np.ndarray, damping: float = 0.1, iters: int = 100,
        tol: float = 1e-12) -> np.ndarray:
    """Personalised PageRank on an undirected graph by power iteration (damping = prob. of a
    step along an edge, igraph's convention); dangling nodes jump back to ``reset``."""
    if not 0 <= damping < 1:
        raise ValueError(f"damping must be in [0, 1), got {damping}")
    r = np.where(np.isnan(reset) | (reset < 0), 0.0, reset).astype(np.float64)
    if r.sum() <= 0:
        return np.zeros_like(r)
    r = r / r.sum()
    deg = A.sum(1)
    P = np.divide(A, deg[:, None], out=np.zeros_like(A, dtype=np.float64), where=deg[:, None] > 0)
    pi = r.copy()
    for _ in range(iters):
        new = (1 - damping) * r + damping * (P.T @ pi + pi[deg == 0].sum() * r)
        if np.abs(new - pi).sum() < tol:
            return new
        pi = new
    return pi


def gmm_em_1d(x: np.ndarray, n_iter: int = 100, tol: float = 1e-3,
              reg_covar: float = 1e-6) -> tuple[np.ndarray, np.ndarray]:
    """A 2-component 1-D Gaussian mixture by EM (means start at min and max; sklearn's tol
    and reg_covar). Returns ``(labels [n], means [2])``."""
    x = np.asarray(x, dtype=np.float64).ravel()
    mu = np.array([x.min(), x.max()])
    var = np.full(2, x.var() + reg_covar)
    pi = np.full(2, 0.5)
    prev = -np.inf
    for _ in range(n_iter):
        logp = (np.log(pi) - 0.5 * np.log(2 * np.pi * var)
                - 0.5 * (x[:, None] - mu) ** 2 / var)                 # E step [n, 2]
        m = logp.max(1, keepdims=True)
        lse = m[:, 0] + np.log(np.exp(logp - m).sum(1))
        resp = np.exp(logp - lse[:, None])
        nk = resp.sum(0) + 10 * np.finfo(float).eps                      # M step
        mu = (resp * x[:, None]).sum(0) / nk
        var = (resp * (x[:, None] - mu) ** 2).sum(0) / nk + reg_covar
        pi = nk / nk.sum()
        if abs(lse.mean() - prev) < tol:
            break
        prev = lse.mean()
    return np.argmax(logp, axis=1), mu


def gmm_select(scores: np.ndarray, mem_threshold: int = 30, n_components: int = 2,
               backend: str = "numpy") -> np.ndarray:
    """Indices of the top-``mem_threshold`` scores that fall in the higher-mean GMM component
    (``backend="sklearn"``: ``GaussianMixture(n_components, random_state=0)`` as the code)."""
    scores = np.asarray(scores, dtype=np.float64)
    top = np.argsort(-scores, kind="stable")[:min(mem_threshold, len(scores))]
    if len(top) < n_components or np.ptp(scores[top]) == 0:
        return top
    x = scores[top].reshape(-1, 1)
    if backend == "sklearn":
        from sklearn.mixture import GaussianMixture

        gmm = GaussianMixture(n_components=n_components, random_state=0).fit(x)
        return top[gmm.predict(x) == int(np.argmax(gmm.means_.ravel()))]
    if backend != "numpy" or n_components != 2:
        raise ValueError(f"backend must be 'numpy' (2 components) or 'sklearn', got "
                         f"{backend!r} with n_components={n_components}")
    labels, mu = gmm_em_1d(x)
    return top[labels == int(np.argmax(mu))]


class MemGAS(AgentMemory):
    name = "memgas"

    def __init__(self, *args, granularity: str = "multi", router: str = "entropy",
                 temp: float = 0.1, entropy_norm: bool = True, num_seednodes: int = 15,
                 mem_threshold: int = 30, n_components: int = 2, damping: float = 0.1,
                 first_linked_session: int = 5, **kw):
        super().__init__(*args, **kw)
        if granularity not in ("multi", *GRANULARITIES):
            raise ValueError(f"granularity must be 'multi' or one of {GRANULARITIES}, "
                             f"got {granularity!r}")
        if router not in ("entropy", "uniform"):
            raise ValueError(f"router must be 'entropy' or 'uniform', got {router!r}")
        if temp <= 0:
            raise ValueError(f"temp must be > 0, got {temp}")
        self.granularity, self.router, self.temp, self.entropy_norm = (
            granularity, router, temp, entropy_norm)
        self.num_seednodes, self.mem_threshold, self.n_components = (
            check_k(num_seednodes), mem_threshold, n_components)
        self.damping, self.first_linked_session = damping, first_linked_session
        if granularity != "multi":
            self.name = f"memgas-{granularity}"
        self._session: list[tuple[str, list[str]]] = []

    # ---- write ---------------------------------------------------------------------------
    def _observe(self, user_text, assistant_text, sources):
        text = round_text(user_text, assistant_text)
        sid = getattr(self, "session_id", "")
        self.store.add(self.user, text, {"sources": sources, "date": iso_date(self.clock.now),
                                         "session": sid}, reason="round", kind="turn")
        self._session.append((text, list(sources)))
        self._mats = None

    def end_session(self):
        if not self._session:
            return
        sid, date = getattr(self, "session_id", ""), iso_date(self.clock.now)
        texts = [t for t, _ in self._session]
        meta = {"session": sid, "date": date, "sources": [s for _, ss in self._session for s in ss]}
        whole = "\n".join(texts)
        summary = self.llm.summarise(texts, max_words=100, date=date) or whole
        kw = " ".join(self.llm.analyse_note(whole)["keywords"]) or whole
        with self.store.transaction():
            self.store.add(self.user, whole, meta, reason="session unit", kind="mg_session")
            self.store.add(self.user, summary, meta, reason="summary unit", kind="mg_summary")
            self.store.add(self.user, kw, meta, reason="keyword unit", kind="mg_keywords")
        self._session, self._mats = [], None
        self._associate()

    def _matrices(self) -> tuple[list, dict]:
        """Session rows in order and ``{granularity: [S, d]}`` (turns: the mean round vector);
        cached until the next write."""
        if getattr(self, "_mats", None) is not None:
            return self._mats
        sess = self.store.items(self.user, kind="mg_session")
        mats = {}
        for g in ("session", "summary", "keywords"):
            _, M = self.store.vectors(self.user, kind=f"mg_{g}")
            mats[g] = M
        tids, T = self.store.vectors(self.user, kind="turn")
        of = {it.id: it.meta.get("session") for it in self.store.items(self.user, kind="turn")}
        mats["turn"] = np.stack([T[[of[int(i)] == s.meta["session"] for i in tids]].mean(0)
                                 for s in sess]) if sess else np.zeros((0, T.shape[1]))
        self._mats = (sess, mats)
        return self._mats

    def _associate(self) -> None:
        """Link the newest session's four nodes to earlier nodes chosen by the GMM."""
        sess, mats = self._matrices()
        S = len(sess)
        if S <= self.first_linked_session:
            return
        nodes = np.stack([mats[g][s] for s in range(S) for g in GRANULARITIES])  # [4S, d]
        edges = self.__dict__.setdefault("edges", set())
        for i in range(4 * (S - 1), 4 * S):
            prev = nodes[:4 * (S - 1)]
            for j in gmm_select(prev @ nodes[i], self.mem_threshold, self.n_components):
                edges.add((int(j), i))

    # ---- read ----------------------------------------------------------------------------
    def session_scores(self, query: str) -> tuple[list, np.ndarray, np.ndarray]:
        """``(session rows, scores [S], router weights [4])``."""
        sess, mats = self._matrices()
        if not sess:
            return sess, np.zeros(0), np.zeros(len(GRANULARITIES))
        q = self.store.embed_for(self.user, [query])[0].astype(np.float64)
        s = [mats[g] @ q for g in GRANULARITIES]
        if self.granularity != "multi":
            gi = GRANULARITIES.index(self.granularity)
            return sess, s[gi], np.eye(len(GRANULARITIES))[gi]
        w = (np.full(len(s), 1 / len(s)) if self.router == "uniform"
             else router_weights(s, self.temp, self.entropy_norm))
        x = np.stack([w[g] * s[g] for g in range(len(s))], axis=1).ravel()   # node s*4 + g
        if len(x) > self.num_seednodes:
            x[x < np.sort(x)[-self.num_seednodes]] = 0.0
        A = np.zeros((len(x), len(x)))
        for a, b in getattr(self, "edges", set()):
            A[a, b] = A[b, a] = 1.0
        pi = ppr(A, x, self.damping)
        return sess, pi.reshape(-1, len(GRANULARITIES)).sum(1), w

    def retrieve(self, query, k=5):
        sess, score, w = self.session_scores(query)
        top = np.argsort(-score, kind="stable")[:check_k(k)]
        ex = [{"score": float(score[i]), **{f"w_{g}": float(w[j])
                                           for j, g in enumerate(GRANULARITIES)}} for i in top]
        return self.store.hits([sess[i].id for i in top], ex, [float(score[i]) for i in top],
                               user=self.user)

    def forget(self) -> dict:
        out = super().forget()
        self._session, self._mats, self.edges = [], None, set()
        return out

    def state_size(self) -> int:
        """Memory units held: rounds + 3 units per session (the turn unit is their mean)."""
        return len(self.store.items(self.user))


# ---------------------------------------------------------------- the granularity experiment
def granularity_comparison(records: list[dict], ks=(1, 2, 3), modes: dict | None = None) -> dict:
    """QA accuracy (mean over ``ks``) of the router and of each single granularity.

    Each system reads each persona once; a question's top-``max(ks)`` sessions are retrieved
    once and every smaller k reads their prefix (the ranking is deterministic). Returns
    ``{"accuracy": {mode: acc}, "gain_over_mean", "margin_over_best"}``: the router's
    accuracy minus the mean / the best single granularity."""
    from functools import partial

    from memlab.agents.harness import parse_date, personas, replay
    from memlab.agents.llm import ABSTAIN
    from memlab.agents.store import MemoryStore

    def norm(s):
        return " ".join("".join(ch for ch in s.lower() if ch.isalnum() or ch == " ").split())

    shared = modes is None      # one replay serves every mode: only the scoring differs
    modes = modes or {"multi": MemGAS, **{g: partial(MemGAS, granularity=g)
                                          for g in GRANULARITIES}}
    hits: dict[str, list] = {name: [] for name in modes}
    for recs in personas(records):
        built = {}
        for name, f in modes.items():
            if shared and built:
                m = next(iter(built.values()))
                built[name] = m
                continue
            store = MemoryStore()
            built[name] = f(store=store, user=recs[0]["haystack_session_ids"][0])
            replay(built[name], recs[0])
        for name, m in built.items():
            if shared:
                m.granularity = name            # "multi" or one granularity
            for r in recs:
                m.store.clock.set(parse_date(r["question_date"]))
                ctx = m.contexts(r["question"], max(ks))
                for k in ks:
                    a = m.llm.answer(r["question"], ctx[:k], policy=m.reader_policy)
                    hits[name].append(a == ABSTAIN if r["question_id"].endswith("_abs")
                                      else norm(a) == norm(r["answer"]))
        for m in {id(m): m for m in built.values()}.values():
            m.store.close()
    acc = {name: sum(h) / len(h) for name, h in hits.items()}
    singles = [acc[g] for g in GRANULARITIES if g in acc]
    return {"accuracy": acc, "gain_over_mean": acc["multi"] - sum(singles) / len(singles),
            "margin_over_best": acc["multi"] - max(singles)}
