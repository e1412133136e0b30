"""Exchange sessions from ``exchange_calendars``: the one loader of the engine's clock and the data layer.

:func:`load_sessions` returns the sessions of a calendar over whole years as read-only int64
nanosecond arrays (UTC), cached per calendar and year range; :func:`calendar_info` resolves a
code (or alias) to its canonical name and the range of dates the calendar supports.  Holidays
are absent, early closes and lunch breaks come from ``exchange_calendars``.

The lowest layer of the package: standard library and numpy at import time;
``exchange_calendars`` (which pulls in pandas) is imported only when sessions are needed.
"""
from __future__ import annotations

import functools
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator, NamedTuple

import numpy as np

__all__ = [
    "MAX_YEAR",
    "CalendarInfo",
    "CalendarRangeError",
    "Sessions",
    "UnknownCalendarError",
    "calendar_info",
    "load_sessions",
]

NS_PER_DAY = 86_400 * 10**9
MAX_YEAR = 2200
"""Sessions are never fetched beyond this year; a range reaching it counts as complete."""


class UnknownCalendarError(ValueError):
    """The code is not an ``exchange_calendars`` calendar name or alias."""


class CalendarRangeError(ValueError):
    """The calendar cannot provide sessions over the requested range; ``reason`` is why."""

    def __init__(self, message: str, *, reason: str):
        super().__init__(message)
        self.reason = reason


class CalendarInfo(NamedTuple):
    """Canonical name and the first and last supported day (days since the epoch, None: unbounded)."""

    name: str
    first_day: int | None
    last_day: int | None


@dataclass(frozen=True)
class Sessions:
    """Sessions of a calendar over a fetched range, as read-only int64 ns arrays (UTC)."""

    labels: np.ndarray  # session date, days since the epoch
    opens: np.ndarray
    closes: np.ndarray
    break_starts: np.ndarray  # -1 where the session has no break
    break_ends: np.ndarray
    has_break: np.ndarray  # bool: the session has a lunch break
    complete_to_bound: bool  # the fetched range reaches the calendar's last possible session
    tz: Any  # the calendar's time zone (a ZoneInfo)


@contextmanager
def _without_pandas_warnings() -> Iterator[None]:
    """exchange_calendars trips pandas deprecation warnings users cannot act on."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        yield


@functools.lru_cache(maxsize=None)
def calendar_info(code: str) -> CalendarInfo:
    """Canonical name and supported day range of a calendar code or alias.

    Raises :class:`UnknownCalendarError` (a ``ValueError``) naming accepted codes."""
    import exchange_calendars as xcals  # noqa: PLC0415  (pulls in pandas: imported only when sessions are needed)

    if not isinstance(code, str) or code not in xcals.get_calendar_names(include_aliases=True):
        raise UnknownCalendarError(
            f"calendar must be None (24/7) or an exchange_calendars code such as 'XNYS', 'XLON', "
            f"'XTKS' (see exchange_calendars.get_calendar_names()), got {code!r}"
        )
    name = xcals.resolve_alias(code)
    with _without_pandas_warnings():
        cls = type(xcals.get_calendar(name))
    lo, hi = cls.bound_min(), cls.bound_max()
    to_day = lambda ts: None if ts is None else int(ts.value // NS_PER_DAY)  # noqa: E731
    return CalendarInfo(name, to_day(lo), to_day(hi))


def _ns(series: Any) -> np.ndarray:
    """int64 ns of a pandas series from exchange_calendars (tz-aware ones as UTC; NaT -> -1)."""
    if getattr(series.dt, "tz", None) is not None:
        series = series.dt.tz_convert(None)
    values = series.to_numpy(dtype="datetime64[ns]").astype(np.int64)
    values = np.where(values == np.iinfo(np.int64).min, -1, values)
    values.setflags(write=False)
    return values


@functools.lru_cache(maxsize=32)
def load_sessions(code: str, first_year: int, last_year: int, *, clamp_to_bounds: bool = True) -> Sessions:
    """Sessions of calendar ``code`` from Jan 1 of ``first_year`` to Dec 31 of ``last_year``.

    ``clamp_to_bounds``: shrink the range to the dates the calendar supports; otherwise a range
    beyond them raises.  Raises :class:`UnknownCalendarError` for an unknown code and
    :class:`CalendarRangeError` when the calendar cannot cover the range (both ``ValueError``).
    """
    import exchange_calendars as xcals  # noqa: PLC0415  (pulls in pandas: imported only when sessions are needed)

    name, lo, hi = calendar_info(code)
    start = np.datetime64(f"{first_year:04d}-01-01", "D").astype(np.int64)
    end = np.datetime64(f"{last_year:04d}-12-31", "D").astype(np.int64)
    complete = False
    if clamp_to_bounds:
        if lo is not None:
            start = max(start, lo)
        if hi is not None and end >= hi:
            end, complete = hi, True
    if last_year >= MAX_YEAR:
        complete = True
    as_str = lambda d: str(np.datetime64(int(d), "D"))  # noqa: E731
    try:
        with _without_pandas_warnings():
            cal = xcals.get_calendar(name, start=as_str(start), end=as_str(end))
    except Exception as exc:  # exchange_calendars raises a variety of errors for bad ranges
        raise CalendarRangeError(
            f"calendar {name!r} cannot provide sessions from {as_str(start)} to {as_str(end)}: {exc}",
            reason=str(exc)) from None
    sessions = cal.sessions
    if getattr(sessions, "tz", None) is not None:
        sessions = sessions.tz_convert(None)
    labels = sessions.to_numpy(dtype="datetime64[ns]").astype("datetime64[D]").astype(np.int64)
    labels.setflags(write=False)
    has_break = cal.break_starts.notna().to_numpy(dtype=bool) & cal.break_ends.notna().to_numpy(dtype=bool)
    has_break.setflags(write=False)
    return Sessions(
        labels=labels,
        opens=_ns(cal.opens),
        closes=_ns(cal.closes),
        break_starts=_ns(cal.break_starts),
        break_ends=_ns(cal.break_ends),
        has_break=has_break,
        complete_to_bound=complete,
        tz=cal.tz,
    )
