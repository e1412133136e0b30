"""Generic OHLCV files (:func:`read_generic`): CSV (optionally ``.gz``/``.bz2``/``.zst``-compressed,
delimiter ``,`` ``;`` or tab, detected from the header) or Parquet.

Columns are found by name, case-insensitively (``start``/``time``/``timestamp``/``datetime``/
``date``/..., ``open``/``o``, ``high``/``h``, ``low``/``l``, ``close``/``c``, ``volume``/``vol``/``v``)
or mapped with ``columns={"start": "Time", ...}``; a missing volume column means volume 0.
Times may be ISO 8601 strings (with ``Z`` or an offset: absolute; without: local time in
``tz``, default UTC, an ambiguous or non-existent local time at a DST change is an error),
epoch numbers (``epoch_unit`` ``s``/``ms``/``us``/``ns``, or ``auto``: by magnitude, below 1e11
seconds, 1e14 milliseconds, 1e17 microseconds, else nanoseconds), any format ``strptime``
understands (``time_format``), Parquet timestamps (naive ones are local time in ``tz``), or
dates.  Validation, row numbers and date stamping: see :mod:`backtestester.data.importers`.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np
import pyarrow as pa

from .. import resample as rs
from ..schema import PRICE_COLUMNS, check_timeframe
from .conversion import check_tz, column, infer_timeframe, parse_times, to_numbers
from .errors import Problems
from .frames import Frame, finish_frame, frame_table
from .reading import column_names, existing_file, read_columns, resolve_columns


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
    ``"volume": None`` for none).  See the module docstrings of :mod:`backtestester.data.importers.generic`
    (times) and :mod:`backtestester.data.importers` (validation).
    Raises FileFormatError / BadRowError (ValueErrors).
    """
    path = existing_file(path)
    tz = check_tz(tz)
    calendar = rs.calendar_name(calendar)
    if timeframe is not None:
        check_timeframe(timeframe)
    resolved = resolve_columns(column_names(path), columns, ("start", *PRICE_COLUMNS), ("volume",), path, "generic")
    table, first_row = read_columns(path, resolved, progress)
    n = table.num_rows
    problems = Problems(n)
    label = resolved["start"] or "start"
    times = parse_times(column(table, resolved["start"]), label, tz=tz, epoch_unit=epoch_unit,
                         time_format=time_format, timeframe=timeframe, calendar=calendar, problems=problems,
                         path=path)
    if timeframe is None:
        timeframe = infer_timeframe(times.ns[:times.cut], times.dates, path, problems=problems,
                                     rows=np.arange(n) + first_row)
    cols = {k: to_numbers(column(table, resolved[k]), k, resolved[k], problems, path) for k in PRICE_COLUMNS}
    cols["volume"] = (np.zeros(n) if resolved["volume"] is None else
                      to_numbers(column(table, resolved["volume"]), "volume", resolved["volume"], problems, path))
    frame = finish_frame(Frame(times.ns, cols, np.arange(n)), problems, times.cut, np.arange(n) + first_row,
                    path=path, timeframe=timeframe, sort=sort, regular_hours=regular_hours, calendar=calendar)
    return frame_table(frame), timeframe
