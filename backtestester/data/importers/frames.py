"""From converted columns to validated bar tables: filter regular hours, sort or group by ticker,
validate (:func:`backtestester.data.validation.find_problem`) and report the first bad row in file
order as a :class:`BadRowError`.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from .. import resample as rs
from ..schema import bar_table
from ..validation import find_problem
from .errors import BadRowError, FileFormatError, Problems


@dataclass
class Frame:
    start: np.ndarray
    cols: dict[str, np.ndarray]
    pos: np.ndarray  # position in the parsed arrays (file order)
    group: np.ndarray | None = None  # ticker code per row (polygon)

    def take(self, idx) -> "Frame":
        return Frame(self.start[idx], {k: v[idx] for k, v in self.cols.items()}, self.pos[idx],
                      None if self.group is None else self.group[idx])


def finish_frame(frame: Frame, problems: Problems, cut: int, rows: np.ndarray, *, path: Path, timeframe: str,
            sort: bool, regular_hours: bool, calendar: str | None, names: list[str] | None = None) -> Frame:
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
        rows_in = frame.start.size
        frame = frame.take(rs.session_mask(frame.start, calendar) | (frame.pos == cut))
        if rows_in and not frame.start.size:
            raise FileFormatError(
                f"none of the {rows_in:,} rows of {path.name} is in a regular session of {calendar} "
                f"(regular_hours=True, --regular-hours, keeps only those): expected at least one bar "
                f"in a session; nothing was imported", path=path)
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


def frame_table(frame: Frame, sl=slice(None)) -> pa.Table:
    cols = {"start": frame.start[sl]}
    cols.update({k: v[sl] for k, v in frame.cols.items()})
    return bar_table(cols)
