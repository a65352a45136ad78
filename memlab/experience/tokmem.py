"""TokMem-lite: procedural memory as tokens on a frozen backbone.

Paper: "TokMem: Tokenized Procedural Memory for Large Language Models" (ICLR 2026). The base
LM is frozen; every procedure p gets a reserved token whose embedding e_p is the only thing
trained (the public code adds a lightweight projection; left out here, see below). Reading the
memory = putting the token in front of the input; a new procedure = a new row, so old ones
cannot be overwritten.

Glossary (paper -> code)::

    f_theta        frozen backbone (2-layer char transformer)      Backbone, theta frozen
    E in R^{V x d} vocabulary: 16 characters + procedure rows      Backbone.E
    e_p = E[r_p]   procedure p's token embedding (one row)         TokenProcedureMemory.rows[p]
    (x, y)         input string, output string (same length L)     examples
    M in {0,1}^V   gradient mask: 1 only on the row being learned  grad_mask(row)  [V, 1]

Learning procedure p (the only trained numbers are e_p, d of them)::

    L(e_p) = - sum_{(x,y)} sum_{i=1..L} log softmax(f_theta([e_p ; E[x_1..x_L]])_i)[y_i]
    E <- E - lr * Adam(M * dL/dE),   theta fixed

so every other row of E (characters, old procedures) and every backbone parameter stays
bit-identical (tests check ``torch.equal``). Pitfalls the mask does not cover by itself: weight
decay moves masked rows (plain Adam, no decay) and a shared optimiser's stale moments do too
(one fresh optimiser per procedure).

Choices of this reference (not from the paper): e_p starts as a copy of the stored token with
the lowest loss on p's examples (a warm start from the nearest known procedure; from the mean
of the base tokens, 3 of the 12 compositions stayed at 0 accuracy on one backbone seed);
Adam, lr 0.3, <= 200 steps, minibatches of 32 from 128 examples.

The world: strings of L = 6 letters from ``abcdefgh``. A procedure = a position primitive
(copy, reverse, rotate1-3) then a character primitive (keep, upper, next, prev): 20 in all.
Pre-training teaches the backbone to follow *instructions*: slot 0 holds the sum of two word
vectors A[position op] + B[char op] (an instruction, like a prompt an LLM can follow). The
8 single-primitive procedures get their own tokens (rows) from their instructions; the 12
compositions have none. TokMem then learns a token for a composition from examples alone.

**What one token can and cannot do here (measured).** With the backbone pre-trained on 12 of
the 20 procedures (the 8 primitives + 4 compositions), one token learned by this module's
learner for each of the 8 held-out compositions: 6 stayed at 0.00 exact match, the two with
upper-case reached 0.90 and 0.98 (the never-seen instruction alone gave 0.27 and 0.41 there).
An earlier variant (a free token per pre-trained procedure, mean init) gave <= 0.002 on all 8.
A tiny frozen backbone mostly memorises its procedures; one token rarely makes it compute a
composition it never computed. So the new procedures here are *new tokens for combinations of
pre-trained primitives* that the backbone learned to follow under instruction (the fallback:
new parameterisations of what it already computes), and ``OUT_OF_REACH`` (swap adjacent
letters, never pre-trained) shows the limit. This is TokMem's atomic track in miniature: a
token replaces the task's prompt.

Not included: the projection layer of the public code (one token is enough here), the
compositional track (chains of memory tokens), routing (the model choosing which token to
emit; here the caller names the procedure), and an LLM backbone.
"""

from __future__ import annotations

import copy
import functools

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ALPHABET", "BASE", "COMPOSITIONS", "OUT_OF_REACH", "PROCEDURES", "Backbone",
           "FineTuneMemory", "TokenProcedureMemory", "apply", "examples", "pretrain"]

ALPHABET = "abcdefgh"                   # input letters
OUT = "abcdefghABCDEFGH"                # output letters (row i of E = OUT[i])
POSITION_OPS = ("copy", "reverse", "rotate1", "rotate2", "rotate3")
CHAR_OPS = ("keep", "upper", "next", "prev")


def _name(p: str, c: str) -> str:
    return p if c == "keep" else (c if p == "copy" else f"{p}+{c}")


