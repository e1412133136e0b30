"""Yahoo Finance daily CSV (:func:`read_yahoo`): ``Date,Open,High,Low,Close,Adj Close,Volume``
as Yahoo Finance downloads it (``Adj Close`` optional; an unnamed first column, as pandas writes
an index, and yfinance's three-line header are accepted).  ``adjust=True`` scales open, high,
low and close by ``Adj Close / Close`` (split and dividend adjusted prices; volume kept).
Validation, row numbers and date stamping: see :mod:`backtestester.data.importers`.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .. import resample as rs
from ..schema import PRICE_COLUMNS, check_timeframe
from .conversion import check_tz, column, parse_times, single_chunk, to_numbers
from .errors import FileFormatError, Problems
from .frames import Frame, finish_frame, frame_table
from .reading import (
    csv_layout,
    existing_file,
    is_parquet,
    read_csv,
    resolve_columns,
    shown_columns,
)


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
    path = existing_file(path)
    check_timeframe(timeframe)
    calendar = rs.calendar_name(calendar)
    if is_parquet(path):
        raise FileFormatError(f"{path.name}: the yahoo format is CSV; read Parquet files with the generic format",
                              path=path)
    layout = csv_layout(path)
    lower = {n.lower(): n for n in layout.names}
    date_col = next((lower[k] for k in ("date", "datetime") if k in lower), None)
    if date_col is None and layout.names and (layout.names[0] == "" or layout.first_row > 2):
        date_col = layout.names[0]
    if date_col is None:
        raise FileFormatError(
            f"{path.name}: no Date column; the yahoo format is Date,Open,High,Low,Close,Adj Close,Volume "
            f"(columns here: {shown_columns(layout.names)})", path=path)
    adj_col = next((lower[k] for k in ("adj close", "adj_close", "adjclose", "adjusted_close") if k in lower), None)
    resolved = resolve_columns(layout.names, {"start": date_col}, ("start", *PRICE_COLUMNS, "volume"), (), path, "yahoo")
    if adjust and adj_col is None:
        raise FileFormatError(f"{path.name}: adjust=True needs an 'Adj Close' column", path=path)
    include = [v for v in resolved.values() if v is not None] + ([adj_col] if adj_col else [])
    table = read_csv(path, layout, sorted(set(include)), progress)
    n = table.num_rows
    problems = Problems(n)
    date_arr = single_chunk(column(table, date_col))
    daily = timeframe in ("1d", "1w")
    if daily and (pa.types.is_string(date_arr.type) or pa.types.is_large_string(date_arr.type)):
        date_arr = pc.utf8_trim_whitespace(date_arr)
        dated = pc.fill_null(pc.match_substring_regex(date_arr, r"^\d{4}-\d{2}-\d{2}([ T].*)?$"), False)
        date_arr = pc.if_else(dated, pc.utf8_slice_codeunits(date_arr, 0, 10), date_arr)
    label = date_col or "Date"
    is_text = pa.types.is_string(date_arr.type) or pa.types.is_large_string(date_arr.type)
    times = parse_times(date_arr, label, tz=check_tz(tz), epoch_unit="auto", time_format=None,
                         timeframe=timeframe, calendar=calendar, problems=problems, path=path,
                         dates_only=daily and is_text)
    if daily and not times.dates and n and not is_text:
        raise FileFormatError(f"{path.name}: the {label!r} column does not hold dates (YYYY-MM-DD)", path=path)
    cols = {k: to_numbers(column(table, resolved[k]), k, resolved[k], problems, path) for k in PRICE_COLUMNS}
    cols["volume"] = to_numbers(column(table, resolved["volume"]), "volume", resolved["volume"], problems, path)
    if adjust:
        adj = to_numbers(column(table, adj_col), "adj close", adj_col, problems, path)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = adj / cols["close"]
        close = cols["close"]
        problems.add(~np.isfinite(ratio) & np.isfinite(close) & ~problems.mask(),
                     lambda i: f"{adj_col} {adj[i]:g} / Close {close[i]:g} is not a usable adjustment ratio")
        for k in PRICE_COLUMNS:
            cols[k] = cols[k] * ratio
    frame = finish_frame(Frame(times.ns, cols, np.arange(n)), problems, times.cut, np.arange(n) + layout.first_row,
                    path=path, timeframe=timeframe, sort=sort, regular_hours=False, calendar=calendar)
    return frame_table(frame)
