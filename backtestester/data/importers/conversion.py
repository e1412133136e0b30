"""Converting imported columns to numbers and to UTC nanosecond times, noting the rows that fail.

Numbers: float64 from text or numeric columns.  Times: ISO 8601 strings, epoch numbers,
``strptime`` formats, Parquet timestamps or dates (see :mod:`backtestester.data.importers.generic`);
dates are stamped as session opens (:func:`backtestester.data.resample.stamp_dates`).  A bad
value does not raise here: the row goes into ``Problems`` and is reported once the whole file
is converted (:mod:`backtestester.data.importers.frames`).
"""
from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .. import resample as rs
from ..dates import NS_PER_DAY
from ..schema import TIMEFRAME_NS, TIMEFRAMES
from .errors import BadRowError, FileFormatError, Problems

_NS = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}
_NUM_RE = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$|^[+-]?(inf|infinity|nan)$"
_INT_RE = r"^[+-]?\d+(\.\d*)?$"
_DATE_RE = r"^\d{4}-\d{2}-\d{2}$"
_ZONE_RE = r"(Z|[+-]\d{2}(:?\d{2})?)$"


def column(table: pa.Table, name: str) -> pa.ChunkedArray:
    """A column by name (``table.column("")`` fails: pandas-written index columns have no name)."""
    i = table.schema.get_field_index(name)
    if i < 0:
        raise KeyError(name)
    return table.column(i)


def single_chunk(col) -> pa.Array:
    if isinstance(col, pa.ChunkedArray):
        return col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
    return col


def _first_failure(arr: pa.Array, fn: Callable[[pa.Array], Any]) -> int:
    """Index of the first element for which ``fn`` fails (``fn(arr)`` is known to fail)."""
    lo, hi = 0, len(arr)  # arr[:lo] converts, arr[:hi] does not
    while hi - lo > 1:
        mid = (lo + hi) // 2
        try:
            fn(arr.slice(0, mid))
            lo = mid
        except (pa.ArrowException, ValueError):
            hi = mid
    return hi - 1


def _text(arr: pa.Array, i: int) -> str:
    value = arr[i].as_py()
    return repr(value if not isinstance(value, str) else value[:60])


def to_numbers(col, name: str, label: str, problems: Problems, path: Path) -> np.ndarray:
    arr = single_chunk(col)
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        arr = pc.utf8_trim_whitespace(arr)
        try:
            out = pc.cast(arr, pa.float64())
        except pa.ArrowInvalid:
            ok = pc.fill_null(pc.match_substring_regex(arr, _NUM_RE, ignore_case=True), True)
            mask = ~ok.to_numpy(zero_copy_only=False)
            try:
                out = pc.cast(pc.if_else(ok, arr, pa.scalar(None, arr.type)), pa.float64())
            except pa.ArrowInvalid:  # something the pattern accepts but Arrow does not
                i = _first_failure(arr, lambda a: pc.cast(a, pa.float64()))
                mask = np.zeros(len(arr), dtype=bool)
                mask[i] = True
                out = pc.cast(pc.if_else(pa.array(~mask), arr, pa.scalar(None, arr.type)), pa.float64())
            problems.add(mask, lambda i: f"{label} value {_text(arr, i)} is not a number")
    elif pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type) or pa.types.is_decimal(arr.type):
        out = pc.cast(arr, pa.float64())
    else:
        raise FileFormatError(f"{path.name}: column {label!r} holds {arr.type}, not numbers", path=path)
    return out.to_numpy(zero_copy_only=False)


def check_tz(tz: str) -> str:
    if tz in ("UTC", "utc", "Z"):
        return "UTC"
    try:
        zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValueError(f"unknown time zone {tz!r}; use an IANA name such as 'UTC', "
                         f"'America/New_York', 'Europe/London'") from None
    return tz


@dataclass
class ParsedTimes:
    ns: np.ndarray  # int64, placeholders where bad
    dates: bool  # the values were dates (already stamped as session opens)
    cut: int  # rows from here on have unknown times (a parse failure at ``cut``); len if none


