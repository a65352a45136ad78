"""TokMem-lite (chapter 14): the procedures' specification, the gradient mask, bit-identical old
state after learning, bad inputs, determinism, and a small training sanity check."""

import numpy as np
import pytest
import torch

from memlab.experience import tokmem as T
from memlab.experience import tokmem_experiments as X


@pytest.fixture
def net():
    return T.pretrain(0)          # the chapter's backbone (cached per process; a fresh copy each)


# ---------------------------------------------------------------- the procedures
@pytest.mark.parametrize("name, x, y", [
    ("copy", "abcdef", "abcdef"), ("reverse", "abcdef", "fedcba"), ("rotate1", "abcdef", "bcdefa"),
    ("rotate3", "abcdef", "defabc"), ("upper", "abcdef", "ABCDEF"), ("next", "abcdeh", "bcdefa"),
    ("prev", "abcdeh", "habcdg"), ("reverse+upper", "abcdef", "FEDCBA"),
    ("rotate2+prev", "abcdef", "bcdeha"), ("rotate1+next", "hgabcd", "hbcdea"),
    (T.OUT_OF_REACH, "abcdef", "badcfe"), (T.OUT_OF_REACH, "abc", "bac"),
])
def test_procedures_hand_computed(name, x, y):
    assert T.apply(name, x) == y


def test_the_procedure_sets():
    assert len(T.PROCEDURES) == 20 and len(T.BASE) == 8 and len(T.COMPOSITIONS) == 12
    assert not set(T.BASE) & set(T.COMPOSITIONS) and T.OUT_OF_REACH not in T.PROCEDURES
    assert set(T.BASE) == {"copy", "reverse", "rotate1", "rotate2", "rotate3", "upper", "next", "prev"}


def test_examples_follow_the_specification_and_are_seeded():
    ex = T.examples("reverse+next", 20, seed=3)
    assert ex == T.examples("reverse+next", 20, seed=3) != T.examples("reverse+next", 20, seed=4)
    assert all(T.apply("reverse+next", a) == b and len(a) == 6 for a, b in ex)


# ---------------------------------------------------------------- the mask and the old state
def test_grad_mask_shape_and_value(net):
    mem = T.TokenProcedureMemory(net)
    m = mem.grad_mask(30)
    assert m.shape == (mem.n_rows, 1) == (16 + 8 + 16, 1)
    assert m[30, 0] == 1 and m.sum() == 1 and m.dtype == torch.float32


def test_learn_changes_only_the_new_row(net):
    mem = T.TokenProcedureMemory(net)
    before = {k: v.clone() for k, v in mem.net.state_dict().items()}
    row = mem.add_procedure("rotate1+upper")
    assert row == 16 + 8                                      # first reserved row
    mem.learn("rotate1+upper", T.examples("rotate1+upper", 64), steps=20)
    mem.learn("reverse+prev", T.examples("reverse+prev", 64), steps=20)
    after = mem.net.state_dict()
    for k, v in before.items():
        if k != "E":
            assert torch.equal(v, after[k]), k              # backbone bit-identical
    keep = torch.ones(mem.n_rows, dtype=torch.bool)
    keep[[row, row + 1]] = False
    assert torch.equal(before["E"][keep], after["E"][keep])  # letters, base tokens, spares
    assert not torch.equal(before["E"][row], after["E"][row])
    assert not torch.equal(before["E"][row + 1], after["E"][row + 1])
    assert not any(p.requires_grad for p in mem.net.parameters())
    assert mem.state_size() == 2 * 64 and mem.rows["reverse+prev"] == row + 1


def test_second_procedure_leaves_the_first_row_bit_identical(net):
    mem = T.TokenProcedureMemory(net)
    mem.learn("rotate2+next", T.examples("rotate2+next", 64), steps=10)
    first = mem.net.E[mem.rows["rotate2+next"]].clone()
    out = mem.run("rotate2+next", ["abcdef", "hhgabc"])
    mem.learn("rotate3+prev", T.examples("rotate3+prev", 64), steps=10)
    assert torch.equal(first, mem.net.E[mem.rows["rotate2+next"]])
    assert mem.run("rotate2+next", ["abcdef", "hhgabc"]) == out


def test_masked_row_equals_a_standalone_parameter(net):
    """Naive vs masked: Adam on E behind the mask moves row r exactly as Adam on a lone
    vector e (fed through the instruction slot) moves e, on the same batches."""
    mem = T.TokenProcedureMemory(net)
    ex = T.examples("reverse+upper", 32, seed=1)
    row = mem.add_procedure("reverse+upper")
    e = torch.nn.Parameter(mem.net.E[row].detach().clone())
    opt = torch.optim.Adam([e], mem.lr)
    x = torch.tensor([[T.OUT.index(c) for c in a] for a, _ in ex])
    y = torch.tensor([[T.OUT.index(c) for c in b] for _, b in ex])
    g = torch.Generator().manual_seed(0)
    for _ in range(5):
        i = torch.randint(0, 32, (32,), generator=g)
        ids = torch.cat([torch.zeros(32, 1, dtype=torch.long), x[i]], 1)
        loss = torch.nn.functional.cross_entropy(
            mem.net(ids, e.expand(32, -1)).flatten(0, 1), y[i].flatten())
        opt.zero_grad()
        loss.backward()
        opt.step()
    mem.learn("reverse+upper", ex, steps=5, batch=32, seed=0)
    assert torch.allclose(mem.net.E[row], e.detach(), rtol=0, atol=1e-5)


