"""The reports as a reader's browser shows them: headless Chromium, network off.

Builds the report of the fixture client and of one small demo client (once per module; the demo
client first on its data cut one month early, then on all of it, so that its first screen says
what changed since the last report), then the portfolio index, and opens each page from disk
(file://) in Debian's ``chromium``, driven over the DevTools protocol (see ``tests/chromium.py``). Every request the
page makes is recorded, and the network is cut three ways (DevTools offline mode, a dead proxy and
a resolver that resolves nothing), so an outside request fails *and* is seen. Per page: no
console error or uncaught exception, no request other than file: and data:, every image loaded
and non-empty, no visible code cell, stderr output or traceback. A screenshot of the first screen
(1280 x 800; 1366 x 768 for the first-screen and portfolio-sorting tests) goes to
``tests/artifacts/`` with a JSON of what was recorded.

Skipped when no Chromium is installed (``.ci/run`` installs it; ``IPM_CHROMIUM`` names another
binary).
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from .chromium import CDP, VIEWPORT, chromium
from .conftest import FIXTURE_CLIENT, ROOT
from .test_summary import check_report_summary

ARTIFACTS = ROOT / "tests" / "artifacts"
DEMO = {"kind": "woonstad", "n_responses": 2000, "cut": "2025-12-01"}  # a rating-scale client without an event log: quick
# the third demo client, small; the fixture client stands for koffie (same shape, NPS and event log)
MORE_DEMOS = {"webwinkel": 1500}
ALLOWED_SCHEMES = ("file:", "data:")


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    with chromium(tmp_path_factory.mktemp("chromium-profile")) as cdp:
        yield cdp


# -- the reports --------------------------------------------------------------------------------


def cut_copy(folder: Path, to: Path, before: str, targets: dict[str, float] | None = None) -> Path:
    """A copy of a client folder as its export looked earlier: answers and cases from before
    ``before``; ``targets`` (chain KPI id: target) as client.yaml had them then."""
    import shutil

    import pandas as pd
    import yaml

    shutil.copytree(folder, to)
    cfg = yaml.safe_load((to / "client.yaml").read_text(encoding="utf-8"))
    for chain in cfg["chains"]:
        for kpi in chain["kpis"]:
            if kpi["id"] in (targets or {}):
                kpi["target"] = targets[kpi["id"]]
    (to / "client.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True), encoding="utf-8")
    for name, col in (("responses.csv", "responded_at"), ("cases.csv", "opened_at")):
        t = pd.read_csv(to / name, dtype=str, keep_default_na=False)
        t[pd.to_datetime(t[col]) < pd.Timestamp(before)].to_csv(to / name, index=False)
    return to


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    """Reports of the fixture and one small demo client, and the portfolio index over them. The
    demo client is reported twice into the same folder: first on its data cut one month early,
    then on all of it, so that its report says what changed since the last one."""
    from ipm_analysis.batch import run_client
    from ipm_analysis.demo import generate_client
    from ipm_analysis.portfolio import write_portfolio
    from ipm_analysis.summary import load

    tmp = tmp_path_factory.mktemp("browser-reports")
    out = tmp / "reports"
    demo = generate_client(DEMO["kind"], tmp / "clients" / DEMO["kind"], n_responses=DEMO["n_responses"])
    # the earlier report had a lower target for one KPI (on target then, below it now): a crossing to show
    earlier = cut_copy(demo.path, tmp / "earlier" / DEMO["kind"], DEMO["cut"], targets={"appointment_kept": 0.8})
    first = run_client(earlier, out)
    assert first.status == "ok", first.message
    previous = load(first.report_dir / "summary.json")
    folders = [("fixture", FIXTURE_CLIENT), ("demo", demo.path)]
    for kind, n in MORE_DEMOS.items():
        folders.append((kind, generate_client(kind, tmp / "clients" / kind, n_responses=n).path))
    runs = {}
    for name, folder in folders:
        runs[name] = run_client(folder, out)
    index = write_portfolio(out)
    for run in runs.values():
        if run.status == "ok":
            check_report_summary(run.report_dir)
    return {"runs": runs, "index": index, "out": out, "previous": previous}


_COLLECT_JS = r"""
(() => {
  const visible = el => {
    const s = getComputedStyle(el);
    const r = el.getBoundingClientRect();
    return s.display !== 'none' && s.visibility !== 'hidden' && r.width > 0 && r.height > 0;
  };
  const text = el => (el.innerText || '').trim();
  const images = [...document.images].map(i => ({
    src: (i.currentSrc || i.src || '').slice(0, 80), complete: i.complete,
    naturalWidth: i.naturalWidth, naturalHeight: i.naturalHeight,
    shownWidth: Math.round(i.getBoundingClientRect().width), visible: visible(i)}));
  const code = [...document.querySelectorAll(
      '.jp-CodeCell .jp-InputArea, .jp-CodeCell .jp-Cell-inputWrapper, .jp-InputArea-editor, .jp-CodeMirrorEditor, '
      + '.CodeMirror, .jp-InputPrompt')]
    .filter(el => visible(el) && text(el)).map(el => text(el).slice(0, 120));
  const stderr = [...document.querySelectorAll(
      '[data-mime-type="application/vnd.jupyter.stderr"], .jp-OutputArea-output.jp-RenderedText[data-mime-type*="error"]')]
    .filter(el => visible(el) && text(el)).map(el => text(el).slice(0, 200));
  const body = document.body ? document.body.innerText : '';
  const links = [...document.querySelectorAll('a[href]')].map(a => a.href);
  return {title: document.title, images, code, stderr, body, links,
          scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth,
          readyState: document.readyState};
})()
"""

_TRACEBACK = re.compile(r"Traceback \(most recent call last\)|\b[A-Z]\w*(?:Error|Exception|Warning): |"
                        r"\.py:\d+: [A-Z]\w*Warning|^\s*File \".*\", line \d+", re.MULTILINE)


def _open(cdp: CDP, url: str, shot: Path, viewport: tuple[int, int] = VIEWPORT, steps: tuple = ()) -> dict:
    """Load ``url`` in a fresh tab with the network off; return what the page did and shows.

    ``steps``: done in order once the page is loaded (clicks, measurements), each a JavaScript
    expression or a function of (cdp, session); their values are ``page["steps"]``."""
    target = cdp.send("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = cdp.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    try:
        for domain in ("Page", "Runtime", "Log", "Network"):
            cdp.send(f"{domain}.enable", session=session)
        cdp.send("Network.emulateNetworkConditions", {"offline": True, "latency": 0, "downloadThroughput": 0,
                                                      "uploadThroughput": 0}, session=session)
        cdp.send("Network.setCacheDisabled", {"cacheDisabled": True}, session=session)
        cdp.send("Emulation.setDeviceMetricsOverride", {"width": viewport[0], "height": viewport[1],
                                                        "deviceScaleFactor": 1, "mobile": False}, session=session)
        cdp.send("Page.setLifecycleEventsEnabled", {"enabled": True}, session=session)
        cdp.events.clear()
        nav = cdp.send("Page.navigate", {"url": url}, session=session)
        assert not nav.get("errorText"), f"{url} did not load: {nav['errorText']}"
        cdp.wait_for("Page.loadEventFired", session)
        cdp.send("Runtime.evaluate", {"expression": "Promise.all([...document.images].map(i => i.decode()"
                                      ".catch(() => null)))", "awaitPromise": True}, session=session)
        cdp.network_idle(session, nav["loaderId"])  # late requests (and the console messages before them) are seen
        page = cdp.send("Runtime.evaluate", {"expression": _COLLECT_JS, "returnByValue": True},
                        session=session)["result"]["value"]
        page["steps"] = [step(cdp, session) if callable(step) else _evaluate(cdp, session, step) for step in steps]
        shot.parent.mkdir(parents=True, exist_ok=True)
        png = cdp.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": False},
                       session=session)["data"]
        shot.write_bytes(base64.b64decode(png))
        events = [e for e in cdp.events if e.get("sessionId") == session]
    finally:
        cdp.send("Target.closeTarget", {"targetId": target})
    requests = [e["params"]["request"]["url"] for e in events if e["method"] == "Network.requestWillBeSent"]
    errors = []
    for e in events:
        p = e["params"]
        if e["method"] == "Runtime.consoleAPICalled" and p["type"] in ("error", "assert"):
            errors.append("console." + p["type"] + ": " + " ".join(str(a.get("value", a.get("description", "")))
                                                                  for a in p.get("args", [])))
        elif e["method"] == "Runtime.exceptionThrown":
            d = p["exceptionDetails"]
            errors.append("exception: " + str(d.get("exception", {}).get("description") or d.get("text")))
        elif e["method"] == "Log.entryAdded" and p["entry"]["level"] == "error":
            errors.append(f"log ({p['entry']['source']}): {p['entry']['text']} {p['entry'].get('url', '')}")
        elif e["method"] == "Network.loadingFailed" and not p.get("canceled"):
            errors.append(f"request failed: {p.get('errorText')}")
    page.update(requests=requests, errors=errors)
    record = {k: v for k, v in page.items() if k not in ("body", "requests")}
    record["requests"] = [u[:120] for u in requests]
    record["body_start"] = page["body"][:2000]
    shot.with_suffix(".json").write_text(json.dumps({"url": url, **record}, indent=2), encoding="utf-8")
    return page


def _evaluate(cdp: CDP, session: str, js: str):
    return cdp.send("Runtime.evaluate", {"expression": js, "returnByValue": True}, session=session)["result"].get("value")


def _check_page(page: dict, what: str) -> None:
    outside = [u for u in page["requests"] if not u.startswith(ALLOWED_SCHEMES)]
    assert not outside, f"{what} asked for outside resources (it must open offline): {outside}"
    assert not page["errors"], f"{what} logged errors in the browser: {page['errors']}"
    assert page["readyState"] == "complete"
    broken = [i for i in page["images"] if not i["complete"] or i["naturalWidth"] == 0 or i["naturalHeight"] == 0]
    assert not broken, f"{what} has missing or empty images: {broken}"
    assert not page["code"], f"{what} shows code cells: {page['code'][:3]}"
    assert not page["stderr"], f"{what} shows stderr or error output: {page['stderr'][:3]}"
    m = _TRACEBACK.search(page["body"])
    assert m is None, f"{what} shows a traceback or warning: ...{page['body'][max(0, m.start() - 200):m.end() + 200]}..."
    assert page["body"].strip(), f"{what} is empty"


CLIENTS = ["fixture", "demo", *MORE_DEMOS]


@pytest.mark.parametrize("name", CLIENTS)
def test_client_report_renders_offline_without_code_or_errors(browser, reports, name):
    run = reports["runs"][name]
    if run.status != "ok":
        pytest.fail(f"the {name} client's report was not built ({run.status}): {run.message}")
    html = run.report_dir / "report.html"
    page = _open(browser, html.as_uri(), ARTIFACTS / f"report-{name}.png")
    _check_page(page, f"{run.client_id}/report.html")
    assert page["images"], (f"{run.client_id}/report.html shows no figure at all; the report notebooks draw "
                            "several (is the notebook's matplotlib backend still inline?)")
    too_wide = [i for i in page["images"] if i["shownWidth"] > VIEWPORT[0]]
    assert not too_wide, f"figures wider than a {VIEWPORT[0]} px laptop screen: {too_wide}"


def test_portfolio_index_renders_offline_and_links_to_the_reports(browser, reports):
    index = reports["index"]
    page = _open(browser, index.as_uri(), ARTIFACTS / "portfolio-index.png")
    _check_page(page, "reports/index.html")
    built = [r for r in reports["runs"].values() if r.status == "ok"]
    for r in built:
        assert any(u.endswith(f"/{r.client_id}/report.html") for u in page["links"]), \
            f"index.html has no link to {r.client_id}'s report: {page['links']}"
    for u in page["links"]:
        if u.startswith("file:"):
            target = Path(unquote(urlparse(u).path))
            assert target.is_file(), f"index.html links to a missing file: {target}"


def test_the_checks_catch_a_page_that_calls_out_breaks_or_shows_code(browser, tmp_path):
    """The checks above are not vacuous: a page with every fault is caught on each count."""
    bad = tmp_path / "bad.html"
    bad.write_text(
        "<!DOCTYPE html><html><head><title>bad</title>"
        "<script src='https://cdn.example.org/require.js'></script></head><body><p>text</p>"
        "<img src='https://example.org/logo.png' width=10 height=10><img src='missing.png' width=10 height=10>"
        "<div class='jp-Cell jp-CodeCell'><div class='jp-Cell-inputWrapper'><div class='jp-InputArea'>"
        "<pre>import pandas as pd</pre></div></div>"
        "<div class='jp-RenderedText' data-mime-type='application/vnd.jupyter.stderr'><pre>Traceback (most recent "
        "call last):\nValueError: boom</pre></div></div>"
        "<script>console.error('boom'); throw new Error('uncaught');</script></body></html>",
        encoding="utf-8")
    page = _open(browser, bad.as_uri(), tmp_path / "bad.png")
    assert any("cdn.example.org" in u for u in page["requests"])
    assert any("example.org/logo.png" in u for u in page["requests"])
    assert any("boom" in e for e in page["errors"]) and any("uncaught" in e for e in page["errors"])
    assert sum(1 for i in page["images"] if i["naturalWidth"] == 0) == 2
    assert page["code"] and page["stderr"] and _TRACEBACK.search(page["body"])
    with pytest.raises(AssertionError, match="outside resources"):
        _check_page(page, "bad.html")


_FIRST_SCREEN_JS = r"""
(() => {
  const box = el => el ? el.getBoundingClientRect().toJSON() : null;
  const s = document.querySelector('.ipm-summary');
  const part = sel => s ? s.querySelector(sel) : null;
  return {summary: box(s), changes: box(part('.changes')), actions: box(part('.actions')),
          off: box(part('.off-target')), result: box(part('.headline')),
          text: s ? s.innerText : '', changesText: part('.changes') ? part('.changes').innerText : '',
          scrollWidth: document.documentElement.scrollWidth};
})()
"""


# -- the report a manager reads ------------------------------------------------------------------

LAPTOP = (1366, 768)

_MANAGER_JS = r"""
(() => {
  const visible = el => {
    const s = getComputedStyle(el); const r = el.getBoundingClientRect();
    return s.display !== 'none' && s.visibility !== 'hidden' && r.width > 0 && r.height > 0;
  };
  const start = document.getElementById('for-managers'), end = document.getElementById('appendix');
  const inManager = el => !!start && !!end
    && !!(start.compareDocumentPosition(el) & Node.DOCUMENT_POSITION_FOLLOWING)
    && !!(end.compareDocumentPosition(el) & Node.DOCUMENT_POSITION_PRECEDING);
  const text = el => (el.innerText || '').trim();
  const toc = [...document.querySelectorAll('nav.ipm-toc a[href^="#"]')].map(a => {
    const id = decodeURIComponent(a.getAttribute('href').slice(1));
    return {id, found: !!document.getElementById(id)};
  });
  const tables = [...document.querySelectorAll('table')].filter(t => inManager(t) && visible(t)).map(t => ({
    head: [...t.querySelectorAll('thead th')].map(text),
    bodyTh: t.querySelectorAll('tbody th').length,
    cells: [...t.querySelectorAll('td')].map(text),
    sig: text(t)}));
  const pres = [...document.querySelectorAll('pre')].filter(p => inManager(p) && visible(p) && text(p))
    .map(p => text(p).slice(0, 200));
  const paras = [...document.querySelectorAll('p, li')].filter(p => inManager(p) && visible(p))
    .map(text).filter(t => t.length > 40);
  const images = [...document.images].filter(visible).map(i => ({
    natural: i.naturalWidth, shown: i.getBoundingClientRect().width, manager: inManager(i)}));
  return {toc, tables, pres, paras, images, height: document.documentElement.scrollHeight,
          width: document.documentElement.scrollWidth};
})()
"""


def test_first_screen_says_what_changed_since_the_last_report_on_a_laptop_screen(browser, reports):
    """The demo client was reported on its data cut one month early, then on all of it: its first
    screen (1366 x 768, no scrolling) holds the result KPI, what changed since the last report, the
    three actions and the chains off target, and the movements are the ones the two summaries give
    by hand."""
    from ipm_analysis import present
    from ipm_analysis.summary import load

    run = reports["runs"]["demo"]
    assert run.status == "ok", run.message
    before, now = reports["previous"], load(run.report_dir / "summary.json")
    width, height = 1366, 768
    page = _open(browser, (run.report_dir / "report.html").as_uri(), ARTIFACTS / "report-demo-what-changed.png",
                 viewport=(width, height), steps=(_FIRST_SCREEN_JS,))
    _check_page(page, "the demo report after a second run")
    shown = page["steps"][0]
    for part in ("result", "changes", "actions", "off"):
        assert shown[part] is not None, f"the first screen has no {part} block"
        assert shown[part]["bottom"] <= height and shown[part]["right"] <= width, \
            f"the {part} block is cut off at {width}x{height}: {shown[part]}"
    assert shown["scrollWidth"] <= width
    text = " ".join(shown["changesText"].split())
    assert "What changed since the last report" in text
    assert f"Previous report of {before.overview.report_date.isoformat()}" in text
    # the result KPI (a mean on the 1-5 scale): difference and interval from the two reports' intervals
    p, c = before.overview.result_kpi, now.overview.result_kpi
    se = ((p.ci_high - p.ci_low) ** 2 + (c.ci_high - c.ci_low) ** 2) ** 0.5 / (2 * 1.959964)
    diff = c.value - p.value
    d, lo, hi = present.interval(diff, diff - 1.959964 * se, diff + 1.959964 * se, 2, signed=True)
    assert f"a difference of {d} points on the scale (95% interval {lo} to {hi})" in text, text
    assert ("beyond noise" if abs(diff) > 1.959964 * se else "no reliable change") in text
    # chain KPIs that crossed their target, either way, and the new control-chart signals
    old = {(k.chain, k.kpi): k.status for k in before.overview.chain_kpis}
    crossed = [k for k in now.overview.chain_kpis if {old.get((k.chain, k.kpi)), k.status} ==
               {"on target", "below target"}]
    assert [k.kpi for k in crossed] == ["appointment_kept"]  # the target lowered in the earlier report
    if crossed:
        for k in crossed:
            assert f"{k.kpi_name} ({k.link}) {'▲ now on target' if k.status == 'on target' else '▼ now below'}" in text
        assert "(target 90%, was 80%)" in text
    else:
        assert "No chain KPI crossed its target." in text
    seen = {(s.chain_kpi, s.month, s.signal) for s in before.actions.signals}
    new = [s for s in now.actions.signals if (s.chain_kpi, s.month, s.signal) not in seen]
    if new:
        assert all(f"{s.chain_kpi} ({s.link}) {s.month}: {s.signal}" in text for s in new), text
    else:
        assert "No new control-chart signal." in text
    # what summary.json says is what the screen says
    assert now.changes is not None and now.changes.result_kpi.diff == pytest.approx(diff)
    assert len(now.changes.crossed_target) == len(crossed) and len(now.changes.new_signals) == len(new)
    # the fixture client was reported once: nothing to compare with
    fixture = load(reports["runs"]["fixture"].report_dir / "summary.json")
    assert fixture.changes is None
    assert "What changed" not in (reports["runs"]["fixture"].report_dir / "report.html").read_text()


_ROWS_JS = "[...document.querySelectorAll('#clients tbody tr')].map(r => r.cells[0].innerText.trim())"


def _click_header(name: str) -> str:
    return (f"(() => {{ const th = [...document.querySelectorAll('#clients thead th')]"
            f".find(h => h.innerText.startsWith({json.dumps(name)})); th.querySelector('button').click(); "
            f"return [th.getAttribute('aria-sort'), {_ROWS_JS}]; }})()")


def _follow_first_report_link(cdp, session):
    link = _evaluate(cdp, session, "(() => { const a = document.querySelector('#clients tbody a'); a.click(); "
                                   "return a.href; })()")
    cdp.wait_for("Page.loadEventFired", session)
    return link, _evaluate(cdp, session, "({url: location.href, title: (document.querySelector('.ipm-summary h1') "
                                         "|| {}).innerText})")


def test_portfolio_sorts_by_a_column_and_links_to_the_reports(browser, reports):
    """A click on a header sorts the clients by that column's values (not its text), a second click
    reverses the order, and a client's link opens its report."""
    from ipm_analysis.portfolio import collect

    data = collect(reports["out"])
    clients = [c for c in data.clients if c.result_kpi is not None and c.result_kpi.top_box_known()]
    assert len(clients) >= 2, "the portfolio needs two clients with a result KPI to show sorting"
    by_top_box = [c.title for c in sorted(clients, key=lambda c: c.result_kpi.top_box)]
    by_below = [c.title for c in sorted(data.clients, key=lambda c: c.kpis_below_target / c.kpis_with_target)]
    steps = (_ROWS_JS, _click_header("result KPI, common scale"), _click_header("result KPI, common scale"),
             _click_header("chain KPIs below target"), _follow_first_report_link)
    page = _open(browser, reports["index"].as_uri(), ARTIFACTS / "portfolio-sorted.png", viewport=(1366, 768),
                 steps=steps)
    _check_page(page, "reports/index.html")
    start, up, down, below, (link, opened) = page["steps"]
    assert len(start) == len(data.clients)
    assert up == ["ascending", by_top_box] and down == ["descending", by_top_box[::-1]]
    assert below[0] == "ascending" and [t for t in below[1] if t in by_below] == by_below
    first = below[1][0]
    row = next(c for c in data.clients if c.title == first)
    assert link.endswith(f"/{row.report}") and opened["url"] == link
    assert opened["title"] == row.title, "the link did not open the client's report"