def _localize(ts: pa.Array, tz: str, problems: Problems, label: str) -> np.ndarray:
    """Naive timestamps (local time in ``tz``) to UTC ns; ambiguous/non-existent times are bad rows."""
    ts = pc.cast(ts, pa.timestamp("ns"))
    if tz == "UTC":
        return ts.view(pa.int64()).to_numpy(zero_copy_only=False)
    early = pc.assume_timezone(ts, tz, ambiguous="earliest", nonexistent="earliest")
    late = pc.assume_timezone(ts, tz, ambiguous="latest", nonexistent="latest")
    a = early.view(pa.int64()).to_numpy(zero_copy_only=False)
    b = late.view(pa.int64()).to_numpy(zero_copy_only=False)
    bad = a != b
    if bad.any():
        local_ns = ts.view(pa.int64()).to_numpy(zero_copy_only=False)

        def reason(i):
            local = str(np.datetime64(int(local_ns[i]), "ns").astype("datetime64[s]")).replace("T", " ")
            if b[i] - a[i] <= 1000:
                return (f"{label} {local} does not exist in {tz} (clocks jump forward at the daylight-saving "
                        f"change); use times with UTC offsets or epoch numbers")
            return (f"{label} {local} is ambiguous in {tz} (it occurs twice when daylight-saving time ends); "
                    f"use times with UTC offsets or epoch numbers")
        problems.add(bad, reason)
    return b


def _epoch(arr: pa.Array, unit: str, label: str, problems: Problems) -> np.ndarray:
    floating = pa.types.is_floating(arr.type)
    vals = arr.to_numpy(zero_copy_only=False)
    if not floating:
        vals = vals.astype(np.int64)
    if unit == "auto":
        finite = np.abs(vals[np.isfinite(vals)]) if floating else np.abs(vals)
        top = float(finite.max()) if finite.size else 0.0
        unit = "s" if top < 1e11 else "ms" if top < 1e14 else "us" if top < 1e17 else "ns"
    mult = _NS[unit]
    limit = np.iinfo(np.int64).max // mult
    if floating:
        bad = ~np.isfinite(vals) | (np.abs(vals) > limit)
        out = np.rint(np.where(bad, 0.0, vals) * mult).astype(np.int64)
    else:
        bad = np.abs(vals) > limit
        out = np.where(bad, 0, vals) * mult
    problems.add(bad, lambda i: f"{label} value {vals[i]} is out of range for epoch {unit}")
    return out


def parse_times(col, label: str, *, tz: str, epoch_unit: str, time_format: str | None, timeframe: str | None,
                 calendar: str | None, problems: Problems, path: Path, dates_only: bool = False) -> ParsedTimes:
    """Times of a column as UTC ns, whatever its type (see :mod:`backtestester.data.importers.generic`);
    ``dates_only``: the strings must be dates."""
    if epoch_unit != "auto" and epoch_unit not in _NS:
        raise ValueError(f"epoch_unit must be 'auto', 's', 'ms', 'us' or 'ns', got {epoch_unit!r}")
    arr = single_chunk(col)
    n = len(arr)
    if arr.null_count:
        problems.add(arr.is_null().to_numpy(zero_copy_only=False), lambda i: f"{label} is empty")
        if arr.null_count == n:
            return ParsedTimes(np.zeros(n, np.int64), False, n)
        arr = pc.fill_null(arr, arr.filter(arr.is_valid())[0])  # placeholders: those rows are already bad
    cut = n
    if (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)) and n:
        arr = pc.utf8_trim_whitespace(arr)
        first = arr[0:1]
        if time_format:
            shape = f"in the format {time_format!r}"

            def conv(a):
                return pc.strptime(a, format=time_format, unit="ns", error_is_null=False)
        elif epoch_unit != "auto" or pc.match_substring_regex(first, _INT_RE)[0].as_py():
            numeric = pa.float64() if pc.any(pc.match_substring(arr, ".")).as_py() else pa.int64()
            shape = f"an epoch number ({'seconds, ms, us or ns' if epoch_unit == 'auto' else epoch_unit})"

            def conv(a):
                return pc.cast(a, numeric)
        elif dates_only or pc.match_substring_regex(first, _DATE_RE)[0].as_py():
            shape = "a date (YYYY-MM-DD)"

            def conv(a):
                return pc.cast(a, pa.date32())
        else:
            zoned = pc.match_substring_regex(first, _ZONE_RE)[0].as_py()
            shape = ("an ISO 8601 time with a UTC offset like 2020-01-02T14:30:00Z or 2020-01-02 09:30:00-05:00 "
                     "(as the first row)" if zoned else
                     "an ISO 8601 time without offset like 2020-01-02 14:30:00 (as the first row)")
            target = pa.timestamp("ns", "UTC") if zoned else pa.timestamp("ns")

            def conv(a):
                return pc.cast(a, target)
        try:
            parsed = conv(arr)
        except (pa.ArrowException, ValueError):
            cut = _first_failure(arr, conv)
            parsed = conv(arr.slice(0, cut))
            bad_text = _text(arr, cut)
            mask = np.zeros(n, dtype=bool)
            mask[cut] = True
            hint = "" if time_format or dates_only else " (give time_format / --time-format for other formats)"
            problems.add(mask, lambda i: f"{label} value {bad_text} is not {shape}{hint}")
        arr = parsed
    if pa.types.is_timestamp(arr.type):
        if arr.type.tz is not None:
            ns = pc.cast(arr, pa.timestamp("ns", "UTC")).view(pa.int64()).to_numpy(zero_copy_only=False)
        else:
            ns = _localize(arr, tz, problems, label)
        dates = False
    elif pa.types.is_date(arr.type):
        days = pc.cast(arr, pa.date32()).view(pa.int32()).to_numpy(zero_copy_only=False).astype(np.int64)
        ns = stamp_days(days, label, timeframe, calendar, problems, path)
        dates = True
    elif pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type):
        ns = _epoch(arr, epoch_unit, label, problems)
        dates = False
    elif n == 0:
        ns, dates = np.zeros(0, dtype=np.int64), False
    else:
        raise FileFormatError(f"{path.name}: column {label!r} holds {arr.type}, not times", path=path)
    ns = np.asarray(ns, dtype=np.int64)
    if ns.size < n:  # rows from the parse failure on: placeholders
        ns = np.concatenate([ns, np.full(n - ns.size, ns[-1] if ns.size else 0, dtype=np.int64)])
    return ParsedTimes(ns, dates, cut)