PROCEDURES = {_name(p, c): (p, c) for p in POSITION_OPS for c in CHAR_OPS}
BASE = tuple(n for n, (p, c) in PROCEDURES.items() if p == "copy" or c == "keep")   # 8
COMPOSITIONS = tuple(n for n in PROCEDURES if n not in BASE)                        # 12
OUT_OF_REACH = "swap_pairs"             # a position op the backbone never computed


def apply(name: str, s: str) -> str:
    """The procedure as plain Python (the specification the data is generated from)."""
    _check_text(s, "s")
    if name == OUT_OF_REACH:
        return "".join(s[i ^ 1] if (i ^ 1) < len(s) else s[i] for i in range(len(s)))
    if name not in PROCEDURES:
        raise ValueError(f"name must be one of {sorted(PROCEDURES)} or {OUT_OF_REACH!r}, got {name!r}")
    p, c = PROCEDURES[name]
    n = len(s)
    k = {"copy": 0, "rotate1": 1, "rotate2": 2, "rotate3": 3}.get(p)
    t = s[::-1] if p == "reverse" else "".join(s[(i + k) % n] for i in range(n))
    shift = {"keep": 0, "upper": 0, "next": 1, "prev": -1}[c]
    t = "".join(ALPHABET[(ALPHABET.index(ch) + shift) % 8] for ch in t)
    return t.upper() if c == "upper" else t


def _check_text(s: str, param: str) -> None:
    if not isinstance(s, str) or not s or set(s) - set(ALPHABET):
        raise ValueError(f"{param} must be a non-empty string over {ALPHABET!r}, got {s!r}")


def examples(name: str, n: int, length: int = 6, seed: int = 0) -> list[tuple[str, str]]:
    """``n`` seeded (input, output) pairs of procedure ``name``."""
    g = torch.Generator().manual_seed(seed)
    xs = torch.randint(0, 8, (n, length), generator=g).tolist()
    return [(s, apply(name, s)) for s in ("".join(ALPHABET[i] for i in x) for x in xs)]


class Backbone(nn.Module):
    """Bidirectional char transformer: ``[slot0 ; x_1..x_L] -> y_1..y_L`` (logits [B, L, 16])."""

    def __init__(self, n_rows: int, d: int = 64, n_layers: int = 2, n_heads: int = 4,
                 length: int = 6):
        super().__init__()
        self.length = length
        self.E = nn.Parameter(torch.randn(n_rows, d))                    # chars + procedures
        self.A = nn.Parameter(0.7 * torch.randn(len(POSITION_OPS), d))   # instruction words
        self.B = nn.Parameter(0.7 * torch.randn(len(CHAR_OPS), d))
        self.pos = nn.Parameter(0.1 * torch.randn(length + 1, d))
        layer = nn.TransformerEncoderLayer(d, n_heads, 2 * d, dropout=0.0, batch_first=True,
                                           norm_first=True)
        self.enc = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)
        self.ln, self.head = nn.LayerNorm(d), nn.Linear(d, len(OUT))

    def instruction(self, name: str) -> torch.Tensor:
        p, c = PROCEDURES[name]
        return self.A[POSITION_OPS.index(p)] + self.B[CHAR_OPS.index(c)]

    def forward(self, ids: torch.Tensor, slot0: torch.Tensor | None = None) -> torch.Tensor:
        """``ids`` [B, 1+L] (row of the procedure, then letters); ``slot0`` [B, d] replaces
        the procedure row (an instruction)."""
        h = F.embedding(ids, self.E)
        if slot0 is not None:
            h = torch.cat([slot0[:, None], h[:, 1:]], 1)
        return self.head(self.ln(self.enc(h + self.pos)))[:, 1:]


def _encode(strings, param: str) -> torch.Tensor:
    for s in strings:
        _check_text(s, param)
    if len({len(s) for s in strings}) != 1:
        raise ValueError(f"{param}: all strings must have the same length")
    return torch.tensor([[OUT.index(ch) for ch in s] for s in strings])


def _encode_out(strings) -> torch.Tensor:
    return torch.tensor([[OUT.index(ch) for ch in s] for s in strings])


def _pairs(examples) -> tuple[torch.Tensor, torch.Tensor]:
    """(input, output) string pairs -> x [n, L], y [n, L] (letter indices)."""
    if not examples:
        raise ValueError("examples must be a non-empty list of (input, output) pairs")
    x = _encode([a for a, _ in examples], "examples")
    if not all(isinstance(b, str) and set(b) <= set(OUT) and len(b) == x.shape[1] for _, b in examples):
        raise ValueError(f"examples: outputs must be strings over {OUT!r} as long as the inputs")
    return x, _encode_out([b for _, b in examples])


