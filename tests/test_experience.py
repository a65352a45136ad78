"""Chapter 14's mechanisms: AppWorld-lite, distillation, the experience pool, the imitation
agent and the episodic kNN memory -- hand-computed cases, equalities and bad inputs."""

import json

import numpy as np
import pytest

from memlab.agents import MemoryStore, ReplayLLM
from memlab.agents.llm import LLMOutputError
from memlab.experience import ExperiencePool, ExperienceRuleLLM, ImitationAgent, should_prune
from memlab.experience.distill import abstract, app_of, distill, rebind, validate
from memlab.experience.experiments import lifetime, recovery_gaps
from memlab.experience.knn import EpisodicKNN, plan_vector
from memlab.memory import Memory
from memlab.tasks.appworld_lite import PRIMITIVES, AppWorld, Task, bind


# ---------------------------------------------------------------- AppWorld-lite
def test_world_executes_and_reports_the_first_wrong_call():
    w = AppWorld(n_apps=3, n_steps=4, seed=1)
    t = Task(w.apps[0], "create", "invoice")
    assert w.execute(t, w.program(t)).success
    bad = list(w.program(t))
    other = next(p for p in PRIMITIVES if p != w.procedure(t.app)[2])
    bad[2] = f"{other}(invoice)"
    out = w.execute(t, bad)
    assert (out.success, out.failed_at, out.n_ok) == (False, 2, 2)
    wrong_obj = bind(w.procedure(t.app), "note")
    assert w.execute(t, wrong_obj).failed_at == 0
    assert w.execute(t, w.program(t)[:3]).failed_at == 3        # too short


def test_drift_changes_exactly_one_call_of_the_drifted_apps():
    w = AppWorld(n_apps=10, n_steps=4, drift_at=5, drift_frac=0.3, seed=0)
    assert len(w.drifted) == 3
    for a in w.apps:
        diff = sum(x != y for x, y in zip(w.procedure(a, 4), w.procedure(a, 5)))
        assert diff == (1 if a in w.drifted else 0)
    assert AppWorld(n_apps=10, drift_at=None, seed=0).drifted == []


def test_world_is_seeded_and_app_names_are_distinct():
    a, b = AppWorld(12, seed=3), AppWorld(12, seed=3)
    assert a.apps == b.apps and a.stream(20) == b.stream(20)
    assert len(set(a.apps)) == 12
    assert a.stream(5) != AppWorld(12, seed=4).stream(5)


@pytest.mark.parametrize("kw, name", [({"n_apps": 0}, "n_apps"), ({"n_steps": 0}, "n_steps"),
                                      ({"drift_frac": 1.5}, "drift_frac"),
                                      ({"drift_at": -1}, "drift_at")])
def test_world_bad_arguments(kw, name):
    with pytest.raises(ValueError, match=name):
        AppWorld(**kw)


# ---------------------------------------------------------------- distillation
def test_abstract_and_rebind_are_inverse():
    prog = ["login(note)", "open(note)"]
    assert abstract(prog, "note") == ["login(<obj>)", "open(<obj>)"]
    assert rebind(abstract(prog, "note"), "event") == ["login(event)", "open(event)"]
    assert app_of("share the note in kelmor") == "kelmor"
    with pytest.raises(ValueError, match="app"):
        app_of("no app here")


def test_rule_llm_distils_and_validates_each_kind():
    llm = ExperienceRuleLLM()
    ok = {"task": "share the note in kelmor", "obj": "note", "program": ["login(note)", "open(note)"],
          "success": True, "failed_at": None}
    [s] = distill(llm, ok)
    assert s["kind"] == "success" and s["steps"] == ["login(<obj>)", "open(<obj>)"]
    assert s["when_to_use"] == "tasks in kelmor" and validate(llm, ok, s)
    bad = {**ok, "program": ["login(note)", "fill(note)"], "success": False, "failed_at": 1}
    [f] = distill(llm, bad)
    assert (f["step"], f["avoid"], f["prefix"]) == (1, "fill(<obj>)", ["login(<obj>)"])
    assert validate(llm, bad, f) and not validate(llm, ok, f)
    _s2, c = distill(llm, ok, {"step": 1, "avoid": "fill(<obj>)"})
    assert (c["kind"], c["step"], c["use"], c["avoid"]) == ("comparative", 1, "open(<obj>)", "fill(<obj>)")
    assert validate(llm, ok, c)
    # a success that restates the procedure just copied is nothing new
    assert not validate(llm, {**ok, "copied": ["login(<obj>)", "open(<obj>)"]}, s)
    assert llm.calls["distill_success"] == 2 and llm.calls["validate_experience"] == 5


