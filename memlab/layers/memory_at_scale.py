"""Memory Layers at Scale: the gated "memory+" read, and one value table shared across layers.

Paper: V.-P. Berges, B. Oguz, D. Haziza, W.-t. Yih, L. Zettlemoyer, G. Ghosh, "Memory Layers
at Scale", 2024 (arXiv:2412.09764; code: facebookresearch/memory). It scales the product-key
memory of Lample et al. 2019 (:mod:`memlab.layers.product_keys`) to 128B memory parameters.

Glossary (paper symbol -> variable)
    x            token vector, d = d_model                                ``x`` [..., d]
    mem(x)       product-key memory read (top-k over N = |K|^2 slots)     ``ProductKeyMemory``
    W1, W2       gate and output projections, [d, d] each                 ``W1``, ``W2``
    SiLU         x sigmoid(x)                                            ``F.silu``
    V            value table [N, d], ONE table shared by every memory layer  ``values``
    K^(l), q^(l) each memory layer's own sub-keys and query projection    ``layers[l]``

Equations:
    memory+:   mem+(x) = W2^T ( SiLU(W1^T x) * mem(x) )        (* elementwise; the "swilu" gate)
    sharing:   mem^(l)(x) = sum_{i in I^(l)(x)} w_i V_i,  I^(l) from layer l's own keys/query,
               V the same parameter in every layer (the paper replaces 3 MLPs, equally spaced
               in the stack, by memory layers over one shared pool of values)
Sharing keeps the memory-parameter count at N d however many layers read it; each layer still
looks it up with its own addresses.

Naive form: :meth:`MemoryPlus.forward_naive` uses the exhaustive top-k of
:meth:`ProductKeyMemory.forward_naive`; :meth:`MemoryPlus.forward` the product-key search and
an embedding bag. Tested equal.

Paper constants as defaults: heads H = 4, k = 32 slots per head, d_value = d, sub-key
dimension d_key / 2 with d_key = d / 2 ("small key dimension"), 3 memory layers; |K| defaults to
512 here (the paper goes to 4096, N = 16M slots, too big for a CPU chapter).

Not included: the qk-normalisation of Memory+, the custom CUDA embedding-bag kernels and
memory sharding across GPUs, the rest of the Llama block (attention, norms), and training at
scale (the chapter trains tiny models on a CPU).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from memlab.layers.product_keys import ProductKeyMemory

__all__ = ["MemoryPlus", "SharedMemoryStack", "memory_plus_by_hand"]


class MemoryPlus(nn.Module):
    """The memory+ layer: ``x [..., d] -> W2(SiLU(W1 x) * mem(x)) [..., d]``.

    ``memory``: a :class:`ProductKeyMemory` with ``d_value == d_model`` (built from the other
    arguments when None; pass one to share its values, see :class:`SharedMemoryStack`).
    """

    def __init__(self, d_model: int, n_keys: int = 512, heads: int = 4, k: int = 32,
                 d_key: int | None = None, memory: ProductKeyMemory | None = None,
                 query_norm: bool = True):
        super().__init__()
        if not isinstance(d_model, int) or isinstance(d_model, bool) or d_model < 2:
            raise ValueError(f"d_model must be an int >= 2, got {d_model!r}")
        if memory is None:
            d_key = d_key or max(2, 2 * (d_model // 4))           # small key dimension: ~d/2
            memory = ProductKeyMemory(d_model, n_keys=n_keys, heads=heads, k=k, d_key=d_key,
                                      d_value=d_model, query_norm=query_norm)
        if memory.d_model != d_model or memory.d_value != d_model:
            raise ValueError(f"memory must map d_model={d_model} to d_value={d_model}, got "
                             f"{memory.d_model} -> {memory.d_value}")
        self.d_model = d_model
        self.memory = memory
        self.W1 = nn.Linear(d_model, d_model, bias=False)          # gate
        self.W2 = nn.Linear(d_model, d_model, bias=False)          # output

    def gate(self, x: torch.Tensor) -> torch.Tensor:
        return F.silu(self.W1(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.W2(self.gate(x) * self.memory(x))

    def forward_naive(self, x: torch.Tensor) -> torch.Tensor:
        """Exhaustive top-k over all N slots and a dense gather (checking only)."""
        return self.W2(self.gate(x) * self.memory.forward_naive(x))


class SharedMemoryStack(nn.Module):
    """``n_layers`` memory+ layers with their own keys and queries over ONE value table.

    ``forward(x)`` applies them as residual blocks, ``x <- x + mem+^(l)(x)``, and stands in for
    the memory layers of a deeper network (the paper interleaves them with dense blocks).
    """

    def __init__(self, d_model: int, n_layers: int = 3, n_keys: int = 512, heads: int = 4,
                 k: int = 32, d_key: int | None = None, query_norm: bool = True):
        super().__init__()
        if not isinstance(n_layers, int) or isinstance(n_layers, bool) or n_layers < 1:
            raise ValueError(f"n_layers must be an int >= 1, got {n_layers!r}")
        self.layers = nn.ModuleList(
            MemoryPlus(d_model, n_keys=n_keys, heads=heads, k=k, d_key=d_key,
                       query_norm=query_norm) for _ in range(n_layers))
        self.share_values()

    def share_values(self) -> None:
        """Point every layer's ``memory.values`` at the first layer's table (one Parameter)."""
        shared = self.layers[0].memory.values
        for layer in self.layers[1:]:
            layer.memory.values = shared

    @property
    def values(self) -> nn.Parameter:
        return self.layers[0].memory.values

    def n_value_tables(self) -> int:
        """Distinct value tables held (1 when shared)."""
        return len({id(layer.memory.values) for layer in self.layers})

    def state_size(self) -> int:
        """Numbers in the memory: each distinct value table once, plus every layer's sub-keys."""
        seen, total = set(), 0
        for layer in self.layers:
            v = layer.memory.values
            if id(v) not in seen:
                seen.add(id(v))
                total += v.numel()
            total += layer.memory.keys.numel()
        return total

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = x + layer(x)
        return x