def _manager_view(cdp: CDP, url: str, shots: Path) -> dict:
    """Open ``url`` at laptop size; the facts of its manager part; first-screen and full-page shots."""
    target = cdp.send("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = cdp.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    try:
        cdp.send("Page.enable", session=session)
        cdp.send("Network.enable", session=session)
        cdp.send("Network.emulateNetworkConditions", {"offline": True, "latency": 0, "downloadThroughput": 0,
                                                      "uploadThroughput": 0}, session=session)
        cdp.send("Emulation.setDeviceMetricsOverride", {"width": LAPTOP[0], "height": LAPTOP[1],
                                                        "deviceScaleFactor": 1, "mobile": False}, session=session)
        cdp.events.clear()
        cdp.send("Page.navigate", {"url": url}, session=session)
        cdp.wait_for("Page.loadEventFired", session)
        cdp.send("Runtime.evaluate", {"expression": "Promise.all([...document.images].map(i => i.decode()"
                                      ".catch(() => null)))", "awaitPromise": True}, session=session)
        facts = cdp.send("Runtime.evaluate", {"expression": _MANAGER_JS, "returnByValue": True},
                         session=session)["result"]["value"]
        shots.mkdir(parents=True, exist_ok=True)
        first = cdp.send("Page.captureScreenshot", {"format": "png"}, session=session)["data"]
        (shots / "first-screen.png").write_bytes(base64.b64decode(first))
        full = cdp.send("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": LAPTOP[0], "height": min(facts["height"], 30000), "scale": 1}},
            session=session, timeout=120)["data"]
        (shots / "full-page.png").write_bytes(base64.b64decode(full))
        # an anchor of the contents takes the reader to its section
        anchor = facts["toc"][-1]["id"] if facts["toc"] else ""
        facts["scrolled"] = cdp.send("Runtime.evaluate", {"expression": (
            f"(() => {{ location.hash = {json.dumps('#' + anchor)}; return window.scrollY; }})()"),
            "returnByValue": True}, session=session)["result"]["value"]
    finally:
        cdp.send("Target.closeTarget", {"targetId": target})
    return facts


