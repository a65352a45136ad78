"""memlab.atlas: the registry, state bytes, the task suite, the analysis and the figures."""

import pytest

from memlab.atlas import analysis as A
from memlab.atlas import registry as R
from memlab.atlas import suite as SU
from memlab.memory import SequenceMemory


def test_every_sequence_memory_is_in_the_atlas_or_excluded_with_a_reason():
    reg = R.registry()
    in_atlas = {e.cls for e in reg.values()}
    for cls in R.discover():
        assert cls in in_atlas or cls.__name__ in R.EXCLUDED, cls
    assert {"attention", "linear", "delta", "gated_delta", "s4d", "mamba", "titans"} <= set(reg)
    assert all(isinstance(e.factory()(8), SequenceMemory) for e in R.configured().values())
    assert [n for n, e in R.configured().items() if e.input_dependent is False] == ["linear", "s4d"]


def test_a_new_mechanism_joins_the_atlas_by_existing():
    class Toy(SequenceMemory):          # defined under memlab's module name: it is discovered
        def __init__(self, d_model):
            super().__init__()
            self.d_model = d_model

        def state_size(self, seq_len=None):
            return 3

    Toy.__module__ = "memlab.ssm.toy_for_test"
    try:
        assert "Toy" in R.registry() and R.registry()["Toy"].family == "ssm"
    finally:
        del Toy
        import gc
        gc.collect()


@pytest.mark.parametrize("name", sorted(R.FORMULAS))
def test_state_bytes_match_the_hand_formula(name):
    assert SU.state_bytes_error([name], width=8, seq_len=10, n_layers=2) == 0.0


def test_state_bytes_by_hand():
    from memlab.attention.softmax import CausalSelfAttention
    from memlab.fastweights import LinearAttention

    assert R.state_bytes(CausalSelfAttention(4), 5) == 2 * 4 * 5 * 4         # 40 floats
    assert R.state_bytes(LinearAttention(4).double(), 5) == 4 * 4 * 8         # S, float64
    with pytest.raises(ValueError, match="seq_len"):
        R.state_bytes(LinearAttention(4), 0)
    with pytest.raises(ValueError, match="not in the atlas registry"):
        R.get("no_such_mixer")


def test_run_point_is_deterministic_and_checks_its_arguments():
    p = {"mixer": "linear", "width": 4, "steps": 3, "n_train": 16, "levels": [2, 4]}
    a, b = SU.run_point(p, 0), SU.run_point(p, 0)
    assert a == b and set(a["acc_by_level"]) == {"2", "4"}
    assert a["state_bytes"] == 4 * 4 * 4 and a["family"] == "fastweights"
    assert a["input_dependent"] is False
    assert SU.run_point(p, 1) != a
    for bad, msg in [({"width": 1}, "width"), ({"task": "sorting"}, "task"),
                     ({"mixer": "nope"}, "mixer")]:
        with pytest.raises(ValueError, match=msg):
            SU.run_point({**p, **bad}, 0)
    with pytest.raises(ValueError, match="seed"):
        SU.run_point(p, -1)


@pytest.mark.parametrize("task", list(SU.TASKS))
def test_every_task_has_answers_at_every_level(task):
    spec = SU.TASKS[task]
    for lv in spec.levels:
        b = SU.make_task(task, lv, 4, spec.seq_len, spec.vocab, 0)
        assert b.inputs.shape == (4, spec.seq_len) and (b.targets != -100).any()


def _rows():
    """Two seeds; linear (time-invariant) and delta (input-dependent) at equal state; attention."""
    def row(mixer, width, seed, accs, nbytes, dep, fam):
        return {"params": {"mixer": mixer, "width": width, "task": "mqar"}, "seed": seed,
                "status": "ok", "metrics": {"acc_by_level": accs, "state_bytes": nbytes,
                                            "family": fam, "input_dependent": dep}}
    return [row("linear", 8, s, {"2": 0.5, "4": 0.3}, 256, False, "fastweights") for s in (0, 1)] + [
        row("delta", 8, 0, {"2": 0.9, "4": 0.7}, 256, True, "fastweights"),
        row("delta", 8, 1, {"2": 0.6, "4": 0.4}, 256, True, "fastweights"),
        row("delta", 16, 0, {"2": 0.8, "4": 0.8}, 1024, True, "fastweights"),
        row("attention", 8, 0, {"2": 1.0, "4": 0.95}, 4096, None, "attention"),
        row("attention", 8, 1, {"2": 1.0, "4": 0.85}, 4096, None, "attention"),
        {"params": {"mixer": "delta", "width": 8}, "seed": 2, "status": "error", "metrics": None}]


def test_analysis_by_hand():
    recs = A.records(_rows())
    assert len(recs) == 14                                    # the error row is left out
    agg = {(a["mixer"], a["width"]): a for a in A.aggregate(recs, ("mixer", "width"))}
    assert agg[("delta", 8)]["mean"] == pytest.approx(0.65)   # seeds 0.8 and 0.5
    assert agg[("delta", 8)]["min"] == pytest.approx(0.5) and agg[("delta", 8)]["n_seeds"] == 2
    m = A.input_dependent_margin(recs)
    assert m["pairs"] == [(("delta", 8), ("linear", 8))]     # delta 16 has 4x the state
    assert m["per_seed"] == pytest.approx({0: 0.4, 1: 0.1})
    att = A.attention_min_acc(recs)
    assert att["per_seed"] == pytest.approx({0: 0.95, 1: 0.85}) and att["width"] == 8
    with pytest.raises(ValueError, match="tol"):
        A.input_dependent_margin(recs, tol=0.5)


def test_frontier_keeps_only_undominated_points():
    pts = [{"state_bytes": 1, "mean": 0.5}, {"state_bytes": 2, "mean": 0.4},
           {"state_bytes": 4, "mean": 0.9}, {"state_bytes": 4, "mean": 0.7}]
    assert [(p["state_bytes"], p["mean"]) for p in A.frontier(pts)] == [(1, 0.5), (4, 0.9)]


def test_atlas_figure_and_widget_callback():
    from memlab.viz.atlas import plot_atlas, render_atlas

    recs = A.records(_rows())
    fig = plot_atlas(recs)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and "bytes" in ax.get_xlabel() and ax.get_title()
    assert render_atlas(recs, family="fastweights", level="2").axes[0].get_title()
    empty = render_atlas(recs, family="ssm")
    assert "empty" in empty.axes[0].get_title()
    with pytest.raises(ValueError, match="no results"):
        plot_atlas(recs, family="ssm")
