"""Each page of a running dashboard in headless Chromium: no exception box, no empty chart.

Drives Debian's ``chromium`` over the DevTools protocol with the ``websockets`` client that
Streamlit already installs (no new package). Screenshots go to the test's temporary folder.
``.ci/run`` installs chromium when it is missing.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

# page path -> the least number of Plotly charts it must draw on the seeded home
PAGES = {"": 0, "Market": 3, "Backtests": 3, "Signals": 0, "Trading": 2, "Models": 0,
         "Monitoring": 3}  # fmt: skip
STATE_JS = """JSON.stringify({
  exceptions: document.querySelectorAll('[data-testid=stException]').length,
  traces: Array.from(document.querySelectorAll('.js-plotly-plot'))
               .map(p => p.querySelectorAll('g.trace, g.indicator').length),
  running: document.querySelectorAll('[data-testid=stStatusWidget]').length
           + document.querySelectorAll('[data-testid=stAppSkeleton]').length,
  title: (document.querySelector('h1') || {}).innerText || ''
})"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(url: str, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.read()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.25)


@pytest.fixture(scope="module")
def server(seeded_home: Path) -> Iterator[str]:
    """``streamlit run`` of the dashboard on a free port, as ``smartmarket dashboard`` starts it."""
    from orchestration.cli.dashboard import APP_DIR, streamlit_argv
    from orchestration.settings import Settings

    port = _free_port()
    env = {**os.environ, "SMARTMARKET_HOME": str(seeded_home),
           "PYTHONPATH": str(APP_DIR.parent),
           "SMARTMARKET_DASHBOARD_SERVICE_URL": "http://127.0.0.1:9"}  # fmt: skip
    assert Settings(home=seeded_home).home_dir == seeded_home.resolve()
    proc = subprocess.Popen(streamlit_argv(port), cwd=APP_DIR, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        assert _wait(f"http://127.0.0.1:{port}/_stcore/health", 60) == b"ok"
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(20)


class Browser:
    """One headless Chromium tab, driven over the DevTools protocol."""

    def __init__(self, profile: Path) -> None:
        from websockets.sync.client import connect

        port = _free_port()
        self.proc = subprocess.Popen(
            [shutil.which("chromium") or "chromium", "--headless=new", "--no-sandbox",
             "--disable-gpu", "--no-first-run", f"--remote-debugging-port={port}",
             "--remote-debugging-address=127.0.0.1", f"--user-data-dir={profile}",
             "--window-size=1400,1800", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        targets = json.loads(_wait(f"http://127.0.0.1:{port}/json/list", 30))
        page = next(t for t in targets if t["type"] == "page")
        self.ws = connect(page["webSocketDebuggerUrl"], max_size=None)
        self.calls = 0

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.calls += 1
        self.ws.send(json.dumps({"id": self.calls, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self.calls:
                return dict(message.get("result", {}))

    def load(self, url: str, timeout: float = 120.0) -> dict[str, Any]:
        """Open ``url``; return the page state once Streamlit stopped running and it settled."""
        self.call("Page.navigate", url=url)
        start, last, state = time.monotonic(), None, {}
        while time.monotonic() - start < timeout:
            time.sleep(0.5)
            state = json.loads(
                self.call("Runtime.evaluate", expression=STATE_JS)["result"]["value"]
            )
            key = (state["exceptions"], tuple(state["traces"]), state["running"])
            if key == last and not state["running"] and time.monotonic() - start > 3:
                return state
            last = key
        return state

    def screenshot(self, path: Path) -> None:
        path.write_bytes(
            base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"])
        )

    def close(self) -> None:
        self.ws.close()
        self.proc.terminate()
        self.proc.wait(20)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    if shutil.which("chromium") is None:
        pytest.fail("chromium is not installed: apt-get install -y chromium (.ci/run does)")
    tab = Browser(tmp_path_factory.mktemp("chromium"))
    yield tab
    tab.close()


@pytest.mark.parametrize("page", list(PAGES))
def test_page_renders_in_chromium_without_error_or_empty_chart(
    server: str, browser: Browser, page: str, tmp_path: Path
) -> None:
    state = browser.load(f"{server}/{page}")
    browser.screenshot(tmp_path / f"{page or 'home'}.png")

    assert state["running"] == 0, "the page did not finish running"
    assert state["exceptions"] == 0, f"exception box on {page or 'home'}"
    assert state["title"] == (page or "SmartMarket")
    assert len(state["traces"]) >= PAGES[page]
    assert all(n > 0 for n in state["traces"]), f"an empty chart on {page}: {state['traces']}"
    assert (tmp_path / f"{page or 'home'}.png").stat().st_size > 10_000
