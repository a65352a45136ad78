"""The OpenAI-compatible adapter against a local server, the widgets, and the benchmark."""

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from matplotlib.figure import Figure

from memlab.agents import LLMOutputError, Mem0, OpenAICompatLLM, RuleLLM
from memlab.tasks.longmemeval import generate


class _Handler(BaseHTTPRequestHandler):
    rule = RuleLLM()
    seen: list = []
    broken = False

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.seen.append((self.path, body, self.headers.get("Authorization")))
        prompt = body["messages"][-1]["content"]
        if self.broken:
            content = "Sure! Here is the JSON you asked for: {memory: oops"
        elif prompt.startswith("Extract"):
            text = prompt.split("Text:\n", 1)[1]
            content = self.rule.complete("extract_facts", prompt, {"text": text, "date": ""})
        else:
            content = json.dumps({"memory": [{"id": None, "text": "User lives in Rome",
                                              "event": "ADD"}]})
        out = json.dumps({"choices": [{"message": {"role": "assistant", "content": content}}]})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(out.encode())

    def log_message(self, *a):
        pass


@pytest.fixture
def server():
    srv = HTTPServer(("127.0.0.1", 0), _Handler)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    _Handler.seen.clear()
    yield f"http://127.0.0.1:{srv.server_address[1]}/v1"
    srv.shutdown()
    _Handler.broken = False


def test_openai_compatible_adapter_round_trip(server):
    llm = OpenAICompatLLM(server, model="local-test", api_key="k")
    m = Mem0(llm=llm, user="u")
    out = m.add("Big news: I moved to Rome last week.")
    assert out[0]["event"] == "ADD" and m.store.items("u")[0].text == "User lives in Rome"
    path, body, auth = _Handler.seen[0]
    assert path == "/v1/chat/completions" and body["model"] == "local-test"
    assert body["response_format"] == {"type": "json_object"} and auth == "Bearer k"
    assert llm.calls == {"extract_facts": 1, "decide_update": 1}


def test_openai_adapter_malformed_reply_is_a_clear_error(server):
    _Handler.broken = True
    llm = OpenAICompatLLM(server, model="m")
    with pytest.raises(LLMOutputError, match="extract_facts.*not valid JSON"):
        llm.extract_facts("hello")
    with pytest.raises(ValueError, match="base_url"):
        OpenAICompatLLM("localhost:8000", model="m")


def test_widget_renderers_change_with_their_knobs():
    from memlab.viz.agents import (
        make_occupancy,
        make_question_view,
        make_score_breakdown,
        render_ability_table,
        render_forgetting,
    )

    def pixels(fig):
        import io
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=40)
        return buf.getvalue()

    a, b = render_forgetting(days=20, strength=1.0), render_forgetting(days=20, strength=4.0)
    assert isinstance(a, Figure) and pixels(a) != pixels(b)
    assert pixels(render_forgetting(n_recalls=0)) != pixels(render_forgetting(n_recalls=3))
    recs = generate(n_personas=1, seed=0)
    sb = make_score_breakdown(recs)
    f1, f2 = sb("Where do I live now?", "paper"), sb("Where do I live now?", "code")
    assert isinstance(f1, Figure) and pixels(f1) != pixels(f2)
    occ = make_occupancy(recs)
    assert pixels(occ(200)) != pixels(occ(600))
    qv = make_question_view(recs)
    assert pixels(qv("mem0", recs[3]["question_id"])) != pixels(qv("plain-retrieval", recs[3]["question_id"]))
    res = {"x": {k: 0.5 for k in ("information_extraction", "multi_session", "temporal",
                                  "knowledge_update", "abstention")}}
    assert isinstance(render_ability_table(res), Figure)


def test_benchmark_entry_is_registered():
    from memlab.bench import entries
    e = entries()["agents_store_add_search"]
    assert e.family == "agents"
