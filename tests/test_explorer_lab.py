"""The explorer as an analyst uses it: JupyterLab (as the README installs it) in headless Chromium.

Starts a Jupyter server on 127.0.0.1 with a copy of ``notebooks/explore.ipynb`` (only its
parameters changed: the fixture client, and a second client to pick), opens the notebook in
JupyterLab, runs all cells, then does what a user does: drags the what-if slider with the mouse
and reads the prediction change, picks a segment and a client from the dropdowns and sees the
result KPI and agenda change. No code error may show in the notebook. A screenshot goes to
``tests/artifacts/explorer-lab.png``.

Skipped when no Chromium is installed (see ``tests/chromium.py``).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

from .chromium import CDP, VIEWPORT, chromium, find_chromium
from .conftest import FIXTURE_CLIENT, ROOT
from .test_explorer import _half_client

ARTIFACTS = ROOT / "tests" / "artifacts"
TIMEOUT = 120

pytestmark = pytest.mark.skipif(find_chromium() is None, reason="no Chromium binary (CI installs it in .ci/run)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server over a folder holding the explorer notebook; yields (url, folder)."""
    root = tmp_path_factory.mktemp("lab")
    half = _half_client(root / "clients" / "half")
    nb = nbformat.read(ROOT / "notebooks" / "explore.ipynb", as_version=4)
    params = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    params.source = (f"client_dir = {str(FIXTURE_CLIENT)!r}\nmore_clients = [{str(half)!r}]\n"
                     "n_boot = 50\noutput_dir = \"\"")
    for c in nb.cells:
        if c.cell_type == "code":
            c.outputs, c.execution_count = [], None
    nb.metadata.pop("widgets", None)
    nbformat.write(nb, root / "explore.ipynb")
    # the server picks its port (another test may take a port picked here before the server binds
    # it) and says which in its runtime file, which this waits for
    port, token = _free_port(), secrets.token_hex(16)
    runtime = root / ".runtime"
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(root / ".jupyter"), JUPYTER_RUNTIME_DIR=str(runtime),
               JUPYTERLAB_WORKSPACES_DIR=str(root / ".ws"))
    log = open(root / "lab.log", "wb")  # noqa: SIM115 - closed at teardown
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", f"--ServerApp.port={port}", "--ServerApp.ip=127.0.0.1",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}", "--LabApp.expose_app_in_browser=True",
         "--ServerApp.port_retries=50", "--allow-root", "--LabApp.news_url=", "--LabApp.check_for_updates_class="
         "jupyterlab.NeverCheckForUpdate"],
        stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    deadline = time.monotonic() + TIMEOUT
    while True:
        try:
            info = json.loads(next(runtime.glob(f"jpserver-{proc.pid}.json")).read_text())
            base = f"http://127.0.0.1:{info['port']}"
            with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2):
                break
        except (OSError, StopIteration, ValueError, KeyError):  # not written yet, half written, not serving
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                log.close()
                pytest.fail("JupyterLab did not start:\n" + (root / "lab.log").read_text(errors="replace")[-3000:])
            time.sleep(0.3)
    try:
        yield f"{base}/lab/tree/explore.ipynb?token={token}", root
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=15)
        if proc.poll() is None:
            proc.kill()
        log.close()


