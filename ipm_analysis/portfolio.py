"""The portfolio index across clients: ``reports/index.html`` and ``reports/portfolio.json``.

Built from each client's ``summary.json`` (written by the report notebooks), so it needs no
access to client data: result KPI with interval per client, the top drivers side by side, which
chain KPIs matter across clients (how often each is a top driver and its median importance),
and links to each client's report.
"""

from __future__ import annotations

import html
import json
import statistics
from pathlib import Path

from . import present
from .batch import REPORT_HTML, atomic_write_text

TOP_N = 3


def collect(out_root: str | Path) -> dict:
    """Read every client's summary under ``out_root`` into one portfolio dict."""
    out_root = Path(out_root)
    clients = []
    for summary_path in sorted(out_root.glob("*/summary.json")):
        folder = summary_path.parent
        try:
            summary = json.loads(summary_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        overview = summary.get("overview", {})
        drivers = (summary.get("drivers") or {}).get("top", [])[:TOP_N]
        failed = (folder / "failed-run").is_dir()
        clients.append({
            "client": overview.get("client", folder.name),
            "title": overview.get("title", folder.name),
            "report": f"{folder.name}/{REPORT_HTML}",
            "result_kpi": overview.get("result_kpi"),
            "top_drivers": drivers,
            "drivers_note": (summary.get("drivers") or {}).get("note"),
            "last_run_failed": failed,
        })
    by_kpi: dict[str, list[float]] = {}
    counts: dict[str, int] = {}
    for c in clients:
        for d in c["top_drivers"]:
            name = d.get("kpi_name") or d.get("kpi")
            counts[name] = counts.get(name, 0) + 1
            if d.get("share") is not None:
                by_kpi.setdefault(name, []).append(float(d["share"]))
    across = sorted(
        ({"chain_kpi": k, "clients_with_it_as_top_driver": n,
          "median_share": statistics.median(by_kpi[k]) if by_kpi.get(k) else None} for k, n in counts.items()),
        key=lambda r: (-r["clients_with_it_as_top_driver"], -(r["median_share"] or 0)),
    )
    return {"clients": clients, "chain_kpis_across_clients": across, "top_n": TOP_N}


def write_portfolio(out_root: str | Path) -> Path:
    """Write ``portfolio.json`` and ``index.html`` into ``out_root``; returns the index path."""
    out_root = Path(out_root)
    out_root.mkdir(parents=True, exist_ok=True)
    data = collect(out_root)
    atomic_write_text(out_root / "portfolio.json", json.dumps(data, indent=2, ensure_ascii=False))
    index = out_root / "index.html"
    atomic_write_text(index, render_index(data))
    return index


def _e(value) -> str:
    return html.escape(str(value), quote=True)


def _pct(share) -> str:
    return "" if share is None else present.pct(share, 0).replace(" %", "%")


def _kpi_cell(r: dict | None) -> str:
    if not r:
        return "<td>no survey or too few responses</td>"
    if r.get("scale") == "nps":
        v, lo, hi = present.interval(r["value"], r["ci_low"], r["ci_high"], 0, signed=True)
        return (f"<td>{_e(r['name'])}: <b>{v}</b> "
                f"<span class=ci>({lo} to {hi}; n={r['n']:,})</span></td>")
    if r.get("measure") in ("share", "top_box") and r.get("top_box_ci_low") is not None:
        v, lo, hi = present.interval(100 * r["top_box"], 100 * r["top_box_ci_low"], 100 * r["top_box_ci_high"], 1)
        label = _e(r.get("top_label") or "in the top box")
        return (f"<td>{_e(r['name'])}: <b>{v} % {label}</b> "
                f"<span class=ci>({lo} to {hi} %; n={r['n']:,})</span></td>")
    v, lo, hi = present.interval(r["value"], r["ci_low"], r["ci_high"], 2)
    return (f"<td>{_e(r['name'])}: <b>{v}</b> "
            f"<span class=ci>({lo} to {hi}; n={r['n']:,})</span></td>")


def _drivers_cell(c: dict) -> str:
    if not c["top_drivers"]:
        return f"<td>{_e(c.get('drivers_note') or 'no driver analysis')}</td>"
    items = []
    for d in c["top_drivers"]:
        share = d.get("share")
        ci = ""
        if d.get("ci_low") is not None and d.get("ci_high") is not None:
            _, lo, hi = present.interval(100 * (share if share is not None else d["ci_low"]), 100 * d["ci_low"],
                                         100 * d["ci_high"], 0)
            ci = f" ({lo}–{hi}%)"
        owner = f" · {_e(d['link'])}" if d.get("link") else ""
        items.append(f"<li>{_e(d.get('kpi_name') or d.get('kpi'))}{owner}: {_pct(share)}{ci}</li>")
    return "<td><ol>" + "".join(items) + "</ol></td>"


def render_index(data: dict) -> str:
    """A self-contained HTML page (no scripts, no outside requests)."""
    rows = []
    for c in data["clients"]:
        flag = " <span class=warn>(last run failed; report is from an earlier run)</span>" if c["last_run_failed"] else ""
        rows.append(f"<tr><td><a href=\"{_e(c['report'])}\">{_e(c['title'])}</a>{flag}</td>"
                    f"{_kpi_cell(c['result_kpi'])}{_drivers_cell(c)}</tr>")
    across = "".join(
        f"<tr><td>{_e(r['chain_kpi'])}</td><td>{r['clients_with_it_as_top_driver']}</td>"
        f"<td>{_pct(r['median_share'])}</td></tr>"
        for r in data["chain_kpis_across_clients"]
    ) or "<tr><td colspan=3>No driver results yet.</td></tr>"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>ipm-analysis portfolio</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 72rem; color: #222; padding: 0 1rem; }}
table {{ border-collapse: collapse; width: 100%; margin-bottom: 2rem; }}
th, td {{ text-align: left; vertical-align: top; padding: .45rem .6rem; border-bottom: 1px solid #ddd; }}
th {{ background: #f3f6f9; }} .ci {{ color: #666; font-size: .9em; }} .warn {{ color: #b71c1c; }}
ol {{ margin: 0; padding-left: 1.2rem; }} p.note {{ color: #555; }}
</style></head><body>
<h1>Portfolio: result KPIs and their drivers across clients</h1>
<p class=note>Result KPIs with 95% intervals. Drivers are the chain KPIs that explain most of the
result KPI (share of explained variance, with 95% interval); they show association in each
client's data, not proof of cause.</p>
<table><thead><tr><th>client</th><th>result KPI (95% interval)</th><th>top {data['top_n']} drivers (share)</th></tr></thead>
<tbody>{''.join(rows) or '<tr><td colspan=3>No client reports yet.</td></tr>'}</tbody></table>
<h2>Which chain KPIs matter across clients</h2>
<table><thead><tr><th>chain KPI</th><th>clients where it is a top-{data['top_n']} driver</th><th>median share</th></tr></thead>
<tbody>{across}</tbody></table>
</body></html>
"""
