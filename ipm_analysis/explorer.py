"""The what-if explorer: a data scientist's view of the clients in JupyterLab.

Pick a client and a segment (all respondents, or one group such as new customers), see the
result KPI with its interval, the improvement agenda and the importance–performance matrix of
that selection; pick a chain and one of its chain KPIs, read how much of the result KPI it
explains and how strongly it is associated with it, then move the what-if sliders (one per
chain KPI of the chain, over each KPI's plausible range; several may move at once) and see the
predicted result KPI (e.g. NPS) with its interval, live.
``notebooks/explore.ipynb`` only loads a client, finds the others and displays
:func:`build_explorer`.

A segment's numbers are those of its own respondents (:meth:`ipm_analysis.data.Client.in_segment`):
the agenda is computed again on them, not read off the whole client's models.

The numbers come from :mod:`ipm_analysis.agenda`: the importance and effects of the chain's
driver models (:func:`~ipm_analysis.agenda.improvement_agenda`) and the prediction of
:func:`~ipm_analysis.agenda.what_if_scenario` (the chain's ordinal model; a share moves by
flipping a fraction of failing cases, a time or number by shifting every case; the moves of
several KPIs combine). The what-if curve moves the selected KPI alone. The interval is that of
the predicted *change* (the uncertainty of the association), added to the observed result KPI
of the chain's respondents: at the current value it has zero width. Every prediction holds
*if the association holds*; it is not proof of cause.

The logic is plain functions, testable without a front end:

* :func:`kpi_range`: a slider's plausible range, step and start value for one KPI;
* :func:`whatif_curve`: the predicted result KPI at several values of one KPI;
* :func:`default_values`, :func:`format_curve`: a small what-if table as plain text (what the
  notebook prints, so nbval checks the numbers even where widgets do not render);
* :func:`chain_driver_table`: importance and effect of every KPI of a chain;
* :func:`segment_options`, :func:`find_clients`: what the segment and client pickers offer.

:func:`build_explorer` wires them to ipywidgets and returns an :class:`ExplorerBox`.
"""

from __future__ import annotations

import contextlib
import glob
import html
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import numpy as np
import pandas as pd

from . import present
from .agenda import Agenda, Scenario, improvement_agenda, what_if, what_if_scenario
from .config import CONFIG_NAME, load_config
from .data import load_client
from .errors import AnalysisError, IpmError
from .modelframe import ModelFrame, model_frame
from .effects import DriverModels, nice_step, fit_ordinal, kpi_unit
from .units import NON_NEGATIVE_UNITS, format_value

__all__ = [
    "ExplorerBox",
    "build_explorer",
    "chain_driver_table",
    "default_values",
    "find_clients",
    "format_curve",
    "kpi_range",
    "segment_options",
    "whatif_curve",
]

CURVE_COLUMNS = ["value", "predicted", "ci_low", "ci_high", "change", "change_ci_low", "change_ci_high"]
_NON_NEGATIVE = NON_NEGATIVE_UNITS


# --------------------------------------------------------------------------------------------
# formatting
# --------------------------------------------------------------------------------------------


def _fmt_kpi_value(x: float | None, unit: str) -> str:
    """A chain-KPI value in its unit, by the package's one rule (shares in %, times with their unit)."""
    return format_value(x, unit)


def _fmt_result(x: float, is_nps: bool, signed: bool = False) -> str:
    """A result-KPI value by the package's one rounding rule (:mod:`ipm_analysis.present`): NPS
    (and percentage points) with a sign and one decimal, a rating mean with two; more decimals
    when the size of the number needs them, never ``0.0`` for a value that is not zero."""
    return present.num(x, 1 if is_nps else 2, signed=bool(is_nps or signed))


# --------------------------------------------------------------------------------------------
# the model frame and fitted model behind a chain
# --------------------------------------------------------------------------------------------


def _is_client(obj: Any) -> bool:
    return hasattr(obj, "config") and hasattr(obj, "linked")


def _resolve(source: Any, chain: str | None) -> tuple[ModelFrame, Any]:
    """(model frame, fitted ordinal model or None) of ``chain`` from any accepted source."""
    if isinstance(source, Agenda):
        if chain not in source.models:
            analysed = list(source.models)
            note = source.chain_notes.get(chain) if chain is not None else None
            raise AnalysisError(f"chain {chain!r} has no driver model in this agenda"
                                + (f" ({note})" if note else "") + f"; chains analysed: {analysed}")
        dm = source.models[chain]
        return dm.frame, dm
    if isinstance(source, DriverModels):
        mf, model = source.frame, source
    elif isinstance(source, ModelFrame):
        mf, model = source, None
    elif _is_client(source):
        return model_frame(source, chain), None
    else:
        raise AnalysisError(f"source must be a Client, an Agenda, DriverModels or a ModelFrame, got "
                            f"{type(source).__name__}")
    if chain is not None and mf.chain is not None and chain != mf.chain:
        raise AnalysisError(f"the model frame is of chain {mf.chain!r}, not {chain!r}")
    return mf, model


def _check_kpi(mf: ModelFrame, kpi: Any) -> str:
    if not isinstance(kpi, str) or kpi not in mf.drivers:
        dropped = mf.dropped_drivers.get(kpi) if isinstance(kpi, str) else None
        why = f" (left out of the model: {dropped})" if dropped else ""
        raise AnalysisError(f"{kpi!r} is not a driver of chain {mf.chain!r}{why}; drivers are {list(mf.drivers)}")
    return kpi


