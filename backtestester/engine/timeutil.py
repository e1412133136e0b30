"""Conversions between timezone-aware datetimes and the engine's integer nanoseconds (UTC)."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

UTC = timezone.utc
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
NS_PER_SECOND = 1_000_000_000
_MICROSECOND = timedelta(microseconds=1)


def to_ns(value: datetime, what: str = "time") -> int:
    """Nanoseconds since the epoch of a timezone-aware datetime; naive datetimes are refused."""
    if not isinstance(value, datetime):
        raise TypeError(f"{what} must be a timezone-aware datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware (e.g. datetime(..., tzinfo=timezone.utc)), got naive {value}")
    return (value - EPOCH) // _MICROSECOND * 1000


def from_ns(ns: int, tz=UTC) -> datetime:
    """The datetime (microsecond precision) of nanoseconds since the epoch, in ``tz``."""
    dt = EPOCH + timedelta(0, 0, ns // 1000)  # (days, seconds, microseconds): positional is cheaper
    return dt if tz is UTC else dt.astimezone(tz)


def period_to_ns(period: timedelta, what: str = "period") -> int:
    """Nanoseconds of a positive ``timedelta``."""
    if not isinstance(period, timedelta):
        raise TypeError(f"{what} must be a datetime.timedelta, got {type(period).__name__}")
    ns = period // _MICROSECOND * 1000
    if ns <= 0:
        raise ValueError(f"{what} must be positive, got {period}")
    return ns


def is_date_only(value) -> bool:
    return isinstance(value, date) and not isinstance(value, datetime)
