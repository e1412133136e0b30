"""Importers: generic OHLCV CSV/Parquet, Yahoo-style daily CSV, Polygon aggregate flat files.

Every importer reads a whole file, converts it to bars (``start`` as UTC nanoseconds,
``open high low close volume`` as float64), validates them and only then lets the catalog
write (atomically).  A bad file raises :class:`BadRowError` naming the file, the first bad
row and the reason; nothing is written.

Row numbers are 1-based as in the file: for CSV the header is row 1 and the first data row
row 2 (yfinance's three header lines make the first data row 4); for Parquet the first
record is row 1.  They count one line per row (files with quoted newlines or blank lines
shift them).

Validation (see :func:`backtestester.data.catalog.find_problem`): parseable timestamps, no
empty or NaN prices, ``high >= max(open, close)``, ``low <= min(open, close)``,
``volume >= 0``, timestamps sorted ascending and unique (``sort=True`` sorts and keeps the
last of duplicate timestamps instead) and at least a timeframe apart.

Formats
-------
* **generic** (:func:`read_generic`): CSV (optionally ``.gz``/``.bz2``/``.zst``-compressed,
  delimiter ``,`` ``;`` or tab, detected from the header) or Parquet.  Columns are found by
  name, case-insensitively (``start``/``time``/``timestamp``/``datetime``/``date``/...,
  ``open``/``o``, ``high``/``h``, ``low``/``l``, ``close``/``c``, ``volume``/``vol``/``v``) or
  mapped with ``columns={"start": "Time", ...}``; a missing volume column means volume 0.
  Times may be ISO 8601 strings (with ``Z`` or an offset: absolute; without: local time in
  ``tz``, default UTC, an ambiguous or non-existent local time at a DST change is an
  error), epoch numbers (``epoch_unit`` ``s``/``ms``/``us``/``ns``, or ``auto``: by
  magnitude, below 1e11 seconds, 1e14 milliseconds, 1e17 microseconds, else nanoseconds),
  any format ``strptime`` understands (``time_format``), Parquet timestamps (naive ones are
  local time in ``tz``), or dates.
* **yahoo** (:func:`read_yahoo`): ``Date,Open,High,Low,Close,Adj Close,Volume`` as Yahoo
  Finance downloads it (``Adj Close`` optional; an unnamed first column, as pandas writes an
  index, and yfinance's three-line header are accepted).  ``adjust=True`` scales open, high,
  low and close by ``Adj Close / Close`` (split and dividend adjusted prices; volume kept).
* **polygon** (:func:`read_polygon`): Polygon.io aggregate flat files
  (``ticker,volume,open,close,high,low,window_start,transactions``; ``window_start`` in
  nanoseconds since the epoch; ``transactions`` ignored); one file holds many tickers: all
  are imported, or those in ``tickers``.  Minute aggregates are ``1m`` bars; day aggregates
  (``window_start`` at midnight New York) become ``1d`` bars.  The timeframe is taken from
  the file name (``minute_aggs``/``day_aggs``) or the data if not given.

Dates without a time of day (Yahoo rows, generic ``1d``/``1w`` files with dates, Polygon day
aggregates) are stamped as the synthetic generator stamps daily and weekly bars: a ``1d``
bar at the open of that date's session of ``calendar`` (default XNYS; a date that is not a
session is an error), a ``1w`` bar at the open of the first session of the date's ISO week;
with ``calendar=None`` at 00:00 UTC of the date (of the week's Monday for ``1w``).

``regular_hours=True`` (generic, polygon; intraday bars) drops bars starting outside the
regular sessions of ``calendar`` (pre-market, after hours).

Part of the pure core: numpy, pyarrow (its CSV reader and compute functions) and
exchange_calendars; no pandas.
"""
from __future__ import annotations

import csv
import io
import re
import zoneinfo
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from . import resample as rs
from .catalog import Catalog, CatalogEntry, _bar_table, check_timeframe, find_problem, normalize_symbol
from .synthetic import TIMEFRAMES

__all__ = [
    "FORMATS",
    "SAMPLES",
    "DataImportError",
    "FileFormatError",
    "BadRowError",
    "detect_format",
    "read_generic",
    "read_yahoo",
    "read_polygon",
    "import_files",
    "import_sample",
    "sample_path",
]

FORMATS = ("generic", "yahoo", "polygon")
_PRICES = ("open", "high", "low", "close")
_NS = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}
_TF_NS = {tf: int(td.total_seconds()) * 10**9 for tf, td in TIMEFRAMES.items()}
_NUM_RE = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$|^[+-]?(inf|infinity|nan)$"
_INT_RE = r"^[+-]?\d+(\.\d*)?$"
_DATE_RE = r"^\d{4}-\d{2}-\d{2}$"
_ZONE_RE = r"(Z|[+-]\d{2}(:?\d{2})?)$"
_ALIASES = {
    "start": ("start", "time", "timestamp", "datetime", "date_time", "date", "window_start", "ts", "t",
              "open_time", "open time", "gmt time", "local time"),
    "open": ("open", "o", "open_price"),
    "high": ("high", "h", "high_price"),
    "low": ("low", "l", "low_price"),
    "close": ("close", "c", "close_price", "last", "price"),
    "volume": ("volume", "vol", "v", "qty", "quantity"),
}