def test_malformed_llm_output_is_an_error_not_a_memory():
    traj = {"task": "share the note in kelmor", "obj": "note", "program": ["login(note)"],
            "success": True, "failed_at": None}
    with pytest.raises(LLMOutputError, match="distill_success"):
        distill(ReplayLLM([("distill_success", "{not json")]), traj)
    with pytest.raises(LLMOutputError, match="when_to_use"):
        distill(ReplayLLM([("distill_success", json.dumps({"content": "x"}))]), traj)


# ---------------------------------------------------------------- the pool
def test_should_prune_by_hand():
    assert should_prune(3, 1, 3, 0.5)            # 1/3 < 0.5
    assert not should_prune(2, 0, 3, 0.5)        # below the usage floor
    assert not should_prune(4, 2, 3, 0.5)        # 2/4 is not < 0.5
    assert not any(should_prune(f, 0, 3, 0.0) for f in range(1, 20))   # U = 0 never prunes


def test_pool_credits_prunes_and_logs_why():
    pool = ExperiencePool(k=3)
    assert isinstance(pool, Memory)
    ins = {"kind": "success", "when_to_use": "tasks in kelmor", "steps": ["open(<obj>)"]}
    a, b = pool.write(ins), pool.write(ins)
    for ok in (True, False, False):
        pool.credit([a], ok)
    assert [it.id for it in pool.items()] == [b] and pool.state_size() == 1
    assert pool.pruned == [{"id": a, "kind": "success", "freq": 3, "utility": 1.0}]
    ops = [(e["op"], e["memory_id"]) for e in pool.store.events(pool.user)]
    assert ops[-1] == ("delete", a) and "utility/freq 0.33 < 0.5" in pool.store.events(pool.user)[-1]["reason"]
    assert pool.store.as_of(pool.user, float("inf")).keys() == {b}
    assert [h.id for h in pool.read("share the note in kelmor")] == [b]


def test_pool_without_pruning_keeps_everything():
    pool = ExperiencePool(prune=False)
    a = pool.write({"kind": "failure", "when_to_use": "tasks in x", "step": 0, "avoid": "a", "prefix": []})
    for _ in range(5):
        pool.credit([a], False)
    assert pool.state_size() == 1 and pool.store.get(a).meta["freq"] == 5


def test_random_credit_ignores_success():
    pool = ExperiencePool(credit="random", prune=False, seed=0)
    a = pool.write({"kind": "success", "when_to_use": "tasks in x", "steps": []})
    for _ in range(40):
        pool.credit([a], False)
    assert 5 < pool.store.get(a).meta["utility"] < 35


@pytest.mark.parametrize("kw, name", [({"k": 0}, "k"), ({"freq_threshold": 0}, "freq_threshold"),
                                      ({"utility_threshold": 2.0}, "utility_threshold"),
                                      ({"credit": "all"}, "credit"), ({"sim_floor": 3}, "sim_floor")])
def test_pool_bad_arguments(kw, name):
    with pytest.raises(ValueError, match=name):
        ExperiencePool(**kw)


def test_pool_rejects_bad_insights():
    pool = ExperiencePool()
    with pytest.raises(ValueError, match="kind"):
        pool.write({"kind": "fact", "when_to_use": "x"})
    with pytest.raises(ValueError, match="when_to_use"):
        pool.write({"kind": "success", "when_to_use": " "})


def test_pool_persists_on_a_file(tmp_path):
    path = str(tmp_path / "pool.db")
    pool = ExperiencePool(MemoryStore(path))
    a = pool.write({"kind": "success", "when_to_use": "tasks in x", "steps": ["open(<obj>)"]})
    pool.credit([a], True)
    pool.store.close()
    again = ExperiencePool(MemoryStore(path))
    assert again.store.get(a).meta["utility"] == 1.0 and again.read("tasks in x")[0].id == a


