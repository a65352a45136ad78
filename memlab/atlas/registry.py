"""Every ``SequenceMemory`` of the library, enumerated, with one atlas configuration each.

:func:`registry` returns ``{name: Entry}``. Two sources:

* :func:`configured`: the mixers with a hand-chosen atlas configuration (one head, no short
  convolution: the TinyLM's token shift plays that part, so ``state_size`` is the memory alone),
  each with its family (the chapter it comes from) and whether its write depends on the input
  (``input_dependent``: a gate, a step size or a selection computed from ``x_t``) or not (a
  *time-invariant* memory: linear attention adds every token the same way; S4D's ``A, B, C`` are
  fixed).
* discovery: every other concrete ``SequenceMemory`` subclass found under ``memlab/`` joins with
  its default constructor ``cls(d_model)``, under its class name and its package as family. A new
  mechanism joins the atlas by existing; ``EXCLUDED`` lists the classes left out, with why.

State in bytes: ``state_bytes(model, seq_len) = sum(mixer.state_size(seq_len)) * itemsize`` over
the model's mixers, where ``itemsize`` is the bytes of one number of the state's dtype (4 for
float32). Softmax attention's KV cache grows with ``seq_len`` (``2 d T`` numbers); the others do not.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass

import torch

from memlab.memory import SequenceMemory

__all__ = [
    "EXCLUDED",
    "FORMULAS",
    "Entry",
    "configured",
    "discover",
    "get",
    "registry",
    "state_bytes",
    "state_numbers",
]


@dataclass(frozen=True)
class Entry:
    name: str
    family: str                         # "attention", "fastweights", "ssm", "testtime", ...
    cls: type
    kwargs: dict
    input_dependent: bool | None        # None: not classified (a discovered mixer)
    chapter: str = ""

    def factory(self) -> Callable[[int], SequenceMemory]:
        cls, kw = self.cls, dict(self.kwargs)
        return lambda d_model: cls(d_model, **kw)


def _configured() -> dict[str, Entry]:
    from memlab.attention.softmax import CausalSelfAttention
    from memlab.fastweights import DeltaNet, GatedDeltaNet, LinearAttention, MixtureOfMemories
    from memlab.ssm.mamba import Mamba
    from memlab.ssm.s4d import S4D
    from memlab.testtime.neural_memory import NeuralMemory

    rows = [
        ("attention", "attention", CausalSelfAttention, {}, None, "03"),
        ("linear", "fastweights", LinearAttention, {"conv_size": 0}, False, "04"),
        ("delta", "fastweights", DeltaNet, {"conv_size": 0}, True, "04"),
        ("gated_delta", "fastweights", GatedDeltaNet, {"conv_size": 0}, True, "04"),
        ("mom", "fastweights", MixtureOfMemories,
         {"n_memories": 4, "top_k": 2, "conv_size": 0}, True, "04"),
        ("s4d", "ssm", S4D, {"d_state": 16}, False, "05"),
        ("mamba", "ssm", Mamba, {"d_state": 8}, True, "05"),
        # Titans' linear memory (depth 1) with momentum, updated per chunk of 16 tokens:
        # state M, S and the chunk's anchor
        ("titans", "testtime", NeuralMemory, {"depth": 1}, True, "06"),
    ]
    return {n: Entry(n, f, c, kw, dep, ch) for n, f, c, kw, dep, ch in rows}


configured = _configured

#: classes deliberately not in the atlas, with the reason
EXCLUDED = {
    "FastWeightLayer": "the shared base of linear attention / DeltaNet / gated delta / MoM",
    "_SWAMemory": "private base of Titans MAG / MAL",
    "MemoryAsContext": "a Titans architecture (chapter 06) around NeuralMemory, already listed",
    "MemoryAsGate": "a Titans architecture (chapter 06) around NeuralMemory, already listed",
    "MemoryAsLayer": "a Titans architecture (chapter 06) around NeuralMemory, already listed",
    "RMT": "a whole recurrent transformer over segments, not a single-layer mixer",
    "HMT": "a whole recurrent transformer over segments, not a single-layer mixer",
}

_FAMILIES = ("attention", "fastweights", "ssm", "testtime", "retrieval", "layers", "segment")


def discover() -> list[type]:
    """Every concrete ``SequenceMemory`` subclass defined in a memlab family package."""
    import memlab

    for info in pkgutil.iter_modules(memlab.__path__):
        if info.ispkg and info.name in _FAMILIES:
            pkg = importlib.import_module(f"memlab.{info.name}")
            for sub in pkgutil.iter_modules(pkg.__path__):
                if sub.name not in ("mutants", "experiments", "checks", "_checks"):
                    try:
                        importlib.import_module(f"memlab.{info.name}.{sub.name}")
                    except ImportError:     # a module needing an optional extra: not listed
                        continue
    seen, stack = [], list(SequenceMemory.__subclasses__())
    while stack:
        c = stack.pop()
        stack.extend(c.__subclasses__())
        if c.__module__.startswith("memlab.") and not inspect.isabstract(c) and c not in seen:
            seen.append(c)
    return sorted(seen, key=lambda c: (c.__module__, c.__name__))


def registry(include_discovered: bool = True) -> dict[str, Entry]:
    """``{name: Entry}``: the configured mixers, then every other discovered one (not excluded)."""
    out = _configured()
    if include_discovered:
        taken = {e.cls for e in out.values()}
        for c in discover():
            if c in taken or c.__name__ in EXCLUDED:
                continue
            out[c.__name__] = Entry(c.__name__, c.__module__.split(".")[1], c, {}, None)
    return out


#: hand formulas of the configured mixers' state (numbers per sequence, one layer, one head)
FORMULAS = {
    "attention": lambda d, T: 2 * d * T,               # a key and a value per token
    "linear": lambda d, T: d * d,                      # S [d_k, d_v]
    "delta": lambda d, T: d * d,
    "gated_delta": lambda d, T: d * d,
    "mom": lambda d, T: 5 * d * d,                     # 4 routed + 1 shared matrix
    "s4d": lambda d, T: 16 * d,                        # d_state = 16 per channel
    "mamba": lambda d, T: 2 * d * 8 + 2 * d * 3,       # d_inner = 2d: h [d_inner, 8] + conv tail
    "titans": lambda d, T: 3 * d * d,                  # memory M, momentum S, chunk anchor
}


def get(name: str) -> Entry:
    """One registry entry by name (configured first, then discovered)."""
    conf = _configured()
    if name in conf:
        return conf[name]
    reg = registry()
    if name not in reg:
        raise ValueError(f"mixer={name!r} is not in the atlas registry; known: {sorted(reg)}")
    return reg[name]


def state_numbers(model: torch.nn.Module, seq_len: int) -> int:
    """Numbers in the state of one sequence after ``seq_len`` tokens, over every mixer."""
    mixers = getattr(model, "mixers", None) or [model]
    return int(sum(m.state_size(seq_len) for m in mixers))


def _itemsize(model: torch.nn.Module) -> int:
    p = next(model.parameters(), None)
    dtype = p.dtype if p is not None else torch.get_default_dtype()
    return torch.empty((), dtype=dtype).element_size()


def state_bytes(model: torch.nn.Module, seq_len: int) -> int:
    """Bytes of one sequence's state after ``seq_len`` tokens: numbers x the dtype's itemsize."""
    if not isinstance(seq_len, int) or seq_len < 1:
        raise ValueError(f"seq_len must be a positive int, got {seq_len!r}")
    return state_numbers(model, seq_len) * _itemsize(model)
