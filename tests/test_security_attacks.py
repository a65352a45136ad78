"""Chapter 15: MINJA, AgentPoison-lite and the figures, at small size."""

import numpy as np
import pytest

from memlab.agents.embed import HashingEmbedder
from memlab.security import experiments as X
from memlab.security import minja as M
from memlab.security import poison as P
from memlab.security.world import World


def test_minja_rounds_shorten_to_nothing_and_records_are_written_by_the_agent():
    r = X.minja_run(0, seed=1, rounds_per_level=2, n_queries=10)
    camp = r["campaign"]
    assert [lvl for lvl, *_ in camp.rounds] == [0, 0, 1, 1, 2, 2, 3, 3]
    last = camp.rounds[-1][1]
    assert "stored under" not in last and camp.rounds[-1][3]   # plain query, bridge carried
    # every record was written by the agent's policy; the attacker's are tagged by provenance
    recs = r["agent"].records()
    assert len(recs) == len(camp.rounds)
    assert all(it.meta["by"] == "attacker" for it in recs)
    assert sum(["REMAP", f"{camp.v}>{camp.t}"] in it.meta["program"] for it in recs) == 8


def test_benign_history_lowers_minja():
    empty = np.mean([X.minja_run(0, seed=s, n_queries=20)["asr"] for s in range(2)])
    full = np.mean([X.minja_run(100, seed=s, n_queries=20)["asr"] for s in range(2)])
    assert empty >= 0.9 and full <= 0.1


def test_attack_queries_validate():
    with pytest.raises(ValueError, match="rounds_per_level"):
        M.attack_queries(World(10), "100", "101", rounds_per_level=0)
    with pytest.raises(ValueError, match="guard"):
        X.make_guard("firewall")


def test_trigger_search_lowers_the_objective_and_validates():
    rng = np.random.default_rng(0)
    w = World(20, seed=0)
    qs = [w.question(rng) for _ in range(8)]
    tr = P.optimise_trigger(HashingEmbedder(), qs, n_cand=16, n_iters=1, seed=0)
    assert tr.loss <= tr.initial_loss and all(np.diff(tr.history) <= 0)
    assert len(set(tr.tokens)) == 3
    with pytest.raises(ValueError, match="n_tokens"):
        P.optimise_trigger(HashingEmbedder(), qs, n_tokens=0)
    with pytest.raises(ValueError, match="n_clusters"):
        P.optimise_trigger(HashingEmbedder(), qs[:2])


def test_reduction_formula():
    assert X.reduction(0.4, 0.0) == 1.0 and X.reduction(0.4, 0.4) == 0.0
    assert X.reduction(0.0, 0.0) == 0.0


def test_figures_draw():
    import memlab.viz.security as V

    fig = V.render_campaign(rounds_per_level=1, n_benign=0, guard="memguard", seed=0)
    assert fig.axes[0].get_xlabel() == "attack round" and fig.axes[0].get_title()
    fig = V.render_benign_sweep({"none": {0: 1.0, 10: 0.3}, "memguard": {0: 1.0, 10: 0.0}})
    assert len(fig.axes[0].lines) == 2 and fig.axes[0].get_legend() is not None
    fig = V.render_long_run({"memguard": [0.0, 0.0], "none": [0.2, 0.4]})
    assert fig.axes[0].get_ylabel() == "ASR in the cycle"


def test_trigger_objective_by_hand():
    """Two triggered embeddings e = (1, 0), (0, 1) and one centre at the origin:
    L_uni = -mean ||e_i - c|| = -1, L_cpt = mean ||e_i - (0.5, 0.5)|| = sqrt(0.5)."""
    class Toy:
        dim = 2

        def embed(self, texts):
            return np.array([[1.0, 0.0] if t.startswith("a") else [0.0, 1.0] for t in texts])

    got = P.objective(Toy(), ["x"], ["a q", "b q"], np.zeros((1, 2)))
    assert got == pytest.approx(-1.0 + np.sqrt(0.5))
    assert P.objective(Toy(), ["x"], ["a q", "b q"], np.zeros((1, 2)), lam=0.0) == pytest.approx(-1.0)
