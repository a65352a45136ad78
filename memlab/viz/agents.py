"""Figures for chapters 12-13: forgetting curves, score breakdowns, MemGPT context occupancy.

Each ``render_*`` is a plain function of its knobs returning a matplotlib Figure (tested
without a browser); ``make_*`` builds a render function over prepared data for the widget.
"""

from __future__ import annotations

import numpy as np

from memlab.viz import new_figure

__all__ = [
    "make_occupancy",
    "make_question_view",
    "make_score_breakdown",
    "render_ability_table",
    "render_forgetting",
    "render_occupancy",
    "render_score_breakdown",
]


def render_forgetting(days: int = 20, strength: float = 1.0, n_recalls: int = 3,
                      show_bug: bool = True):
    """R(t) of one memory with ``n_recalls`` evenly spaced recalls (S += 1, t -> 0 at each)."""
    from memlab.agents.experiments import recall_curve

    recalls = list(np.linspace(0, days, n_recalls + 2)[1:-1]) if n_recalls else []
    fig, ax = new_figure(width=6, height=3.2)
    t, R = recall_curve(days, recalls, S0=strength)
    ax.plot(t, R, label=f"paper: exp(-t/S), S0={strength:g}")
    if show_bug:
        tb, Rb = recall_curve(days, recalls, S0=strength, precedence_bug=True)
        ax.plot(tb, Rb, "--", label="public code: exp(-t/5*S)")
    for r in recalls:
        ax.axvline(r, color="grey", lw=0.5)
    ax.set(xlabel="days", ylabel="retention R", ylim=(0, 1.05),
           title=f"Forgetting with {n_recalls} recalls")
    ax.legend(fontsize=8)
    return fig


def render_score_breakdown(hits, title: str = ""):
    """Stacked bars of each hit's weighted components (``hit.explain``)."""
    fig, ax = new_figure(width=6.5, height=3.2)
    names = [k for k in ("recency", "importance", "relevance") if hits and k in hits[0].explain]
    bottom = np.zeros(len(hits))
    for n in names:
        v = np.array([h.explain[n] for h in hits])
        ax.barh(range(len(hits)), v, left=bottom, label=n)
        bottom += v
    ax.set_yticks(range(len(hits)))
    ax.set_yticklabels([h.text.split("\n")[0][6:46] for h in hits], fontsize=7)
    ax.invert_yaxis()
    ax.set(xlabel="weighted, min-max normalised score", title=title)
    ax.legend(fontsize=7, loc="lower right")
    return fig


def make_score_breakdown(records, persona: int = 0, k: int = 5):
    """A render(query, variant) over a Generative Agents memory of one persona."""
    from memlab.agents.generative import GenerativeAgents
    from memlab.agents.harness import parse_date, personas, replay

    r0 = personas(records)[persona][0]
    systems = {}
    for variant in ("paper", "code"):
        ga = GenerativeAgents(variant=variant, user="u")
        replay(ga, r0, sessions=False)
        ga.clock.set(parse_date(r0["question_date"]))
        systems[variant] = ga

    def render(query: str = "Where do I live now?", variant: str = "paper"):
        ga = systems[variant]
        items, rec, imp, rel = ga.components(query)
        from memlab.agents.generative import minmax
        w = ga.weights
        parts = {"recency": w["recency"] * minmax(rec), "importance": w["importance"] * minmax(imp),
                 "relevance": w["relevance"] * minmax(rel)}
        score = sum(parts.values())
        top = np.argsort(-score, kind="stable")[:k]
        from memlab.agents.store import Hit
        hits = [Hit(items[i].id, items[i].text, float(score[i]),
                    {n: float(v[i]) for n, v in parts.items()}) for i in top]
        return render_score_breakdown(hits, f"{variant} weights {tuple(w.values())}: {query}")

    return render


def render_occupancy(trace, context_window: int, warning_frac: float = 0.75):
    """Stacked area of system / core / summary / messages tokens per step, with the lines."""
    fig, ax = new_figure(width=6.5, height=3.2)
    steps = [t["step"] for t in trace]
    keys = ("system", "core", "summary", "messages")
    ax.stackplot(steps, *[[t[k] for t in trace] for k in keys], labels=keys, alpha=0.8)
    ax.axhline(context_window, color="k", lw=1, label="context window")
    ax.axhline(warning_frac * context_window, color="k", ls="--", lw=1, label="warning 75%")
    for t in trace:
        if t["flushed"]:
            ax.axvline(t["step"], color="red", lw=0.6)
    ax.set(xlabel="step (round)", ylabel="tokens", title="MemGPT context occupancy "
           f"({sum(t['flushed'] for t in trace)} summarisations)")
    ax.legend(fontsize=7, loc="upper left")
    return fig


def make_occupancy(records, persona: int = 0):
    """A render(context_window) over one persona's conversation."""
    from memlab.agents.experiments import memgpt_occupancy

    def render(context_window: int = 300):
        return render_occupancy(memgpt_occupancy(records, persona, context_window), context_window)

    return render


def render_ability_table(results: dict, metric_cols=("information_extraction", "multi_session",
                                                      "temporal", "knowledge_update",
                                                      "abstention")):
    """Heatmap of per-ability accuracy, one row per system."""
    names = list(results)
    M = np.array([[results[n][c] for c in metric_cols] for n in names])
    fig, ax = new_figure(width=7, height=0.35 * len(names) + 1.2)
    im = ax.imshow(M, vmin=0, vmax=1, cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(metric_cols)))
    ax.set_xticklabels([c.replace("_", "\n") for c in metric_cols], fontsize=7)
    ax.set_yticks(range(len(names)))
    ax.set_yticklabels(names, fontsize=8)
    for i in range(len(names)):
        for j in range(len(metric_cols)):
            ax.text(j, i, f"{M[i, j]:.2f}", ha="center", va="center", fontsize=7,
                    color="w" if M[i, j] < 0.6 else "k")
    ax.set_title("accuracy per ability")
    fig.colorbar(im, ax=ax, shrink=0.8).set_label("accuracy (fraction correct)")
    return fig


def make_question_view(records, k: int | None = None):
    """A render(system, question_id): what one system retrieved for one question, explained."""
    from memlab.agents.harness import SYSTEMS, parse_date, replay
    from memlab.agents.llm import RuleLLM
    from memlab.agents.store import MemoryStore

    def render(system: str = "mem0", question_id: str = records[0]["question_id"]):
        rec = next(x for x in records if x["question_id"] == question_id)
        s = SYSTEMS[system](store=MemoryStore(), llm=RuleLLM(), user="u")
        replay(s, rec)
        s.clock.set(parse_date(rec["question_date"]))
        ans, ctx = s.ask(rec["question"], k)
        fig, ax = new_figure(width=7.5, height=0.3 * min(len(ctx), 10) + 1)
        ax.axis("off")
        lines = [f"Q: {rec['question']}   gold: {rec['answer']}   {system}: {ans}"]
        for i, c in enumerate(ctx[:10]):
            ex = {n: round(v, 2) for n, v in c["explain"].items() if isinstance(v, float)}
            lines.append(f"{i + 1}. [{c['date']}] {c['text'][:60]!r} {ex}")
        ax.text(0, 1, "\n".join(lines), va="top", family="monospace", fontsize=6.5)
        return fig

    return render