class Page:
    """One tab of the browser, with small helpers to wait, read and act."""

    def __init__(self, cdp: CDP, url: str):
        self.cdp = cdp
        self.target = cdp.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = cdp.send("Target.attachToTarget", {"targetId": self.target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime"):
            cdp.send(f"{domain}.enable", session=self.session)
        cdp.send("Emulation.setDeviceMetricsOverride", {"width": VIEWPORT[0], "height": VIEWPORT[1],
                                                        "deviceScaleFactor": 1, "mobile": False}, session=self.session)
        cdp.send("Page.navigate", {"url": url}, session=self.session)

    def js(self, expression: str, timeout: float = TIMEOUT):
        r = self.cdp.send("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True},
                          session=self.session, timeout=timeout)
        if "exceptionDetails" in r:
            raise AssertionError(f"JavaScript failed: {r['exceptionDetails']}")
        return r["result"].get("value")

    def until(self, expression: str, what: str, timeout: float = TIMEOUT):
        deadline = time.monotonic() + timeout
        while True:
            value = self.js(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; the page shows:\n{self.text()[-3000:]}")
            time.sleep(0.25)

    def text(self) -> str:
        return self.js("document.body ? document.body.innerText : ''") or ""

    def mouse(self, kind: str, x: float, y: float) -> None:
        self.cdp.send("Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y, "button": "left",
                                                   "clickCount": 1}, session=self.session)

    def close(self) -> None:
        self.cdp.send("Target.closeTarget", {"targetId": self.target})


def _widget_text(page: Page, needle: str) -> str:
    """The text of the widget HTML block that contains ``needle`` (the prediction, the header)."""
    return page.js(f"""(() => {{
        const els = [...document.querySelectorAll('.widget-html-content')].filter(e => e.innerText.includes({json.dumps(needle)}));
        return els.length ? els[els.length - 1].innerText : '';
    }})()""")


def _header_once_ready(needle: str) -> str:
    """JavaScript giving the explorer's header text once the box is ready and the header holds ``needle``."""
    return f"""(() => {{
        const box = document.querySelector('.ipm-explorer');
        const head = box && box.querySelector('.ipm-explorer-header');
        if (!box || !box.classList.contains('ipm-explorer-ready') || !head) return '';
        const t = head.innerText;
        return t.includes({json.dumps(needle)}) ? t : '';
    }})()"""


def _select(page: Page, description: str, label_part: str) -> str:
    """Pick the option containing ``label_part`` in the dropdown labelled ``description``, as a user's pick does."""
    return page.js(f"""(() => {{
        const box = [...document.querySelectorAll('.widget-dropdown')].find(
            d => d.querySelector('label') && d.querySelector('label').innerText.trim() === {json.dumps(description)});
        const sel = box.querySelector('select');
        const plain = o => o.text.replace(/\u00a0/g, ' ');  // the view shows spaces as no-break spaces
        const opt = [...sel.options].find(o => plain(o).includes({json.dumps(label_part)}));
        sel.value = opt.value;
        sel.dispatchEvent(new Event('change', {{bubbles: true}}));
        return plain(opt);
    }})()""")


def test_explorer_in_jupyterlab_slider_segment_and_client(lab):
    url, root = lab
    with chromium(root / "chromium-profile", offline=False) as cdp:
        page = Page(cdp, url)
        try:
            page.until("!!(window.jupyterapp && jupyterapp.shell.currentWidget && "
                       "jupyterapp.shell.currentWidget.sessionContext && "
                       "jupyterapp.shell.currentWidget.sessionContext.session && "
                       "jupyterapp.shell.currentWidget.sessionContext.session.kernel)", "the notebook and its kernel")
            page.until("jupyterapp.shell.currentWidget.sessionContext.session.kernel.status === 'idle'",
                       "the kernel to be idle")
            page.js("jupyterapp.commands.execute('notebook:run-all-cells').then(() => true)")
            page.until("!!document.querySelector('.widget-slider .noUi-handle')", "the explorer's widgets")
            page.until("document.body.innerText.includes('expected NPS')", "the first prediction")
            page.until("jupyterapp.shell.currentWidget.sessionContext.session.kernel.status === 'idle' && "
                       "!!document.querySelector('.ipm-explorer.ipm-explorer-ready') && "
                       "document.body.innerText.includes('95% interval') && "
                       "document.querySelectorAll('.jp-Cell .jp-OutputArea-output').length >= 2",
                       "all cells to finish")
            before = _widget_text(page, "expected NPS")
            assert "Every chain KPI at today's value" in before and "change 0 NPS points" in before

            # drag the first slider's handle (installed on the promised day) to the right with the mouse
            box = page.js("""(() => {
                document.querySelector('.widget-slider').scrollIntoView({block: 'center'});
                const h = document.querySelector('.widget-slider .noUi-handle').getBoundingClientRect();
                const t = document.querySelector('.widget-slider .noUi-base').getBoundingClientRect();
                return {hx: h.x + h.width / 2, hy: h.y + h.height / 2, right: t.x + 0.95 * t.width};
            })()""")
            page.mouse("mousePressed", box["hx"], box["hy"])
            for i in range(1, 11):
                page.mouse("mouseMoved", box["hx"] + (box["right"] - box["hx"]) * i / 10, box["hy"])
            page.mouse("mouseReleased", box["right"], box["hy"])
            after = page.until(f"""(() => {{
                const t = [...document.querySelectorAll('.widget-html-content')].map(e => e.innerText)
                    .filter(s => s.includes('expected NPS')).pop() || '';
                return t !== {json.dumps(before)} && t.includes('expected NPS') ? t : '';
            }})()""", "the prediction to change after the slider moved")
            assert "Installed on the promised day at" in after and "95% interval" in after
            gain = float(after.split("change ")[1].split(" ")[0].replace("+", ""))
            assert gain > 0  # more cases installed on the promised day goes with a higher NPS on the fixture

            # pick a segment: the header and the agenda follow
            picked = _select(page, "Segment", "Customer tenure: new")
            assert "453 responses" in picked
            # wait for the state, not for text: the placeholder shown while the segment is computed names the
            # segment too, so the header (written only once the agenda is computed) and the box's ready mark
            header = page.until(_header_once_ready("in segment Customer tenure: new"), "the segment's header")
            assert "453 responses" in header

            # pick the other client
            _select(page, "Client", "Half the fixture")
            header = page.until(_header_once_ready("1,000 responses"), "the other client's header")
            assert "NPS over all responses" in header
            page.until("jupyterapp.shell.currentWidget.sessionContext.session.kernel.status === 'idle'",
                       "the kernel to finish")
            errors = page.js("""[...document.querySelectorAll('.jp-OutputArea-output')]
                .filter(e => (e.dataset.mimeType || '').includes('stderr') || e.innerText.includes('Traceback'))
                .map(e => e.innerText.slice(0, 300))""")
            assert errors == []
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            png = cdp.send("Page.captureScreenshot", {"format": "png"}, session=page.session)["data"]
            (ARTIFACTS / "explorer-lab.png").write_bytes(base64.b64decode(png))
        finally:
            page.close()