@dataclass(frozen=True)
class Sample:
    file: str
    timeframe: str
    format: str
    description: str


SAMPLES: dict[str, Sample] = {
    "GOOG": Sample("GOOG-1d.csv", "1d", "yahoo",
                   "Alphabet (GOOG) daily OHLCV 2004-08-19 to 2013-03-01, 2,148 sessions "
                   "(Yahoo Finance, via backtesting.py; see sample_data/README.md)"),
}
"""Sample series shipped in ``backtestester/sample_data``."""


# --------------------------------------------------------------------------- #
# Errors
# --------------------------------------------------------------------------- #


class DataImportError(ValueError):
    """A file cannot be imported (base class)."""

    def __init__(self, message: str, *, path: Path | str | None = None):
        super().__init__(message)
        self.path = path


class FileFormatError(DataImportError):
    """The file as a whole is unusable: unreadable, missing columns, unknown format."""


class BadRowError(DataImportError):
    """A row breaks the rules; ``row`` is its 1-based number in the file (the CSV header is row 1)."""

    def __init__(self, path, row: int, reason: str, *, symbol: str | None = None):
        where = f"{Path(path).name}: row {row}" + (f" ({symbol})" if symbol else "")
        super().__init__(f"{where}: {reason} (file rejected: nothing was imported)", path=path)
        self.row, self.reason, self.symbol = row, reason, symbol


# --------------------------------------------------------------------------- #
# Reading files
# --------------------------------------------------------------------------- #


def _is_parquet(path: Path) -> bool:
    return path.suffix.lower() in (".parquet", ".pq")


def _peek_lines(path: Path, n: int = 3) -> list[str]:
    try:
        with pa.input_stream(str(path), compression="detect") as stream:
            head = stream.read(1 << 16)
    except (OSError, pa.ArrowException) as exc:
        raise FileFormatError(f"cannot read {path}: {exc}", path=path) from None
    text = head.decode("utf-8-sig", errors="replace")
    return text.splitlines()[:n]


def _delimiter(header_line: str) -> str:
    counts = {d: header_line.count(d) for d in (",", ";", "\t", "|")}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


@dataclass
class _Csv:
    names: list[str]
    delimiter: str
    first_row: int  # file row number of the first data row
    skip_after_names: int = 0


def _csv_layout(path: Path) -> _Csv:
    lines = _peek_lines(path)
    if not lines or not lines[0].strip():
        raise FileFormatError(f"{path} is empty: expected a header line and rows", path=path)
    delim = _delimiter(lines[0])
    rows = list(csv.reader(io.StringIO("\n".join(lines)), delimiter=delim))
    names = [c.strip() for c in rows[0]]
    # yfinance >= 0.2.51 writes three header lines: Price,..., Ticker,..., Date,,,
    if names and names[0].lower() == "price" and len(rows) > 1 and rows[1] and rows[1][0].strip().lower() == "ticker":
        skip = 2 if len(rows) > 2 and rows[2] and rows[2][0].strip().lower() in ("date", "datetime") else 1
        return _Csv(names, delim, 2 + skip, skip)
    return _Csv(names, delim, 2)


def _read_csv(path: Path, layout: _Csv, include: list[str], progress=None) -> pa.Table:
    """The ``include`` columns as strings (nulls for empty/NULL/NaN cells)."""
    def read(use_threads: bool):
        invalid = []

        def on_invalid(row):
            invalid.append(row)
            return "error"

        batches = []
        try:
            with pa.input_stream(str(path), compression="detect") as stream:
                reader = pcsv.open_csv(
                    stream,
                    read_options=pcsv.ReadOptions(use_threads=use_threads,
                                                  skip_rows_after_names=layout.skip_after_names,
                                                  block_size=1 << 22),
                    parse_options=pcsv.ParseOptions(delimiter=layout.delimiter, invalid_row_handler=on_invalid),
                    convert_options=pcsv.ConvertOptions(column_types={c: pa.string() for c in include},
                                                        include_columns=include, strings_can_be_null=True,
                                                        quoted_strings_can_be_null=True),
                )
                rows = 0
                for batch in reader:
                    batches.append(batch)
                    rows += batch.num_rows
                    if progress is not None:
                        progress(rows)
        except pa.ArrowInvalid as exc:
            return None, invalid, exc
        return pa.Table.from_batches(batches, schema=reader.schema), invalid, None

    try:
        table, invalid, exc = read(True)
        if exc is not None:
            if invalid and invalid[0].number is None:
                _, invalid, exc = read(False)  # single-threaded parsing knows row numbers
            if invalid:
                bad = invalid[0]
                where = f"row {bad.number}" if bad.number is not None else "a row"
                raise FileFormatError(
                    f"{path.name}: {where}: expected {bad.expected_columns} fields separated by "
                    f"{layout.delimiter!r}, got {bad.actual_columns}: {bad.text[:80]!r} "
                    f"(file rejected: nothing was imported)", path=path)
            raise FileFormatError(f"cannot parse {path.name} as CSV: {exc}", path=path)
    except (OSError, pa.ArrowException) as exc:
        raise FileFormatError(f"cannot read {path}: {exc}", path=path) from None
    return table