# --------------------------------------------------------------------------------------------
# plausible range
# --------------------------------------------------------------------------------------------


def kpi_range(source: Any, chain: str | None, kpi: str) -> dict:
    """The plausible range of a chain KPI for the what-if slider.

    A share runs from 0 to 1 in steps of 0.1 pp. A time or other number runs over the 5th to
    95th percentile of the respondents' values, widened to take in the current mean and the
    target, never below 0 for days, hours and counts, in a round step of about 1/200 of the
    range. (Moving a number far outside what was observed would extrapolate the model.)

    Parameters
    ----------
    source : Client, Agenda, DriverModels or ModelFrame
    chain : str or None
    kpi : str

    Returns
    -------
    dict
        ``min, max, step, current`` (the mean among the respondents modelled: the slider's
        start, where the predicted change is zero), ``target`` (None without one), ``unit``,
        ``name``.
    """
    mf, _ = _resolve(source, chain)
    kpi = _check_kpi(mf, kpi)
    spec = mf.specs[kpi]
    x = mf.frame[kpi].to_numpy(dtype=float)
    current = float(x.mean())
    target = None if spec.target is None else float(spec.target)
    if spec.unit == "share":
        lo, hi, step = 0.0, 1.0, 0.001
    else:
        q_lo, q_hi = np.quantile(x, [0.05, 0.95])
        pts = [q_lo, q_hi, current] + ([target] if target is not None else [])
        lo, hi = float(min(pts)), float(max(pts))
        if spec.unit in _NON_NEGATIVE:
            lo = max(lo, 0.0)
        if hi <= lo:
            hi = lo + 1.0
        step = nice_step((hi - lo) / 200)
        lo = math.floor(lo / step + 1e-9) * step
        hi = math.ceil(hi / step - 1e-9) * step
        lo, hi = round(lo, 10), round(hi, 10)
    return {"min": lo, "max": hi, "step": step, "current": current, "target": target,
            "unit": spec.unit, "name": spec.name}


def default_values(source: Any, chain: str | None, kpi: str, n: int = 5) -> list[float]:
    """``n`` evenly spaced values over :func:`kpi_range`, plus the current value and the target."""
    r = kpi_range(source, chain, kpi)
    vals = {round(float(v), 6) for v in np.linspace(r["min"], r["max"], int(n))}
    if r["target"] is not None and r["min"] <= r["target"] <= r["max"]:
        vals.add(round(r["target"], 6))
    now = float(r["current"])  # exactly today's value: its change is nil, not a rounding's residue
    vals = {v for v in vals if abs(v - now) > 1e-6} | {now}
    return sorted(vals)


# --------------------------------------------------------------------------------------------
# what-if curve
# --------------------------------------------------------------------------------------------


def whatif_curve(
    source: Any,
    chain: str | None,
    kpi: str,
    values: Iterable[float],
    *,
    ci: float = 0.95,
    mode: str | None = None,
    model: Any = None,
) -> pd.DataFrame:
    """The predicted result KPI if chain KPI ``kpi`` moved to each of ``values``.

    One :func:`~ipm_analysis.agenda.what_if` per value, on one fitted ordinal model.

    Parameters
    ----------
    source : Client, Agenda, DriverModels or ModelFrame
        A loaded client (the chain's model frame is built and its model fitted), an agenda or
        driver models (their fitted model is reused), or a model frame.
    chain : str or None
        The chain id (None: the model frame's own chain, or a client's only chain).
    kpi : str
        A driver of the chain's model frame.
    values : iterable of float
        Levels to move the KPI to (fractions for shares).
    ci : float, default 0.95
    mode : {"flip", "shift", "clip"}, optional
        See :func:`~ipm_analysis.agenda.what_if` (default: flip a share, shift a number).
    model : fitted ordinal results or DriverModels, optional
        Reuse this model instead of fitting one.

    Returns
    -------
    DataFrame
        One row per value: ``value, predicted, ci_low, ci_high`` (the expected result KPI and
        its interval) and ``change, change_ci_low, change_ci_high`` (against the observed
        result KPI of the chain's respondents). ``attrs``: ``chain, kpi, name, unit,
        chain_name, current, target, kpi_now, result_name, kpi_unit, is_nps, mode, n, ci``.
    """
    mf, found = _resolve(source, chain)
    kpi = _check_kpi(mf, kpi)
    vals = [v for v in values]
    if not vals:
        raise AnalysisError("values is empty: give at least one level to move the KPI to")
    for v in vals:
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or not np.isfinite(v):
            raise AnalysisError(f"values must be finite numbers, got {v!r}")
    res = model if model is not None else found
    if isinstance(res, DriverModels):
        res = res.ordinal
    if res is None:
        res = fit_ordinal(mf)
    rows, last = [], None
    for v in vals:
        w = what_if(mf, kpi, to=float(v), mode=mode, ci=ci, model=res)
        rows.append([float(v), w.kpi_expected, w.kpi_expected_ci_low, w.kpi_expected_ci_high,
                     w.gain, w.gain_ci_low, w.gain_ci_high])
        last = w
    out = pd.DataFrame(rows, columns=CURVE_COLUMNS)
    spec = mf.specs[kpi]
    out.attrs.update(chain=mf.chain, chain_name=mf.chain_name or mf.chain, kpi=kpi, name=spec.name, unit=spec.unit, current=last.current,
                     target=spec.target, kpi_now=last.kpi_now, result_name=mf.result_name,
                     kpi_unit=kpi_unit(mf), is_nps=mf.is_nps, mode=last.mode, n=mf.n, ci=ci)
    return out