# ---------------------------------------------------------------- behaviour
def test_a_learned_token_works_and_an_untrained_one_does_not(net):
    mem = T.TokenProcedureMemory(net)
    assert mem.instructed_accuracy("rotate3+upper", 128) >= 0.9     # the backbone can do it
    mem.add_procedure("rotate3+upper")
    assert mem.accuracy("rotate3+upper", 128) <= 0.1
    losses = mem.learn("rotate3+upper", T.examples("rotate3+upper", 128), steps=150)
    assert losses[-1] < losses[0] / 5
    assert mem.accuracy("rotate3+upper", 128) >= 0.9
    assert min(mem.accuracy(n, 128) for n in T.BASE) >= 0.9


def test_finetune_baseline_moves_the_backbone(net):
    mem = T.FineTuneMemory(net)
    w = mem.net.head.weight.clone()
    mem.learn("reverse+next", T.examples("reverse+next", 32), steps=3)
    assert not torch.equal(w, mem.net.head.weight)
    assert mem.state_size() == sum(p.numel() for p in mem.net.parameters())


def test_same_seed_same_numbers(net):
    a, b = T.TokenProcedureMemory(T.pretrain(0)), T.TokenProcedureMemory(T.pretrain(0))
    for m in (a, b):
        m.learn("rotate1+prev", T.examples("rotate1+prev", 64, seed=2), steps=15, seed=5)
    assert torch.equal(a.net.E, b.net.E)
    assert torch.equal(T.pretrain(0).E, net.E)            # pretrain hands out fresh copies


# ---------------------------------------------------------------- bad input
def test_bad_inputs_name_the_parameter(net):
    mem = T.TokenProcedureMemory(net)
    ex = T.examples("reverse+upper", 8)
    with pytest.raises(ValueError, match="name"):
        mem.run("no such procedure", "abcdef")
    with pytest.raises(ValueError, match="name"):
        mem.add_procedure("reverse")                         # already stored
    for steps in (0, 201, 1.5):
        with pytest.raises(ValueError, match="steps"):
            mem.learn("reverse+upper", ex, steps=steps)
    with pytest.raises(ValueError, match="examples"):
        mem.learn("reverse+upper", [("abcxyz", "ZYXCBA")], steps=5)
    with pytest.raises(ValueError, match="examples"):
        mem.learn("reverse+upper", [("abcdef", "FEDCB")], steps=5)
    with pytest.raises(ValueError, match="examples"):
        mem.learn("reverse+upper", [], steps=5)
    with pytest.raises(ValueError, match="inputs"):
        mem.run("reverse", "ABCDEF")
    with pytest.raises(ValueError, match="inputs"):
        mem.run("reverse", ["abcdef", "abc"])
    with pytest.raises(ValueError, match="name"):
        T.apply("sort", "abc")
    with pytest.raises(ValueError, match="s must"):
        T.apply("reverse", "abz")
    with pytest.raises(ValueError, match="d must"):
        T.pretrain(0, d=4)
    with pytest.raises(ValueError, match="length"):
        T.pretrain(0, length=9)
    with pytest.raises(ValueError, match="d must be a multiple"):
        T.pretrain(0, d=18)
    with pytest.raises(ValueError, match="n must"):
        mem.accuracy("reverse", 0)
    with pytest.raises(ValueError, match="n_new"):
        X.tokmem_run(0, n_new=0)
    with pytest.raises(ValueError, match="methods"):
        X.tokmem_run(0, methods=("lora",))


def test_reserved_rows_run_out_with_a_clear_error(net):
    mem = T.TokenProcedureMemory(net)
    for k in range(16):
        mem.add_procedure(f"p{k}")
    with pytest.raises(ValueError, match="no reserved row"):
        mem.add_procedure("one too many")


# ---------------------------------------------------------------- the mutants' checks
def test_the_identity_check_catches_three_mutants():
    from memlab.experience import mutants as MU
    from memlab.testing import mutants as M

    c = M.CHECKS[("14", "tokmem_old_state_identical")]
    assert M.run_check(c).passed
    for bug in ("tokmem_mask_missing", "tokmem_backbone_not_frozen", "tokmem_row_collision"):
        with M.MUTANTS[bug].apply():
            assert not M.run_check(c).passed, bug
    with M.MUTANTS["tokmem_mask_off_by_one"].apply():
        assert not M.run_check(M.CHECKS[("14", "tokmem_minus_untrained")]).passed
    assert MU.TOK == "TokMem procedure tokens"


def test_render_tokmem_draws_both_memories():
    from memlab.viz.experience import render_tokmem

    r = {"order": ["a", "b"], "untrained": np.zeros(2),
         "tokmem": {"just": np.ones(2), "final": np.ones(2)},
         "finetune": {"just": np.ones(2), "final": np.zeros(2)}}
    fig = render_tokmem(r)
    axes = fig.get_axes()
    assert len(axes) == 2 and "TokMem" in axes[0].get_title() and len(fig.legends) == 2
    assert len(axes[1].patches) == 4