def stamp_days(days: np.ndarray, label: str, timeframe: str | None, calendar: str | None,
           problems: Problems, path: Path) -> np.ndarray:
    tf = timeframe or _infer_date_timeframe(days)
    if tf not in ("1d", "1w"):
        raise FileFormatError(
            f"{path.name}: column {label!r} holds dates without a time of day, which make 1d or 1w bars, "
            f"not {tf}", path=path)
    ns, ok = rs.stamp_dates(days, tf, calendar)
    if not ok.all():
        def reason(i):
            d = str(np.datetime64(int(days[i]), "D"))
            what = "a session" if tf == "1d" else "in a week with sessions"
            return (f"{label} {d} is not {what} of the {calendar} calendar (weekend or holiday); "
                    f"daily bars are stamped at their session's open (pass calendar=None / --calendar none "
                    f"to stamp dates at 00:00 UTC)")
        problems.add(~ok, reason)
        ns = np.where(ok, ns, days * NS_PER_DAY)
    return ns


def _infer_date_timeframe(days: np.ndarray) -> str:
    if days.size > 1:
        diffs = np.diff(np.unique(days))
        if diffs.size and np.median(diffs) >= 5:
            return "1w"
    return "1d"


def infer_timeframe(ns: np.ndarray, dates: bool, path: Path, group: np.ndarray | None = None,
                     problems: Problems | None = None, rows: np.ndarray | None = None) -> str:
    """The timeframe whose length is the most common spacing of the bars.  If it cannot be
    told and rows already failed to convert, the first of those is the error."""
    if ns.size > 1:
        d = np.diff(ns)
        if group is not None:
            d = d[group[1:] == group[:-1]]
        d = d[d > 0]
        if d.size:
            values, counts = np.unique(d, return_counts=True)
            common = int(values[np.argmax(counts)])
            for tf, tf_ns in TIMEFRAME_NS.items():
                if common == tf_ns:
                    return tf
            if dates or 20 * 3600 * 10**9 <= common <= 4 * 86_400 * 10**9:
                return "1d"
    if problems is not None and problems.stages:
        i = int(np.flatnonzero(problems.mask())[0])
        raise BadRowError(path, int(rows[i]), problems.reason(i))
    raise FileFormatError(
        f"{path.name}: cannot tell the timeframe from the data; give it (timeframe=..., CLI --timeframe) "
        f"as one of {' '.join(TIMEFRAMES)}", path=path)
