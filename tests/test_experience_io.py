"""Chapter 14 over the wire and on screen: the agent driven by ``OpenAICompatLLM`` against a
local server, and the figures of ``memlab.viz.experience``."""

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import ClassVar

import numpy as np
import pytest
from matplotlib.figure import Figure

from memlab.agents import OpenAICompatLLM, RecordingLLM
from memlab.experience import ExperiencePool, ExperienceRuleLLM, ImitationAgent
from memlab.tasks.appworld_lite import AppWorld
from memlab.viz import experience as V


class _Cassette(BaseHTTPRequestHandler):
    """Answers /chat/completions with recorded responses, in order."""

    replies: ClassVar[list] = []
    prompts: ClassVar[list] = []

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.prompts.append(body["messages"][-1]["content"])
        content = self.replies.pop(0)
        out = json.dumps({"choices": [{"message": {"role": "assistant", "content": content}}]})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(out.encode())

    def log_message(self, *a):
        pass


def _lifetime(llm, n=25):
    w = AppWorld(n_apps=2, n_steps=3, drift_at=12, drift_frac=0.5, seed=0)
    agent = ImitationAgent(w, ExperiencePool(), p=0.5, llm=llm, seed=0)
    eps = [agent.run(t, i) for i, t in enumerate(w.stream(n))]
    return [e.success for e in eps], [(it.kind, it.text) for it in agent.pool.items()]


def test_the_agent_runs_over_an_openai_compatible_server():
    rec = RecordingLLM(ExperienceRuleLLM())
    want = _lifetime(rec)
    assert rec.cassette and {op for op, _ in rec.cassette} >= {"distill_failure", "validate_experience"}
    _Cassette.replies[:] = [text for _, text in rec.cassette]
    _Cassette.prompts.clear()
    srv = HTTPServer(("127.0.0.1", 0), _Cassette)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        llm = OpenAICompatLLM(f"http://127.0.0.1:{srv.server_address[1]}/v1", model="local")
        got = _lifetime(llm)
    finally:
        srv.shutdown()
    assert got == want and not _Cassette.replies
    assert any("FAILED at:" in p for p in _Cassette.prompts)          # the rendered prompts
    assert sum(llm.calls.values()) == len(rec.cassette)


def test_moving_average_by_hand():
    assert np.allclose(V.moving_average([1, 0, 1, 1], w=2), [1, 0.5, 0.5, 1])


def test_figures_have_titles_and_labels():
    runs = {"none": {"success": np.zeros(50), "pool_size": np.zeros(50)},
            "refined": {"success": np.ones(50), "pool_size": np.arange(50)}}
    for fig in (V.render_lifetimes(runs, drift_at=20),
                V.render_knn({"none": np.zeros(40), "knn": np.ones(40)}),
                V.render_pool(F=3, U=0.5, seed=0, n_apps=3, n_episodes=40, drift_at=20)):
        assert isinstance(fig, Figure)
        main = [ax for ax in fig.axes if ax.get_title()]      # twin axes carry only a ylabel
        assert main and all(ax.get_xlabel() and ax.get_ylabel() for ax in main)
        assert all(ax.get_ylabel() for ax in fig.axes)


@pytest.mark.parametrize("U", [0.0, 1.0])
def test_pool_widget_renders_at_the_ends_of_its_slider(U):
    fig = V.render_pool(F=1, U=U, n_apps=3, n_episodes=30, drift_at=10)
    assert isinstance(fig, Figure) and len(fig.axes) == 3