def _column_names(path: Path) -> list[str]:
    if _is_parquet(path):
        try:
            return list(pq.read_schema(path).names)
        except (OSError, pa.ArrowException) as exc:
            raise FileFormatError(f"cannot read {path} as Parquet: {exc}", path=path) from None
    return _csv_layout(path).names


def _resolve(names: Sequence[str], mapping: Mapping[str, str | None] | None, required: Iterable[str],
             optional: Iterable[str], path: Path, fmt: str) -> dict[str, str | None]:
    """Canonical name -> file column (None for an absent optional column)."""
    mapping = dict(mapping or {})
    lower = {n.lower(): n for n in names}
    out: dict[str, str | None] = {}
    for canon in list(required) + list(optional):
        if canon in mapping:
            given = mapping[canon]
            if given is None or (given == "" and "" not in names):
                out[canon] = None
                continue
            actual = given if given in names else lower.get(str(given).lower())
            if actual is None:
                raise FileFormatError(
                    f"{path.name}: no column {given!r} (mapped to {canon}); columns: {', '.join(map(repr, names))}",
                    path=path)
            out[canon] = actual
            continue
        actual = next((lower[a] for a in _ALIASES.get(canon, (canon,)) if a in lower), None)
        if actual is None and canon == "start" and names and names[0] == "":
            actual = ""  # pandas-written index column
        if actual is None and canon in required:
            raise FileFormatError(
                f"{path.name}: no {canon} column for the {fmt} format; columns: {', '.join(map(repr, names))}; "
                f"accepted names: {', '.join(_ALIASES.get(canon, (canon,)))} "
                f"(or map one: columns={{'{canon}': 'NAME'}}, CLI --column {canon}=NAME)", path=path)
        out[canon] = actual
    used = [v for v in out.values() if v is not None]
    dup = {v for v in used if used.count(v) > 1}
    if dup:
        raise FileFormatError(f"{path.name}: column {sorted(dup)[0]!r} is mapped to more than one field", path=path)
    return out


def _read_columns(path: Path, resolved: Mapping[str, str | None], progress=None) -> tuple[pa.Table, int]:
    """(table of the resolved columns, file row number of the first record)."""
    include = sorted({v for v in resolved.values() if v is not None})
    if _is_parquet(path):
        try:
            return pq.read_table(path, columns=include), 1
        except (OSError, pa.ArrowException) as exc:
            raise FileFormatError(f"cannot read {path} as Parquet: {exc}", path=path) from None
    layout = _csv_layout(path)
    return _read_csv(path, layout, include, progress), layout.first_row


# --------------------------------------------------------------------------- #
# Converting columns (with the rows that fail)
# --------------------------------------------------------------------------- #


class _Problems:
    """Rows found bad while converting: a mask (in file order) and a reason per row."""

    def __init__(self, n: int):
        self.n = n
        self.stages: list[tuple[np.ndarray, Callable[[int], str]]] = []

    def add(self, mask: np.ndarray, reason: Callable[[int], str]) -> None:
        if mask.any():
            self.stages.append((mask, reason))

    def mask(self) -> np.ndarray:
        out = np.zeros(self.n, dtype=bool)
        for m, _ in self.stages:
            out |= m
        return out

    def reason(self, i: int) -> str:
        for m, fn in self.stages:
            if m[i]:
                return fn(i)
        return "bad row"


def _col(table: pa.Table, name: str) -> pa.ChunkedArray:
    """A column by name (``table.column("")`` fails: pandas-written index columns have no name)."""
    i = table.schema.get_field_index(name)
    if i < 0:
        raise KeyError(name)
    return table.column(i)


def _chunk(col) -> pa.Array:
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


def _numbers(col, name: str, label: str, problems: _Problems, path: Path) -> np.ndarray:
    arr = _chunk(col)
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


def _check_tz(tz: str) -> str:
    if tz in ("UTC", "utc", "Z"):
        return "UTC"
    try:
        zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValueError(f"unknown time zone {tz!r}; use an IANA name such as 'UTC', "
                         f"'America/New_York', 'Europe/London'") from None
    return tz


@dataclass
class _Times:
    ns: np.ndarray  # int64, placeholders where bad
    dates: bool  # the values were dates (already stamped as session opens)
    cut: int  # rows from here on have unknown times (a parse failure at ``cut``); len if none


def _localize(ts: pa.Array, tz: str, problems: _Problems, label: str) -> np.ndarray:
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


def _epoch(arr: pa.Array, unit: str, label: str, problems: _Problems) -> np.ndarray:
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