def format_curve(curve: pd.DataFrame) -> str:
    """A what-if curve as a plain-text table a reader can check (values in their units)."""
    a = curve.attrs
    is_nps = bool(a.get("is_nps", True))
    name, unit, res = a.get("name", "KPI"), a.get("unit", "number"), a.get("result_name", "result KPI")
    ci = a.get("ci", 0.95)
    marks = []
    for v in curve["value"]:
        m = []
        if a.get("current") is not None and abs(v - a["current"]) < 1e-6:
            m.append("now")
        if a.get("target") is not None and abs(v - a["target"]) < 1e-9:
            m.append("target")
        marks.append(", ".join(m))
    table = pd.DataFrame({
        name: [_fmt_kpi_value(v, unit) for v in curve["value"]],
        "": marks,
        f"expected {res}": [_fmt_result(v, is_nps) for v in curve["predicted"]],
        f"{ci:.0%} interval": [f"{_fmt_result(lo, is_nps)} to {_fmt_result(hi, is_nps)}"
                              for lo, hi in zip(curve["ci_low"], curve["ci_high"], strict=True)],
        "change": [_fmt_result(v, is_nps, signed=True) for v in curve["change"]],
    })
    head = (f"{a.get('chain_name') or a.get('chain')}: {name} (now {_fmt_kpi_value(a.get('current'), unit)} among {a.get('n')} "
            f"respondents; {res} now {_fmt_result(a.get('kpi_now', math.nan), is_nps)})")
    return head + "\n" + table.to_string(index=False)


# --------------------------------------------------------------------------------------------
# importance and effect per KPI of a chain
# --------------------------------------------------------------------------------------------


def chain_driver_table(agenda: Agenda, chain: str) -> pd.DataFrame:
    """Importance, effect, performance and agenda status of every KPI of one analysed chain.

    Returns
    -------
    DataFrame
        One row per driver: ``kpi, name, link, unit, current, target, share, share_ci_low,
        share_ci_high`` (share of the explained variance), ``change_label, effect,
        effect_ci_low, effect_ci_high`` (associated change of the result KPI per
        ``change_label``), ``reliable, quadrant, status, reading``.
    """
    if not isinstance(agenda, Agenda):
        raise AnalysisError(f"chain_driver_table needs an Agenda (improvement_agenda), got {type(agenda).__name__}")
    if chain not in agenda.models:
        raise AnalysisError(f"chain {chain!r} has no driver model: {agenda.chain_notes.get(chain, 'not analysed')}")
    eff = agenda.models[chain].effects.set_index("driver")
    m = agenda.matrix
    mat = m[m["chain"] == chain].set_index("driver") if len(m) else pd.DataFrame()
    cons = agenda.considered
    cons = cons[cons["chain"] == chain].set_index("kpi") if len(cons) else pd.DataFrame()
    mf = agenda.models[chain].frame
    rows = []
    for d in mf.drivers:
        spec = mf.specs[d]
        e = eff.loc[d]

        def pick(frame, col, default=math.nan, d=d):
            return frame.loc[d, col] if len(frame) and d in frame.index and col in frame.columns else default

        rows.append({
            "kpi": d, "name": spec.name, "link": spec.link, "unit": spec.unit,
            "current": float(pick(mat, "current", float(mf.frame[d].mean()))), "target": spec.target,
            "share": float(pick(mat, "share")), "share_ci_low": float(pick(mat, "share_ci_low")),
            "share_ci_high": float(pick(mat, "share_ci_high")),
            "change_label": e["change_label"], "effect": float(e["effect_kpi"]),
            "effect_ci_low": float(e["effect_kpi_ci_low"]), "effect_ci_high": float(e["effect_kpi_ci_high"]),
            "reliable": bool(e["reliable"]), "quadrant": pick(mat, "quadrant", ""),
            "status": pick(cons, "status", ""), "reading": e["reading"],
        })
    return pd.DataFrame(rows)


def _chain_table_html(table: pd.DataFrame, selected: str, is_nps: bool, unit: str) -> str:
    head = ("<tr><th>chain KPI</th><th>owning link</th><th>now (all cases)</th><th>target</th>"
            "<th>share of explained variance (95% interval)</th>"
            f"<th>associated change in {html.escape(unit)} (95% interval)</th><th>quadrant</th><th>agenda</th></tr>")
    body = []
    for r in table.itertuples():
        style = ' style="background:#fff3cd;font-weight:600"' if r.kpi == selected else ""
        share = "–" if not np.isfinite(r.share) else "{}% ({}–{}%)".format(
            *present.interval(100 * r.share, 100 * r.share_ci_low, 100 * r.share_ci_high, 0))
        eff = (f"{_fmt_result(r.effect, is_nps, True)} per {html.escape(r.change_label)} "
               f"({_fmt_result(r.effect_ci_low, is_nps, True)} to {_fmt_result(r.effect_ci_high, is_nps, True)})")
        body.append(
            f"<tr{style}><td>{html.escape(r.name)}</td><td>{html.escape(r.link or '–')}</td>"
            f"<td>{_fmt_kpi_value(r.current, r.unit)}</td>"
            f"<td>{_fmt_kpi_value(r.target, r.unit) if r.target is not None else '–'}</td>"
            f"<td>{share}</td><td>{eff}</td><td>{html.escape(str(r.quadrant))}</td>"
            f"<td>{html.escape(str(r.status))}</td></tr>")
    return ('<table style="border-collapse:collapse;font-size:90%" cellpadding="4">'
            f"<thead>{head}</thead><tbody>{''.join(body)}</tbody></table>")


