"""Distilling experiences from trajectories through the chapter-12 ``LLM`` protocol.

ReMe ("Remember Me, Refine Me", 2025, ``agentscope-ai/ReMe``) distils three kinds of
insight from an agent's own trajectories, then validates each before it enters the pool:

* ``success``: the procedure that worked (``distill_success``);
* ``failure``: the trigger of a failure, "step i must not be X" (``distill_failure``); here the
  world reports the first wrong call, so the steps before it are known good and kept too;
* ``comparative``: from a success / failure pair on the same scenario, "step i is A, not B"
  (``distill_comparative``).

Every insight has ReMe's fields: ``when_to_use`` (the scenario text, embedded for retrieval),
``content`` (the insight in words) and the structured part an agent can act on (``steps``,
``step``/``avoid``/``prefix``, ``step``/``use``/``avoid``). Procedures are written with the
task's object abstracted to ``<obj>``, so an agent can re-bind them to a new task.

Back-ends: these ops reach any :class:`memlab.agents.LLM` through ``llm.complete(op, prompt,
payload)`` (so :class:`~memlab.agents.OpenAICompatLLM` can drive them when pointed at a server);
:class:`ExperienceRuleLLM` is the offline default, exact on the AppWorld-lite grammar
("{verb} the {object} in {app}", calls ``action(object)``) and knowing nothing else.

Not included: ReMe's LLM-scored quality and its similarity de-duplication of the pool (every
validated insight is added; duplicates are what pruning must cope with), and the rewriting of
retrieved insights for the new context beyond re-binding the object.
"""

from __future__ import annotations

import json
import re

from memlab.agents.llm import LLM, LLMOutputError, RuleLLM

__all__ = ["KINDS", "PROMPTS", "ExperienceRuleLLM", "abstract", "app_of", "call_task",
           "distill", "rebind", "validate"]

KINDS = ("success", "failure", "comparative")
PROMPTS = {  # paraphrases of ReMe's task-memory prompt shapes
    "distill_success": "The agent SUCCEEDED at: {task}\nCalls: {program}\nWrite when this "
                       "experience applies and the procedure, with the task's object replaced "
                       "by <obj>. Return JSON {{\"when_to_use\": str, \"content\": str, "
                       "\"steps\": [str]}}.",
    "distill_failure": "The agent FAILED at: {task}\nCalls: {program}\nThe world rejected call "
                       "{failed_at}. Write when this applies, the calls that worked (prefix) and "
                       "the call to avoid. Return JSON {{\"when_to_use\": str, \"content\": str, "
                       "\"step\": int, \"avoid\": str, \"prefix\": [str]}}.",
    "distill_comparative": "Same scenario, a failure then a success.\nFailed insight: {failure}"
                           "\nSuccessful calls: {program}\nWrite what differs. Return JSON "
                           "{{\"when_to_use\": str, \"content\": str, \"step\": int, \"use\": str, "
                           "\"avoid\": str}}.",
    "validate_experience": "Trajectory: {trajectory}\nInsight: {insight}\nIs the insight "
                           "consistent with the trajectory and useful? Return JSON "
                           "{{\"valid\": bool, \"reason\": str}}.",
}
_CALL = re.compile(r"^(\w+)\((.*)\)$")


def app_of(task_text: str) -> str:
    """The app a task is about: the word after the last " in "."""
    m = re.search(r"\bin (\w+)\s*$", task_text)
    if not m:
        raise ValueError(f"cannot find the app in task text {task_text!r}")
    return m.group(1)


def abstract(program: list[str], obj: str) -> list[str]:
    """``open(invoice)`` -> ``open(<obj>)``: the re-bindable form of a procedure."""
    out = []
    for call in program:
        m = _CALL.match(call)
        out.append(f"{m.group(1)}(<obj>)" if m and m.group(2) == obj else call)
    return out


def rebind(steps: list[str], obj: str) -> list[str]:
    """``open(<obj>)`` -> ``open(note)`` for the task at hand."""
    return [s.replace("<obj>", obj) for s in steps]