def _ids(row: int, x: torch.Tensor) -> torch.Tensor:
    """[row ; x_1..x_L] per example: [n, 1 + L]."""
    return torch.cat([torch.full((len(x), 1), row), x], 1)


@functools.lru_cache(maxsize=4)
def _pretrained(seed: int, steps: int, d: int, length: int, n_reserved: int) -> Backbone:
    with torch.random.fork_rng(devices=[]):    # seeded init, the caller's RNG untouched
        torch.manual_seed(seed)
        net = Backbone(len(OUT) + len(BASE) + n_reserved, d=d, length=length)
    g = torch.Generator().manual_seed(seed)
    names = list(PROCEDURES)
    opt = torch.optim.Adam(net.parameters(), 1e-2)
    pa = torch.tensor([POSITION_OPS.index(PROCEDURES[n][0]) for n in names])
    pc = torch.tensor([CHAR_OPS.index(PROCEDURES[n][1]) for n in names])
    perm = torch.tensor([[_perm(n, length)] for n in names]).squeeze(1)       # [20, L]
    cmap = torch.tensor([[OUT.index(apply(n, ch)) for ch in ALPHABET] for n in names])
    for _ in range(steps):
        x = torch.randint(0, 8, (128, length), generator=g)
        j = torch.randint(0, len(names), (128,), generator=g)
        y = torch.gather(cmap[j], 1, torch.gather(x, 1, perm[j]))
        slot0 = net.A[pa[j]] + net.B[pc[j]]
        loss = F.cross_entropy(net(torch.cat([j[:, None] * 0, x], 1), slot0).flatten(0, 1),
                               y.flatten())
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():                       # the base procedures' own tokens
        for k, n in enumerate(BASE):
            net.E[len(OUT) + k] = net.instruction(n)
    return net


def _perm(name: str, length: int) -> list[int]:
    """Source position of each output position (character op ignored)."""
    s = ALPHABET[:length]                       # distinct letters (length <= 8)
    return [s.index(ch) for ch in apply(PROCEDURES[name][0], s)]


def pretrain(seed: int = 0, steps: int = 800, d: int = 64, length: int = 6,
             n_reserved: int = 16) -> Backbone:
    """The backbone pre-trained on all 20 procedures by instruction (cached per process;
    a fresh copy is returned)."""
    for v, name, lo in ((steps, "steps", 1), (d, "d", 8), (length, "length", 2),
                        (n_reserved, "n_reserved", 1)):
        if not isinstance(v, int) or v < lo:
            raise ValueError(f"{name} must be an int >= {lo}, got {v!r}")
    if length > 8:
        raise ValueError(f"length must be <= 8, got {length}")
    if d % 4:
        raise ValueError(f"d must be a multiple of 4 (the number of heads), got {d}")
    return copy.deepcopy(_pretrained(seed, steps, d, length, n_reserved))


