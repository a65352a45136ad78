"""The shared vocabulary: SequenceMemory base, the equality checker, devices and seeding."""

import pytest
import torch

from memlab.device import resolve_device, seed_everything
from memlab.memory import Memory, SequenceMemory, check_shape
from memlab.testing import check_sequence_memory, rel_err


class EMA(SequenceMemory):
    """h_t = a h_{t-1} + (1-a) x_t (a test double with a closed-form parallel form)."""

    def __init__(self, d_model, a=0.9):
        super().__init__()
        self.d_model, self.a = d_model, a

    def init_state(self, batch, device=None, dtype=None):
        return torch.zeros(batch, self.d_model, device=device, dtype=dtype)

    def step(self, x_t, h):
        h = self.a * h + (1 - self.a) * x_t
        return h, h

    def state_size(self, seq_len=None):
        return self.d_model

    def forward(self, x, state=None):
        B, T, D = x.shape
        h0 = self.init_state(B, x.device, x.dtype) if state is None else state
        t = torch.arange(T, device=x.device, dtype=x.dtype)
        w = self.a ** (t[:, None] - t[None, :])
        w = torch.tril(w) * (1 - self.a)
        y = torch.einsum("ts,bsd->btd", w, x) + (self.a ** (t + 1))[None, :, None] * h0[:, None]
        return y, y[:, -1]


class BrokenCarry(EMA):
    def forward(self, x, state=None):
        return super().forward(x, None)  # drops the carried state: the classic public bug


def test_equalities_pass_for_a_correct_mixer():
    x = torch.randn(2, 17, 4, dtype=torch.float64)
    errs = check_sequence_memory(EMA(4), x, [5, 7, 5], rtol=1e-10)
    assert max(errs.values()) < 1e-10


def test_equalities_catch_a_dropped_state():
    x = torch.randn(2, 17, 4, dtype=torch.float64)
    with pytest.raises(AssertionError, match="whole_vs_chunked"):
        check_sequence_memory(BrokenCarry(4), x, [5, 12], rtol=1e-6)


class ForgetsItsState(EMA):
    def forward(self, x, state=None):
        y, _ = super().forward(x, state)
        return y, None  # returns no state at all: nothing to compare, must not pass silently


def test_equalities_catch_a_state_of_different_structure():
    x = torch.randn(2, 9, 4, dtype=torch.float64)
    with pytest.raises(AssertionError, match="different structure"):
        check_sequence_memory(ForgetsItsState(4), x, [9], rtol=1e-6)


def test_chunks_must_cover_sequence():
    with pytest.raises(ValueError, match="must sum"):
        check_sequence_memory(EMA(4), torch.randn(1, 10, 4), [3, 3])


def test_check_shape_messages():
    with pytest.raises(ValueError, match="x must have 3 dimensions"):
        check_shape(torch.zeros(2, 3), "x", ndim=3)
    with pytest.raises(ValueError, match="last dimension 4"):
        check_shape(torch.zeros(2, 3, 5), "x", ndim=3, last=4)
    with pytest.raises(TypeError, match="torch.Tensor"):
        check_shape([1, 2], "x")
    with pytest.raises(ValueError, match="last dimension 4"):
        EMA(4).forward_recurrent(torch.zeros(1, 3, 5))


def test_memory_protocol_is_structural():
    class Store:
        def write(self, k, v): ...
        def read(self, q): ...
        def state_size(self): return 0
        def reset(self): ...

    assert isinstance(Store(), Memory)
    assert not isinstance(object(), Memory)


def test_rel_err():
    a = torch.tensor([1.0, 2.0])
    assert rel_err(a, a) == 0
    assert rel_err(a + 0.2, a) == pytest.approx(0.1)
    with pytest.raises(ValueError):
        rel_err(a, torch.zeros(3))


def test_device_resolution(monkeypatch):
    monkeypatch.delenv("MEMLAB_DEVICE", raising=False)
    assert resolve_device("cpu").type == "cpu"
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    monkeypatch.setenv("MEMLAB_DEVICE", "cpu")
    assert resolve_device("auto").type == "cpu"
    with pytest.raises(ValueError, match="tpu"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            resolve_device("cuda")


def test_seeding_reproduces():
    seed_everything(7)
    a = torch.randn(5)
    seed_everything(7)
    assert torch.equal(a, torch.randn(5))
    with pytest.raises(ValueError, match="seed"):
        seed_everything(-3)


def test_cpu_threads_restores_the_count():
    from memlab.device import cpu_threads

    before = torch.get_num_threads()
    with cpu_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError):
        with cpu_threads(1):
            raise RuntimeError("inside")
    assert torch.get_num_threads() == before
    with pytest.raises(ValueError, match="positive thread count"):
        with cpu_threads(0):
            pass
