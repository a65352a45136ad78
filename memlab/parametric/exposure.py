r"""Recognition, recall and retention of facts seen 1, 3 or 10 times (Orhan 2023, "Recognition,
recall, and retention of few-shot memories in large language models"; ``eminorhan/llm-memory``).

A **tiny word-level language model** (a Bengio-style neural n-gram LM: the last ``ctx`` words'
embeddings, concatenated, a tanh hidden layer, a softmax over the vocabulary) is pre-trained on a
synthetic grammar: filler sentences ("the red cat sees a dog .") and background facts
("the <person> lives in <city> ."). Then, as in the paper:

* **study**: fine-tune on ``n_study`` novel facts (persons never seen in pre-training) for
  :math:`E` epochs; :math:`E` = the number of exposures (1, 3 or 10);
* **recognition** (two-alternative forced choice by loss): the studied sentence against a foil, the
  same sentence with another city. Both have the same length and the same word frequencies (every
  city is equally frequent), so the only difference is the studied association; the model
  "recognises" the sentence with the lower loss :math:`\mathcal L(s) = -\sum_t \log p(w_t \mid
  w_{t-ctx..t-1})`;
* **recall**: cue with "the <person> lives in", decode greedily; correct iff the next word is the
  studied city (exact match over ``n_cities`` candidates, a harsher test than 2AFC);
* **retention**: keep training on fresh grammar sentences (filler + background facts, none of the
  studied persons) and repeat both tests after 0, 1, 2, 5, 10, 20, 50, 100, 200 ... updates.

Glossary: :math:`E` ``exposures``; :math:`\eta` ``lr`` (Adam, a fresh optimiser per phase:
study and later training at 3e-3, pre-training 200 steps of 32 sentences at 1e-2); batch 16
sentences in study and later training (the paper's total batch 16; its lr 1e-5 is for GPT-J-6B
and moves a 49k-parameter model not at all, so the lr is ours, calibrated once and exposed); ``ctx`` the LM's context (4
words, enough to see the person when predicting the city); embeddings start at N(0, 0.02^2)
(GPT-2's init), so a never-seen person starts with almost no preference among cities.
Retention is chance-corrected: kept = (score_t - chance) / (score_0 - chance), chance 1/2 for
2AFC and 1/n_cities for recall.

Not included: a transformer (an n-gram MLP LM trains in a second and shows the same protocol),
the paper's natural-text study sets and GPT-J scale, sentence-level recognition of whole unseen
sentences (familiarity of new words, which our foils rule out on purpose), token-level recall
scores beyond the single attribute word.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["Grammar", "NGramLM", "claims_from", "exposure_claims", "kept", "make_grammar",
           "pretrain", "recall", "recognition", "retention_run", "study", "train_steps"]

ADJ = ["red", "blue", "old", "young", "small", "big", "quiet", "loud", "green", "brown"]
NOUN = ["cat", "dog", "bird", "fish", "horse", "child", "farmer", "doctor", "teacher", "sailor"]
VERB = ["sees", "likes", "follows", "helps", "finds", "meets", "calls", "watches"]
DET = ["the", "a"]
PROBES = (0, 1, 2, 5, 10, 20, 50, 100)


@dataclass
class Grammar:
    """The vocabulary and the facts: ``bg`` (background person -> city, seen in pre-training)
    and ``study`` (novel person -> city) as index pairs, ``foil`` a different city per study fact."""
    vocab: list
    idx: dict
    cities: np.ndarray
    bg: np.ndarray
    study: np.ndarray
    foil: np.ndarray
    ctx: int
    seed: int

    def fact(self, person, city):
        i = self.idx
        return [i["the"], int(person), i["lives"], i["in"], int(city), i["."]]

    def stream(self, n, g, fact_frac=0.5):
        """n fresh pre-training sentences (rows of 7 words; a fact is padded with a second '.'):
        filler and background facts, mixed."""
        i = self.idx
        pick = lambda words, k: np.array([i[w] for w in words])[g.integers(len(words), size=k)]
        S = np.stack([pick(DET, n), pick(ADJ, n), pick(NOUN, n), pick(VERB, n), pick(DET, n),
                      pick(NOUN, n), np.full(n, i["."])], 1)
        f = g.random(n) < fact_frac
        pc = self.bg[g.integers(len(self.bg), size=int(f.sum()))]
        S[f] = np.stack([np.full(len(pc), i["the"]), pc[:, 0], np.full(len(pc), i["lives"]),
                         np.full(len(pc), i["in"]), pc[:, 1], np.full(len(pc), i["."]),
                         np.full(len(pc), i["."])], 1)
        return S


def make_grammar(n_bg=100, n_study=50, n_cities=20, ctx=4, seed=0):
    if n_cities < 2:
        raise ValueError(f"n_cities must be >= 2, got {n_cities}")
    if n_bg < 1 or n_study < 1:
        raise ValueError(f"n_bg and n_study must be >= 1, got {n_bg}, {n_study}")
    vocab = ["<s>", ".", "lives", "in"] + DET + ADJ + NOUN + VERB
    cities = [f"city{j}" for j in range(n_cities)]
    persons = [f"person{j}" for j in range(n_bg + n_study)]
    vocab += cities + persons
    idx = {w: j for j, w in enumerate(vocab)}
    g = np.random.default_rng(seed)
    c_ids = np.array([idx[c] for c in cities])
    p_ids = np.array([idx[p] for p in persons])
    bg = np.stack([p_ids[:n_bg], c_ids[np.arange(n_bg) % n_cities]], 1)      # cities balanced
    g.shuffle(bg[:, 1])
    study = np.stack([p_ids[n_bg:], c_ids[np.arange(n_study) % n_cities]], 1)  # cities balanced
    g.shuffle(study[:, 1])
    foil = (study[:, 1] - c_ids[0] + g.integers(1, n_cities, n_study)) % n_cities + c_ids[0]
    return Grammar(vocab, idx, c_ids, bg, study, foil, ctx, seed)


class NGramLM(torch.nn.Module):
    """p(w_t | w_{t-ctx..t-1}) = softmax(U tanh(H [e_{t-ctx}; ...; e_{t-1}] + b) + c)."""

    def __init__(self, vocab_size, ctx=4, d_emb=32, hidden=128, emb_std=0.02):
        super().__init__()
        self.ctx = ctx
        self.emb = torch.nn.Embedding(vocab_size, d_emb)
        torch.nn.init.normal_(self.emb.weight, std=emb_std)     # GPT-2's 0.02
        self.hid = torch.nn.Linear(ctx * d_emb, hidden)
        self.out = torch.nn.Linear(hidden, vocab_size)

    def forward(self, windows):                        # [n, ctx] -> logits [n, V]
        if windows.ndim != 2 or windows.shape[1] != self.ctx:
            raise ValueError(f"windows must be [n, {self.ctx}], got {tuple(windows.shape)}")
        return self.out(torch.tanh(self.hid(self.emb(windows).flatten(1))))


def windows(sentences, ctx):
    """(context window, next word) for every word of every sentence ('<s>'-padded, index 0);
    ``sentences`` is an [n, L] array (all the same length)."""
    S = torch.as_tensor(np.asarray(sentences), dtype=torch.long)
    pad = torch.cat([torch.zeros(S.shape[0], ctx, dtype=torch.long), S], 1)
    X = pad.unfold(1, ctx, 1)[:, :S.shape[1]]             # [n, L, ctx]
    return X.reshape(-1, ctx), S.reshape(-1)


def train_steps(model, batches, lr):
    """One Adam update per batch of sentences (a fresh optimiser: one phase)."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for b in batches:
        X, Y = windows(b, model.ctx)
        opt.zero_grad()
        F.cross_entropy(model(X), Y).backward()
        opt.step()