def _parse_times(col, label: str, *, tz: str, epoch_unit: str, time_format: str | None, timeframe: str | None,
                 calendar: str | None, problems: _Problems, path: Path, dates_only: bool = False) -> _Times:
    """Times of a column as UTC ns, whatever its type (see the module docstring); ``dates_only``:
    the strings must be dates."""
    if epoch_unit != "auto" and epoch_unit not in _NS:
        raise ValueError(f"epoch_unit must be 'auto', 's', 'ms', 'us' or 'ns', got {epoch_unit!r}")
    arr = _chunk(col)
    n = len(arr)
    if arr.null_count:
        problems.add(arr.is_null().to_numpy(zero_copy_only=False), lambda i: f"{label} is empty")
        if arr.null_count == n:
            return _Times(np.zeros(n, np.int64), False, n)
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
        ns = _stamp(days, label, timeframe, calendar, problems, path)
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
    return _Times(ns, dates, cut)


def _stamp(days: np.ndarray, label: str, timeframe: str | None, calendar: str | None,
           problems: _Problems, path: Path) -> np.ndarray:
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
        ns = np.where(ok, ns, days * rs.NS_PER_DAY)
    return ns


def _infer_date_timeframe(days: np.ndarray) -> str:
    if days.size > 1:
        diffs = np.diff(np.unique(days))
        if diffs.size and np.median(diffs) >= 5:
            return "1w"
    return "1d"


def _infer_timeframe(ns: np.ndarray, dates: bool, path: Path, group: np.ndarray | None = None,
                     problems: _Problems | None = None, rows: np.ndarray | None = None) -> str:
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
            for tf, tf_ns in _TF_NS.items():
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


# --------------------------------------------------------------------------- #
# From converted columns to validated tables
# --------------------------------------------------------------------------- #


@dataclass
class _Frame:
    start: np.ndarray
    cols: dict[str, np.ndarray]
    pos: np.ndarray  # position in the parsed arrays (file order)
    group: np.ndarray | None = None  # ticker code per row (polygon)

    def take(self, idx) -> "_Frame":
        return _Frame(self.start[idx], {k: v[idx] for k, v in self.cols.items()}, self.pos[idx],
                      None if self.group is None else self.group[idx])


def _finish(frame: _Frame, problems: _Problems, cut: int, rows: np.ndarray, *, path: Path, timeframe: str,
            sort: bool, regular_hours: bool, calendar: str | None, names: list[str] | None = None) -> _Frame:
    """Filter, sort/group, validate.  ``frame`` is in file order; ``rows[pos]`` is a row's number in
    the file; rows after ``cut`` have unknown times.  Raises BadRowError for the first bad row."""
    bad_rows = problems.mask()

    def fail(pos: int, reason: str | None = None):
        symbol = names[int(codes[pos])] if names is not None else None
        raise BadRowError(path, int(rows[pos]), reason or problems.reason(pos), symbol=symbol)

    codes = frame.group
    if cut < frame.start.size:
        frame = frame.take(slice(0, cut + 1))
        if sort:  # sorting needs every time
            first_bad = int(np.flatnonzero(bad_rows[: cut + 1])[0])
            fail(first_bad)
    if regular_hours:
        if calendar is None:
            raise ValueError("regular_hours needs a calendar (the sessions to keep)")
        if timeframe in ("1d", "1w"):
            raise ValueError("regular_hours applies to intraday bars, not 1d/1w")
        frame = frame.take(rs.session_mask(frame.start, calendar) | (frame.pos == cut))
    group = frame.group
    if sort:
        g = group if group is not None else np.zeros(frame.start.size, dtype=np.int64)
        order = np.lexsort((frame.pos, frame.start, g))
        frame = frame.take(order)
        g = g[order]
        same_next = np.zeros(frame.start.size, dtype=bool)
        same_next[:-1] = (frame.start[1:] == frame.start[:-1]) & (g[1:] == g[:-1])
        frame = frame.take(~same_next)  # keep the last (in file order) of equal timestamps
    elif group is not None:
        frame = frame.take(np.argsort(group, kind="stable"))  # file order kept within a ticker
    new_group = None
    if frame.group is not None and frame.start.size:
        new_group = np.ones(frame.start.size, dtype=bool)
        new_group[1:] = frame.group[1:] != frame.group[:-1]
    c = frame.cols
    problem = find_problem(frame.start, c["open"], c["high"], c["low"], c["close"], c["volume"], timeframe,
                           new_group=new_group, order_key=frame.pos, extra_bad=bad_rows[frame.pos],
                           sort_hint="sort=True (CLI --sort)")
    if problem is not None:
        i, reason = problem
        p = int(frame.pos[i])
        fail(p, None if bad_rows[p] else reason)
    return frame


def _to_table(frame: _Frame, sl=slice(None)) -> pa.Table:
    cols = {"start": frame.start[sl]}
    cols.update({k: v[sl] for k, v in frame.cols.items()})
    return _bar_table(cols)