@pytest.mark.parametrize("name", CLIENTS)
def test_manager_part_reads_as_a_report(browser, reports, name):
    """Contents with working anchors; in the manager part no printed text table, no table twice, no
    index, flag or NaN cell, no sentence twice; every figure shown at its own size (so its 9 pt
    text reads at 9 pt on a 1366 px laptop). Screenshots: tests/artifacts/<client>/."""
    run = reports["runs"][name]
    assert run.status == "ok", run.message
    facts = _manager_view(browser, (run.report_dir / "report.html").as_uri(), ARTIFACTS / f"manager-{name}")
    assert len(facts["toc"]) >= 7 and all(t["found"] for t in facts["toc"]), facts["toc"]
    assert facts["scrolled"] > 0, "the last link of the contents does not move the page"
    assert not facts["pres"], f"text tables in the manager part: {facts['pres'][:2]}"
    sigs = [t["sig"] for t in facts["tables"]]
    assert len(sigs) == len(set(sigs)), "a table is shown twice in the manager part"
    for t in facts["tables"]:
        assert t["bodyTh"] == 0 and all(h.strip() for h in t["head"]), f"an index column: {t['head']}"
        assert not [h for h in t["head"] if re.search(r"small.?base|flag", h, re.I)], f"a flag column: {t['head']}"
        assert not [c for c in t["cells"] if c.strip().lower() in ("nan", "nat", "true", "false")], t["cells"]
        assert not [c for c in t["cells"] if re.search(r"\de-\d", c)], t["cells"]
    dup = {p for p in facts["paras"] if facts["paras"].count(p) > 1}
    assert not dup, f"sentences shown twice in the manager part: {list(dup)[:2]}"
    assert any(i["manager"] for i in facts["images"]), "no figure in the manager part"
    shrunk = [i for i in facts["images"] if i["shown"] < 0.96 * i["natural"]]
    assert not shrunk, f"figures shown smaller than drawn (text under 9 pt at {LAPTOP[0]} px): {shrunk}"
    assert facts["width"] <= LAPTOP[0], "the report is wider than a laptop screen"


@pytest.mark.parametrize("name", CLIENTS)
def test_pdf_holds_the_agenda_and_a_short_manager_part(reports, name, tmp_path):
    """report.pdf opens, holds the improvement agenda, and the manager part (up to the appendix
    heading) takes at most 8 A4 pages."""
    from pypdf import PdfReader

    from ipm_analysis.html_report import write_pdf

    run = reports["runs"][name]
    assert run.status == "ok", run.message
    pdf = write_pdf(run.report_dir / "report.html", tmp_path / "report.pdf")
    (ARTIFACTS / f"manager-{name}").mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / f"manager-{name}" / "report.pdf").write_bytes(pdf.read_bytes())
    pages = [p.extract_text() or "" for p in PdfReader(pdf).pages]
    text = " ".join(" ".join(pages).split())
    assert "The improvement agenda" in text and "What to do next" in text
    appendix = [i + 1 for i, t in enumerate(pages) if "Appendix for analysts" in t and "Contents" not in t]
    assert appendix, "no appendix heading in the PDF"
    assert appendix[0] - 1 <= 8, f"the manager part takes {appendix[0] - 1} pages"
