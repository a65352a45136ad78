"""A real browser: JupyterLab on localhost driven by Playwright with Debian's chromium.

Opens chapter 01, runs all cells, moves the first widget slider, and checks that the plot
changed and that no cell errored; then saves, shuts the kernel down, reopens the notebook and
checks that every widget cell still shows a figure (its static snapshot). A screenshot is kept in ``test-artifacts/``. Skipped when
chromium or playwright is missing, except where MEMLAB_REQUIRE_E2E=1 (CI: ``.ci/run`` installs
Debian's chromium and sets it; no browser is downloaded).
"""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
NOTEBOOK = os.environ.get("MEMLAB_E2E_NOTEBOOK", "01_associative_memory.ipynb")
# Debian's chromium (.ci/run installs it); a GitHub runner image's Google Chrome also works.
CHROMIUM = (shutil.which("chromium") or shutil.which("chromium-browser")
            or shutil.which("google-chrome"))

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    # A newcomer without chromium gets a skip; CI sets MEMLAB_REQUIRE_E2E=1 (.ci/run), where a
    # missing browser is a failure, so this test cannot pass there without running.
    required = os.environ.get("MEMLAB_REQUIRE_E2E") == "1"
    missing = None
    if CHROMIUM is None:
        missing = "Debian chromium is not installed (apt-get install chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            missing = "playwright is not installed (pip install memlab[e2e])"
    if missing:
        if required:
            pytest.fail(f"MEMLAB_REQUIRE_E2E=1 but {missing}")
        pytest.skip(missing)
    root = tmp_path_factory.mktemp("lab")
    shutil.copytree(ROOT / "notebooks", root / "notebooks")  # never dirty the repo
    port = _free_port()
    env = {**os.environ, "JUPYTER_PLATFORM_DIRS": "1", "TQDM_DISABLE": "1"}
    env.pop("MPLBACKEND", None)  # the kernel uses the inline backend, as a student's would
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root",
         f"--port={port}", "--ServerApp.ip=127.0.0.1", "--IdentityProvider.token=",
         "--ServerApp.password=", "--LabApp.expose_app_in_browser=True",
         f"--ServerApp.root_dir={root / 'notebooks'}", "--LabApp.news_url=None",
         "--ServerApp.disable_check_xsrf=True",
         # fresh workspace + settings: no tabs restored from an earlier session
         f"--LabApp.workspaces_dir={root / 'workspaces'}",
         f"--LabApp.user_settings_dir={root / 'settings'}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=root)
    url = f"http://127.0.0.1:{port}"
    for _ in range(120):
        try:
            urllib.request.urlopen(f"{url}/api", timeout=1)
            break
        except OSError:
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("JupyterLab did not start within 60 s")
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


def _accept_kernel_dialog(page) -> bool:
    dialog = page.locator(".jp-Dialog:has-text('Select Kernel')")
    if dialog.count():
        dialog.locator("button.jp-mod-accept").first.click()
        return True
    return False


# Every probe is guarded: right after page.goto the application object, the shell or the
# notebook widget may not exist yet (seen on a loaded CI machine), which is "not ready"
# rather than an error.
_NOTEBOOK_JS = ("const app = window.jupyterapp; const w = app && app.shell && app.shell.currentWidget;"
                " const nb = w && w.content && w.content.model ? w : null;")


def _kernel_status(page) -> str:
    return page.evaluate(
        "() => { " + _NOTEBOOK_JS +
        " if (!nb) return 'no notebook yet';"
        " const k = nb.sessionContext && nb.sessionContext.session"
        " && nb.sessionContext.session.kernel; return k ? k.status : 'none'; }")


def _progress(page) -> tuple[int, int, str]:
    """(code cells with an execution count, code cells, kernel status), from the model:
    the DOM only holds the cells in view. Fails on any error output."""
    done, total, errors = page.evaluate(
        "() => { " + _NOTEBOOK_JS + " if (!nb) return [0, 0, []];"
        " const cells = nb.content.model.cells; let n = 0, t = 0, errs = []; for (let i = 0; i < cells.length; i++) {"
        " const c = cells.get(i); if (c.type !== 'code') continue; t++;"
        " if (c.executionCount) n++;"
        " for (let j = 0; j < c.outputs.length; j++) { const o = c.outputs.get(j);"
        " if (o.type === 'error') errs.push(i + ': ' + JSON.stringify(o.toJSON()).slice(0, 2000)); } }"
        " return [n, t, errs]; }")
    assert not errors, f"a cell errored in the browser: {errors[0]}"
    return done, total, _kernel_status(page)


def _tracebacks(page) -> list[str]:
    return page.eval_on_selector_all(
        ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']",
        "els => els.map(e => e.textContent).filter(t => t.includes('Traceback'))")