# --------------------------------------------------------------------------------------------
# the widget
# --------------------------------------------------------------------------------------------


class _Guard:
    """Silence the widget observers while the explorer changes several widgets at once."""

    def __init__(self, box: ExplorerBox):
        self.box = box

    def __enter__(self):
        self.box._updating = True

    def __exit__(self, *exc):
        self.box._updating = False


def _overall_html(client: Any, result_name: str, where: str) -> str:
    """The result KPI of the client (or segment) in view, with its interval and base."""
    from .report import result_kpi_overall

    r = result_kpi_overall(client)
    if r is None:
        return ""
    rep = client.config.reporting
    if r.n < rep.min_base_suppress:
        return (f"<p style='margin:0.2em 0'>{html.escape(result_name)} {html.escape(where)}: not shown, only "
                f"{r.n:,} responses (minimum {rep.min_base_suppress}).</p>")
    small = " <i>(small base)</i>" if r.n < rep.min_base_flag else ""
    if hasattr(r, "promoters"):  # NPSResult
        v, lo, hi = present.interval(r.value, r.ci_low, r.ci_high, 1, signed=True)
        text = f"<b>{v}</b> (95% interval {lo} to {hi})"
    else:  # RatingResult: a share for two labels or steer_on top_box, else the mean and the top box
        from .report import result_measure, top_label

        s, slo, shi = present.interval(100 * r.top_box, 100 * r.top_box_ci_low, 100 * r.top_box_ci_high, 1)
        share = f"{s} % {html.escape(top_label(client))} (95% interval {slo} to {shi} %)"
        m, mlo, mhi = present.interval(r.mean, r.mean_ci_low, r.mean_ci_high, 2)
        mean = f"mean {m} (95% interval {mlo} to {mhi})"
        measure = result_measure(client)
        text = (f"<b>{share}</b>" if measure == "share" else f"<b>{share}</b>; {mean}" if measure == "top_box"
                else f"<b>{mean}</b>; {share}")
    return (f"<p style='margin:0.2em 0'>{html.escape(result_name)} {html.escape(where)}: "
            f"{text}, {r.n:,} responses{small}.</p>")


def segment_options(client: Any) -> list[tuple[str, tuple[str, str | None] | None]]:
    """The explorer's segment choices: everyone, then each group of each segment of client.yaml.

    Groups with fewer responses than the client's minimum base are not offered; groups under the
    flag base are labelled "small base".

    Returns
    -------
    list of (label, value)
        ``value`` is None for all respondents, else ``(segment id, group)``.
    """
    rep = client.config.reporting
    n_all = int((client.linked["linked"] & client.linked["score"].notna()).sum())
    out: list[tuple[str, tuple[str, str | None] | None]] = [(f"All respondents ({n_all:,})", None)]
    for seg in client.config.segments:
        for group, n in client.segment_groups(seg.id).items():
            if n < rep.min_base_suppress:
                continue
            small = ", small base" if n < rep.min_base_flag else ""
            name = "(no value)" if group is None else group
            out.append((f"{seg.name}: {name} ({n:,} responses{small})", (seg.id, group)))
    return out


def find_clients(*patterns: str | Path) -> list[Path]:
    """Client folders (holding a client.yaml) named by paths or glob patterns, in order, once each."""
    out, seen = [], set()
    for pat in patterns:
        p = str(pat)
        hits = sorted(glob.glob(p)) if glob.has_magic(p) else [p]
        for h in hits:
            path = Path(h)
            key = path.resolve()
            if (path / CONFIG_NAME).is_file() and key not in seen:
                seen.add(key)
                out.append(path)
    return out


def _client_label(source: Any) -> str:
    if _is_client(source):
        return f"{source.config.title} ({source.config.id})"
    try:
        cfg = load_config(source)
        return f"{cfg.title} ({cfg.id})"
    except IpmError:
        return Path(source).name


def _short(message: str, limit: int = 600) -> str:
    return message if len(message) <= limit else message[:limit].rstrip() + " …"


def _png(fig) -> bytes:
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


