"""Chapter 13's question explorer: questions as an HTML table, retrieval drawn as a table."""

import io

from matplotlib.figure import Figure

from memlab.tasks.longmemeval import generate
from memlab.viz.agents_explorer import make_question_table, question_options, questions_html


def _png(fig):
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def test_questions_html_lists_questions_and_marks_answers():
    recs = generate(n_personas=1, seed=0)
    page = questions_html(recs, {"mem0": {recs[0]["question_id"]: recs[0]["answer"],
                                          recs[1]["question_id"]: "<b>wrong</b>"}})
    assert page.startswith("<table") and page.count("<tr>") == len(recs) + 1
    assert recs[0]["question"].replace("'", "&#x27;") in page
    assert "#1a7f37" in page and "#cf222e" in page
    assert "&lt;b&gt;wrong&lt;/b&gt;" in page                     # escaped, never injected
    opts = question_options(recs, limit=3)
    assert [v for _, v in opts] == [r["question_id"] for r in recs[:3]]
    assert all(lbl.startswith(r["question"]) for (lbl, _), r in zip(opts, recs))


def test_question_table_redraws_per_system():
    recs = generate(n_personas=1, seed=0)
    render = make_question_table(recs)
    a, b = render("mem0", recs[3]["question_id"]), render("plain-retrieval", recs[3]["question_id"])
    assert isinstance(a, Figure) and _png(a) != _png(b)