def _as_path(path) -> Path:
    p = Path(path).expanduser()
    if not p.is_file():
        raise FileFormatError(f"no such file: {p}", path=p)
    return p


# --------------------------------------------------------------------------- #
# The three formats
# --------------------------------------------------------------------------- #


def read_generic(
    path,
    *,
    timeframe: str | None = None,
    columns: Mapping[str, str | None] | None = None,
    tz: str = "UTC",
    epoch_unit: str = "auto",
    time_format: str | None = None,
    calendar: str | None = "XNYS",
    sort: bool = False,
    regular_hours: bool = False,
    progress=None,
) -> tuple[pa.Table, str]:
    """Read a generic OHLCV CSV or Parquet file: ``(validated BAR_SCHEMA table, timeframe)``.

    ``timeframe``: one of ``1m ... 1w``; inferred from the most common bar spacing if None.
    ``columns``: ``{"start"|"open"|"high"|"low"|"close"|"volume": file column}`` (case-insensitive;
    ``"volume": None`` for none).  See the module docstring for times and validation.
    Raises FileFormatError / BadRowError (ValueErrors).
    """
    path = _as_path(path)
    tz = _check_tz(tz)
    calendar = rs.calendar_name(calendar)
    if timeframe is not None:
        check_timeframe(timeframe)
    resolved = _resolve(_column_names(path), columns, ("start", *_PRICES), ("volume",), path, "generic")
    table, first_row = _read_columns(path, resolved, progress)
    n = table.num_rows
    problems = _Problems(n)
    label = resolved["start"] or "start"
    times = _parse_times(_col(table, resolved["start"]), label, tz=tz, epoch_unit=epoch_unit,
                         time_format=time_format, timeframe=timeframe, calendar=calendar, problems=problems,
                         path=path)
    if timeframe is None:
        timeframe = _infer_timeframe(times.ns[:times.cut], times.dates, path, problems=problems,
                                     rows=np.arange(n) + first_row)
    cols = {k: _numbers(_col(table, resolved[k]), k, resolved[k], problems, path) for k in _PRICES}
    cols["volume"] = (np.zeros(n) if resolved["volume"] is None else
                      _numbers(_col(table, resolved["volume"]), "volume", resolved["volume"], problems, path))
    frame = _finish(_Frame(times.ns, cols, np.arange(n)), problems, times.cut, np.arange(n) + first_row,
                    path=path, timeframe=timeframe, sort=sort, regular_hours=regular_hours, calendar=calendar)
    return _to_table(frame), timeframe


def read_yahoo(
    path,
    *,
    timeframe: str = "1d",
    calendar: str | None = "XNYS",
    adjust: bool = False,
    sort: bool = False,
    tz: str = "UTC",
    progress=None,
) -> pa.Table:
    """Read a Yahoo Finance style CSV (``Date,Open,High,Low,Close[,Adj Close],Volume``).

    ``1d``/``1w``: the first 10 characters of ``Date`` are the session date (yfinance writes
    ``2024-01-02 00:00:00-05:00``), stamped as the generator stamps daily/weekly bars.  Other
    timeframes parse ``Date``/``Datetime`` as instants (naive ones in ``tz``).
    ``adjust``: scale open/high/low/close by ``Adj Close / Close``.
    """
    path = _as_path(path)
    check_timeframe(timeframe)
    calendar = rs.calendar_name(calendar)
    if _is_parquet(path):
        raise FileFormatError(f"{path.name}: the yahoo format is CSV; read Parquet files with the generic format",
                              path=path)
    layout = _csv_layout(path)
    lower = {n.lower(): n for n in layout.names}
    date_col = next((lower[k] for k in ("date", "datetime") if k in lower), None)
    if date_col is None and layout.names and (layout.names[0] == "" or layout.first_row > 2):
        date_col = layout.names[0]
    if date_col is None:
        raise FileFormatError(
            f"{path.name}: no Date column; the yahoo format is Date,Open,High,Low,Close,Adj Close,Volume "
            f"(columns here: {', '.join(map(repr, layout.names))})", path=path)
    adj_col = next((lower[k] for k in ("adj close", "adj_close", "adjclose", "adjusted_close") if k in lower), None)
    resolved = _resolve(layout.names, {"start": date_col}, ("start", *_PRICES, "volume"), (), path, "yahoo")
    if adjust and adj_col is None:
        raise FileFormatError(f"{path.name}: adjust=True needs an 'Adj Close' column", path=path)
    include = [v for v in resolved.values() if v is not None] + ([adj_col] if adj_col else [])
    table = _read_csv(path, layout, sorted(set(include)), progress)
    n = table.num_rows
    problems = _Problems(n)
    date_arr = _chunk(_col(table, date_col))
    daily = timeframe in ("1d", "1w")
    if daily and (pa.types.is_string(date_arr.type) or pa.types.is_large_string(date_arr.type)):
        date_arr = pc.utf8_trim_whitespace(date_arr)
        dated = pc.fill_null(pc.match_substring_regex(date_arr, r"^\d{4}-\d{2}-\d{2}([ T].*)?$"), False)
        date_arr = pc.if_else(dated, pc.utf8_slice_codeunits(date_arr, 0, 10), date_arr)
    label = date_col or "Date"
    is_text = pa.types.is_string(date_arr.type) or pa.types.is_large_string(date_arr.type)
    times = _parse_times(date_arr, label, tz=_check_tz(tz), epoch_unit="auto", time_format=None,
                         timeframe=timeframe, calendar=calendar, problems=problems, path=path,
                         dates_only=daily and is_text)
    if daily and not times.dates and n and not is_text:
        raise FileFormatError(f"{path.name}: the {label!r} column does not hold dates (YYYY-MM-DD)", path=path)
    cols = {k: _numbers(_col(table, resolved[k]), k, resolved[k], problems, path) for k in _PRICES}
    cols["volume"] = _numbers(_col(table, resolved["volume"]), "volume", resolved["volume"], problems, path)
    if adjust:
        adj = _numbers(_col(table, adj_col), "adj close", adj_col, problems, path)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = adj / cols["close"]
        close = cols["close"]
        problems.add(~np.isfinite(ratio) & np.isfinite(close) & ~problems.mask(),
                     lambda i: f"{adj_col} {adj[i]:g} / Close {close[i]:g} is not a usable adjustment ratio")
        for k in _PRICES:
            cols[k] = cols[k] * ratio
    frame = _finish(_Frame(times.ns, cols, np.arange(n)), problems, times.cut, np.arange(n) + layout.first_row,
                    path=path, timeframe=timeframe, sort=sort, regular_hours=False, calendar=calendar)
    return _to_table(frame)


