"""Real-browser tests: JupyterLab in Chromium runs notebook 1, a slider moves, the picture changes;
and notebook 8 takes a photo through the real file input and serves the retouched file.

Headless execution (tests/test_notebooks.py) runs each widget callback once with its default value
and never moves a slider or uploads a file; these tests check the interaction itself, following the recipe in
../shared/docs/browser-widget-test.md. It needs /usr/bin/chromium (apt-get install chromium) and the
`playwright` Python package (never `playwright install`); without them it skips, except under
CI=true, where it fails.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from csrnet_lite.settings import PROJECT_ROOT

pytestmark = pytest.mark.browser

NOTEBOOK = PROJECT_ROOT / "notebooks" / "01_retouching_is_a_colour_map.ipynb"
UPLOAD_NOTEBOOK = PROJECT_ROOT / "notebooks" / "08_your_own_photos.ipynb"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-quic", "--no-first-run"]
KERNEL_READY = """() => {
    const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
    const s = w && w.sessionContext;
    const k = s && s.session && s.session.kernel;
    return !!(s && s.isReady && k && k.connectionStatus === 'connected' && k.status === 'idle');
}"""
IMAGE_DIGEST = """async (img) => {
    const bytes = await (await fetch(img.src)).arrayBuffer();
    const digest = await crypto.subtle.digest('SHA-256', bytes);
    return Array.from(new Uint8Array(digest)).map(b => b.toString(16).padStart(2, '0')).join('');
}"""


def _require_browser():
    missing = []
    if not Path(CHROMIUM).exists():
        missing.append("chromium (apt-get install -y chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("playwright (.venv/bin/pip install playwright; never `playwright install`)")
    if missing:
        message = "the browser test needs " + " and ".join(missing)
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + " (required under CI=true)")
        pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_server(port: int, server: subprocess.Popen, log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"jupyter lab exited with {server.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status", timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"jupyter lab did not answer within {timeout:.0f} s:\n{log.read_text()[-3000:]}")


@contextlib.contextmanager
def _notebook_in_lab(tmp_path: Path, notebook: Path):
    """Serve a copy of `notebook` with JupyterLab (smoke mode), open it in Chromium and start "run all"
    -> (page, visible notebook panel, port). On failure a screenshot and the server log are printed;
    the browser closes without saving and the committed notebook must be unchanged."""
    from playwright.sync_api import sync_playwright

    # Serve a copy, so that nothing (autosave included) can write outputs into the committed notebook.
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(notebook, work / notebook.name)
    committed = hashlib.sha256(notebook.read_bytes()).hexdigest()
    port, log = _free_port(), tmp_path / "jupyter.log"
    env = {**os.environ, "CSRNET_LITE_SMOKE": "1"}  # the kernel inherits the server's environment
    with open(log, "w") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root", f"--port={port}",
             "--ServerApp.ip=127.0.0.1", "--ServerApp.token=", "--LabApp.expose_app_in_browser=True",
             f"--ServerApp.root_dir={work}", f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}",
             f"--LabApp.user_settings_dir={tmp_path / 'settings'}"],
            stdout=out, stderr=subprocess.STDOUT, env=env, cwd=work)
    try:
        _wait_for_server(port, server, log)
        with sync_playwright() as p:
            context = p.chromium.launch_persistent_context(
                str(tmp_path / "profile"), executable_path=CHROMIUM, headless=True, args=FLAGS)
            page = context.new_page()
            try:
                page.goto(f"http://127.0.0.1:{port}/lab/workspaces/t{uuid.uuid4().hex[:8]}/tree/"
                          f"{notebook.name}?reset", timeout=90_000)
                page.wait_for_function(KERNEL_READY, timeout=120_000, polling=250)
                page.wait_for_timeout(1000)
                # Start "run all" without awaiting its promise (awaiting it can hang: no timeout).
                page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
                yield page, page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)"), port
            except Exception:
                page.screenshot(path=str(tmp_path / "failure.png"), full_page=True)
                print(f"screenshot: {tmp_path / 'failure.png'}\nserver log:\n{log.read_text()[-3000:]}")
                raise
            finally:
                context.close()  # closes without saving
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)
    assert hashlib.sha256(notebook.read_bytes()).hexdigest() == committed


def test_moving_a_slider_changes_the_picture(tmp_path):
    _require_browser()
    with _notebook_in_lab(tmp_path, NOTEBOOK) as (page, panel, _):
        # the last cell prints the run time: then the kernel is idle and handles slider changes
        panel.get_by_text("This notebook ran in").wait_for(timeout=240_000)
        slider = panel.locator(".widget-slider").first
        image = panel.locator("img.widget-image").first
        readout = slider.locator(".widget-readout")
        image.wait_for(timeout=30_000)
        stats = panel.locator(".widget-html-content", has_text="mean value").first
        before = image.evaluate(IMAGE_DIGEST)
        value_before = readout.text_content().strip()
        stats_before = stats.text_content()
        slider.locator(".noUi-handle").click()
        for _ in range(20):
            page.keyboard.press("ArrowRight")
        deadline = time.monotonic() + 30
        after = before
        while after == before and time.monotonic() < deadline:
            page.wait_for_timeout(250)
            after = image.evaluate(IMAGE_DIGEST)
        value_after = readout.text_content().strip()
        assert (value_before, value_after) == ("1.00", "1.20"), "20 steps of 0.01 from 1.00"
        assert stats.text_content() != stats_before, "the callback's readout did not change"
        assert after != before, (f"the picture did not change after moving the slider from "
                                 f"{value_before} to {value_after}")
        top, bottom = slider.bounding_box(), stats.bounding_box()
        assert bottom["y"] + bottom["height"] - top["y"] < 300, "slider and readout are not seen together"


def test_uploading_a_photo_serves_the_retouched_file(tmp_path):
    """Notebook 8: a JPEG goes through the FileUpload's real <input type=file>; the preview changes,
    the status names the photo, and the download link serves the full-resolution result."""
    _require_browser()
    from PIL import Image

    photo = tmp_path / "holiday.jpg"
    with Image.open(PROJECT_ROOT / "data_samples" / "input" / "cat.png") as im:
        im.convert("RGB").resize((640, 430)).save(photo, quality=90)
    with _notebook_in_lab(tmp_path, UPLOAD_NOTEBOOK) as (page, panel, port):
        panel.get_by_text("This notebook ran in").wait_for(timeout=240_000)
        preview = panel.locator(".widget-vbox", has_text="Before (left) and after (right)").last
        image = preview.locator("img.widget-image").first
        image.wait_for(timeout=30_000)
        before = image.evaluate(IMAGE_DIGEST)
        # The FileUpload's <input type=file> is never attached to the page: its button calls the
        # input's click(), which opens a file chooser; playwright sets the files on that input.
        with page.expect_file_chooser(timeout=30_000) as chooser:
            panel.locator("button.widget-upload").first.click()
        chooser.value.set_files(str(photo))
        status = panel.locator(".widget-html-content", has_text="holiday.jpg").first
        status.wait_for(timeout=60_000)
        assert "640 x 430 pixels" in status.text_content(), status.text_content()  # not an error message
        link = panel.locator('a[download="holiday_retouched.jpg"]').first
        link.wait_for(timeout=30_000)
        assert image.evaluate(IMAGE_DIGEST) != before, "the preview did not show the uploaded photo"
        url = link.evaluate("a => a.href")  # JupyterLab resolves the relative link to the server's /files/
        assert url.startswith(f"http://127.0.0.1:{port}/"), url
        # Fetch it as a click on the link would: over HTTP from the server, with the page's cookies
        # (the link carries an _xsrf token that the server checks against its cookie).
        response = page.request.get(url, timeout=30_000)
        assert response.ok, f"{url}: HTTP {response.status}"
        data = response.body()
        with Image.open(io.BytesIO(data)) as served:
            served.load()  # decodes every pixel
            assert (served.format, served.size) == ("JPEG", (640, 430))