class ExplorerBox(widgets.VBox):
    """The explorer's widget box (made by :func:`build_explorer`); its parts are attributes.

    Attributes
    ----------
    client_picker, segment, chain, kpi : ipywidgets.Dropdown
        The client (its ``value`` is the index into the clients offered), the segment group
        (None: all respondents; else ``(segment id, group)``), the chain and the chain KPI.
    sliders : dict of ipywidgets.FloatSlider
        One what-if slider per chain KPI of the selected chain (``slider``: the one of the KPI
        selected in ``kpi``); ``reset`` puts them back at today's values.
    status : ipywidgets.HTML
        What is being computed, or why the selection cannot be explored.
    header, details, prediction : ipywidgets.HTML
        The result KPI of the selection; the chain's importance and effects table; the
        prediction at the sliders' values.
    matrix_image, curve_image : ipywidgets.Image
        The importance–performance matrix of the selection and the what-if curve of the
        selected KPI as PNGs (when ``plot``).
    client : Client or None
        The client selected; ``view`` is the same client restricted to the segment group.
    agenda : Agenda or None
        The improvement agenda of the selection (None when it cannot be explored).
    result : Scenario or None
        The prediction at the sliders' values (all KPIs of the chain moved together), updated
        on every move.
    curve : DataFrame or None
        The what-if curve drawn for the selected KPI.
    """

    def _setup(self, entries: list[tuple[str, Any]], agenda: Agenda | None, ci: float, plot: bool,
               curve_points: int, n_boot: int, seed: int | None) -> None:
        self.ci, self.plot, self.curve_points, self.n_boot, self.seed = ci, plot, curve_points, n_boot, seed
        self._entries = entries
        self._clients: dict[int, Any] = {}
        self._agendas: dict[tuple, Agenda | str] = {}
        self.client = self.view = self.agenda = None
        self.result: Scenario | None = None
        self.sliders: dict[str, widgets.FloatSlider] = {}
        self._start: dict[str, float] = {}
        self.curve: pd.DataFrame | None = None
        self._updating = False
        style, wide = {"description_width": "7em"}, widgets.Layout(width="44em")
        self.client_picker = widgets.Dropdown(options=[(label, i) for i, (label, _) in enumerate(entries)],
                                              description="Client", style=style, layout=wide)
        self.segment = widgets.Dropdown(options=[("All respondents", None)], description="Segment", style=style,
                                        layout=wide)
        self.status = widgets.HTML()
        self.header = widgets.HTML()
        # states a browser (and a test) can wait for: the header is only written once a selection is
        # computed, and the box says whether a selection is being computed
        self.header.add_class("ipm-explorer-header")
        self.add_class("ipm-explorer")
        self.matrix_image = widgets.Image(format="png", layout=widgets.Layout(display="none", max_width="48em"))
        self.chain = widgets.Dropdown(options=[], description="Chain", style=style, layout=wide)
        self.kpi = widgets.Dropdown(options=[], description="Chain KPI", style=style, layout=wide)
        self.details = widgets.HTML()
        self.slider_box = widgets.VBox()
        self.reset = widgets.Button(description="Back to today's values", layout=widgets.Layout(width="16em"))
        self.reset.on_click(lambda _: self._reset_sliders())
        self.prediction = widgets.HTML()
        self.curve_image = widgets.Image(format="png", layout=widgets.Layout(display="none", max_width="44em"))
        caution = ("<p style='color:#555;font-size:90%;margin:0.3em 0'>Predictions hold <i>if the association "
                   "holds</i>: customers whose case went better on a chain KPI gave better scores, which is not "
                   "proof that changing the KPI will move the score by that amount. The interval is the "
                   "uncertainty of the predicted change (the model's), around the observed result KPI of the "
                   "chain's respondents; it is zero at today's value. When several shares move together, "
                   "the cases that succeed on one are drawn independently of those that succeed on another; "
                   "where the same cases fail on several KPIs at once, fixing them together may give a "
                   "different change. A segment's agenda is computed on that segment's respondents alone: "
                   "smaller bases, wider intervals.</p>")
        self.children = [widgets.HTML("<h3 style='margin:0.2em 0'>What-if explorer</h3>"), self.client_picker,
                         self.segment, self.status, self.header, self.matrix_image, self.chain, self.kpi,
                         self.details, widgets.HTML("<b>What if</b> (one slider per chain KPI; move one or "
                                                    "several):"), self.slider_box, self.reset,
                         self.prediction, self.curve_image,
                         widgets.HTML(caution)]
        self.client_picker.observe(self._on_client, names="value")
        self.segment.observe(self._on_segment, names="value")
        self.chain.observe(self._on_chain, names="value")
        self.kpi.observe(self._on_kpi, names="value")
        if agenda is not None:
            self._agendas[(0, None)] = agenda
        with self._busy():
            self._select_client()

    def __repr__(self) -> str:  # the text/plain shown where widgets do not render
        agenda = getattr(self, "agenda", None)
        if agenda is None:
            return "ExplorerBox()"
        return (f"What-if explorer ({agenda.result_name}; chains {', '.join(agenda.models)}): "
                "open in JupyterLab with a running kernel to use the widgets.")

    @property
    def model_frame(self) -> ModelFrame:
        """The model frame of the selected chain."""
        return self.agenda.models[self.chain.value].frame

    @property
    def slider(self) -> widgets.FloatSlider | None:
        """The what-if slider of the chain KPI selected in ``kpi``."""
        return self.sliders.get(self.kpi.value)

    # -- client and segment ------------------------------------------------------------------

    def _load(self, key: int) -> Any:
        """The client of entry ``key``, loaded once (an error message as str if it cannot be explored)."""
        if key not in self._clients:
            label, source = self._entries[key]
            try:
                client = source if _is_client(source) else load_client(source)
                if client.linked is None:
                    raise AnalysisError(f"client '{client.config.id}' has no survey, so there is no result KPI "
                                        "to explore")
            except IpmError as e:
                client = f"{label} cannot be explored: {_short(str(e))}"
            self._clients[key] = client
        return self._clients[key]

    def _select_client(self) -> None:
        key = self.client_picker.value
        self.status.value = f"<p style='color:#555'>Loading {html.escape(self._entries[key][0])} …</p>"
        client = self._load(key)
        if isinstance(client, str):
            with _Guard(self):
                self.segment.options = [("All respondents", None)]
            self.client = self.view = None
            self._fail(client, header="")
            return
        self.client = client
        with _Guard(self):
            self.segment.options = segment_options(client)
            self.segment.value = None
        self._select_segment()

    def _select_segment(self) -> None:
        client, seg = self.client, self.segment.value
        where = "over all responses" if seg is None else f"in segment {self.segment.label.split(' (')[0]}"
        key = (self.client_picker.value, seg)
        try:
            view = client if seg is None else client.in_segment(*seg)
        except IpmError as e:
            self._fail(str(e), header="")
            return
        self.view = view
        res = client.config.result_kpi.name
        agenda = self._agendas.get(key)
        if agenda is None:
            self.status.value = (f"<p style='color:#555'>Computing the improvement agenda {html.escape(where)} "
                                 f"({self.n_boot} bootstrap replicates) …</p>")
            try:
                agenda = improvement_agenda(view, n_boot=self.n_boot, ci=self.ci, seed=self.seed)
                if not agenda.models:
                    raise AnalysisError("no chain has a driver model: "
                                        + "; ".join(f"{k}: {v}" for k, v in agenda.chain_notes.items()))
            except IpmError as e:
                agenda = _short(str(e))
            self._agendas[key] = agenda
        header = _overall_html(view, res, where)
        if isinstance(agenda, str):
            self._fail(f"No driver analysis {where}: {agenda}", header=header)
            return
        self.agenda = agenda
        skipped = [f"{html.escape(k)}: {html.escape(v)}" for k, v in agenda.chain_notes.items()
                   if k not in agenda.models]
        self.status.value = ("<p style='color:#555;margin:0.2em 0'>Chains without a driver model: "
                             + "; ".join(skipped) + "</p>") if skipped else ""
        self.header.value = header + f"<p style='margin:0.2em 0'>{html.escape(agenda.sentence)}</p>"
        self.reset.disabled = False
        self._draw_matrix(where)

        def chain_label(cid: str) -> str:
            mf = agenda.models[cid].frame
            owner = f" (owner: {mf.owner})" if mf.owner else ""
            return f"{mf.chain_name or cid}{owner}"

        start_chain, start_kpi = _default_choice(agenda)
        with _Guard(self):
            self.chain.options = [(chain_label(c), c) for c in agenda.models]
            self.chain.value = start_chain
            self._fill_kpis(start_kpi)
        self._show_chain()

    def _fail(self, message: str, header: str) -> None:
        """Show why the selection cannot be explored and empty the rest."""
        self.agenda, self.result, self.curve = None, None, None
        self.status.value = f"<p style='color:#b71c1c;margin:0.2em 0'>{html.escape(message)}</p>"
        self.header.value = header
        with _Guard(self):
            self.chain.options = []
            self.kpi.options = []
        for w in (self.details, self.prediction):
            w.value = ""
        self.sliders, self._start = {}, {}
        self.slider_box.children = []
        self.reset.disabled = True
        self.matrix_image.layout.display = "none"
        self.curve_image.layout.display = "none"

    def _draw_matrix(self, where: str) -> None:
        from matplotlib.figure import Figure  # no pyplot: works whatever the notebook's backend

        from . import plots

        m = self.agenda.matrix
        if not self.plot or not len(m) or not m["share"].notna().any():
            self.matrix_image.layout.display = "none"
            return
        fig = Figure(figsize=(8, 4.6), dpi=100)
        plots.importance_performance(m, ax=fig.subplots(), title=f"Importance against performance {where}")
        fig.tight_layout()
        self.matrix_image.value = _png(fig)
        self.matrix_image.layout.display = None

    # -- observers ---------------------------------------------------------------------------

    def _fill_kpis(self, kpi: str | None = None) -> None:
        mf = self.model_frame
        options = [(mf.specs[d].name, d) for d in mf.kpi_drivers]
        self.kpi.options = options
        self.kpi.value = kpi if kpi in mf.kpi_drivers else (options[0][1] if options else None)

    def _busy(self) -> contextlib.AbstractContextManager:
        """Mark the box busy (CSS class ``ipm-explorer-busy``) while a selection is computed."""
        box = self

        @contextlib.contextmanager
        def mark():
            box.remove_class("ipm-explorer-ready")
            box.add_class("ipm-explorer-busy")
            try:
                yield
            finally:
                box.remove_class("ipm-explorer-busy")
                box.add_class("ipm-explorer-ready")
        return mark()

    def _on_client(self, change) -> None:
        if not self._updating:
            with self._busy():
                self._select_client()

    def _on_segment(self, change) -> None:
        if not self._updating:
            with self._busy():
                self._select_segment()

    def _on_chain(self, change) -> None:
        if self._updating:
            return
        with _Guard(self):
            self._fill_kpis()
        self._show_chain()

    def _on_slider(self, change) -> None:
        if not self._updating and self.agenda is not None:
            self._predict()

    def _on_kpi(self, change) -> None:
        if not self._updating:
            self._show_kpi()

    # -- views -------------------------------------------------------------------------------

    def _show_chain(self) -> None:
        """One slider per chain KPI of the selected chain, at today's values; then the selected KPI."""
        chain = self.chain.value
        mf = self.agenda.models[chain].frame
        style = {"description_width": "16em"}
        rows, self.sliders, self._start = [], {}, {}
        for kpi in mf.kpi_drivers:
            r = kpi_range(self.agenda, chain, kpi)
            # on the step grid, as the front end would snap it; at that start the KPI counts as unmoved
            start = min(max(r["min"] + round((r["current"] - r["min"]) / r["step"]) * r["step"], r["min"]), r["max"])
            # the readout is a bare number (a d3 format): a time or count says its unit in the label
            label = r["name"] + ("" if r["unit"] in ("share", "number") else f" ({r['unit']})")
            s = widgets.FloatSlider(description=label, tooltip=label, min=r["min"], max=r["max"],
                                    step=r["step"], value=start, readout_format=_readout_format(r["unit"], r["step"]),
                                    continuous_update=True, style=style, layout=widgets.Layout(width="52em"))
            s.observe(self._on_slider, names="value")
            tgt = "" if r["target"] is None else f"; target {_fmt_kpi_value(r['target'], r['unit'])}"
            note = widgets.HTML(
                f"<p style='color:#555;margin:0 0 0.3em 16.5em;font-size:90%'>now "
                f"{_fmt_kpi_value(r['current'], r['unit'])} among the {mf.n:,} respondents modelled{tgt}; "
                f"slide from {_fmt_kpi_value(r['min'], r['unit'])} to {_fmt_kpi_value(r['max'], r['unit'])}.</p>")
            self.sliders[kpi], self._start[kpi] = s, start
            rows += [s, note]
        self.slider_box.children = rows
        self._show_kpi()
        self._predict()

    def _show_kpi(self) -> None:
        """The chain's importance and effects table with the selected KPI highlighted, and its curve."""
        chain, kpi = self.chain.value, self.kpi.value
        if kpi is None:
            self.details.value = "<p>This chain has no chain KPI left in its model.</p>"
            self.prediction.value = ""
            return
        dm = self.agenda.models[chain]
        mf = dm.frame
        table = chain_driver_table(self.agenda, chain)
        row = table.set_index("kpi").loc[kpi]
        self.details.value = (
            f"<p style='margin:0.3em 0'>{html.escape(dm.reading)}</p>"
            + _chain_table_html(table, kpi, mf.is_nps, dm.kpi_unit)
            + f"<p style='margin:0.3em 0'>{html.escape(row['reading'])}</p>")
        if self.plot:
            self._draw_curve(kpi_range(self.agenda, chain, kpi))

    def _reset_sliders(self) -> None:
        with _Guard(self):
            for kpi, s in self.sliders.items():
                s.value = self._start[kpi]
        self._predict()

    def _predict(self) -> Scenario | None:
        """The expected result KPI with every chain KPI at its slider's value; shown and returned."""
        if self.agenda is None or not self.sliders:
            self.result = None
            return None
        dm = self.agenda.models[self.chain.value]
        mf = dm.frame
        # a slider at its start (within half a step: the front end rounds) leaves its KPI as it is
        moves = {k: (float(mf.frame[k].mean()) if abs(s.value - self._start[k]) < s.step / 2 else float(s.value))
                 for k, s in self.sliders.items()}
        try:
            sc = what_if_scenario(mf, moves, ci=self.ci, model=dm)
        except AnalysisError as e:
            self.result = None
            self.prediction.value = f"<p style='color:#b71c1c'>No prediction: {html.escape(str(e))}</p>"
            return None
        self.result = sc
        self.prediction.value = _prediction_html(sc, mf)
        return sc

    def update(self, value: float, kpi: str | None = None) -> Scenario | None:
        """Move the slider of ``kpi`` (default: the selected KPI) to ``value``, as a user's move
        does; show and return the prediction with every KPI at its slider's value."""
        kpi = self.kpi.value if kpi is None else kpi
        if kpi not in self.sliders:
            raise AnalysisError(f"{kpi!r} has no what-if slider here; sliders: {list(self.sliders)}")
        with _Guard(self):
            self.sliders[kpi].value = float(value)
        return self._predict()

    def _draw_curve(self, r: dict) -> None:
        from matplotlib.figure import Figure  # no pyplot: works whatever the notebook's backend

        from . import plots

        chain, kpi = self.chain.value, self.kpi.value
        c = whatif_curve(self.agenda, chain, kpi, np.linspace(r["min"], r["max"], self.curve_points), ci=self.ci)
        self.curve = c
        k = 100.0 if r["unit"] == "share" else 1.0
        res = c.attrs["result_name"]
        fig = Figure(figsize=(7, 3.2), dpi=100)
        ax = fig.subplots()
        ax.plot(c["value"] * k, c["predicted"], color=plots.PALETTE[0], label=f"expected {res}")
        ax.fill_between(c["value"] * k, c["ci_low"], c["ci_high"], color=plots.PALETTE[0], alpha=0.2,
                        label=f"{self.ci:.0%} interval")
        ax.axvline(r["current"] * k, color="#555555", ls=":", lw=1, label="now")
        if r["target"] is not None:
            ax.axvline(r["target"] * k, color=plots.STATUS_COLOURS["below target"], ls="--", lw=1, label="target")
        ax.set_xlabel(f"{r['name']} ({'%' if r['unit'] == 'share' else r['unit']})")
        ax.set_ylabel(res)
        ax.set_title(f"Expected {res} if {r['name']} moved")
        ax.legend(loc="best", fontsize=8)
        fig.tight_layout()
        self.curve_image.value = _png(fig)
        self.curve_image.layout.display = None


