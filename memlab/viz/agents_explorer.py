"""Chapter 13's question explorer: the questions as an HTML table, and one system's retrieval
for one question drawn as a table (not a wall of text).

``questions_html(records, answers)`` returns an HTML table (question, ability, gold answer and
each system's answer, right / wrong), shown with ``IPython.display.HTML``; it is a static
output, so it survives a save and reopen. ``make_question_table(records, k)`` returns a
``render(system, question_id) -> Figure`` for :func:`memlab.viz.interactive`; the dropdown of
questions comes from :func:`question_options` (the question's text, not its id).
"""

from __future__ import annotations

import html

from memlab.viz import new_figure

__all__ = ["make_question_table", "question_options", "questions_html"]


def question_options(records, limit: int | None = None) -> list[tuple[str, str]]:
    """``[(label, question_id)]`` for a Dropdown: the question's text and its persona."""
    recs = records[:limit] if limit else records
    return [(f"{r['question']}  ({r['question_id'].split('_')[0]})", r["question_id"])
            for r in recs]


def questions_html(records, answers: dict[str, dict[str, str]] | None = None,
                   limit: int | None = None) -> str:
    """An HTML table of the questions; ``answers[system][question_id]`` adds a column per
    system, each answer marked right (green) or wrong (red) against the gold answer."""
    answers = answers or {}
    recs = records[:limit] if limit else records
    head = "".join(f"<th>{html.escape(h)}</th>" for h in
                   ["question", "ability", "gold", *answers])
    rows = []
    for r in recs:
        cells = [html.escape(r["question"]), html.escape(r["memlab"]["ability"].replace("_", " ")),
                 html.escape(str(r["answer"]))]
        for sysname in answers:
            a = answers[sysname].get(r["question_id"], "")
            ok = a.strip().lower() == str(r["answer"]).strip().lower() or (
                r["question_id"].endswith("_abs") and a == "I don't know.")
            cells.append(f"<span style='color:{'#1a7f37' if ok else '#cf222e'}'>"
                         f"{html.escape(a)}</span>")
        rows.append("<tr>" + "".join(f"<td style='text-align:left'>{c}</td>" for c in cells)
                    + "</tr>")
    return ("<table style='font-size:12px;border-collapse:collapse'><thead><tr>" + head +
            "</tr></thead><tbody>" + "".join(rows) + "</tbody></table>")


def make_question_table(records, k: int | None = None, width: int = 70):
    """A render(system, question_id): one system's retrieved memories for one question, as a
    table (rank, date, memory, score components), with its answer in the title."""
    from memlab.agents.harness import SYSTEMS, parse_date, replay
    from memlab.agents.llm import RuleLLM
    from memlab.agents.store import MemoryStore

    def render(system: str = "mem0", question_id: str = records[0]["question_id"]):
        rec = next(x for x in records if x["question_id"] == question_id)
        s = SYSTEMS[system](store=MemoryStore(), llm=RuleLLM(), user="u")
        replay(s, rec)
        s.clock.set(parse_date(rec["question_date"]))
        ans, ctx = s.ask(rec["question"], k)
        rows = []
        for i, c in enumerate(ctx[:10]):
            text = " / ".join(line.strip() for line in c["text"].splitlines())
            ex = ", ".join(f"{n} {v:.2f}" for n, v in c["explain"].items()
                           if isinstance(v, float))
            rows.append([str(i + 1), c["date"], text[:width] + ("..." if len(text) > width else ""),
                         ex[:30]])
        fig, ax = new_figure(width=9, height=0.32 * max(len(rows), 1) + 1.2)
        ax.axis("off")
        ok = "right" if ans.strip().lower() == str(rec["answer"]).strip().lower() else "wrong"
        ax.set_title(f"{rec['question']}\n{system} answers {ans!r} ({ok}; gold {rec['answer']!r})",
                     fontsize=9)
        if rows:
            t = ax.table(cellText=rows, colLabels=["#", "date", "retrieved memory", "score"],
                         colWidths=[0.04, 0.12, 0.64, 0.2], loc="upper center", cellLoc="left")
            t.auto_set_font_size(False)
            t.set_fontsize(7.5)
        else:
            ax.text(0.5, 0.5, "nothing retrieved", ha="center")
        return fig

    return render
