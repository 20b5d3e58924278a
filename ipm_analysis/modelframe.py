"""The response-level model frame: one row per survey answer with its case's chain KPIs.

Every driver analysis starts here. :func:`model_frame` takes a loaded
:class:`~ipm_analysis.data.Client` and one chain, keeps the responses linked to a case of
that chain, and lines up

* the score (``score``: numbers on the analysed scale, labels mapped to 1..k),
* the chain's KPIs as drivers (a ``share`` KPI is its per-case 0/1 value),
* optional extra per-case features (e.g. journey features: a frame keyed by ``case_id``),
* segment columns (kept as they are, for per-segment analyses) and controls (numeric, or
  categorical turned into 0/1 dummies with the first level as reference).

Missing values follow an explicit policy that is *reported*, never silent:

``missing="drop"``
    Listwise deletion: a response with a missing driver or control is left out. The number
    left out is counted per reason (the first missing column, in driver-then-control order),
    and the number missing per column is kept as well.
``missing="indicator"``
    Mean imputation with a missing-value indicator: a missing value is replaced by the mean
    of the observed values, and a 0/1 column ``<column>_missing`` (a control) marks the
    filled rows, so the driver's coefficient is estimated on the observed values only. No
    response is left out. The indicator method is biased when values are not missing at
    random; prefer ``drop`` unless too many responses would be lost.

A driver that does not vary (or has no value at all) among the responses used cannot be
estimated; it is left out with the reason recorded in ``dropped_drivers``, and the policy
text says so. Every sentence of the policy text is meant for the report as it stands.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from pydantic import ValidationError as PydanticValidationError

from .config import NPSScale, RatingScale
from .checks import name_list
from .errors import AnalysisError
from .messages import Message, Num, Seq, analysis_error
from .units import UNITS, format_value

__all__ = ["MISSING_POLICIES", "DriverSpec", "ModelFrame", "frame_from_data", "model_frame"]

MISSING_POLICIES = ("drop", "indicator")
_UNITS = UNITS
_TARGET = "score"


@dataclass(frozen=True)
class DriverSpec:
    """What the analysis needs to know about one driver.

    Attributes
    ----------
    id : str
        Column name in the model frame.
    name : str
        Readable name (the KPI's name from client.yaml).
    unit : str
        ``share`` (0/1 per case, shown in %), ``days``, ``hours``, ``count`` or ``number``.
    direction : str or None
        ``"higher"`` or ``"lower"`` is better; None for a feature without a direction.
    target : float or None
        The KPI's target (a fraction for shares), if any.
    link, chain, owner : str or None
        The link that owns the KPI, its chain id and the chain owner.
    source : str
        ``"kpi"`` for a chain KPI from client.yaml, ``"feature"`` for an extra feature.
    """

    id: str
    name: str
    unit: str = "number"
    direction: str | None = None
    target: float | None = None
    link: str | None = None
    chain: str | None = None
    owner: str | None = None
    source: str = "kpi"


@dataclass(frozen=True)
class ModelFrame:
    """The response-level frame of one chain, ready for the driver models.

    Attributes
    ----------
    frame : DataFrame
        One row per response used: ``score``, the drivers, the controls (numeric; dummies and
        missing indicators included), the segment columns and, when known, ``response_id``
        and ``case_id``. No missing value in score, drivers or controls.
    drivers : tuple of str
        Driver columns kept (chain KPIs first, then features), in declaration order.
    specs : dict
        ``{driver: DriverSpec}`` for every driver kept.
    controls : tuple of str
        Numeric control columns (dummies of categorical controls, missing indicators).
    segments : tuple of str
        Segment columns (text; missing allowed).
    chain : str or None
        The chain id (None for a frame built from plain data without a chain).
    chain_name, owner : str or None
    scale : NPSScale or RatingScale
        The scale the score is analysed on.
    result_name : str
        The result KPI's name (e.g. ``"NPS"``).
    missing : str
        The missing-value policy used (``"drop"`` or ``"indicator"``).
    n_chain : int
        Responses with a score linked to a case of this chain (before the policy).
    n_responses : int
        Responses with a score in the whole survey (all chains, linked or not).
    n_dropped : dict
        ``{reason: responses left out}``; reasons are ``"missing <column>"`` (the first
        missing column of the response). Sums to ``n_chain - n``.
    n_missing : dict
        ``{column: responses of the chain without a value}`` for each column with a gap.
    dropped_drivers : dict
        ``{driver: reason}`` for drivers left out (no variation, no values); the reason is a
        catalogue message (as text, English; the report writes it in its language).
    dropped_names : dict
        ``{driver: name}`` of the drivers left out (their names from client.yaml).
    policy : str
        Plain-language account of the policy and its consequences, for the report.
    min_base_flag, min_base_suppress : int
        Reporting bases (client.yaml ``reporting``): a segment with fewer responses than
        ``min_base_suppress`` is not analysed, one below ``min_base_flag`` is flagged.
    """

    frame: pd.DataFrame
    drivers: tuple[str, ...]
    specs: Mapping[str, DriverSpec]
    controls: tuple[str, ...]
    segments: tuple[str, ...]
    chain: str | None
    chain_name: str | None
    owner: str | None
    scale: NPSScale | RatingScale
    result_name: str
    missing: str
    n_chain: int
    n_responses: int
    n_dropped: Mapping[str, int] = field(default_factory=dict)
    n_missing: Mapping[str, int] = field(default_factory=dict)
    dropped_drivers: Mapping[str, Message] = field(default_factory=dict)
    dropped_names: Mapping[str, str] = field(default_factory=dict)
    policy: str = ""
    min_base_flag: int = 30
    min_base_suppress: int = 10
    steer_on: str = "mean"
    top_label: str | None = None
    segment_names: Mapping[str, str] = field(default_factory=dict)

    target = _TARGET

    @property
    def measure(self) -> str:
        """What the result KPI is read as: ``"nps"``; ``"share"`` (two levels: the share in the
        top one, in percent); ``"top_box"`` (a rating or 3+ labels steered on its top-box share,
        ``steer_on: top_box``); ``"mean"`` (the mean score)."""
        if self.is_nps:
            return "nps"
        if self.scale.max - self.scale.min == 1:
            return "share"
        return "top_box" if self.steer_on == "top_box" else "mean"

    @property
    def n(self) -> int:
        """Responses used."""
        return len(self.frame)

    @property
    def is_nps(self) -> bool:
        return isinstance(self.scale, NPSScale)

    @property
    def kpi_drivers(self) -> tuple[str, ...]:
        """Drivers that are chain KPIs of client.yaml (not extra features)."""
        return tuple(d for d in self.drivers if self.specs[d].source == "kpi")

    def with_drivers(self, drivers: Sequence[str]) -> ModelFrame:
        """The same frame with only some of its drivers (the others are not dropped rows)."""
        unknown = [d for d in drivers if d not in self.drivers]
        if unknown:
            raise AnalysisError(f"drivers {unknown} are not in the model frame; it has {list(self.drivers)}")
        return ModelFrame(**{**self.__dict__, "drivers": tuple(drivers),
                             "specs": {d: self.specs[d] for d in drivers}})

    def subset(self, mask: Any) -> ModelFrame:
        """The same frame restricted to some rows (e.g. one segment); bookkeeping kept."""
        frame = self.frame.loc[np.asarray(mask, dtype=bool)].reset_index(drop=True)
        return ModelFrame(**{**self.__dict__, "frame": frame})


# --------------------------------------------------------------------------------------------
# boundary checks
# --------------------------------------------------------------------------------------------


def check_model_frame(mf: Any) -> ModelFrame:
    """``mf`` itself when it is a :class:`ModelFrame`; anything else is refused."""
    if not isinstance(mf, ModelFrame):
        raise AnalysisError(f"expected a ModelFrame (from model_frame or frame_from_data), got {type(mf).__name__}")
    return mf




def check_driver(mf: ModelFrame, driver: Any) -> str:
    """``driver`` when it names a driver of ``mf``; anything else is refused with the list of drivers."""
    if not isinstance(driver, str) or driver not in mf.drivers:
        raise AnalysisError(f"driver {driver!r} is not a driver of the model frame; drivers are {list(mf.drivers)}")
    return driver




def _numeric_column(s: pd.Series, col: str, what: str) -> pd.Series:
    if pd.api.types.is_bool_dtype(s.dtype):
        return s.astype(float)
    if pd.api.types.is_numeric_dtype(s.dtype):
        out = s.astype(float)
    else:
        out = pd.to_numeric(s, errors="coerce")
        bad = out.isna() & s.notna()
        if bad.any():
            ex = ", ".join(repr(v) for v in pd.unique(s[bad])[:3])
            raise AnalysisError(f"{what} column '{col}' must hold numbers; got {int(bad.sum())} value(s) that "
                                f"are not (e.g. {ex})")
        out = out.astype(float)
    if np.isinf(out.to_numpy()).any():
        raise AnalysisError(f"{what} column '{col}' holds infinite values")
    return out


def _as_scale(scale: Any) -> NPSScale | RatingScale:
    if isinstance(scale, (NPSScale, RatingScale)):
        return scale
    if scale == "nps":
        return NPSScale()
    if isinstance(scale, Mapping):
        try:
            return RatingScale(**scale)
        except PydanticValidationError as e:  # its message names the field
            raise AnalysisError(f"scale {dict(scale)!r} is not a valid rating scale: {e}") from None
    raise AnalysisError(f"scale must be 'nps', a RatingScale or a mapping with min, max, top_box and "
                        f"bottom_box; got {scale!r}")


# --------------------------------------------------------------------------------------------
# the core: raw rows in, ModelFrame out
# --------------------------------------------------------------------------------------------


def _build(
    rows: pd.DataFrame,
    specs: list[DriverSpec],
    controls: list[str],
    segments: list[str],
    missing: str,
    scale: NPSScale | RatingScale,
    result_name: str,
    chain: str | None,
    chain_name: str | None,
    owner: str | None,
    n_responses: int,
    where: Message,
    bases: tuple[int, int] = (30, 10),
) -> ModelFrame:
    if missing not in MISSING_POLICIES:
        raise AnalysisError(f"missing must be one of {list(MISSING_POLICIES)}, got {missing!r}")
    n_chain = len(rows)
    if n_chain == 0:
        raise analysis_error("frame.error.no_score", where=where)
    score = _numeric_column(rows[_TARGET], _TARGET, "score")
    if score.isna().any():
        raise AnalysisError(f"column 'score' has {int(score.isna().sum())} missing values {where}; "
                            "responses without a score cannot be modelled (leave them out first)")
    bad = (score < scale.min) | (score > scale.max) | (score != np.round(score))
    if bad.any():
        ex = ", ".join(f"{v:g}" for v in pd.unique(score[bad])[:3])
        raise AnalysisError(f"column 'score' holds values outside the scale {scale.min}-{scale.max} or not "
                            f"whole numbers (e.g. {ex})")

    data = pd.DataFrame({_TARGET: score.to_numpy()})
    for idc in ("response_id", "case_id"):
        if idc in rows.columns:
            data[idc] = rows[idc].to_numpy()
    for s in specs:
        vals = _numeric_column(rows[s.id], s.id, "driver")
        if s.unit == "share":
            obs = vals.dropna()
            if ((obs < 0) | (obs > 1)).any():
                raise AnalysisError(f"driver column '{s.id}' has unit share, so its per-case values must be "
                                    f"0/1 (or fractions); got values from {obs.min():g} to {obs.max():g}")
        data[s.id] = vals.to_numpy()

    # controls: numeric as they are, categorical as dummies (first level = reference)
    control_cols: list[str] = []
    control_source: dict[str, str] = {}
    for c in controls:
        s = rows[c]
        if pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype):
            data[c] = _numeric_column(s, c, "control").to_numpy()
            control_cols.append(c)
            control_source[c] = c
        else:
            levels = sorted(pd.unique(s.dropna()).tolist(), key=str)
            if len(levels) < 2:
                continue  # a constant control explains nothing; nothing to add
            miss = s.isna().to_numpy()
            for lev in levels[1:]:
                name = f"{c}[{lev}]"
                col = (s.to_numpy(dtype=object) == lev).astype(float)
                col[miss] = np.nan
                data[name] = col
                control_cols.append(name)
                control_source[name] = c
    for g in segments:
        data[g] = rows[g].astype(object).where(rows[g].notna(), None).to_numpy()

    dropped_drivers: dict[str, Message] = {}
    kept = list(specs)

    def _drop_constant(frame: pd.DataFrame) -> bool:
        changed = False
        for s in list(kept):
            obs = frame[s.id].dropna()
            if obs.empty:
                dropped_drivers[s.id] = Message("frame.driver_no_value")
            elif obs.nunique() < 2:
                dropped_drivers[s.id] = Message("frame.driver_constant", value=format_value(float(obs.iloc[0]), s.unit))
            else:
                continue
            kept.remove(s)
            changed = True
        return changed

    _drop_constant(data)
    n_missing = {c: int(data[c].isna().sum()) for c in [s.id for s in kept] + control_cols
                 if data[c].isna().any()}
    n_dropped: dict[str, int] = {}
    indicators: list[str] = []
    fill_notes: list[str] = []

    if missing == "drop":
        for _ in range(len(specs) + 1):
            cols = [s.id for s in kept] + control_cols
            isna = data[cols].isna().to_numpy()
            use = ~isna.any(axis=1)
            if _drop_constant(data.loc[use]):
                continue
            break
        cols = [s.id for s in kept] + control_cols
        isna = data[cols].isna().to_numpy()
        use = ~isna.any(axis=1)
        if (~use).any():
            first = np.argmax(isna[~use], axis=1)
            for i, k in zip(*np.unique(first, return_counts=True), strict=True):
                n_dropped[f"missing {cols[i]}"] = int(k)
        out = data.loc[use].reset_index(drop=True)
        n_missing = {c: n_missing[c] for c in cols if c in n_missing}
    else:
        out = data.copy()
        for c in [s.id for s in kept] + control_cols:
            miss = out[c].isna()
            if not miss.any():
                continue
            mean = float(out[c].mean())
            out[c] = out[c].fillna(mean)
            ind = f"{c}_missing"
            if ind in out.columns:
                raise AnalysisError(f"cannot add the missing indicator '{ind}': a column of that name exists")
            out[ind] = miss.astype(float).to_numpy()
            indicators.append(ind)
            spec = next((s for s in kept if s.id == c), None)
            shown = format_value(mean, spec.unit) if spec else format_value(mean, "number")
            fill_notes.append(f"{c} is missing for {int(miss.sum()):,} response(s), filled with the mean "
                              f"({shown}) and flagged in {ind}")
        _drop_constant(out.loc[:, [s.id for s in kept]])

    # a control that is constant among the rows used adds nothing (and breaks the fit)
    final_controls = [c for c in control_cols + indicators if out[c].nunique() > 1]
    const_controls = [c for c in control_cols + indicators if c not in final_controls]
    keep_cols = [_TARGET] + [c for c in ("response_id", "case_id") if c in out.columns]
    keep_cols += [s.id for s in kept] + final_controls + list(segments)
    out = out.loc[:, keep_cols]

    policy = _policy_text(missing, n_chain, len(out), n_dropped, n_missing, fill_notes, dropped_drivers,
                          const_controls, where)
    if len(out) == 0:
        counts = Seq(tuple(Message("frame.missing_count", column=c, n=Num(k, 0)) for c, k in n_missing.items()),
                     "list.comma")
        raise analysis_error("frame.error.none_left", where=where, counts=counts)
    return ModelFrame(
        frame=out,
        drivers=tuple(s.id for s in kept),
        specs={s.id: s for s in kept},
        controls=tuple(final_controls),
        segments=tuple(segments),
        chain=chain,
        chain_name=chain_name,
        owner=owner,
        scale=scale,
        result_name=result_name,
        missing=missing,
        n_chain=n_chain,
        n_responses=int(n_responses),
        n_dropped=n_dropped,
        n_missing=n_missing,
        dropped_drivers=dropped_drivers,
        dropped_names={s.id: s.name for s in specs if s.id in dropped_drivers},
        policy=policy,
        min_base_flag=int(bases[0]),
        min_base_suppress=int(bases[1]),
    )


def _policy_text(missing, n_chain, n_used, n_dropped, n_missing, fill_notes, dropped_drivers,
                 const_controls, where) -> str:
    parts = []
    if missing == "drop":
        parts.append("Missing values: listwise deletion (a response missing any driver or control is left out).")
        if n_used == n_chain:
            parts.append(f"All {n_chain:,} responses {where} have every value and are used.")
        else:
            per_col = ", ".join(f"{c} {k:,}" for c, k in n_missing.items())
            parts.append(f"Of {n_chain:,} responses {where}, {n_used:,} are used and {n_chain - n_used:,} "
                         f"left out for a missing value (responses missing each: {per_col}).")
    else:
        parts.append("Missing values: filled with the mean of the observed values, with a 0/1 indicator "
                     "of the filled rows as a control, so no response is left out.")
        if fill_notes:
            parts.append("; ".join(fill_notes) + ".")
        else:
            parts.append("No value was missing.")
        parts.append(f"All {n_chain:,} responses {where} are used.")
    for d, reason in dropped_drivers.items():
        parts.append(f"Driver {d} is left out: {reason}.")
    if const_controls:
        parts.append(f"Controls that do not vary among the responses used are left out: {', '.join(const_controls)}.")
    return " ".join(parts)


# --------------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------------


def _join_features(rows: pd.DataFrame, features: Any, taken: set[str]) -> tuple[pd.DataFrame, list[str]]:
    if features is None:
        return rows, []
    if not isinstance(features, pd.DataFrame):
        raise AnalysisError(f"features must be a DataFrame keyed by case_id, got {type(features).__name__}")
    feats = features
    if "case_id" not in feats.columns:
        if feats.index.name == "case_id":
            feats = feats.reset_index()
        else:
            raise AnalysisError(f"features need a 'case_id' column (or index named case_id); they have "
                                f"columns {list(feats.columns)}")
    if feats["case_id"].isna().any():
        raise AnalysisError("features column 'case_id' has missing values")
    dup = feats["case_id"].astype(str)[feats["case_id"].astype(str).duplicated()]
    if len(dup):
        raise AnalysisError(f"features must have one row per case; case_id repeats (e.g. "
                            f"{', '.join(map(repr, dup.unique()[:3]))})")
    cols = [c for c in feats.columns if c != "case_id"]
    clash = [c for c in cols if c in taken]
    if clash:
        raise AnalysisError(f"feature columns {clash} clash with columns of the responses or chain KPIs; "
                            "rename them")
    for c in cols:
        _numeric_column(feats[c], c, "feature")
    right = feats.assign(case_id=feats["case_id"].astype(str))
    left = rows.assign(__key=rows["case_id"].astype(str))
    merged = left.merge(right.rename(columns={"case_id": "__key"}), on="__key", how="left").drop(columns="__key")
    return merged, cols


def _feature_spec(col: str, values: pd.Series) -> DriverSpec:
    vals = _numeric_column(values, col, "feature").dropna()
    unit = "share" if len(vals) and vals.isin([0.0, 1.0]).all() else "number"
    return DriverSpec(id=col, name=col.replace("_", " "), unit=unit, source="feature")


def model_frame(
    client: Any,
    chain: str | None = None,
    features: pd.DataFrame | None = None,
    missing: str = "drop",
    controls: Sequence[str] | None = None,
    segments: Sequence[str] | None = None,
) -> ModelFrame:
    """The response-level model frame of one chain.

    Parameters
    ----------
    client : Client
        A loaded client (:func:`ipm_analysis.data.load_client`) with a survey.
    chain : str, optional
        Chain id; may be left out when the client has one chain.
    features : DataFrame, optional
        Extra per-case numeric features (e.g. journey features), one row per case, keyed by a
        ``case_id`` column (or index). They become drivers after the chain KPIs; a 0/1
        feature gets unit ``share``, any other ``number``. Cases without a row are missing
        values for the policy.
    missing : {"drop", "indicator"}, default "drop"
        The missing-value policy (see the module docs); reported in ``policy``.
    controls : list of str, optional
        Columns of ``client.linked`` (or of ``client.responses``, joined by response id) kept
        in every model: numeric as they are, text as 0/1 dummies (first level in sorted order
        = reference).
    segments : list of str, optional
        Segment columns to carry along; default every segment of client.yaml.

    Returns
    -------
    ModelFrame

    Raises
    ------
    AnalysisError
        No survey, an unknown chain, segment or control column, features that are not keyed
        by case or not numeric, or no response left.
    """
    cfg = getattr(client, "config", None)
    linked = getattr(client, "linked", None)
    if cfg is None:
        raise AnalysisError(f"client must be a loaded Client (load_client), got {type(client).__name__}")
    if linked is None or cfg.result_kpi is None:
        raise AnalysisError(f"client '{cfg.id}' has no survey (no responses table), so there is no result KPI "
                            "to model")
    chain_ids = [c.id for c in cfg.chains]
    if chain is None:
        if len(chain_ids) > 1:
            raise AnalysisError(f"client '{cfg.id}' has several chains {chain_ids}; name one with chain=")
        chain = chain_ids[0]
    if chain not in chain_ids:
        raise AnalysisError(f"chain {chain!r} is not declared in client.yaml; chains are {chain_ids}")
    ch = cfg.chain(chain)
    controls_l = name_list(controls, "controls")
    segs = list(client.segment_ids) if segments is None else name_list(segments, "segments")
    responses = getattr(client, "responses", None)
    extra = [c for c in dict.fromkeys(controls_l + segs) if c not in linked.columns
             and responses is not None and c in responses.columns and c != "response_id"]
    if extra:  # other columns of the responses file, joined by response id
        linked = linked.merge(responses[["response_id"] + extra], on="response_id", how="left")
    for what, cols in (("controls", controls_l), ("segments", segs)):
        missing_cols = [c for c in cols if c not in linked.columns]
        if missing_cols:
            raise AnalysisError(f"{what} {missing_cols} are not columns of the linked responses or of the "
                                f"responses file; they have {sorted(set(linked.columns))}")
    kpi_ids = [k.id for k in ch.kpis]
    overlap = [c for c in controls_l + segs if c in kpi_ids or c == _TARGET]
    if overlap:
        raise AnalysisError(f"columns {overlap} cannot be controls or segments: they are the score or chain KPIs")
    is_chain = (linked["chain"] == chain).fillna(False).to_numpy(dtype=bool) & linked["linked"].to_numpy(dtype=bool)
    rows = linked.loc[is_chain & linked["score"].notna().to_numpy()].reset_index(drop=True)
    rows, feat_cols = _join_features(rows, features, set(linked.columns))
    specs = [DriverSpec(id=k.id, name=k.name, unit=k.unit, direction=k.direction, target=k.target,
                        link=k.link, chain=ch.id, owner=ch.owner, source="kpi") for k in ch.kpis]
    specs += [_feature_spec(c, rows[c]) for c in feat_cols]
    mf = _build(
        rows, specs, controls_l, segs, missing, cfg.result_kpi.rating_scale, cfg.result_kpi.name,
        chain, ch.name, ch.owner, int(linked["score"].notna().sum()),
        where=Message("frame.where_chain", chain=chain),
        bases=(cfg.reporting.min_base_flag, cfg.reporting.min_base_suppress),
    )
    rk = cfg.result_kpi
    top_label = rk.top_words
    return replace(mf, steer_on=rk.steer_on or "mean", top_label=top_label,
                   segment_names={sg.id: sg.name for sg in cfg.segments})


def frame_from_data(
    data: pd.DataFrame,
    drivers: Sequence[str],
    scale: Any = "nps",
    *,
    units: Mapping[str, str] | None = None,
    directions: Mapping[str, str] | None = None,
    targets: Mapping[str, float] | None = None,
    names: Mapping[str, str] | None = None,
    controls: Sequence[str] | None = None,
    segments: Sequence[str] | None = None,
    missing: str = "drop",
    result_name: str | None = None,
    min_base_flag: int = 30,
    min_base_suppress: int = 10,
    steer_on: str = "mean",
    top_label: str | None = None,
) -> ModelFrame:
    """A model frame from a plain DataFrame (simulations, other sources).

    Parameters
    ----------
    data : DataFrame
        One row per response with a ``score`` column and the driver columns.
    drivers : list of str
        Driver columns.
    scale : "nps", RatingScale or mapping, default "nps"
        The score's scale (a mapping is read as a rating scale: min, max, top_box, bottom_box).
    units, directions, targets, names : dict, optional
        Per-driver unit (default ``number``, or ``share`` for a 0/1 column), direction
        (``higher``/``lower``), target and readable name.
    controls, segments, missing
        As in :func:`model_frame`.
    result_name : str, optional
        Name of the result KPI; default ``"NPS"`` or ``"score"``.
    min_base_flag, min_base_suppress : int, default 30 and 10
        Reporting bases for segment analyses (as ``reporting`` in client.yaml).
    steer_on : "mean" or "top_box", default "mean"
        For a scale of three or more levels: whether the result KPI is read as the mean or the
        top-box share (``result_kpi: {steer_on: ...}`` in client.yaml).
    top_label : str, optional
        The top box's own label (e.g. ``"satisfied"``), for sentences on a share.

    Returns
    -------
    ModelFrame
    """
    if not isinstance(data, pd.DataFrame):
        raise AnalysisError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    drivers_l = name_list(drivers, "drivers")
    if not drivers_l:
        raise AnalysisError("drivers must name at least one column")
    controls_l = name_list(controls, "controls")
    segs = name_list(segments, "segments")
    need = [_TARGET] + drivers_l + controls_l + segs
    absent = [c for c in need if c not in data.columns]
    if absent:
        raise AnalysisError(f"data lacks column(s) {absent}; it has {list(data.columns)}")
    both = sorted(set(drivers_l) & set(controls_l + segs))
    if both:
        raise AnalysisError(f"columns {both} are named as drivers and as controls/segments")
    sc = _as_scale(scale)
    units = dict(units or {})
    directions = dict(directions or {})
    targets = dict(targets or {})
    names = dict(names or {})
    for what, m in (("units", units), ("directions", directions), ("targets", targets), ("names", names)):
        unknown = [k for k in m if k not in drivers_l]
        if unknown:
            raise AnalysisError(f"{what} name columns {unknown} that are not drivers {drivers_l}")
    bad = {k: v for k, v in units.items() if v not in _UNITS}
    if bad:
        raise AnalysisError(f"units must be one of {list(_UNITS)}; got {bad}")
    bad = {k: v for k, v in directions.items() if v not in ("higher", "lower")}
    if bad:
        raise AnalysisError(f"directions must be 'higher' or 'lower'; got {bad}")
    specs = []
    for d in drivers_l:
        unit = units.get(d) or _feature_spec(d, data[d]).unit
        specs.append(DriverSpec(id=d, name=names.get(d, d), unit=unit, direction=directions.get(d),
                                target=targets.get(d), source="kpi"))
    rows = data.loc[data[_TARGET].notna()].reset_index(drop=True)
    if steer_on not in ("mean", "top_box"):
        raise AnalysisError(f"steer_on must be 'mean' or 'top_box', got {steer_on!r}")
    mf = _build(rows, specs, controls_l, segs, missing, sc,
                result_name or ("NPS" if isinstance(sc, NPSScale) else "score"),
                None, None, None, len(rows), where=Message("frame.where_data"),
                bases=(min_base_flag, min_base_suppress))
    return replace(mf, steer_on=steer_on, top_label=top_label)


def companion_frames(client: Any, chain: str) -> list[ModelFrame]:
    """One model frame per declared companion of the chain's share KPIs (e.g. days late next to
    on time), with the companion as the only driver, for its threshold and response curve.

    A companion (``companion: {lateness: "date_diff('day', promised_at, delivered_at)"}`` on a
    chain KPI in client.yaml) is a continuous measure behind a 0/1 share: the share says
    *whether* a case was late, the companion *how late*. Its direction is the opposite of the
    share's for a share where higher is better (more lateness is worse). Responses without a
    companion value are left out of its frame.
    """
    cfg = client.config
    ch = cfg.chain(chain)
    out = []
    linked = client.linked
    if linked is None:
        return out
    for k in ch.kpis:
        cid = k.companion_id
        if cid is None or cid not in linked.columns:
            continue
        rows = linked.loc[(linked["chain"] == chain).fillna(False).to_numpy(dtype=bool)
                          & linked["linked"].to_numpy(dtype=bool) & linked["score"].notna().to_numpy()
                          & linked[cid].notna().to_numpy()].reset_index(drop=True)
        if len(rows) == 0:
            continue
        direction = {"higher": "lower", "lower": "higher"}.get(k.direction)
        name = f"{cid.replace('_', ' ').capitalize()} ({k.name})"
        spec = DriverSpec(id=cid, name=name, unit=k.companion_unit, direction=direction, target=None,
                          link=k.link, chain=ch.id, owner=ch.owner, source="companion")
        segs = [s for s in client.segment_ids if s in rows.columns]
        mf = _build(rows, [spec], [], segs, "drop", cfg.result_kpi.rating_scale, cfg.result_kpi.name,
                    chain, ch.name, ch.owner, int(linked["score"].notna().sum()),
                    where=Message("frame.where_companion", companion=cid),
                    bases=(cfg.reporting.min_base_flag, cfg.reporting.min_base_suppress))
        rk = cfg.result_kpi
        top_label = rk.top_words
        out.append(replace(mf, steer_on=rk.steer_on or "mean", top_label=top_label))
    return out