def _readout_format(unit: str, step: float) -> str:
    """The slider's d3 number format: enough decimals for its step (in % for a share)."""
    decimals = max(0, -math.floor(math.log10(step * (100 if unit == "share" else 1)) + 1e-9))
    return f".{decimals}%" if unit == "share" else f".{decimals}f"


def _prediction_html(sc: Scenario, mf: ModelFrame) -> str:
    is_nps = mf.is_nps
    res = html.escape(mf.result_name)
    moved = [r for r in sc.moves.itertuples() if abs(r.mean_after - r.current) > 1e-12]
    if moved:
        what = " and ".join(f"{html.escape(r.name)} at <b>{_fmt_kpi_value(r.to, r.unit)}</b>"
                            + (f" (mean after: {_fmt_kpi_value(r.mean_after, r.unit)})" if r.mode == "clip" else "")
                            for r in moved)
    else:
        what = "Every chain KPI at today's value"
    return (
        f"<div style='font-size:115%;margin:0.3em 0'>{what}: expected {res} "
        f"<b>{_fmt_result(sc.kpi_expected, is_nps)}</b> ({sc.ci:.0%} interval "
        f"{_fmt_result(sc.kpi_expected_ci_low, is_nps)} to {_fmt_result(sc.kpi_expected_ci_high, is_nps)}), "
        f"now {_fmt_result(sc.kpi_now, is_nps)}: change <b>{_fmt_result(sc.gain, is_nps, True)}</b> "
        f"{html.escape(sc.kpi_unit)}.</div>")