# ---------------------------------------------------------------- the agent
def test_agent_learns_one_task_from_its_own_failures():
    w = AppWorld(n_apps=1, n_steps=4, seed=2)
    agent = ImitationAgent(w, ExperiencePool(), p=0.5, seed=0)
    task = Task(w.apps[0], "share", "note")
    eps = [agent.run(task, t) for t in range(40)]
    first = next(i for i, e in enumerate(eps) if e.success)
    assert all(e.success for e in eps[first:])           # once solved, it copies the procedure
    kinds = {it.kind for it in agent.pool.items()}
    assert "success" in kinds and "failure" in kinds


def test_u0_is_exactly_append_only():
    kw = {"n_apps": 4, "n_episodes": 80, "drift_at": 30, "seed": 1}
    a, u0 = lifetime("append", **kw), lifetime("refined", U=0.0, **kw)
    assert np.array_equal(a["success"], u0["success"])
    assert np.array_equal(a["pool_size"], u0["pool_size"])


def test_recovery_gaps_are_window_differences_after_the_change():
    kw = {"n_apps": 4, "seed": 2}
    r = recovery_gaps(drift_at=30, window=20, n_windows=3, **kw)
    a, f = (lifetime(c, n_episodes=90, drift_at=30, **kw)["success"] for c in ("append", "refined"))
    want = [f[lo:lo + 20].mean() - a[lo:lo + 20].mean() for lo in (30, 50, 70)]
    assert np.allclose(r["gaps"], want) and len(r["gaps"]) == 3
    assert recovery_gaps(drift_at=30, window=20, n_windows=2, U=0.0, **kw)["gaps"] == [0.0, 0.0]
    for bad in (0, 1.5, True):
        with pytest.raises(ValueError, match="n_windows"):
            recovery_gaps(n_windows=bad)
    with pytest.raises(ValueError, match="window must"):
        recovery_gaps(window=0)


def test_lifetime_bad_condition():
    with pytest.raises(ValueError, match="condition"):
        lifetime("oracle")


# ---------------------------------------------------------------- episodic kNN
def test_plan_vector_cosine_counts_matching_calls():
    a, b = plan_vector(["login", "open", "fill", "fill"]), plan_vector(["login", "open", "open", "fill"])
    assert float(a @ b) == pytest.approx(0.75)


def test_knn_novelty_reward_and_fifo_by_hand():
    e = np.eye(3, dtype=np.float32)
    m = EpisodicKNN(3, k=1, max_keys=2, sim_floor=0.5, window=3, anneal=0.5)
    assert m.novelty(e[0], plan_vector(["login"])) == 1.0          # empty memory
    m.write(e[0], plan_vector(["login", "open"]))
    assert m.novelty(e[0], plan_vector(["login", "fill"])) == pytest.approx(0.5)
    r1 = m.reward(e[0], plan_vector(["login", "fill"]))     # H = [.5] -> 0
    r2 = m.reward(e[1], plan_vector(["login", "fill"]))     # H = [.5, 1] -> 1 * 0.5
    r3 = m.reward(e[0], plan_vector(["login", "fill"]))     # H = [.5, 1, .5] -> 0
    assert (r1, r2, r3) == (0.0, pytest.approx(0.5), 0.0)
    m.write(e[1], plan_vector(["open"]))
    m.write(e[2], plan_vector(["open"]))                   # evicts e[0]
    assert m.read(e[0]) == [] and len(m.keys) == 2
    assert m.state_size() == 2 * 3 + 2 * len(PRIMITIVES)


def test_knn_values_are_capped_per_key():
    m = EpisodicKNN(2, max_values=3)
    for i in range(5):
        m.write(np.array([1.0, 0.0]), plan_vector(["login"]), {"i": i})
    assert [p["i"] for _, p in m.values[0]] == [2, 3, 4]


@pytest.mark.parametrize("kw, name", [({"dim": 0}, "dim"), ({"dim": 3, "k": 0}, "k"),
                                      ({"dim": 3, "anneal": 0.0}, "anneal")])
def test_knn_bad_arguments(kw, name):
    with pytest.raises(ValueError, match=name):
        EpisodicKNN(**kw)


def test_knn_bad_key_shape():
    with pytest.raises(ValueError, match="shape"):
        EpisodicKNN(3).write(np.ones(4), plan_vector(["login"]))
