"""Process mining on a prepared event log: the primitives of the journeys analysis.

Variants, conformance to the designed journey, directly-follows times, handovers between
links, funnels, channel mix and contacts, and one row of journey features per case for the
driver analysis.

The prepared log
----------------
:func:`prepare` turns an events frame into a :class:`PreparedLog` once: activities and cases as
integer codes, timestamps as int64 nanoseconds, events in (case, timestamp, row) order and each
case's first event and length. Every function below that takes ``events`` also takes a prepared
log, so several analyses of one log factorise its text and convert its timestamps once.

Contacts
--------
Only declared events are contacts: those on declared channels, of declared activities, whose
activity matches a declared pattern, or of an avoidable activity. With nothing declared no
event is a contact (the internal work items of a process log are not customer contacts).

Input contract
--------------
Every other function takes an ``events`` DataFrame with the columns

``case_id``
    the case of the event (text).
``activity``
    what happened (text).
``timestamp``
    when. ``datetime64`` naive or tz-aware. Tz-aware values are converted to UTC; a column of
    text or of ``Timestamp`` objects with mixed UTC offsets is parsed with
    ``pd.to_datetime(utc=True)``. Naive values are taken as they are.
``row`` (optional)
    int64, the event's row order in the source file.
``channel``, ``link``, ``customer_id`` (optional)
    used by the channel, handover and contact functions; they say which one they need.

Missing columns and missing values in ``case_id``, ``activity``, ``timestamp`` or ``row``
raise :class:`~ipm_analysis.errors.AnalysisError` naming the column. The frame is never
modified.

Event order (the tie rule)
--------------------------
The events of a case are ordered by ``timestamp`` (in UTC when tz-aware). Events of one case
with the same timestamp are ordered by ``row``, their row order in the source file; when
``row`` is absent (or equal) they keep their order in the frame. This is the order in which
pm4py's ``format_dataframe`` leaves a log read from the same file (it sorts by case,
timestamp and original position, stably), so variants and directly-follows counts agree
with pm4py on logs whose events share timestamps.

Empty input
-----------
An events frame with the contract columns and no rows is not an error: every function
returns a frame with its documented columns and no rows (per-step tables keep one row per
designed step, with ``n_cases`` 0 and shares NaN). Validating that a client's event log is
not empty is the job of the data layer.

Conformance to the designed journey
-----------------------------------
The designed journey is a sequence of distinct activity names, ``K`` long. For a case with
``n`` events:

``skipped``
    designed steps never done.
``repeated``
    occurrences of designed steps beyond the first.
``extra``
    events whose activity is not a designed step.
``out_of_order``
    designed steps that were done but cannot be kept in designed order. The steps kept in
    order are a longest common subsequence of the trace and the design (a longest strictly
    increasing subsequence of the design positions of the case's designed events, repeats
    included); when several exist, the one with the smallest design positions is taken
    (lexicographically), each at its earliest possible occurrence. So in ``a, c, b`` against
    ``a, b, c`` the step ``c`` is out of order (done too early), and in ``b, a, b, c`` no
    step is (the second ``b`` is in order; the first is a repeat).
``fitness``
    ``1 - (skipped + repeated + extra + 2 * out_of_order) / (K + n)``. The numerator is the
    cost of an optimal alignment of the trace with the designed sequence (log moves +
    model moves, unit costs): every out-of-order step costs a move in the log and one in
    the model. It lies in [0, 1], is 1 exactly when the trace equals the designed sequence,
    and equals pm4py's alignment fitness against a sequential Petri net of the design.
``fits``
    the trace equals the designed sequence (``fitness == 1``).
``deviation``
    ``"none"`` for a fitting case, else the deviation type with the largest count among
    ``skipped``, ``repeated``, ``out_of_order``, ``extra``; ties go to the first in that
    order.

Durations
---------
Durations are reported in hours (directly-follows pairs, handovers) or days (lead time).
Medians and 90th percentiles use linear interpolation (``pandas.Series.quantile``).

Performance
-----------
Everything is vectorised with numpy and pandas: the only Python loops run over positions
within a case, over designed steps or over distinct variants, never over cases. Activity,
case and attribute values are factorised to integer codes once, so 10 million events take
a few hundred megabytes.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import pandas as pd

from ..checks import name_list
from ..errors import AnalysisError

__all__ = [
    "DEFAULT_CHANNEL_GROUPS",
    "ChannelMix",
    "PreparedLog",
    "case_variants",
    "channel_mix",
    "conformance",
    "contacts",
    "directly_follows",
    "funnel",
    "handovers",
    "journey_features",
    "prepare",
    "slowest_handovers",
    "start_end_activities",
    "step_deviation",
    "variants",
]

#: Channel -> channel group used by :func:`channel_mix`. Keys are matched case-insensitively
#: after stripping spaces; channels not listed fall in the group ``"other"`` (e.g. a visit
#: or a letter). Pass ``channel_groups=`` to override.
DEFAULT_CHANNEL_GROUPS: Mapping[str, str] = {
    "phone": "phone",
    "web": "online",
    "e-mail": "online",
    "email": "online",
    "app": "online",
    "chat": "online",
}

_REQUIRED = ("case_id", "activity", "timestamp")
_NS_PER_HOUR = 3_600 * 10**9
_NS_PER_DAY = 86_400 * 10**9
_DEVIATIONS = ("skipped", "repeated", "out_of_order", "extra")


# --------------------------------------------------------------------------------------
# input validation and the prepared log
# --------------------------------------------------------------------------------------


def _require_columns(frame: object, columns: Iterable[str], what: str) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise AnalysisError(f"{what}: expected a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        names = ", ".join(f"'{c}'" for c in missing)
        plural = "s" if len(missing) > 1 else ""
        raise AnalysisError(
            f"{what}: missing column{plural} {names} (columns present: {list(frame.columns)})"
        )


def _missing_values_error(
    what: str, column: str, mask: np.ndarray, index: pd.Index
) -> AnalysisError:
    where = index[np.flatnonzero(mask)[:5]].tolist()
    more = ", ..." if mask.sum() > 5 else ""
    return AnalysisError(
        f"{what}: column '{column}' has {int(mask.sum())} missing value(s) "
        f"(index {', '.join(map(str, where))}{more})"
    )


def _to_datetime(values: pd.Series, column: str, what: str) -> pd.Series:
    """A datetime64 Series: tz-aware input in UTC, naive input as it is."""
    if pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_bool_dtype(values.dtype):
        raise AnalysisError(
            f"{what}: column '{column}' must hold timestamps, got numbers (dtype {values.dtype})"
        )
    if not pd.api.types.is_datetime64_any_dtype(values.dtype):
        try:
            values = pd.to_datetime(values, utc=True, format="ISO8601")
        except (ValueError, TypeError):
            try:
                values = pd.to_datetime(values, utc=True, format="mixed")
            except (ValueError, TypeError) as exc:
                raise AnalysisError(
                    f"{what}: column '{column}' is not a timestamp column and does not parse "
                    f"as one ({exc})"
                ) from None
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        values = values.dt.tz_convert("UTC")
    return values


_NAT = np.iinfo(np.int64).min  # NaT as int64


def _naive_ns(values: pd.Series, column: str, what: str) -> np.ndarray | None:
    """Naive numpy ``datetime64`` values as int64 nanoseconds by integer arithmetic (numpy's
    unit conversion checks every value on its own and costs several times as much); None
    when the column is not naive datetime64 or holds NaT. Values that do not fit in
    nanoseconds (before 1677 or after 2262) are an error (numpy's conversion wraps them)."""
    dtype = values.dtype
    if not (isinstance(dtype, np.dtype) and dtype.kind == "M"):
        return None
    unit, count = np.datetime_data(dtype)
    factor = {"ns": 1, "us": 1_000, "ms": 1_000_000, "s": 1_000_000_000}.get(unit)
    if factor is None or count != 1:
        return None
    ints = values.to_numpy().view(np.int64)
    if not len(ints):
        return None
    lo, hi = int(ints.min()), int(ints.max())
    if lo == _NAT:
        return None  # missing: the general route names the rows
    if lo < _NAT // factor + 1 or hi > np.iinfo(np.int64).max // factor:
        raise AnalysisError(
            f"{what}: column '{column}' holds timestamps out of range (before 1677 or after 2262)"
        )
    return ints * factor if factor != 1 else ints


def _to_ns(values: pd.Series, column: str, what: str) -> np.ndarray:
    """Timestamps as int64 nanoseconds (UTC for tz-aware input)."""
    fast = _naive_ns(values, column, what)
    if fast is not None:
        return fast
    values = _to_datetime(values, column, what)
    missing = values.isna().to_numpy()
    if missing.any():
        raise _missing_values_error(what, column, missing, values.index)
    try:
        return values.to_numpy(dtype="datetime64[ns]").view(np.int64)
    except (OverflowError, ValueError) as exc:  # outside 1677-2262
        raise AnalysisError(
            f"{what}: column '{column}' holds timestamps out of range ({exc})"
        ) from None


@dataclass(frozen=True, eq=False)
class _Log:
    """An event log sorted by case, timestamp and row, as integer codes.

    All per-event arrays are in sorted order; ``perm`` maps a sorted position to the
    position in the caller's frame. Case codes follow the first appearance of each case in
    the frame (so an export grouped by case needs no sort); per-case outputs are put in
    ``case_id`` order when they are built (:attr:`case_order`).
    """

    events: pd.DataFrame
    _perm: np.ndarray | None  # None: the frame is in event order already
    case: np.ndarray
    act: np.ndarray
    ts: np.ndarray
    case_ids: pd.Index
    activities: pd.Index
    starts: np.ndarray
    lengths: np.ndarray

    @property
    def perm(self) -> np.ndarray:
        """Frame position of each sorted event."""
        hit = self._perm
        if hit is None:
            hit = np.arange(len(self.case), dtype=np.int64)
            object.__setattr__(self, "_perm", hit)
        return hit

    @property
    def n_events(self) -> int:
        return len(self.case)

    @property
    def n_cases(self) -> int:
        return len(self.case_ids)

    @property
    def ends(self) -> np.ndarray:
        return self.starts + self.lengths - 1

    @property
    def case_order(self) -> np.ndarray | None:
        """Case codes in ``case_id`` order (None when the codes already are), computed once."""
        hit = self.__dict__.get("_case_order", False)
        if hit is False:
            ids = self.case_ids
            hit = None if ids.is_monotonic_increasing else np.asarray(ids.argsort(kind="stable"), dtype=np.int64)
            object.__setattr__(self, "_case_order", hit)
        return hit

    @property
    def activities_sorted(self) -> bool:
        """Whether the activity labels are in increasing order (code order is name order),
        computed once."""
        hit = self.__dict__.get("_activities_sorted")
        if hit is None:
            hit = bool(self.activities.is_monotonic_increasing)
            object.__setattr__(self, "_activities_sorted", hit)
        return hit

    def codes(self, column: str) -> tuple[np.ndarray, pd.Index]:
        """Integer codes of ``column`` in sorted event order (-1 for missing) and labels."""
        codes, labels = pd.factorize(self.events[column], sort=True)
        return codes[self.perm], labels


def _event_order(case: np.ndarray, ts: np.ndarray, row: np.ndarray) -> np.ndarray:
    """Stable order by (case, ts, row): ties on all three keep frame order."""
    perm = _event_order_or_none(case, ts, row)
    return np.arange(len(case), dtype=np.int64) if perm is None else perm


def _event_order_or_none(case: np.ndarray, ts: np.ndarray, row: np.ndarray) -> np.ndarray | None:
    """:func:`_event_order`, or None when the frame is already in that order.

    Group by case first (a stable sort, near linear on exports grouped by case; skipped
    when the case codes never decrease), then fully sort only the cases whose events are
    not yet in (ts, row) order, which on real exports are few or none.
    """
    if len(case) < 2 or not (case[1:] < case[:-1]).any():
        perm, c, t, r = None, case, ts, row
    else:
        perm = np.argsort(case, kind="stable")
        c, t, r = case[perm], ts[perm], row[perm]
    back = (c[1:] == c[:-1]) & ((t[1:] < t[:-1]) | ((t[1:] == t[:-1]) & (r[1:] < r[:-1])))
    if back.any():
        if perm is None:
            perm = np.arange(len(case), dtype=np.int64)
        unsorted = np.zeros(int(case.max()) + 1, dtype=bool)
        unsorted[c[1:][back]] = True
        idx = np.flatnonzero(unsorted[c])  # whole cases, in case order
        perm[idx] = perm[idx[np.lexsort((r[idx], t[idx], c[idx]))]]
    return perm


def _factorize_runs(values: pd.Series, sort: bool) -> tuple[np.ndarray, pd.Index]:
    """``pd.factorize(values, sort=sort)``, faster on a column whose equal values come in
    runs, like the case ids of an export grouped by case: only the first value of each run
    is hashed. Runs are found on Arrow-backed text only (elsewhere comparing costs as much
    as hashing); columns with missing values take the plain path, which reports them.
    """
    dtype = values.dtype
    if (
        len(values) > 1
        and isinstance(dtype, pd.StringDtype)
        and dtype.storage == "pyarrow"
        and not values.hasnans
    ):
        text = values.array
        change = np.asarray(text[1:] != text[:-1], dtype=bool)
        n_runs = int(np.count_nonzero(change)) + 1
        if n_runs <= len(values) // 2:
            first = np.flatnonzero(np.concatenate(([True], change)))
            codes, uniques = pd.factorize(values.iloc[first], sort=sort)
            return np.repeat(codes, np.diff(np.append(first, len(values)))), uniques
    return pd.factorize(values, sort=sort)


def _arrow_codes(values: pd.Series, sort: bool, runs: bool = False) -> tuple[np.ndarray, pd.Index] | None:
    """``pd.factorize(values, sort=sort)`` for Arrow-backed text without missing values, by
    Arrow's dictionary encoding (one hash pass in C++, no Python strings); None for other
    columns. Sorted labels follow Arrow's byte order, which for UTF-8 is Python's order.
    ``runs``: equal values mostly come in runs (case ids of an export grouped by case), so
    only the first value of each run is hashed."""
    dtype = values.dtype
    if not (isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow") or not len(values):
        return None
    try:
        import pyarrow.compute as pc

        chunked = values.array.__arrow_array__()
        if chunked.null_count:
            return None  # the plain path reports the missing values
        arr = chunked.combine_chunks() if chunked.num_chunks != 1 else chunked.chunk(0)
        n = len(arr)
        first = None
        if runs and n > 1:
            change = pc.not_equal(arr.slice(1), arr.slice(0, n - 1)).to_numpy(zero_copy_only=False)
            first = np.flatnonzero(np.concatenate(([True], change)))
            if len(first) > n // 2:
                first = None
            else:
                arr = arr.take(first)
        enc = pc.dictionary_encode(arr)
    except (ImportError, AttributeError, TypeError):
        return None
    codes = enc.indices.to_numpy(zero_copy_only=False)
    labels = enc.dictionary
    if sort and len(labels) > 1:
        order = pc.array_sort_indices(labels).to_numpy()
        rank = np.empty(len(order), dtype=np.int64)
        rank[order] = np.arange(len(order), dtype=np.int64)
        codes = rank[codes]  # int64
        labels = labels.take(order)
    else:
        codes = codes.astype(np.int64)
    if first is not None:
        codes = np.repeat(codes, np.diff(np.append(first, n)))
    return codes, pd.Index(_string_array(labels, dtype))


def _string_array(labels, dtype) -> pd.api.extensions.ExtensionArray:
    """Arrow text ``labels`` as a pandas string array of ``dtype`` (the column's)."""
    try:
        from pandas.arrays import ArrowStringArray

        out = ArrowStringArray(labels, dtype=dtype)
        if out.dtype == dtype:
            return out
    except (TypeError, ValueError):
        pass
    return pd.array(labels, dtype=dtype)


def _prepare(events: pd.DataFrame, what: str = "events", sort_cases: bool = True) -> _Log:
    """The log of ``events`` as integer codes in event order (see :class:`_Log`).

    ``sort_cases`` is accepted for compatibility and has no effect: per-case outputs are
    sorted by ``case_id`` when built, whatever the case codes.
    """
    _require_columns(events, _REQUIRED, what)
    index = events.index
    # cases numbered in order of first appearance (an export grouped by case is then in case
    # order already); per-case outputs are sorted by case_id when they are built
    fast = _arrow_codes(events["case_id"], sort=False, runs=True)
    case, case_ids = fast if fast is not None else _factorize_runs(events["case_id"], sort=False)
    if fast is None and (case < 0).any():  # Arrow's codes never are: it hands over no missing values
        raise _missing_values_error(what, "case_id", case < 0, index)
    fast = _arrow_codes(events["activity"], sort=True)
    act_sorted = fast is not None  # Arrow's sorted labels: byte order of UTF-8, the names' order
    act, activities = fast if fast is not None else pd.factorize(events["activity"], sort=True)
    if fast is None and (act < 0).any():
        raise _missing_values_error(what, "activity", act < 0, index)
    ts = _to_ns(events["timestamp"], "timestamp", what)
    n = len(events)
    if "row" in events.columns:
        row_s = events["row"]
        missing = None if row_s.dtype.kind in "iu" else row_s.isna().to_numpy()  # numpy ints have none
        if missing is not None and missing.any():
            raise _missing_values_error(what, "row", missing, index)
        if not pd.api.types.is_numeric_dtype(row_s.dtype) or pd.api.types.is_bool_dtype(
            row_s.dtype
        ):
            raise AnalysisError(f"{what}: column 'row' must hold integers, got dtype {row_s.dtype}")
        row = row_s.to_numpy(dtype=np.int64)
    else:
        row = np.arange(n, dtype=np.int64)
    perm = _event_order_or_none(case, ts, row)
    if perm is None:  # already in event order
        ts = ts.view()
        ts.flags.writeable = False  # may share memory with the caller's frame
    else:
        case, act, ts = case[perm], act[perm], ts[perm]
    case = case.astype(np.int64, copy=False)
    lengths = np.bincount(case, minlength=len(case_ids)).astype(np.int64)
    starts = np.zeros(len(case_ids), dtype=np.int64)
    if len(lengths) > 1:
        np.cumsum(lengths[:-1], out=starts[1:])
    log = _Log(
        events=events,
        _perm=perm,
        case=case,
        act=act.astype(np.int64, copy=False),
        ts=ts,
        case_ids=case_ids,
        activities=activities,
        starts=starts,
        lengths=lengths,
    )
    if act_sorted:
        object.__setattr__(log, "_activities_sorted", True)
    return log


PreparedLog = _Log  # the public name of a prepared event log (see prepare)


def prepare(events: pd.DataFrame, what: str = "events") -> PreparedLog:
    """Prepare an event log once: activities and cases as integer codes, timestamps as int64
    nanoseconds, events in (case, timestamp, row) order and each case's first event and length.

    Every function of this module that takes ``events`` also takes the prepared log instead,
    so a report that asks for variants, directly-follows pairs, handovers, conformance and
    contacts of one log factorises its text and converts its timestamps once.
    """
    if isinstance(events, _Log):
        return events
    return _prepare(events, what)


def _prepared(events, what: str = "events", sort_cases: bool = True) -> _Log:
    """``events`` as a prepared log (as it is when it already is one)."""
    if isinstance(events, _Log):
        return events
    return _prepare(events, what, sort_cases=sort_cases)


def _frame_of(events) -> pd.DataFrame:
    return events.events if isinstance(events, _Log) else events


def _designed_steps(designed_steps: object) -> list[str]:
    if isinstance(designed_steps, str) or not isinstance(designed_steps, Iterable):
        raise AnalysisError(
            "designed_steps: expected a sequence of activity names in designed order, "
            f"got {designed_steps!r}"
        )
    steps = list(designed_steps)
    if not steps:
        raise AnalysisError("designed_steps: the designed journey has no steps")
    seen: set = set()
    dupes = [s for s in steps if s in seen or seen.add(s)]
    if dupes:
        raise AnalysisError(f"designed_steps: each step may appear once; repeated: {dupes}")
    return steps


def _case_frame(log: _Log, **columns: object) -> pd.DataFrame:
    """One row per case, sorted by ``case_id``; ``columns`` are in case-code order."""
    order = log.case_order
    if order is None:
        return pd.DataFrame({"case_id": log.case_ids, **columns}, index=pd.RangeIndex(log.n_cases))
    taken = {k: (v.take(order) if hasattr(v, "take") else np.asarray(v)[order]) for k, v in columns.items()}
    return pd.DataFrame({"case_id": log.case_ids.take(order), **taken}, index=pd.RangeIndex(log.n_cases))


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenated ``arange(s, s + n)`` for every (s, n), without a Python loop."""
    total = int(lengths.sum())
    offsets = np.cumsum(lengths) - lengths
    return np.arange(total, dtype=np.int64) + np.repeat(starts - offsets, lengths)


def _by_length(lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cases ordered longest first, their lengths, and ``alive[k]`` = cases longer than k.

    Loops over positions ``k`` then touch only the first ``alive[k]`` cases of the order.
    """
    order = np.argsort(-lengths, kind="stable")
    maxlen = int(lengths.max(initial=0))
    alive = len(lengths) - np.cumsum(np.bincount(lengths, minlength=maxlen + 1))[:maxlen]
    return order, lengths[order], alive


# --------------------------------------------------------------------------------------
# variants
# --------------------------------------------------------------------------------------

_ORDER_WORDS = 64  # int64 words of packed activity codes that order the variants
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def _mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 of a uint64 array, in place: a well-spread 64-bit hash of each value."""
    x += _GOLDEN
    x ^= x >> np.uint64(30)
    x *= _MIX1
    x ^= x >> np.uint64(27)
    x *= _MIX2
    x ^= x >> np.uint64(31)
    return x


def _first_of_codes(code: np.ndarray) -> np.ndarray:
    """For codes numbered in order of first appearance (``pd.factorize``), each code's
    first position."""
    if not len(code):
        return np.zeros(0, dtype=np.int64)
    new = np.empty(len(code), dtype=bool)
    new[0] = True
    np.greater(code[1:], np.maximum.accumulate(code)[:-1], out=new[1:])
    return np.flatnonzero(new)


def _variant_codes_by_prefix(log: _Log) -> tuple[np.ndarray, np.ndarray]:
    """Exact variant codes by refining traces position by position (the slow, sure way).

    After step k two cases share a code exactly when their first k+1 activities are equal.
    The loop runs over positions, each step touching only the cases still that long.
    """
    n_cases = log.n_cases
    order, lengths, alive = _by_length(log.lengths)
    starts = log.starts[order]
    prefix = np.zeros(n_cases, dtype=np.int64)
    n_act = max(len(log.activities), 1)
    for k, m in enumerate(alive.tolist()):
        key = prefix[:m] * n_act + log.act[starts[:m] + k]
        prefix[:m] = pd.factorize(key)[0]
    # cases of equal length stopped at the same step, so (length, prefix) is exact
    final = lengths * (int(prefix.max(initial=0)) + 1) + prefix
    _, first, inverse = np.unique(final, return_index=True, return_inverse=True)
    code = np.empty(n_cases, dtype=np.int64)
    code[order] = inverse
    return code, order[first]


def _variant_codes(log: _Log) -> tuple[np.ndarray, np.ndarray]:
    """Per case an exact variant code, and per code one representative case.

    Each case gets a 64-bit hash of its trace (the sum over its events of a hash of
    (position, activity), plus a hash of its length) and cases are grouped by hash in
    one pass. The grouping is then checked event by event against each group's first
    case, so it is exact: if two different traces ever shared a hash, the codes are
    computed again by :func:`_variant_codes_by_prefix`.
    """
    n_cases, n = log.n_cases, log.n_events
    if n_cases == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    lengths, starts = log.lengths, log.starts
    n_act = max(len(log.activities), 1)
    key = np.repeat(starts, lengths)
    np.subtract(np.arange(n, dtype=np.int64), key, out=key)  # position in the case
    key *= n_act
    key += log.act  # key: (position, activity) as one number
    n_keys = int(lengths.max()) * n_act
    if n_keys <= n:  # a table of the hashes of all keys is smaller than the log
        hashed = _mix64(np.arange(n_keys, dtype=np.uint64))[key]
    else:
        hashed = _mix64(key.view(np.uint64))
    del key
    h = np.add.reduceat(hashed, starts)  # uint64 arithmetic wraps
    del hashed
    h += _mix64(lengths.astype(np.uint64) + np.uint64(n + 1))  # and a hash of the length
    code = pd.factorize(h)[0].astype(np.int64, copy=False)
    rep = _first_of_codes(code)
    # check: same length as the representative, and the same activity at every position
    rep_of = rep[code]
    if np.array_equal(lengths[rep_of], lengths):
        idx = np.repeat(starts[rep_of] - starts, lengths)
        idx += np.arange(n, dtype=np.int64)  # the same position in the representative
        if np.array_equal(log.act[idx], log.act):
            return code, rep
    return _variant_codes_by_prefix(log)  # a hash collision: astronomically rare


@dataclass(frozen=True)
class _Variants:
    case_variant: np.ndarray  # per case its variant id (rank, 0 = most frequent)
    activities: list  # per variant id its tuple
    cases: np.ndarray  # per variant id its number of cases
    lengths: np.ndarray  # per variant id its number of events


def _labels_sorted(labels: list) -> bool:
    """Whether the activity codes order the labels as Python compares them."""
    try:
        return all(a < b for a, b in pairwise(labels))
    except TypeError:
        return False


def _trace_tuples(log: _Log, cases: np.ndarray) -> list:
    """The activities tuple of each of ``cases``."""
    lengths = log.lengths[cases]
    labels = np.asarray(log.activities, dtype=object)
    labels = labels.take(log.act[_ranges(log.starts[cases], lengths)]).tolist()
    ends = np.cumsum(lengths).tolist()
    # Tuples only hold labels and cannot form cycles: pausing the cyclic garbage collector
    # while they are made saves its repeated passes over them (a third of the time).
    paused = gc.isenabled()
    gc.disable()
    try:
        labels = tuple(labels)  # slices of a tuple are tuples: one allocation per trace
        return [labels[e - m : e] for e, m in zip(ends, lengths.tolist())]
    finally:
        if paused:
            gc.enable()


def _variant_order(log: _Log, rep: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Variants most frequent first, ties by the activities tuple (as Python compares)."""
    n_var = len(rep)
    labels = np.asarray(log.activities, dtype=object).tolist()
    if not _labels_sorted(labels):
        tuples = _trace_tuples(log, rep)
        return np.array(
            sorted(range(n_var), key=lambda v: (-int(counts[v]), tuples[v])), dtype=np.int64
        )
    # Activity codes follow the label order, so the tuples compare as their code
    # sequences. The codes (plus one; 0 marks the end of a shorter trace) are packed big end
    # first into int64 words of ``per_word`` codes each, whose order is the tuples' order up
    # to the length the words hold. Variants are sorted by count and their first two words;
    # variants still tied are refined by the next word, and so on (up to _ORDER_WORDS
    # words); any tie left then is compared as tuples.
    lengths = log.lengths[rep]
    starts = log.starts[rep]
    bits = max(len(labels).bit_length(), 1)
    per_word = 63 // bits

    def word(w: int, which: np.ndarray) -> np.ndarray:
        out = np.zeros(len(which), dtype=np.int64)
        size = np.clip(lengths[which] - w * per_word, 0, per_word)  # codes in word w
        has = np.flatnonzero(size)
        if len(has):
            size = size[has]
            offsets = np.cumsum(size) - size
            pos = np.arange(int(size.sum()), dtype=np.int64) - np.repeat(offsets, size)
            value = log.act[np.repeat(starts[which[has]] + w * per_word, size) + pos] + 1
            value <<= bits * (per_word - 1 - pos)
            out[has] = np.add.reduceat(value, offsets)  # disjoint bits: sum = or
        return out

    everyone = np.arange(n_var, dtype=np.int64)
    w0, w1 = word(0, everyone), word(1, everyone)
    order = np.lexsort((w1, w0, -counts))
    # run id of each sorted position: equal (count, w0, w1) share one
    key = np.stack([counts[order], w0[order], w1[order]])
    n_words = -(-int(lengths.max(initial=0)) // per_word)
    w = 2
    while True:
        tied = (key[:, 1:] == key[:, :-1]).all(axis=0)
        if not tied.any() or w >= min(n_words, _ORDER_WORDS):
            break
        # positions in tied runs, refined by the next word within each run
        start = np.concatenate(([True], ~tied))
        run = np.cumsum(start) - 1
        in_tie = np.concatenate(([False], tied)) | np.concatenate((tied, [False]))
        pos = np.flatnonzero(in_tie)
        which = order[pos]
        nxt = [word(w + i, which) for i in range(min(4, min(n_words, _ORDER_WORDS) - w))]  # 4 at a time
        sub = np.lexsort((*nxt[::-1], run[pos]))
        order[pos] = which[sub]
        key = np.zeros((1 + len(nxt), n_var), dtype=np.int64)
        key[0] = run
        for i, values in enumerate(nxt):
            key[1 + i, pos] = values[sub]
        w += len(nxt)
    tied = (key[:, 1:] == key[:, :-1]).all(axis=0)
    if tied.any():
        # runs of equal keys: order[a : b + 1] for every edge pair (a, b)
        edges = np.flatnonzero(np.diff(np.concatenate(([0], tied.view(np.int8), [0]))))
        for a, b in zip(edges[::2].tolist(), edges[1::2].tolist()):
            run = order[a : b + 1]
            tuples = _trace_tuples(log, rep[run])
            order[a : b + 1] = run[sorted(range(len(run)), key=tuples.__getitem__)]
    return order


def _variants_by_arrow(log: _Log) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """Variant codes, representatives, counts and order in one pass of Arrow's hashing.

    Each case's trace becomes one byte string, its activity codes one byte each (two, big end
    first, from 255 activities), laid over the codes in event order without copying them
    case by case. Arrow's dictionary encoding of these strings groups the cases exactly (codes
    in order of first appearance, as :func:`_variant_codes`), and sorting its dictionary orders
    the variants as their tuples compare when the codes follow the names' order (a byte string
    that is a prefix of another sorts first, as a shorter tuple does). Gives the same as
    :func:`_variant_codes` and :func:`_variant_order`; None where it does not apply (no cases,
    labels not in code order, 65,535 activities or more, or no pyarrow)."""
    n_act, n_cases = len(log.activities), log.n_cases
    if not n_cases or n_act >= 65_535 or not log.activities_sorted:
        return None
    try:
        import pyarrow as pa
        import pyarrow.compute as pc
    except ImportError:
        return None
    width = 1 if n_act < 255 else 2
    data = log.act.astype(np.uint8 if width == 1 else ">u2")
    offsets = np.empty(n_cases + 1, dtype=np.int64)
    offsets[:-1] = log.starts
    offsets[-1] = log.n_events
    if width != 1:
        offsets *= width
    traces = pa.LargeBinaryArray.from_buffers(
        pa.large_binary(), n_cases, [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    )
    enc = pc.dictionary_encode(traces)
    code = enc.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    n_var = len(enc.dictionary)
    rep = _first_of_codes(code)
    counts = np.bincount(code, minlength=n_var).astype(np.int64)
    by_trace = np.empty(n_var, dtype=np.int64)
    by_trace[pc.array_sort_indices(enc.dictionary).to_numpy()] = np.arange(n_var, dtype=np.int64)
    order = np.lexsort((by_trace, -counts))
    return code, rep, counts, order


def _variants(log: _Log) -> _Variants:
    fast = _variants_by_arrow(log)
    if fast is not None:
        code, rep, counts, order = fast
    else:
        code, rep = _variant_codes(log)
        counts = np.bincount(code, minlength=len(rep)).astype(np.int64)
        order = _variant_order(log, rep, counts)
    rank = np.empty(len(rep), dtype=np.int64)
    rank[order] = np.arange(len(rep))
    return _Variants(
        case_variant=rank[code],
        activities=_trace_tuples(log, rep[order]),
        cases=counts[order],
        lengths=log.lengths[rep[order]],
    )


def _tuple_array(tuples: list) -> np.ndarray:
    return np.fromiter(tuples, dtype=object, count=len(tuples))


def variants(events: pd.DataFrame) -> pd.DataFrame:
    """Count the distinct journeys (variants): the ordered activities of each case.

    Parameters
    ----------
    events : DataFrame
        Event log in the module's contract shape.

    Returns
    -------
    DataFrame
        One row per variant, most frequent first, ties ordered by the activities tuple:
        ``variant_id`` (int, the row's rank from 0), ``activities`` (tuple of str),
        ``length`` (number of events), ``cases`` (int), ``share`` (float, of all cases).
    """
    log = _prepared(events, sort_cases=False)  # the variants do not depend on case order
    v = _variants(log)
    n = len(v.activities)
    return pd.DataFrame(
        {
            "variant_id": np.arange(n, dtype=np.int64),
            "activities": _tuple_array(v.activities),
            "length": v.lengths,
            "cases": v.cases,
            "share": v.cases / log.n_cases if log.n_cases else np.zeros(0),
        },
        copy=False,  # every column is a new array
    )


def case_variants(events: pd.DataFrame) -> pd.DataFrame:
    """Each case's variant, for joining to case-level data.

    Parameters
    ----------
    events : DataFrame
        Event log in the module's contract shape.

    Returns
    -------
    DataFrame
        One row per case, sorted by ``case_id``: ``case_id``, ``variant_id`` (the row of
        :func:`variants` it belongs to), ``activities`` (tuple of str), ``length``.
    """
    log = _prepared(events)
    v = _variants(log)
    tuples = _tuple_array(v.activities)
    return _case_frame(
        log,
        variant_id=v.case_variant,
        activities=tuples[v.case_variant],
        length=log.lengths,
    )


def start_end_activities(events: pd.DataFrame) -> pd.DataFrame:
    """Count how many cases start and end with each activity.

    Parameters
    ----------
    events : DataFrame
        Event log in the module's contract shape.

    Returns
    -------
    DataFrame
        ``activity``, ``start`` (cases starting with it), ``end`` (cases ending with it);
        only activities that start or end some case; sorted by ``start`` then ``end``
        (descending), then ``activity``.
    """
    log = _prepared(events)
    n_act = len(log.activities)
    start = (
        np.bincount(log.act[log.starts], minlength=n_act)
        if log.n_cases
        else np.zeros(n_act, np.int64)
    )
    end = (
        np.bincount(log.act[log.ends], minlength=n_act)
        if log.n_cases
        else np.zeros(n_act, np.int64)
    )
    keep = (start > 0) | (end > 0)
    out = pd.DataFrame(
        {
            "activity": log.activities[keep],
            "start": start[keep].astype(np.int64),
            "end": end[keep].astype(np.int64),
        }
    )
    out = out.sort_values(
        ["start", "end", "activity"], ascending=[False, False, True], kind="stable"
    )
    return out.reset_index(drop=True)


# --------------------------------------------------------------------------------------
# conformance
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Conformance:
    n_events: np.ndarray
    skipped: np.ndarray
    repeated: np.ndarray
    out_of_order: np.ndarray
    extra: np.ndarray
    fitness: np.ndarray
    fits: np.ndarray
    occurrences: np.ndarray  # (cases, K) int32
    out_of_order_steps: np.ndarray  # (cases, K) bool


def _lcs_with_design(
    dcase: np.ndarray, dval: np.ndarray, n_cases: int, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per case the longest strictly increasing subsequence of ``dval`` and its steps.

    ``dcase``/``dval`` are the designed events (case code, design position), sorted by
    case and event order. Returns the LIS length per case and a (cases, K) matrix marking
    the design positions of the canonical LIS (smallest design positions, earliest
    occurrences). Loops run over positions within a case and over LIS elements.
    """
    n = len(dval)
    dlen = np.bincount(dcase, minlength=n_cases).astype(np.int64)
    dstart = np.zeros(n_cases, dtype=np.int64)
    if n_cases > 1:
        np.cumsum(dlen[:-1], out=dstart[1:])
    order, lengths, alive = _by_length(dlen)
    starts = dstart[order]
    n_live = int(alive[0]) if len(alive) else 0
    cols = np.arange(k)
    l_end = np.zeros(n, dtype=np.int32)  # LIS ending at this event
    l_start = np.zeros(n, dtype=np.int32)  # LIS starting at this event
    below = np.zeros((n_live, k), dtype=np.int32)  # best LIS ending in a value < v so far
    above = np.zeros((n_live, k), dtype=np.int32)  # best LIS starting in a value > v later
    for pos, m in enumerate(alive.tolist()):
        rows = np.arange(m)
        idx = starts[:m] + pos
        v = dval[idx]
        best = below[:m][rows, v] + 1
        l_end[idx] = best
        np.maximum(below[:m], np.where(cols > v[:, None], best[:, None], 0), out=below[:m])
        idx = starts[:m] + lengths[:m] - 1 - pos
        v = dval[idx]
        best = above[:m][rows, v] + 1
        l_start[idx] = best
        np.maximum(above[:m], np.where(cols < v[:, None], best[:, None], 0), out=above[:m])
    lis = np.zeros(n_cases, dtype=np.int64)
    nonempty = dlen > 0
    if n:
        lis[nonempty] = np.maximum.reduceat(l_end, dstart[nonempty])
    # canonical LIS: repeatedly take the smallest next value that still completes a LIS
    matched = np.zeros((n_cases, k), dtype=bool)
    remaining = lis.copy()
    prev_val = np.full(n_cases, -1, dtype=np.int64)
    prev_pos = np.full(n_cases, -1, dtype=np.int64)
    gidx = np.arange(n, dtype=np.int64)
    none = np.iinfo(np.int64).max
    for _ in range(int(lis.max(initial=0))):
        need = remaining[dcase]
        cand = (need > 0) & (l_start == need) & (dval > prev_val[dcase]) & (gidx > prev_pos[dcase])
        key = dval[cand].astype(np.int64) * max(n, 1) + gidx[cand]
        best = np.full(n_cases, none, dtype=np.int64)
        np.minimum.at(best, dcase[cand], key)
        sel = np.flatnonzero(best != none)
        val, pos = np.divmod(best[sel], max(n, 1))
        matched[sel, val] = True
        prev_val[sel] = val
        prev_pos[sel] = pos
        remaining[sel] -= 1
    return lis, matched


def _conformance(log: _Log, steps: list) -> _Conformance:
    k = len(steps)
    n_cases = log.n_cases
    step_of_act = np.full(len(log.activities) + 1, -1, dtype=np.int64)
    codes = log.activities.get_indexer(pd.Index(steps, dtype=object))
    step_of_act[codes[codes >= 0]] = np.flatnonzero(codes >= 0)
    d = step_of_act[log.act] if log.n_events else np.zeros(0, np.int64)
    designed = d >= 0
    dcase = log.case[designed]
    dval = d[designed]
    extra = np.bincount(log.case[~designed], minlength=n_cases).astype(np.int64)
    occ = np.zeros((n_cases, k), dtype=np.int32)
    np.add.at(occ.reshape(-1), dcase * k + dval, 1)
    done = occ > 0
    n_done = done.sum(axis=1).astype(np.int64)
    skipped = k - n_done
    repeated = occ.sum(axis=1, dtype=np.int64) - n_done
    lis, matched = _lcs_with_design(dcase, dval, n_cases, k)
    out_of_order = n_done - lis
    cost = skipped + repeated + extra + 2 * out_of_order
    n_events = log.lengths
    fitness = 1.0 - cost / (k + n_events)
    return _Conformance(
        n_events=n_events,
        skipped=skipped,
        repeated=repeated,
        out_of_order=out_of_order,
        extra=extra,
        fitness=fitness,
        fits=cost == 0,
        occurrences=occ,
        out_of_order_steps=done & ~matched,
    )


def conformance(events: pd.DataFrame, designed_steps: Sequence[str]) -> pd.DataFrame:
    """Compare each case's journey with the designed journey.

    The measures are defined in the module docstring ("Conformance to the designed
    journey").

    Parameters
    ----------
    events : DataFrame
        Event log in the module's contract shape.
    designed_steps : sequence of str
        The designed journey: distinct activity names in designed order.

    Returns
    -------
    DataFrame
        One row per case, sorted by ``case_id``: ``case_id``, ``n_events``, ``skipped``,
        ``repeated``, ``out_of_order``, ``extra`` (int), ``fitness`` (float in [0, 1]),
        ``fits`` (bool), ``deviation`` (``"none"``, ``"skipped"``, ``"repeated"``,
        ``"out_of_order"`` or ``"extra"``).
    """
    steps = _designed_steps(designed_steps)
    log = _prepared(events)
    return _conformance_frame(log, _conformance(log, steps))


def _conformance_frame(log: _Log, c: _Conformance) -> pd.DataFrame:
    counts = np.column_stack([c.skipped, c.repeated, c.out_of_order, c.extra])
    main = (
        np.asarray(_DEVIATIONS, dtype=object)[counts.argmax(axis=1)]
        if log.n_cases
        else np.zeros(0, object)
    )
    deviation = np.where(c.fits, "none", main).astype(object)
    return _case_frame(
        log,
        n_events=c.n_events,
        skipped=c.skipped,
        repeated=c.repeated,
        out_of_order=c.out_of_order,
        extra=c.extra,
        fitness=c.fitness,
        fits=c.fits,
        deviation=pd.array(deviation, dtype="str"),
    )


def step_deviation(events: pd.DataFrame, designed_steps: Sequence[str]) -> pd.DataFrame:
    """For each designed step, the share of cases that skipped, repeated or reordered it.

    A case did a step out of order when the step is one of the case's ``out_of_order``
    steps of :func:`conformance`, so the per-step out-of-order counts add up to the
    per-case ones.

    Parameters
    ----------
    events : DataFrame
        Event log in the module's contract shape.
    designed_steps : sequence of str
        The designed journey: distinct activity names in designed order.

    Returns
    -------
    DataFrame
        One row per designed step in designed order: ``step``, ``position`` (1-based),
        ``n_cases``, ``done_share``, ``skipped_share``, ``repeated_share``,
        ``out_of_order_share`` (shares of all cases; NaN when there are no cases).
    """
    steps = _designed_steps(designed_steps)
    log = _prepared(events)
    return _step_deviation_frame(log, _conformance(log, steps), steps)


def _step_deviation_frame(log: _Log, c: _Conformance, steps: list) -> pd.DataFrame:
    n = log.n_cases

    def share(mask: np.ndarray) -> np.ndarray:
        counts = mask.sum(axis=0)
        return counts / n if n else np.full(len(steps), np.nan)

    return pd.DataFrame(
        {
            "step": steps,
            "position": np.arange(1, len(steps) + 1, dtype=np.int64),
            "n_cases": np.full(len(steps), n, dtype=np.int64),
            "done_share": share(c.occurrences > 0),
            "skipped_share": share(c.occurrences == 0),
            "repeated_share": share(c.occurrences > 1),
            "out_of_order_share": share(c.out_of_order_steps),
        }
    )


# --------------------------------------------------------------------------------------
# directly-follows and handovers
# --------------------------------------------------------------------------------------


def _sorted_by_key(key: np.ndarray, ns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``key`` and ``ns`` (both non-negative int64) sorted by key, then by ns.

    On most logs both fit in one int64 (a few bits of key, the durations in nanoseconds
    or, when that is too wide, in their greatest common unit such as seconds), which sorts
    as a single array. Otherwise an argsort of ``ns`` is followed by a stable sort by
    ``key`` (a radix sort for keys below 2**16).
    """
    key_bits = int(key.max()).bit_length()
    unit = 1
    if key_bits + int(ns.max()).bit_length() > 63:
        unit = int(np.gcd.reduce(ns)) or 1
    steps = ns // unit if unit > 1 else ns
    bits = int(steps.max()).bit_length()
    if key_bits + bits <= 63:
        packed = (key << bits) | steps
        packed.sort()
        return packed >> bits, (packed & ((1 << bits) - 1)) * unit
    order = np.argsort(ns)
    by_key = np.argsort(key[order].astype(np.min_scalar_type(key.max())), kind="stable")
    order = order[by_key]
    return key[order], ns[order]


def _pair_stats(
    src: np.ndarray,
    dst: np.ndarray,
    ns: np.ndarray,
    labels: pd.Index,
    names: tuple[str, str],
) -> pd.DataFrame:
    """Count, mean, median and p90 (hours) of durations per (src, dst) code pair.

    ``ns`` are non-negative nanoseconds. Medians and percentiles interpolate linearly like
    pandas' grouped ``median`` and ``quantile`` (the same float operations on the same
    values); means come from integer sums of the nanoseconds, so they do not depend on the
    order of the pairs.
    """
    cols = [names[0], names[1], "count", "mean_hours", "median_hours", "p90_hours"]
    if len(src) == 0:
        empty = pd.Series([], dtype=labels.dtype)
        return pd.DataFrame(
            {
                names[0]: empty,
                names[1]: empty.copy(),
                "count": pd.Series([], dtype=np.int64),
                "mean_hours": pd.Series([], dtype=float),
                "median_hours": pd.Series([], dtype=float),
                "p90_hours": pd.Series([], dtype=float),
            }
        )[cols]
    width = max(len(labels), 1)
    key, ns = _sorted_by_key(
        src.astype(np.int64, copy=False) * width + dst, ns.astype(np.int64, copy=False)
    )
    starts = np.flatnonzero(np.concatenate(([True], key[1:] != key[:-1])))
    counts = np.diff(np.append(starts, len(key)))
    pair = key[starts]

    def hours(at: np.ndarray) -> np.ndarray:
        return ns[at] / _NS_PER_HOUR

    # summed in int64 as high and low 32 bits, which cannot overflow
    total = np.add.reduceat(ns >> 32, starts) * float(1 << 32) + np.add.reduceat(
        ns & 0xFFFFFFFF, starts
    )
    median = (hours(starts + (counts - 1) // 2) + hours(starts + counts // 2)) / 2
    at = 0.9 * (counts - 1)
    low = at.astype(np.int64)
    frac = np.fmod(at, 1.0)
    below = hours(starts + low)
    above = hours(starts + low + (frac > 0))
    p90 = np.where(frac == 0, below, below + (above - below) * frac)
    mean = total / _NS_PER_HOUR / counts
    by_names = labels.is_monotonic_increasing
    if by_names:
        # the pairs are in (from, to) code order, which is name order: a stable sort by count
        # gives the order of the names within equal counts without comparing text
        order = np.argsort(-counts, kind="stable")
        pair, counts, mean, median, p90 = pair[order], counts[order], mean[order], median[order], p90[order]
    out = pd.DataFrame(
        {
            names[0]: labels.take(pair // width),
            names[1]: labels.take(pair % width),
            "count": counts.astype(np.int64),
            "mean_hours": mean,
            "median_hours": median,
            "p90_hours": p90,
        }
    )
    if not by_names:
        out = out.sort_values(
            ["count", names[0], names[1]], ascending=[False, True, True], kind="stable"
        )
    return out.reset_index(drop=True)


def directly_follows(events: pd.DataFrame, durations: bool = True) -> pd.DataFrame:
    """Count the directly-follows pairs of activities and the time between them.

    Parameters
    ----------
    events : DataFrame or PreparedLog
        Event log in the module's contract shape.
    durations : bool, default True
        False: the counts only (a frequency directly-follows graph), without the times.

    Returns
    -------
    DataFrame
        One row per pair (a then b, consecutive events of one case): ``from_activity``,
        ``to_activity``, ``count``, ``mean_hours``, ``median_hours``, ``p90_hours`` (the last
        three only with ``durations``); most frequent first, ties by the activity names.
    """
    log = _prepared(events, sort_cases=False)  # the pairs do not depend on case order
    if not durations:
        return _follows_counts(log)
    same = log.case[1:] == log.case[:-1]
    return _pair_stats(
        log.act[:-1][same],
        log.act[1:][same],
        (log.ts[1:] - log.ts[:-1])[same],
        log.activities,
        ("from_activity", "to_activity"),
    )


def _follows_counts(log: _Log) -> pd.DataFrame:
    """:func:`directly_follows` without durations. With few activities every pair of
    neighbouring events is counted in one pass, then the pairs across a case boundary (the
    last event of a case and the first of the next) are taken off again: no mask over the
    events."""
    names = ("from_activity", "to_activity")
    labels, act = log.activities, log.act
    width = max(len(labels), 1)
    if len(act) < 2 or width * width > max(4 * len(act), 1 << 16):
        same = log.case[1:] == log.case[:-1]
        return _pair_counts(act[:-1][same], act[1:][same], labels, names, log.activities_sorted)
    key = act[:-1] * width
    key += act[1:]
    counts = np.bincount(key, minlength=width * width)
    counts -= np.bincount(key[log.starts[1:] - 1], minlength=width * width)
    pair = np.flatnonzero(counts)
    return _pair_count_frame(pair, counts[pair], labels, names, width, log.activities_sorted)


def _pair_counts(src: np.ndarray, dst: np.ndarray, labels: pd.Index, names: tuple[str, str],
                 by_names: bool | None = None) -> pd.DataFrame:
    """Count per (src, dst) code pair, most frequent first, ties by the names.
    ``by_names``: whether ``labels`` are in increasing order (computed when None)."""
    width = max(len(labels), 1)
    key = src * width + dst
    if width * width <= max(4 * len(key), 1 << 16):
        counts = np.bincount(key, minlength=width * width)
        pair = np.flatnonzero(counts)
        counts = counts[pair]
    else:
        pair, counts = np.unique(key, return_counts=True)
    return _pair_count_frame(pair, counts, labels, names, width, by_names)


def _pair_count_frame(pair: np.ndarray, counts: np.ndarray, labels: pd.Index, names: tuple[str, str],
                      width: int, by_names: bool | None = None) -> pd.DataFrame:
    """The frame of :func:`_pair_counts` from the pair codes (``src * width + dst``, increasing)
    and their counts."""
    if by_names is None:
        by_names = labels.is_monotonic_increasing  # pair code order is name order
    if by_names:
        order = np.argsort(-counts, kind="stable")
        pair, counts = pair[order], counts[order]
    out = pd.DataFrame({names[0]: labels.array.take(pair // width), names[1]: labels.array.take(pair % width),
                        "count": counts.astype(np.int64)}, copy=False)
    if by_names:
        return out
    return out.sort_values(["count", names[0], names[1]], ascending=[False, True, True],
                           kind="stable").reset_index(drop=True)


def _handovers(log: _Log) -> pd.DataFrame:
    if "link" not in log.events.columns:
        raise AnalysisError("events: missing column 'link' (needed for handovers)")
    link, labels = log.codes("link")
    has = link >= 0
    case, link, ts = log.case[has], link[has], log.ts[has]
    change = (case[1:] == case[:-1]) & (link[1:] != link[:-1])
    return _pair_stats(
        link[:-1][change],
        link[1:][change],
        (ts[1:] - ts[:-1])[change],
        labels,
        ("from_link", "to_link"),
    )


def handovers(events: pd.DataFrame) -> pd.DataFrame:
    """Count the handovers between links and the time they take.

    A handover is a change of ``link`` between consecutive events of a case; events
    without a link are skipped, so a handover runs from the last event at one link to the
    first event at the next.

    Parameters
    ----------
    events : DataFrame
        Event log in the module's contract shape, with a ``link`` column.

    Returns
    -------
    DataFrame
        One row per (``from_link``, ``to_link``): ``count``, ``mean_hours``,
        ``median_hours``, ``p90_hours``; most frequent first.
    """
    return _handovers(_prepared(events, sort_cases=False))


def slowest_handovers(events: pd.DataFrame, n: int = 5, min_count: int = 1) -> pd.DataFrame:
    """The ``n`` handovers with the longest median duration.

    Parameters
    ----------
    events : DataFrame
        Event log in the module's contract shape, with a ``link`` column.
    n : int, default 5
        How many handovers to return.
    min_count : int, default 1
        Leave out handovers seen fewer times than this (a median of one case is noise).

    Returns
    -------
    DataFrame
        Rows of :func:`handovers`, sorted by ``median_hours`` then ``p90_hours``
        (descending).
    """
    if not isinstance(n, (int, np.integer)) or n < 0:
        raise AnalysisError(f"slowest_handovers: n must be a non-negative integer, got {n!r}")
    table = _handovers(_prepared(events, sort_cases=False))
    table = table[table["count"] >= min_count]
    table = table.sort_values(
        ["median_hours", "p90_hours", "count"], ascending=[False, False, False], kind="stable"
    )
    return table.head(n).reset_index(drop=True)


# --------------------------------------------------------------------------------------
# funnel
# --------------------------------------------------------------------------------------


def _case_segments(log: _Log, by: str | pd.Series) -> tuple[str, np.ndarray]:
    if isinstance(by, str):
        if by not in log.events.columns:
            raise AnalysisError(f"events: missing column '{by}' (the funnel segment)")
        values = log.events[by].iloc[log.perm[log.starts]].to_numpy(dtype=object)
        return by, values
    if isinstance(by, pd.Series):
        if by.index.has_duplicates:
            raise AnalysisError(
                "funnel: the segment Series has a case_id more than once in its index"
            )
        name = by.name if isinstance(by.name, str) else "segment"
        return name, by.reindex(log.case_ids).to_numpy(dtype=object)
    raise AnalysisError(
        f"funnel: by must be a column name or a case_id -> segment Series, got {type(by).__name__}"
    )


def funnel(
    events: pd.DataFrame,
    designed_steps: Sequence[str],
    by: str | pd.Series | None = None,
) -> pd.DataFrame:
    """Share of cases that reach each designed step, optionally per segment.

    A case reaches a step when it has at least one event of that step, wherever it is in
    the journey.

    Parameters
    ----------
    events : DataFrame
        Event log in the module's contract shape.
    designed_steps : sequence of str
        The designed journey: distinct activity names in designed order.
    by : str or Series, optional
        A column of ``events`` (a case's segment is its value on the case's first event)
        or a Series mapping ``case_id`` (index) to segment. Cases without a segment value
        form their own group (NaN).

    Returns
    -------
    DataFrame
        One row per (segment,) designed step: [segment column,] ``step``, ``position``
        (1-based), ``n_cases`` (cases in the segment), ``n_reached``, ``share``
        (``n_reached / n_cases``; NaN without cases).
    """
    steps = _designed_steps(designed_steps)
    log = _prepared(events)
    return _funnel_frame(log, _conformance(log, steps), steps, by)


def _funnel_frame(log: _Log, c: _Conformance, steps: list, by: str | pd.Series | None = None) -> pd.DataFrame:
    reached = c.occurrences > 0
    k = len(steps)
    if by is None:
        n = log.n_cases
        counts = reached.sum(axis=0).astype(np.int64)
        return pd.DataFrame(
            {
                "step": steps,
                "position": np.arange(1, k + 1, dtype=np.int64),
                "n_cases": np.full(k, n, dtype=np.int64),
                "n_reached": counts,
                "share": counts / n if n else np.full(k, np.nan),
            }
        )
    name, segment = _case_segments(log, by)
    grouped = pd.DataFrame(reached.astype(np.int64)).groupby(segment, dropna=False, sort=True)
    sums = grouped.sum()
    sizes = grouped.size().to_numpy(dtype=np.int64)
    n_seg = len(sums)
    return pd.DataFrame(
        {
            name: np.repeat(sums.index.to_numpy(dtype=object), k),
            "step": np.tile(np.asarray(steps, dtype=object), n_seg),
            "position": np.tile(np.arange(1, k + 1, dtype=np.int64), n_seg),
            "n_cases": np.repeat(sizes, k),
            "n_reached": sums.to_numpy(dtype=np.int64).reshape(-1),
            "share": (sums.to_numpy(dtype=float) / sizes[:, None]).reshape(-1)
            if n_seg
            else np.zeros(0),
        }
    )


# --------------------------------------------------------------------------------------
# channels and contacts
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChannelMix:
    """Channel use per activity.

    Attributes
    ----------
    shares : DataFrame
        ``activity``, ``channel``, ``group`` (phone / online / other), ``events``,
        ``share`` (of the activity's events that have a channel).
    ratio : DataFrame
        Per ``activity``: ``n_events`` (with a channel), ``n_phone``, ``n_online``,
        ``phone_online_ratio`` (``n_phone / n_online``; NaN when ``n_online`` is 0).
    """

    shares: pd.DataFrame
    ratio: pd.DataFrame


def _normalise(name: object) -> str:
    return str(name).strip().casefold()


def channel_mix(
    events: pd.DataFrame, channel_groups: Mapping[str, str] | None = None
) -> ChannelMix:
    """Share of each channel per activity, and the phone / online ratio.

    Parameters
    ----------
    events : DataFrame
        Event log with ``activity`` and ``channel`` columns. Events without a channel are
        left out.
    channel_groups : mapping, optional
        Channel -> group; defaults to :data:`DEFAULT_CHANNEL_GROUPS` (phone = phone;
        online = web, e-mail/email, app, chat). Channel names are matched
        case-insensitively; unlisted channels are ``"other"``. The ratio counts the groups
        named ``"phone"`` and ``"online"``.

    Returns
    -------
    ChannelMix
    """
    events = _frame_of(events)
    _require_columns(events, ("activity", "channel"), "events")
    groups = {
        _normalise(k): v
        for k, v in (DEFAULT_CHANNEL_GROUPS if channel_groups is None else channel_groups).items()
    }
    missing = events["activity"].isna().to_numpy()
    if missing.any():
        raise _missing_values_error("events", "activity", missing, events.index)
    frame = events.loc[events["channel"].notna(), ["activity", "channel"]]
    counts = frame.groupby(["activity", "channel"], sort=True).size().rename("events").reset_index()
    counts["events"] = counts["events"].astype(np.int64)
    labels = pd.Index(counts["channel"].unique())
    group_of = pd.Series(
        [groups.get(_normalise(c), "other") for c in labels], index=labels, dtype=object
    )
    counts.insert(2, "group", group_of.reindex(counts["channel"]).to_numpy())
    totals = counts.groupby("activity", sort=True)["events"].transform("sum")
    counts["share"] = counts["events"] / totals
    per = (
        counts.assign(
            phone=np.where(counts["group"] == "phone", counts["events"], 0),
            online=np.where(counts["group"] == "online", counts["events"], 0),
        )
        .groupby("activity", sort=True)[["events", "phone", "online"]]
        .sum()
    )
    ratio = pd.DataFrame(
        {
            "activity": per.index.to_numpy(),
            "n_events": per["events"].to_numpy(dtype=np.int64),
            "n_phone": per["phone"].to_numpy(dtype=np.int64),
            "n_online": per["online"].to_numpy(dtype=np.int64),
        }
    )
    ratio["phone_online_ratio"] = ratio["n_phone"] / ratio["n_online"].where(ratio["n_online"] > 0)
    return ChannelMix(shares=counts.reset_index(drop=True), ratio=ratio)


@dataclass(frozen=True)
class _Contacts:
    contact: np.ndarray  # per sorted event
    avoidable: np.ndarray
    repeat: np.ndarray  # repeat within the case


def _contact_flags(
    log: _Log,
    avoidable: Sequence[str],
    repeat_within_days: float,
    contact_channels: Sequence[str] | str | None,
    contact_activities: Sequence[str] | None = None,
    contact_pattern: str | None = None,
) -> _Contacts:
    if (
        not isinstance(repeat_within_days, (int, float, np.integer, np.floating))
        or repeat_within_days < 0
    ):
        raise AnalysisError(
            f"contacts: repeat_within_days must be a number >= 0, got {repeat_within_days!r}"
        )
    avoid_codes = log.activities.get_indexer(pd.Index(name_list(avoidable, "avoidable"), dtype=object))
    is_avoid = np.isin(log.act, avoid_codes[avoid_codes >= 0])
    named = name_list(contact_activities, "contact_activities")
    labels = [str(a) for a in log.activities]
    if contact_pattern is not None:
        import re

        try:
            pattern = re.compile(contact_pattern)
        except re.error as exc:
            raise AnalysisError(f"contacts: contact_pattern {contact_pattern!r} is not a regular expression "
                                f"({exc})") from None
        named = named + [a for a in labels if pattern.fullmatch(a)]
    act_codes = log.activities.get_indexer(pd.Index(named, dtype=object)) if named else np.zeros(0, np.int64)
    contact = np.isin(log.act, act_codes[act_codes >= 0]) | is_avoid
    if contact_channels is not None:
        if "channel" not in log.events.columns:
            raise AnalysisError("events: missing column 'channel' (needed for contact_channels)")
        codes, channel_labels = log.codes("channel")
        if isinstance(contact_channels, str) and contact_channels == "any":
            contact |= codes >= 0
        else:
            wanted = {_normalise(c) for c in name_list(contact_channels, "contact_channels")}
            ok = np.array([_normalise(c) in wanted for c in channel_labels] + [False], dtype=bool)
            contact |= ok[codes]  # code -1 picks the trailing False
    pos = np.flatnonzero(contact)
    repeat = np.zeros(log.n_events, dtype=bool)
    limit = round(repeat_within_days * _NS_PER_DAY)
    if len(pos) > 1:
        c, t = log.case[pos], log.ts[pos]
        repeat[pos[1:]] = (c[1:] == c[:-1]) & (t[1:] - t[:-1] <= limit)
    return _Contacts(contact=contact, avoidable=contact & is_avoid, repeat=repeat)


def _per_case_count(log: _Log, mask: np.ndarray) -> np.ndarray:
    return np.bincount(log.case[mask], minlength=log.n_cases).astype(np.int64)


def contacts(
    events: pd.DataFrame,
    avoidable: Sequence[str] = (),
    repeat_within_days: float = 7,
    contact_channels: Sequence[str] | str | None = None,
    per: str = "case",
    contact_activities: Sequence[str] | None = None,
    contact_pattern: str | None = None,
) -> pd.DataFrame:
    """Count contacts, avoidable contacts and repeat contacts.

    Only declared events are contacts: an event on one of ``contact_channels`` (``"any"``:
    every event with a channel), of one of ``contact_activities``, whose activity matches
    ``contact_pattern`` in full, or of an ``avoidable`` activity. With none of these given,
    no event is a contact (internal work items are not customer contacts). A repeat contact is a contact within ``repeat_within_days``
    days (inclusive) after the previous contact of the same case (``per="case"``) or of
    the same customer across all their cases (``per="customer"``).

    Parameters
    ----------
    events : DataFrame
        Event log in the module's contract shape.
    avoidable : sequence of str
        Activities that are contacts the customer should not have needed.
    repeat_within_days : float, default 7
        Window for a repeat contact.
    contact_channels : sequence of str or "any", optional
        Channels that count as contacts (matched case-insensitively).
    per : {"case", "customer"}
        ``"customer"`` needs a ``customer_id`` column; events without one are left out.

    Returns
    -------
    DataFrame
        ``per="case"``: one row per case, sorted by ``case_id``: ``case_id``,
        ``n_contacts``, ``n_avoidable``, ``n_repeat``. ``per="customer"``: one row per
        customer: ``customer_id``, ``n_cases``, ``n_contacts``, ``n_avoidable``,
        ``n_repeat``.
    """
    if per not in ("case", "customer"):
        raise AnalysisError(f"contacts: per must be 'case' or 'customer', got {per!r}")
    if per == "customer":
        _require_columns(_frame_of(events), _REQUIRED + ("customer_id",), "events")
    log = _prepared(events)
    flags = _contact_flags(log, avoidable, repeat_within_days, contact_channels, contact_activities,
                           contact_pattern)
    if per == "case":
        return _case_frame(
            log,
            n_contacts=_per_case_count(log, flags.contact),
            n_avoidable=_per_case_count(log, flags.avoidable),
            n_repeat=_per_case_count(log, flags.repeat),
        )
    cust, labels = log.codes("customer_id")
    n_cust = len(labels)
    known = cust >= 0
    pairs = pd.unique(cust[known] * max(log.n_cases, 1) + log.case[known])
    n_cases = np.bincount(pairs // max(log.n_cases, 1), minlength=n_cust)
    pos = np.flatnonzero(flags.contact & known)
    pos = pos[_event_order(cust[pos], log.ts[pos], pos)]  # by customer, time, case order
    repeat = np.zeros(len(pos), dtype=bool)
    if len(pos) > 1:
        c, t = cust[pos], log.ts[pos]
        repeat[1:] = (c[1:] == c[:-1]) & (t[1:] - t[:-1] <= round(repeat_within_days * _NS_PER_DAY))
    return pd.DataFrame(
        {
            "customer_id": labels,
            "n_cases": n_cases.astype(np.int64),
            "n_contacts": np.bincount(cust[pos], minlength=n_cust).astype(np.int64),
            "n_avoidable": np.bincount(cust[pos][flags.avoidable[pos]], minlength=n_cust).astype(
                np.int64
            ),
            "n_repeat": np.bincount(cust[pos][repeat], minlength=n_cust).astype(np.int64),
        }
    )


def journey_features(
    events: pd.DataFrame,
    designed_steps: Sequence[str],
    avoidable: Sequence[str] = (),
    repeat_within_days: float = 7,
    contact_channels: Sequence[str] | str | None = None,
    contact_activities: Sequence[str] | None = None,
    contact_pattern: str | None = None,
) -> pd.DataFrame:
    """Numeric journey features per case, ready to join as drivers.

    Parameters
    ----------
    events : DataFrame
        Event log in the module's contract shape.
    designed_steps : sequence of str
        The designed journey: distinct activity names in designed order.
    avoidable, repeat_within_days, contact_channels, contact_activities, contact_pattern
        As in :func:`contacts`.

    Returns
    -------
    DataFrame
        One row per case, sorted by ``case_id``: ``case_id``, ``fits`` (0/1), ``fitness``,
        ``skipped``, ``repeated``, ``out_of_order``, ``extra``, ``n_events``,
        ``n_contacts``, ``n_avoidable``, ``n_repeat``, ``lead_time_days`` (first to last
        event).
    """
    steps = _designed_steps(designed_steps)
    log = _prepared(events)
    return _features_frame(log, _conformance(log, steps), avoidable, repeat_within_days, contact_channels,
                           contact_activities, contact_pattern)


def _features_frame(log: _Log, c: _Conformance, avoidable: Sequence[str] = (), repeat_within_days: float = 7,
                    contact_channels: Sequence[str] | str | None = None,
                    contact_activities: Sequence[str] | None = None,
                    contact_pattern: str | None = None) -> pd.DataFrame:
    flags = _contact_flags(log, avoidable, repeat_within_days, contact_channels, contact_activities,
                           contact_pattern)
    lead = (log.ts[log.ends] - log.ts[log.starts]) / _NS_PER_DAY if log.n_cases else np.zeros(0)
    return _case_frame(
        log,
        fits=c.fits.astype(np.int64),
        fitness=c.fitness,
        skipped=c.skipped,
        repeated=c.repeated,
        out_of_order=c.out_of_order,
        extra=c.extra,
        n_events=c.n_events,
        n_contacts=_per_case_count(log, flags.contact),
        n_avoidable=_per_case_count(log, flags.avoidable),
        n_repeat=_per_case_count(log, flags.repeat),
        lead_time_days=lead,
    )