def _default_choice(agenda: Agenda) -> tuple[str, str | None]:
    """Start on the top action if there is one, else the first chain's most important KPI."""
    if len(agenda.actions):
        top = agenda.actions.iloc[0]
        if top["chain"] in agenda.models:
            return top["chain"], top["kpi"]
    chain = next(iter(agenda.models))
    m = agenda.matrix
    if len(m):
        sub = m[m["chain"] == chain].sort_values("share", ascending=False)
        if len(sub):
            return chain, sub.iloc[0]["driver"]
    kd = agenda.models[chain].frame.kpi_drivers
    return chain, (kd[0] if kd else None)


def build_explorer(
    client: Any,
    agenda: Agenda | None = None,
    *,
    clients: Iterable[str | Path] = (),
    ci: float = 0.95,
    n_boot: int = 200,
    seed: int | None = 0,
    plot: bool = True,
    curve_points: int = 21,
):
    """The what-if explorer: client, segment, chain and KPI pickers and what-if sliders.

    Parameters
    ----------
    client : Client or path
        The client the explorer opens on (a loaded client, or its folder), with a survey.
    agenda : Agenda, optional
        Its improvement agenda over all respondents (computed here when not given).
    clients : iterable of paths, optional
        More client folders to offer in the client picker (e.g. from :func:`find_clients`);
        each is loaded when picked. One that cannot be explored says why when picked.
    ci : float, default 0.95
    n_boot, seed
        Passed to :func:`~ipm_analysis.agenda.improvement_agenda` for the importance intervals
        (also for every client and segment picked later).
    plot : bool, default True
        Draw the importance–performance matrix and the what-if curve (off in tests, for speed).
    curve_points : int, default 21

    Returns
    -------
    ExplorerBox
        An ``ipywidgets.VBox``; display it in a notebook. Picking a client or segment computes
        its agenda (once; kept for later picks); moving a slider (or calling
        ``box.update(value, kpi)``) recomputes the prediction with every KPI at its slider's
        value; ``box.result`` holds the last one.

    Raises
    ------
    AnalysisError
        The starting client has no survey, or no chain with a driver model.
    """
    if not _is_client(client):
        if isinstance(client, (str, Path)):
            client = load_client(client)
        else:
            raise AnalysisError(f"build_explorer needs a loaded Client (load_client), got {type(client).__name__}")
    if client.linked is None:
        raise AnalysisError(f"client '{client.config.id}' has no survey, so there is no result KPI to explore")
    if agenda is None:
        agenda = improvement_agenda(client, n_boot=n_boot, ci=ci, seed=seed)
    if not agenda.models:
        raise AnalysisError("no chain has a driver model to explore: "
                            + "; ".join(f"{k}: {v}" for k, v in agenda.chain_notes.items()))
    own = Path(client.path).resolve() if getattr(client, "path", None) else None
    entries = [(_client_label(client), client)]
    entries += [(_client_label(p), p) for p in clients if own is None or Path(p).resolve() != own]
    box = ExplorerBox()
    box._setup(entries, agenda, ci, plot, int(curve_points), int(n_boot), seed)
    return box
