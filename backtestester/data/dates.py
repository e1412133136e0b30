"""Start and end arguments of the data layer: dates and instants, as epoch days and nanoseconds.

A *date* (``"2020-01-02"`` or :class:`datetime.date`) is a session date; a *datetime* (or an ISO
datetime string, or ``numpy.datetime64``) is an instant, naive meaning UTC.  The generator
(:mod:`.synthetic`), the resampler and the catalog accept both forms through :func:`parse_when`.

Part of the pure core: standard library and numpy only.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any

import numpy as np

__all__ = ["EPOCH", "FIRST_DATE", "LAST_DATE", "NS_PER_DAY", "datetime_of_ns", "day_number", "format_ns",
           "instant_ns", "parse_when", "supported_date", "year_of_day"]

NS_PER_DAY = 86_400 * 10**9
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
#: The dates the data layer and the engine can hold: instants are int64 nanoseconds since the
#: epoch (numpy ``datetime64[ns]``), 1677-09-21 to 2262-04-11. A margin of a whole year on each
#: side, because exchange calendars are built for whole years around the dates they serve.
FIRST_DATE = date(1679, 1, 1)
LAST_DATE = date(2260, 12, 31)


def supported_date(value: date | datetime) -> bool:
    """Whether the (local) date of ``value`` lies in :data:`FIRST_DATE` .. :data:`LAST_DATE`."""
    day = value.date() if isinstance(value, datetime) else value
    return FIRST_DATE <= day <= LAST_DATE


def parse_when(value: Any, name: str) -> date | datetime:
    """A date (session date) or a UTC datetime (instant)."""
    if isinstance(value, np.datetime64):
        if np.isnat(value):
            raise ValueError(f"{name} must not be NaT")
        value = EPOCH + timedelta(microseconds=int(value.astype("datetime64[us]").astype(np.int64)))
    if isinstance(value, str):
        text = value.strip()
        try:
            value = date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(
                f"{name} must be an ISO date ('2020-01-02') or datetime ('2020-01-02T14:30:00Z'), "
                f"got {text!r}"
            ) from None
    if isinstance(value, datetime):
        if value.utcoffset() is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)
    if isinstance(value, date):
        return value
    raise ValueError(
        f"{name} must be a date, a datetime, an ISO string or numpy.datetime64, "
        f"got {type(value).__name__}"
    )


def instant_ns(value: date | datetime) -> int:
    """Nanoseconds since the epoch; a date is taken at 00:00 UTC."""
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day, tzinfo=timezone.utc)
    delta = value - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 10**9 + delta.microseconds * 1000


def day_number(value: date | datetime) -> int:
    """Days since the epoch of the (UTC) date of ``value``."""
    return instant_ns(value) // NS_PER_DAY


def year_of_day(day: int) -> int:
    """Calendar year of a day number (days since the epoch)."""
    return int(np.datetime64(int(day), "D").astype("datetime64[Y]").astype(np.int64)) + 1970


def datetime_of_ns(ns: int) -> datetime:
    """The UTC datetime of nanoseconds since the epoch (to the microsecond)."""
    return EPOCH + timedelta(microseconds=int(ns) // 1000)


def format_ns(ns: int) -> str:
    """``2020-01-02 14:30 UTC`` (seconds shown only when not zero)."""
    dt = datetime_of_ns(ns)
    return dt.strftime("%Y-%m-%d %H:%M:%S" if dt.second or dt.microsecond else "%Y-%m-%d %H:%M") + " UTC"