def pretrain(G, steps=200, batch=32, lr=1e-2, seed=0, **kw):
    """The LM's pre-training: ``steps`` Adam updates on fresh grammar sentences."""
    torch.manual_seed(seed)
    model = NGramLM(len(G.vocab), G.ctx, **kw)
    g = np.random.default_rng(seed + 1)
    train_steps(model, (G.stream(batch, g) for _ in range(steps)), lr)
    return model


def study(model, G, exposures, lr=3e-3, batch=16, seed=0):
    """E epochs over the study facts (each fact seen once per epoch), shuffled batches."""
    g = np.random.default_rng(seed + 2)
    facts = [G.fact(p, c) for p, c in G.study]
    order = [j for _ in range(exposures) for j in g.permutation(len(facts))]
    train_steps(model, ([facts[j] for j in order[i:i + batch]]
                        for i in range(0, len(order), batch)), lr)


def sentence_loss(model, sentences):
    X, Y = windows(sentences, model.ctx)
    with torch.no_grad():
        nll = F.cross_entropy(model(X), Y, reduction="none")
    return nll.view(len(sentences), -1).sum(1)


def recognition(model, G):
    """2AFC: fraction of study facts whose sentence has a lower loss than its foil's."""
    seen = sentence_loss(model, [G.fact(p, c) for p, c in G.study])
    foil = sentence_loss(model, [G.fact(p, c) for p, c in zip(G.study[:, 0], G.foil)])
    return float((seen < foil).float().mean())