_POLYGON_COLUMNS = ("ticker", "volume", "open", "close", "high", "low", "window_start")


def read_polygon(
    path,
    *,
    timeframe: str | None = None,
    tickers: Iterable[str] | None = None,
    calendar: str | None = "XNYS",
    tz: str = "America/New_York",
    sort: bool = False,
    regular_hours: bool = False,
    progress=None,
) -> tuple[dict[str, pa.Table], str]:
    """Read a Polygon.io aggregates flat file: ``({SYMBOL: table}, timeframe)``.

    ``tickers``: import only these (case-insensitive; tickers absent from the file are simply
    not in the result; rows of other tickers are not even parsed); default all.
    ``timeframe``: ``1m`` for minute aggregates, ``1d`` for day aggregates (whose
    ``window_start``, midnight in ``tz``, gives the session date); from the file name
    (``minute_aggs``/``day_aggs``) or the data if None.
    """
    path = _as_path(path)
    calendar = rs.calendar_name(calendar)
    tz = _check_tz(tz)
    if timeframe is None:
        where = str(path).lower()
        timeframe = "1m" if "minute_aggs" in where else "1d" if "day_aggs" in where else None
    if timeframe is not None:
        check_timeframe(timeframe)
    names = _column_names(path)
    missing = [c for c in _POLYGON_COLUMNS if c not in names]
    if missing:
        raise FileFormatError(
            f"{path.name}: not a Polygon aggregates flat file: missing {', '.join(missing)}; expected columns "
            f"ticker,volume,open,close,high,low,window_start,transactions (columns here: "
            f"{', '.join(map(repr, names))})", path=path)
    table, first_row = _read_columns(path, {c: c for c in _POLYGON_COLUMNS}, progress)
    ticker = pc.utf8_upper(pc.utf8_trim_whitespace(_chunk(_col(table, "ticker"))))
    rows = np.arange(table.num_rows) + first_row
    if tickers is not None:
        wanted = sorted({normalize_symbol(t) for t in tickers})
        keep = pc.fill_null(pc.is_in(ticker, value_set=pa.array(wanted, pa.string())), False)
        table, ticker = table.filter(keep), ticker.filter(keep)
        rows = rows[keep.to_numpy(zero_copy_only=False)]
    n = table.num_rows
    problems = _Problems(n)
    problems.add(ticker.is_null().to_numpy(zero_copy_only=False), lambda i: "ticker is empty")
    enc = pc.dictionary_encode(pc.fill_null(ticker, ""))
    codes = enc.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    labels = enc.dictionary.to_pylist()
    valid = np.ones(len(labels), dtype=bool)
    for j, t in enumerate(labels):
        try:
            labels[j] = normalize_symbol(t) if t else t
        except ValueError:
            valid[j] = False
    if not valid.all():
        problems.add(~valid[codes], lambda i: f"ticker {ticker[i].as_py()!r} cannot be a symbol "
                                              f"(letters, digits and . - _ ^ = : only)")
    times = _parse_times(_col(table, "window_start"), "window_start", tz="UTC", epoch_unit="ns", time_format=None,
                         timeframe=None, calendar=calendar, problems=problems, path=path)
    if timeframe is None:
        by_ticker = np.argsort(codes[:times.cut], kind="stable")
        timeframe = _infer_timeframe(times.ns[:times.cut][by_ticker], False, path,
                                     group=codes[:times.cut][by_ticker], problems=problems, rows=rows)
    ns = times.ns
    if timeframe in ("1d", "1w"):
        local = pc.local_timestamp(pa.array(ns).view(pa.timestamp("ns", tz)))
        days = local.view(pa.int64()).to_numpy(zero_copy_only=False) // rs.NS_PER_DAY
        ns = _stamp(days, "window_start", timeframe, calendar, problems, path)
    cols = {k: _numbers(_col(table, k), k, k, problems, path) for k in ("open", "high", "low", "close", "volume")}
    frame = _finish(_Frame(ns, cols, np.arange(n), codes), problems, times.cut, rows, path=path,
                    timeframe=timeframe, sort=sort, regular_hours=regular_hours, calendar=calendar, names=labels)
    out: dict[str, pa.Table] = {}
    if frame.start.size:
        cut = np.flatnonzero(frame.group[1:] != frame.group[:-1]) + 1
        bounds = np.concatenate(([0], cut, [frame.start.size]))
        for a, b in zip(bounds[:-1], bounds[1:]):
            out[labels[int(frame.group[a])]] = _to_table(frame, slice(int(a), int(b)))
    return out, timeframe