class TokenProcedureMemory:
    """Procedures as rows of a frozen backbone's vocabulary. ``rows[name]`` = the row of E
    holding e_name; ``state_size()`` = the trained floats (d per learned procedure)."""

    lr = 0.3                                    # Adam on one row (prompt-tuning-sized)

    def __init__(self, backbone: Backbone):
        self.net = backbone
        for p in self.net.parameters():
            p.requires_grad_(False)             # theta and E frozen; learn() opens one row
        self.rows = {n: len(OUT) + k for k, n in enumerate(BASE)}
        self.learned: list[str] = []

    @property
    def n_rows(self) -> int:
        return self.net.E.shape[0]

    def _next_row(self) -> int:
        return len(OUT) + len(self.rows)

    def add_procedure(self, name: str, examples=None) -> int:
        """Reserve a new row for ``name``: a copy of the stored token that fits ``examples``
        best (lowest loss; a warm start from the nearest known procedure), or the mean of
        the base tokens without examples."""
        if not isinstance(name, str) or not name or name in self.rows:
            raise ValueError(f"name must be a new procedure name, got {name!r}")
        row = self._next_row()
        if row >= self.n_rows:
            raise ValueError(f"name: no reserved row left ({self.n_rows - len(OUT)} in all)")
        with torch.no_grad():
            init = self.net.E[len(OUT):len(OUT) + len(BASE)].mean(0)
            if examples:
                x, y = _pairs(examples)
                loss = {r: float(F.cross_entropy(self.net(_ids(r, x)).flatten(0, 1), y.flatten()))
                        for r in self.rows.values()}
                init = self.net.E[min(loss, key=loss.get)].clone()
            self.net.E[row] = init
        self.rows[name] = row
        return row

    def grad_mask(self, row: int) -> torch.Tensor:
        """M [V, 1]: 1 on ``row``, 0 on every other row of E."""
        m = torch.zeros(self.n_rows, 1)
        m[row] = 1.0
        return m

    def trainable(self) -> list[nn.Parameter]:
        return [self.net.E]

    def _row(self, name: str) -> int:
        if name not in self.rows:
            raise ValueError(f"name must be a stored procedure ({sorted(self.rows)}), got {name!r}")
        return self.rows[name]

    def learn(self, name: str, examples, steps: int = 200, batch: int = 32, seed: int = 0) -> list[float]:
        """Train e_name alone on ``examples`` [(input, output)] for ``steps`` Adam steps
        (``add_procedure`` is called when ``name`` is new). Returns the losses."""
        if not isinstance(steps, int) or not 1 <= steps <= 200:
            raise ValueError(f"steps must be an int in [1, 200], got {steps!r}")
        x, y = _pairs(examples)
        row = self.rows[name] if name in self.rows else self.add_procedure(name, examples)
        params = self.trainable()
        for p in params:
            p.requires_grad_(True)
        mask = self.grad_mask(row)
        hook = self.net.E.register_hook(lambda g: g * mask) if mask is not None else None
        opt = torch.optim.Adam(params, self.lr)          # fresh: no stale moments, no decay
        g = torch.Generator().manual_seed(seed)
        ids = _ids(row, x)
        losses = []
        try:
            for _ in range(steps):
                i = torch.randint(0, len(x), (min(batch, len(x)),), generator=g)
                loss = F.cross_entropy(self.net(ids[i]).flatten(0, 1), y[i].flatten())
                opt.zero_grad()
                loss.backward()
                opt.step()
                losses.append(loss.item())
        finally:
            if hook is not None:
                hook.remove()
            for p in self.net.parameters():
                p.requires_grad_(False)
        if name not in self.learned:
            self.learned.append(name)
        return losses

    @torch.no_grad()
    def run(self, name: str, inputs) -> list[str]:
        """Outputs of procedure ``name`` on ``inputs`` (a string or a list of strings)."""
        single = isinstance(inputs, str)
        x = _encode([inputs] if single else list(inputs), "inputs")
        out = ["".join(OUT[i] for i in r) for r in self.net(_ids(self._row(name), x)).argmax(-1).tolist()]
        return out[0] if single else out

    def accuracy(self, name: str, n: int = 256, seed: int = 10_000, truth: str | None = None) -> float:
        """Exact-match accuracy of ``name``'s token on ``n`` fresh inputs, against the
        procedure ``truth`` (default: ``name``)."""
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be an int >= 1, got {n!r}")
        ex = examples(truth or name, n, self.net.length, seed)
        got = self.run(name, [a for a, _ in ex])
        return sum(o == b for o, (_, b) in zip(got, ex)) / n

    @torch.no_grad()
    def instructed_accuracy(self, name: str, n: int = 256, seed: int = 10_000) -> float:
        """Accuracy when the backbone is given the instruction instead of a token (the
        upper bound a token can reach)."""
        ex = examples(name, n, self.net.length, seed)
        x = _encode([a for a, _ in ex], "inputs")
        ids = torch.cat([torch.zeros(len(x), 1, dtype=torch.long), x], 1)
        out = self.net(ids, self.net.instruction(name).expand(len(x), -1)).argmax(-1)
        return float((out == _encode_out([b for _, b in ex])).all(-1).float().mean())

    def state_size(self) -> int:
        return len(self.learned) * self.net.E.shape[1]


class FineTuneMemory(TokenProcedureMemory):
    """The baseline: the same new row per procedure, but every parameter trained, no mask
    (sequential full fine-tuning)."""

    lr = 3e-3                                   # a usual fine-tuning rate for this size

    def grad_mask(self, row: int):
        return None

    def trainable(self) -> list[nn.Parameter]:
        return list(self.net.parameters())

    def state_size(self) -> int:
        return sum(p.numel() for p in self.net.parameters())