def recall(model, G):
    """Greedy completion of 'the <person> lives in': fraction that produce the studied city."""
    i = G.idx
    X = torch.tensor([([0] * G.ctx + [i["the"], int(p), i["lives"], i["in"]])[-G.ctx:]
                      for p in G.study[:, 0]])
    with torch.no_grad():
        pred = model(X).argmax(-1).numpy()
    return float((pred == G.study[:, 1]).mean())


def retention_run(exposures=(1, 3, 10), probes=PROBES, seed=0, n_study=50, lr=3e-3,
                  pretrain_steps=200, batch=16, retain_for=None, n_cities=20, **lm):
    """Pre-train once, then per E: study E epochs, train on fresh grammar sentences (the same
    ones for every E) and probe after each number of updates in ``probes``. Exposure counts not
    in ``retain_for`` (default: all) are probed right after study only.
    Returns {"probes", "before", E: {"recognition": [...], "recall": [...]}}."""
    if min(exposures) < 1:
        raise ValueError(f"exposures must be >= 1, got {exposures}")
    if list(probes) != sorted(probes) or probes[0] != 0:
        raise ValueError(f"probes must be increasing from 0, got {probes}")
    G = make_grammar(n_study=n_study, n_cities=n_cities, seed=seed)
    base = pretrain(G, pretrain_steps, seed=seed, **lm)
    state = {k: v.clone() for k, v in base.state_dict().items()}
    out = {"probes": list(probes), "before": {"recognition": recognition(base, G),
                                             "recall": recall(base, G)}}
    retain_for = exposures if retain_for is None else retain_for
    for E in exposures:
        base.load_state_dict(state)
        study(base, G, E, lr=lr, batch=batch, seed=seed)
        g = np.random.default_rng(seed + 3)
        rec, rcl, done = [], [], 0
        for p in (probes if E in retain_for else probes[:1]):
            if p > done:
                train_steps(base, (G.stream(batch, g) for _ in range(p - done)), lr)
                done = p
            rec.append(recognition(base, G))
            rcl.append(recall(base, G))
        out[E] = {"recognition": rec, "recall": rcl}
    return out


def kept(values, j, chance):
    """The fraction of the above-chance score still there after probe j (chance-corrected)."""
    if values[0] <= chance:
        return float("nan")                    # nothing above chance to keep
    return (values[j] - chance) / (values[0] - chance)


def exposure_claims(seed=0, retain_at=100, n_cities=20, **kw):
    """The chapter's claim values: recognition after one and ten exposures, recall's gain from 1
    to 10 exposures, and (E = 10) how much more of recognition than of recall is kept after
    ``retain_at`` later updates (chance-corrected: 1/2 for 2AFC, 1/n_cities for recall)."""
    kw.setdefault("retain_for", (10,))
    probes = sorted(set(kw.pop("probes", PROBES)) | {retain_at})
    r = retention_run(probes=probes, seed=seed, n_cities=n_cities, **kw)
    return claims_from(r, retain_at, n_cities)


def claims_from(r, retain_at=100, n_cities=20):
    """exposure_claims' values from a retention_run result (exposures 1 and 10 needed)."""
    j = r["probes"].index(retain_at)
    k_rec = kept(r[10]["recognition"], j, 0.5)
    k_rcl = kept(r[10]["recall"], j, 1.0 / n_cities)
    return {"results": r, "recognition_1x": r[1]["recognition"][0],
            "recognition_10x": r[10]["recognition"][0], "recall_1x": r[1]["recall"][0],
            "recall_10x": r[10]["recall"][0],
            "recall_gain_1_to_10": r[10]["recall"][0] - r[1]["recall"][0],
            "recognition_kept": k_rec, "recall_kept": k_rcl, "retention_gap": k_rec - k_rcl}