# --------------------------------------------------------------------------- #
# Into the catalog
# --------------------------------------------------------------------------- #


def detect_format(path) -> str:
    """``polygon``, ``yahoo`` or ``generic`` from the file's columns (Parquet: generic)."""
    path = _as_path(path)
    if _is_parquet(path):
        return "generic"
    layout = _csv_layout(path)
    lower = {n.lower() for n in layout.names}
    if {"ticker", "window_start"} <= lower:
        return "polygon"
    if "adj close" in lower or layout.first_row > 2:
        return "yahoo"
    if {"open", "high", "low", "close"} <= lower and (layout.names[0].lower() in ("date", "") and
                                                      "volume" in lower):
        return "yahoo"
    return "generic"


def _symbol_from_name(path: Path) -> str:
    stem = path.name
    for suffix in (".gz", ".bz2", ".zst", ".csv", ".parquet", ".pq", ".txt"):
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
    m = re.match(r"^(.+?)[-_.](1m|5m|15m|30m|1h|4h|1d|1w)$", stem, re.IGNORECASE)
    if m:
        stem = m.group(1)
    try:
        return normalize_symbol(stem)
    except ValueError:
        raise ValueError(f"cannot use the file name {path.name!r} as a symbol; give one (symbol=..., --symbol)") \
            from None


_OPTIONS = {
    "generic": {"columns", "tz", "epoch_unit", "time_format", "calendar", "regular_hours"},
    "yahoo": {"calendar", "adjust", "tz"},
    "polygon": {"calendar", "tz", "regular_hours"},
}


