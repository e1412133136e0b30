"""Polygon.io aggregate flat files (:func:`read_polygon`):
``ticker,volume,open,close,high,low,window_start,transactions`` (``window_start`` in nanoseconds
since the epoch; ``transactions`` ignored).  One file holds many tickers: all are imported, or
those in ``tickers``.  Minute aggregates are ``1m`` bars; day aggregates (``window_start`` at
midnight New York) become ``1d`` bars.  The timeframe is taken from the file name
(``minute_aggs``/``day_aggs``) or the data if not given.  Validation, row numbers and date
stamping: see :mod:`backtestester.data.importers`.
"""
from __future__ import annotations

from typing import Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .. import resample as rs
from ..dates import NS_PER_DAY
from ..schema import catalog_symbol, check_timeframe
from .conversion import (
    check_tz,
    column,
    infer_timeframe,
    parse_times,
    single_chunk,
    stamp_days,
    to_numbers,
)
from .errors import FileFormatError, Problems
from .frames import Frame, finish_frame, frame_table
from .reading import column_names, existing_file, read_columns, shown_columns

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
    path = existing_file(path)
    calendar = rs.calendar_name(calendar)
    tz = check_tz(tz)
    if timeframe is None:
        where = str(path).lower()
        timeframe = "1m" if "minute_aggs" in where else "1d" if "day_aggs" in where else None
    if timeframe is not None:
        check_timeframe(timeframe)
    names = column_names(path)
    missing = [c for c in _POLYGON_COLUMNS if c not in names]
    if missing:
        raise FileFormatError(
            f"{path.name}: not a Polygon aggregates flat file: missing {', '.join(missing)}; expected columns "
            f"ticker,volume,open,close,high,low,window_start,transactions (columns here: "
            f"{shown_columns(names)})", path=path)
    table, first_row = read_columns(path, {c: c for c in _POLYGON_COLUMNS}, progress)
    ticker = pc.utf8_upper(pc.utf8_trim_whitespace(single_chunk(column(table, "ticker"))))
    rows = np.arange(table.num_rows) + first_row
    if tickers is not None:
        wanted = sorted({catalog_symbol(t) for t in tickers})
        keep = pc.fill_null(pc.is_in(ticker, value_set=pa.array(wanted, pa.string())), False)
        table, ticker = table.filter(keep), ticker.filter(keep)
        rows = rows[keep.to_numpy(zero_copy_only=False)]
    n = table.num_rows
    problems = Problems(n)
    problems.add(ticker.is_null().to_numpy(zero_copy_only=False), lambda i: "ticker is empty")
    enc = pc.dictionary_encode(pc.fill_null(ticker, ""))
    codes = enc.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    labels = enc.dictionary.to_pylist()
    valid = np.ones(len(labels), dtype=bool)
    for j, t in enumerate(labels):
        try:
            labels[j] = catalog_symbol(t) if t else t
        except ValueError:
            valid[j] = False
    if not valid.all():
        problems.add(~valid[codes], lambda i: f"ticker {ticker[i].as_py()!r} cannot be a symbol "
                                              f"(letters, digits and . - _ ^ = : only)")
    times = parse_times(column(table, "window_start"), "window_start", tz="UTC", epoch_unit="ns", time_format=None,
                         timeframe=None, calendar=calendar, problems=problems, path=path)
    if timeframe is None:
        by_ticker = np.argsort(codes[:times.cut], kind="stable")
        timeframe = infer_timeframe(times.ns[:times.cut][by_ticker], False, path,
                                     group=codes[:times.cut][by_ticker], problems=problems, rows=rows)
    ns = times.ns
    if timeframe in ("1d", "1w"):
        local = pc.local_timestamp(pa.array(ns).view(pa.timestamp("ns", tz)))
        days = local.view(pa.int64()).to_numpy(zero_copy_only=False) // NS_PER_DAY
        ns = stamp_days(days, "window_start", timeframe, calendar, problems, path)
    cols = {k: to_numbers(column(table, k), k, k, problems, path) for k in ("open", "high", "low", "close", "volume")}
    frame = finish_frame(Frame(ns, cols, np.arange(n), codes), problems, times.cut, rows, path=path,
                    timeframe=timeframe, sort=sort, regular_hours=regular_hours, calendar=calendar, names=labels)
    out: dict[str, pa.Table] = {}
    if frame.start.size:
        cut = np.flatnonzero(frame.group[1:] != frame.group[:-1]) + 1
        bounds = np.concatenate(([0], cut, [frame.start.size]))
        for a, b in zip(bounds[:-1], bounds[1:]):
            out[labels[int(frame.group[a])]] = frame_table(frame, slice(int(a), int(b)))
    return out, timeframe
