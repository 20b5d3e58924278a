"""Headless Chromium for the tests, driven over the DevTools protocol (a websocket;
``websocket-client`` comes with jupyter_server).

:func:`chromium` starts the browser (``offline=True``: no way out but file: and data: URLs, and
loopback only when ``loopback=True``) and yields a :class:`CDP` client. Tests using it are skipped
when no Chromium is installed (``.ci/run`` installs Debian's; ``IPM_CHROMIUM`` names another
binary).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

VIEWPORT = (1280, 800)
PAGE_TIMEOUT = 60


def find_chromium() -> str | None:
    named = os.environ.get("IPM_CHROMIUM")
    if named:
        return shutil.which(named) or (named if Path(named).is_file() else None)
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


# -- a minimal DevTools-protocol client ---------------------------------------------------------


class CDP:
    """Commands and events over Chromium's browser websocket (flat sessions)."""

    def __init__(self, ws_url: str):
        import websocket  # websocket-client, a dependency of jupyter_server

        self.ws = websocket.create_connection(ws_url, timeout=PAGE_TIMEOUT, suppress_origin=True,
                                              enable_multithread=False)
        self.events: list[dict] = []
        self._id = 0

    def close(self) -> None:
        with contextlib.suppress(Exception):  # closing a dead socket
            self.ws.close()

    def _recv(self, deadline: float) -> dict:
        import websocket

        self.ws.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            return json.loads(self.ws.recv())
        except websocket.WebSocketTimeoutException:
            raise TimeoutError("no answer from Chromium in time") from None

    def send(self, method: str, params: dict | None = None, session: str | None = None,
             timeout: float = PAGE_TIMEOUT) -> dict:
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        self.ws.send(json.dumps(msg))
        deadline = time.monotonic() + timeout
        while True:
            m = self._recv(deadline)
            if m.get("id") == self._id:
                if "error" in m:
                    raise RuntimeError(f"{method}: {m['error']}")
                return m.get("result", {})
            if "method" in m:
                self.events.append(m)

    def wait_for(self, method: str, session: str | None, timeout: float = PAGE_TIMEOUT,
                 where=lambda params: True) -> dict:
        """The first event ``method`` of ``session`` whose params satisfy ``where`` (seen or to come)."""
        for i, e in enumerate(self.events):
            if e["method"] == method and e.get("sessionId") == session and where(e.get("params", {})):
                return self.events.pop(i)
        deadline = time.monotonic() + timeout
        while True:
            m = self._recv(deadline)
            if "method" not in m:
                continue
            if m["method"] == method and m.get("sessionId") == session and where(m.get("params", {})):
                return m
            self.events.append(m)

    def network_idle(self, session: str, loader_id: str, timeout: float = PAGE_TIMEOUT) -> None:
        """Wait until the page's network is idle (Chromium's own lifecycle state), keeping the events seen.

        Needs ``Page.setLifecycleEventsEnabled`` on the session before navigating; ``loader_id`` is the
        navigation's (``Page.navigate`` returns it), so an earlier page's idle state does not count. A
        state, not a fixed time: late requests of the page are all seen (and kept in ``events``).
        """
        self.wait_for("Page.lifecycleEvent", session, timeout,
                      where=lambda p: p.get("name") == "networkIdle" and p.get("loaderId") == loader_id)


@contextlib.contextmanager
def chromium(profile: Path, offline: bool = True) -> Iterator[CDP]:
    """Start headless Chromium with its profile in ``profile``; yield a DevTools client.

    ``offline``: a dead proxy for every host, loopback included, and a resolver that resolves
    nothing, so an outside request fails (and is seen). Otherwise only outside hosts are cut
    off and loopback stays reachable (for a local Jupyter server).
    """
    binary = find_chromium()
    if binary is None:
        pytest.skip("no Chromium binary found (apt-get install chromium, or set IPM_CHROMIUM); "
                    "CI installs it in .ci/run")
    profile.mkdir(parents=True, exist_ok=True)
    args = [
        binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-default-apps", "--disable-extensions", "--no-first-run", "--no-default-browser-check",
        "--metrics-recording-only", "--mute-audio", "--hide-scrollbars",
        # no way out even if DevTools offline mode missed a request: a dead proxy, no DNS
        "--proxy-server=http://127.0.0.1:9",
        "--proxy-bypass-list=<-loopback>" if offline else "--proxy-bypass-list=127.0.0.1",
        "--host-resolver-rules=MAP * ~NOTFOUND" + ("" if offline else " , EXCLUDE 127.0.0.1"),
        f"--window-size={VIEWPORT[0]},{VIEWPORT[1]}",
        f"--user-data-dir={profile}", "--remote-debugging-port=0", "about:blank",
    ]
    log = open(profile.parent / "chromium.log", "wb")  # noqa: SIM115 - closed at teardown
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    port_file = profile / "DevToolsActivePort"
    deadline = time.monotonic() + 30
    while not (port_file.is_file() and len(port_file.read_text().splitlines()) >= 2):
        if proc.poll() is not None or time.monotonic() > deadline:
            log.close()
            text = (profile.parent / "chromium.log").read_text(errors="replace")[-2000:]
            proc.kill()
            pytest.fail(f"Chromium did not start its DevTools endpoint ({binary}):\n{text}")
        time.sleep(0.1)
    port, path = port_file.read_text().splitlines()[:2]
    cdp = CDP(f"ws://127.0.0.1:{port}{path}")
    try:
        yield cdp
    finally:
        cdp.close()
        try:
            os.killpg(proc.pid, signal.SIGTERM)  # the browser and its helpers: the group we started
            proc.wait(timeout=10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        log.close()