def call_task(llm: LLM, op: str, payload: dict) -> dict:
    """One experience op on any ``LLM`` back-end; malformed output -> ``LLMOutputError``."""
    llm.calls[op] += 1
    prompt = PROMPTS[op].format(**{k: (v if isinstance(v, str) else json.dumps(v))
                                   for k, v in payload.items()})
    raw = llm.complete(op, prompt, payload)
    if not isinstance(raw, str):
        raise LLMOutputError(f"LLM output for {op!r} is not a string: {raw!r}"[:200])
    text = re.sub(r"^```(?:json)?\s*|\s*```$", "", raw.strip())
    try:
        out = json.loads(text)
    except json.JSONDecodeError as e:
        raise LLMOutputError(f"LLM output for {op!r} is not valid JSON ({e.msg}); "
                             f"got {raw[:200]!r}") from None
    if not isinstance(out, dict) or (op != "validate_experience" and
                                     not isinstance(out.get("when_to_use"), str)):
        raise LLMOutputError(f"LLM output for {op!r} lacks 'when_to_use': {raw[:200]!r}")
    return out


class ExperienceRuleLLM(RuleLLM):
    """Offline distiller: exact on AppWorld-lite trajectories (see module docstring).

    ``when_to_use`` is generalised to the app ("tasks in X"): the rule knows that in this world
    a procedure belongs to an app, not to a verb or an object."""

    name = "rule-experience"

    def _distill_success(self, p):
        steps = abstract(p["program"], p["obj"])
        app = app_of(p["task"])
        return {"when_to_use": f"tasks in {app}", "steps": steps,
                "content": f"In {app}, call " + ", ".join(s.split("(")[0] for s in steps)
                           + " in this order on the task's object."}

    def _distill_failure(self, p):
        i, app = int(p["failed_at"]), app_of(p["task"])
        prefix = abstract(p["program"][:i], p["obj"])
        avoid = abstract([p["program"][i]], p["obj"])[0] if i < len(p["program"]) else ""
        ok = ", ".join(s.split("(")[0] for s in prefix) or "nothing"
        return {"when_to_use": f"tasks in {app}", "step": i, "avoid": avoid, "prefix": prefix,
                "content": f"In {app}, call {i + 1} must not be {avoid.split('(')[0]}; "
                           f"the calls before it worked: {ok}."}

    def _distill_comparative(self, p):
        f, steps = p["failure"], abstract(p["program"], p["obj"])
        j = int(f["step"])
        app = app_of(p["task"])
        return {"when_to_use": f"tasks in {app}", "step": j, "use": steps[j], "avoid": f["avoid"],
                "content": f"In {app}, call {j + 1} is {steps[j].split('(')[0]}, "
                           f"not {f['avoid'].split('(')[0]}."}

    def _validate_experience(self, p):
        t, ins = p["trajectory"], p["insight"]
        steps = abstract(t["program"], t["obj"])
        if ins["kind"] == "success":     # and new: not the procedure the agent just copied
            ok = t["success"] and ins.get("steps") == steps and steps != t.get("copied")
        elif ins["kind"] == "failure":
            i = ins.get("step")
            ok = (not t["success"] and i == t["failed_at"] and ins.get("prefix") == steps[:i])
        else:
            j = ins.get("step")
            ok = (t["success"] and isinstance(j, int) and 0 <= j < len(steps)
                  and ins.get("use") == steps[j] and ins.get("use") != ins.get("avoid"))
        return {"valid": bool(ok), "reason": "consistent" if ok else "contradicts the trajectory"}


def distill(llm: LLM, trajectory: dict, failure_insight: dict | None = None) -> list[dict]:
    """Insights from one trajectory ``{"task", "obj", "program", "success", "failed_at"}``:
    a success pattern or a failure trigger, plus a comparative insight when a success follows
    ``failure_insight`` (a failure insight the agent used on this task)."""
    pay = {k: trajectory[k] for k in ("task", "obj", "program")}
    if trajectory["success"]:
        out = [{"kind": "success", **call_task(llm, "distill_success", pay)}]
        if failure_insight is not None:
            c = call_task(llm, "distill_comparative", {**pay, "failure": failure_insight})
            out.append({"kind": "comparative", **c})
        return out
    return [{"kind": "failure", **call_task(llm, "distill_failure",
                                            {**pay, "failed_at": trajectory["failed_at"]})}]


def validate(llm: LLM, trajectory: dict, insight: dict) -> bool:
    """ReMe's validation step: only insights the LLM finds consistent enter the pool."""
    out = call_task(llm, "validate_experience", {"trajectory": trajectory, "insight": insight})
    if not isinstance(out.get("valid"), bool):
        raise LLMOutputError(f"validate_experience: 'valid' must be a bool, got {out!r}"[:200])
    return out["valid"]