def _save_reopen_and_check_figures(page, lab: str) -> None:
    """Save, shut the kernel down (a student closing the laptop), reopen: every cell that
    showed a widget must still show a figure (the widget's static snapshot PNG)."""
    page.evaluate("() => { window.jupyterapp.commands.execute('docmanager:save'); return true; }")
    deadline = time.time() + 60
    while time.time() < deadline and page.evaluate(
            "() => { " + _NOTEBOOK_JS + " return !nb || nb.context.model.dirty; }"):
        time.sleep(0.5)
    _shutdown_sessions(lab)
    page.goto(f"{lab}/lab/tree/{NOTEBOOK}?reset", timeout=120_000)
    deadline = time.time() + 120
    cells = None
    while time.time() < deadline:
        _accept_kernel_dialog(page)
        cells = page.evaluate(
            "() => { " + _NOTEBOOK_JS + " if (!nb) return null; const cs = nb.content.model.cells;"
            " const out = []; for (let i = 0; i < cs.length; i++) { const c = cs.get(i);"
            " if (c.type !== 'code') continue; const mimes = [];"
            " for (let j = 0; j < c.outputs.length; j++) {"
            "   mimes.push(...Object.keys(c.outputs.get(j).data || {})); }"
            " out.push(mimes); } return out; }")
        if cells:
            break
        time.sleep(0.5)
    assert cells, "the notebook did not reopen"
    widget_cells = [m for m in cells if "application/vnd.jupyter.widget-view+json" in m]
    assert widget_cells, "no widget output was saved"
    assert all("image/png" in m for m in widget_cells), (
        "a widget cell keeps no static figure after save and reopen", widget_cells)
    page.locator(".jp-OutputArea-output[data-mime-type='image/png'] img").first.wait_for(
        timeout=60_000)
    page.screenshot(path=str(ARTIFACTS / "e2e_chapter01_reopened.png"), full_page=False)


class _NotReady(Exception):
    """JupyterLab or its kernel did not get ready in time: the machine, not the notebook."""


def _shutdown_sessions(lab: str) -> None:
    import json
    with urllib.request.urlopen(f"{lab}/api/sessions", timeout=10) as r:
        sessions = json.load(r)
    for s in sessions:
        req = urllib.request.Request(f"{lab}/api/sessions/{s['id']}", method="DELETE")
        urllib.request.urlopen(req, timeout=30).close()


def test_chapter01_runs_and_slider_changes_plot(lab):
    """One retry, from a fresh page and kernel, for a browser or JupyterLab that did not get
    ready (seen once on a loaded CI machine). A cell that errors or a slider that does not
    redraw fails at once: those are the notebook's faults, and would fail again."""
    from playwright.sync_api import Error as PlaywrightError

    ARTIFACTS.mkdir(exist_ok=True)
    try:
        _drive_browser(lab, attempt=1)
    except (_NotReady, PlaywrightError) as first:
        print(f"browser attempt 1 did not get ready, retrying once: {first!r:.500}")
        _shutdown_sessions(lab)
        _drive_browser(lab, attempt=2)


def _drive_browser(lab: str, attempt: int) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--disable-dev-shm-usage"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            page.goto(f"{lab}/lab/tree/{NOTEBOOK}?reset", timeout=120_000)
            # JupyterLab may ask which kernel to start (more often on a loaded machine):
            # accept its default, the notebook's own python3 kernel; then wait until the
            # kernel itself reports idle (the toolbar indicator can be idle before it exists)
            deadline = time.time() + 180
            while time.time() < deadline and _kernel_status(page) != "idle":
                _accept_kernel_dialog(page)
                time.sleep(0.5)
            if _kernel_status(page) != "idle":
                raise _NotReady(f"kernel: {_kernel_status(page)} after 180 s")
            deadline, last_run = time.time() + 240, 0.0
            while time.time() < deadline:
                _accept_kernel_dialog(page)
                done, total, status = _progress(page)
                if done == 0 and status == "idle" and time.time() - last_run > 20:
                    # (re-)issue Run All until the kernel takes it; do not await the
                    # command's promise (Run All stops at the first error)
                    page.evaluate("() => { window.jupyterapp.commands.execute("
                                  "'notebook:run-all-cells'); return true; }")
                    last_run = time.time()
                errors = _tracebacks(page)
                assert not errors, f"a cell errored in the browser:\n{errors[0][:3000]}"
                if total and done == total and status == "idle":
                    break
                time.sleep(1)
            else:
                raise _NotReady(f"cells did not finish in 240 s: {_progress(page)}")
            assert not _tracebacks(page)

            slider = page.locator(".widget-slider").first
            slider.scroll_into_view_if_needed()
            box = slider.locator("xpath=ancestor::div[contains(@class,'widget-vbox')][1]")
            img = box.locator("img.widget-image").first
            img.wait_for(timeout=60_000)
            before = img.get_attribute("src")
            handle = slider.locator(".noUi-handle").first
            handle.focus()
            for _ in range(3):
                handle.press("ArrowRight")
            deadline = time.time() + 60
            after = before
            while time.time() < deadline and after == before:
                time.sleep(0.5)
                after = box.locator("img.widget-image").first.get_attribute("src")
            page.screenshot(path=str(ARTIFACTS / "e2e_chapter01.png"), full_page=False)
            assert after != before, "moving the slider did not redraw the plot"
            _save_reopen_and_check_figures(page, lab)
        finally:
            try:
                page.screenshot(path=str(ARTIFACTS / f"e2e_chapter01_final_{attempt}.png"))
            finally:
                browser.close()