def memory_plus_by_hand() -> tuple[float, float]:
    """A memory+ read computed by the layer and by hand, one number each (d = 4, |K| = 2, k = 1).

    x = [1, 0, 0, 2]; identity query, no batch norm; K1 = [[1, 0], [0, 1]], K2 = [[0, 1], [1, 0]]
    so s_ij = x1.k1_i + x2.k2_j = [[1 + 2, 1 + 0], [0 + 2, 0 + 0]]: top-1 is slot (0, 0) = 0, read
    m = V_0 = [1, 2, 3, 4] (weight 1). W1 = I: gate SiLU(x) = [silu 1, 0, 0, silu 2];
    W2 = sum of the entries: out = silu(1) * 1 + silu(2) * 4.
    """
    dt = torch.float64
    layer = MemoryPlus(4, n_keys=2, heads=1, k=1, d_key=4, query_norm=False).to(dt)
    with torch.no_grad():
        layer.memory.W_q.weight.copy_(torch.eye(4, dtype=dt))
        layer.memory.keys.copy_(torch.tensor([[[[1, 0], [0, 1]], [[0, 1], [1, 0]]]], dtype=dt))
        layer.memory.values.copy_(torch.arange(1, 17, dtype=dt).reshape(4, 4))
        layer.W1.weight.copy_(torch.eye(4, dtype=dt))
        layer.W2.weight.copy_(torch.zeros(4, 4, dtype=dt))
        layer.W2.weight[0] = 1.0
        out = float(layer(torch.tensor([[1.0, 0.0, 0.0, 2.0]], dtype=dt))[0, 0])
    silu = lambda v: v / (1 + torch.exp(-torch.tensor(v, dtype=dt)))
    return out, float(silu(1.0) * 1 + silu(2.0) * 4)