def import_files(
    catalog: Catalog,
    paths: Sequence[str | Path] | str | Path,
    *,
    format: str = "auto",
    symbol: str | None = None,
    timeframe: str | None = None,
    mode: str | None = None,
    tickers: Iterable[str] | None = None,
    sort: bool = False,
    progress: Callable[[str, int, int], None] | None = None,
    **options,
) -> list[CatalogEntry]:
    """Read, validate and store one or more files; returns the written catalog entries.

    ``format``: ``auto`` (from the columns), ``generic``, ``yahoo`` or ``polygon``.
    ``symbol``: for generic/yahoo files (default: the file name, e.g. ``AAPL.csv``,
    ``GOOG-1d.csv``).  ``mode``: ``replace`` (default) or ``merge`` (default for polygon,
    whose flat files hold one day each).  Several files for the same symbol and timeframe
    are combined (they must not overlap unless ``sort=True``; then later files win).
    Every file is read and validated before anything is written, and all files are then
    written together (staged, then renamed).  Other keyword arguments go to the reader
    (``columns``, ``tz``, ``epoch_unit``, ``time_format``, ``calendar``, ``adjust``,
    ``regular_hours``).  ``progress(stage, done, total)`` reports ``"rows"`` (rows read so far
    in the current file, total 0), ``"read"`` per file and ``"write"`` per stored table.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    paths = [_as_path(p) for p in paths]
    if not paths:
        raise ValueError("no files to import")
    if format not in ("auto",) + FORMATS:
        raise ValueError(f"format must be auto, {', '.join(FORMATS)}; got {format!r}")
    parts: dict[tuple[str, str], list[tuple[pa.Table, Path]]] = {}
    formats = set()
    unknown = set(options) - set().union(*_OPTIONS.values())
    if unknown:
        raise TypeError(f"unknown import option(s) {', '.join(sorted(unknown))}")
    wanted = None if tickers is None else {normalize_symbol(t) for t in tickers}
    rows_read = None if progress is None else (lambda rows: progress("rows", rows, 0))
    for k, path in enumerate(paths):
        fmt = detect_format(path) if format == "auto" else format
        formats.add(fmt)
        misplaced = [key for key, v in options.items() if key not in _OPTIONS[fmt] and v not in (None, False)]
        if misplaced:
            flags = ", ".join(f"{key} (--{key.replace('_', '-')})" for key in misplaced)
            raise ValueError(f"{flags} does not apply to {fmt} files ({path.name}); {fmt} options: "
                             f"{', '.join(sorted(_OPTIONS[fmt]))}")
        if fmt == "polygon":
            opts = {key: v for key, v in options.items() if key in _OPTIONS["polygon"]}
            tables, tf = read_polygon(path, timeframe=timeframe, tickers=wanted, sort=sort, progress=rows_read, **opts)
            if symbol is not None:
                raise ValueError("polygon files name their tickers: use tickers=[...] (--tickers), not symbol")
            for sym, table in tables.items():
                parts.setdefault((sym, tf), []).append((table, path))
        else:
            sym = normalize_symbol(symbol) if symbol is not None else _symbol_from_name(path)
            if tickers is not None:
                raise ValueError("tickers (--tickers) applies to polygon files only")
            if fmt == "yahoo":
                opts = {key: v for key, v in options.items() if key in _OPTIONS["yahoo"]}
                table = read_yahoo(path, timeframe=timeframe or "1d", sort=sort, progress=rows_read, **opts)
                tf = timeframe or "1d"
            else:
                opts = {key: v for key, v in options.items() if key in _OPTIONS["generic"]}
                table, tf = read_generic(path, timeframe=timeframe, sort=sort, progress=rows_read, **opts)
            parts.setdefault((sym, tf), []).append((table, path))
        if progress is not None:
            progress("read", k + 1, len(paths))
    if wanted is not None:
        found = {sym for sym, _ in parts}
        absent = sorted(wanted - found)
        if absent:
            raise FileFormatError(f"tickers not found in {'the file' if len(paths) == 1 else 'any file'}: "
                                  f"{', '.join(absent)}; nothing was imported", path=paths[0])
    if not parts:
        raise FileFormatError(f"no rows to import in {', '.join(p.name for p in paths)}", path=paths[0])
    tables = {key: _combine(key, items, sort) for key, items in parts.items()}
    if mode is None:
        mode = "merge" if formats == {"polygon"} else "replace"
    source = ", ".join(sorted(formats)) + ": " + (paths[0].name if len(paths) == 1 else
                                                  f"{paths[0].name} ... {paths[-1].name} ({len(paths)} files)")
    return catalog.write_many(tables, mode=mode, metadata={"source": source},
                              progress=None if progress is None else (lambda d, t: progress("write", d, t)))


def _combine(key: tuple[str, str], items: list[tuple[pa.Table, Path]], sort: bool) -> pa.Table:
    if len(items) == 1:
        return items[0][0]
    items = sorted((it for it in items if it[0].num_rows), key=lambda it: _first_ns(it[0]))
    if not items:
        return pa.concat_tables([])
    if sort:
        table = pa.concat_tables([t for t, _ in items])
        start = table.column("start").combine_chunks().view(pa.int64()).to_numpy(zero_copy_only=False)
        order = np.argsort(start, kind="stable")
        start = start[order]
        keep = np.ones(start.size, dtype=bool)
        keep[:-1] = start[1:] != start[:-1]  # later files win
        return table.take(pa.array(order[keep]))
    for (a, pa_), (b, pb) in zip(items, items[1:]):
        if _last_ns(a) >= _first_ns(b):
            raise FileFormatError(
                f"{key[0]} {key[1]}: {pa_.name} and {pb.name} overlap (up to "
                f"{np.datetime64(_last_ns(a), 'ns')} and from {np.datetime64(_first_ns(b), 'ns')}); "
                f"pass sort=True (--sort) to let later files win; nothing was imported", path=pb)
    return pa.concat_tables([t for t, _ in items])


def _first_ns(table: pa.Table) -> int:
    return int(table.column("start")[0].cast(pa.int64()).as_py())


def _last_ns(table: pa.Table) -> int:
    return int(table.column("start")[-1].cast(pa.int64()).as_py())


def sample_path(name: str = "GOOG") -> Path:
    """Path of a shipped sample file (see :data:`SAMPLES`)."""
    key = str(name).upper()
    if key not in SAMPLES:
        raise ValueError(f"unknown sample {name!r}; samples: {', '.join(SAMPLES)}")
    ref = resources.files("backtestester").joinpath("sample_data", SAMPLES[key].file)
    path = Path(str(ref))
    if not path.is_file():  # pragma: no cover - zipped installs
        raise FileFormatError(f"sample file {SAMPLES[key].file} is not installed", path=path)
    return path


def import_sample(catalog: Catalog, name: str = "GOOG", *, mode: str = "replace") -> CatalogEntry:
    """Import a shipped sample series (e.g. ``GOOG`` daily bars) into ``catalog``."""
    key = str(name).upper()
    path = sample_path(key)
    sample = SAMPLES[key]
    return import_files(catalog, [path], format=sample.format, symbol=key, timeframe=sample.timeframe,
                        mode=mode)[0]
