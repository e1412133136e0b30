"""Times and timeframes on the wire, both directions (pure functions).

Time formats (spec 5.5, wire-v1.md):

* ``Trade.create_date`` / ``Order.create_date``: Go's default ``time.Time`` format,
  ``2006-01-02 15:04:05 -0700 MST`` (e.g. ``2021-01-04 09:30:00 -0500 EST``), in the
  playground's calendar zone (America/New_York for XNYS, UTC for a 24/7 clock).
* ``Bar.datetime``: the bar's start, ``YYYY-MM-DDTHH:MM:SSZ`` (UTC).
* every other time string (``TickDelta.current_time``, ``Clock``, equity plot): RFC 3339 as Go
  prints it (``2021-01-04T09:30:00-05:00``, ``Z`` for UTC).

Timeframes: a ``Repository`` names its period as ``(timespan_multiplier, timespan_unit)``, the
catalog as ``"5m"``, ``"1h"``...; :data:`TIMESPANS` and :data:`CATALOG_TIMEFRAMES` translate, and
both are derived from the data layer's vocabulary (``TIMEFRAMES``), so the wire accepts exactly
the catalog's timeframes.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from ..data.schema import TIMEFRAMES
from ..engine.timeutil import from_ns, to_ns

UTC = timezone.utc
NEW_YORK = ZoneInfo("America/New_York")

#: ``Repository.timespan_unit`` -> seconds.
UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400, "week": 7 * 86400}


def _timespan(period: timedelta) -> tuple[int, str]:
    """``(multiplier, unit)`` of a period, in the largest unit that divides it."""
    seconds = int(period.total_seconds())
    unit = max((u for u, s in UNIT_SECONDS.items() if seconds % s == 0), key=UNIT_SECONDS.__getitem__)
    return seconds // UNIT_SECONDS[unit], unit


#: catalog timeframe -> ``(timespan_multiplier, timespan_unit)`` of the wire's Repository.
TIMESPANS: dict[str, tuple[int, str]] = {name: _timespan(period) for name, period in TIMEFRAMES.items()}
#: ``(timespan_multiplier, timespan_unit)`` -> catalog timeframe (the inverse of :data:`TIMESPANS`).
CATALOG_TIMEFRAMES: dict[tuple[int, str], str] = {span: name for name, span in TIMESPANS.items()}


# --- engine -> wire ------------------------------------------------------------------------------
def go_time(dt: datetime, tz=None) -> str:
    """Go's default time format ``2006-01-02 15:04:05 -0700 MST``."""
    if tz is not None:
        dt = dt.astimezone(tz)
    name = dt.tzname() or "UTC"
    return dt.strftime("%Y-%m-%d %H:%M:%S %z ") + name


def rfc3339(dt: datetime, tz=None) -> str:
    """RFC 3339 as Go's ``time.RFC3339`` prints it: seconds, ``Z`` for UTC, else ``-05:00``."""
    if tz is not None:
        dt = dt.astimezone(tz)
    dt = dt.replace(microsecond=0)
    if dt.utcoffset() == timedelta(0):
        return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return dt.isoformat()


def bar_time(dt: datetime) -> str:
    """A ``Bar.datetime``: ``YYYY-MM-DDTHH:MM:SSZ`` (UTC)."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def rfc3339_from_ns(ns: int) -> str:
    """RFC 3339 in UTC (``...Z``) of UTC nanoseconds, as a client sends a time (``GetCandles``)."""
    return from_ns(ns).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- wire -> engine ------------------------------------------------------------------------------
def rfc3339_ns(text: str) -> int:
    """UTC nanoseconds of an RFC 3339 time (``2024-01-03T09:31:00-05:00``, ``...Z``)."""
    return to_ns(datetime.fromisoformat(text.replace("Z", "+00:00")))


def go_time_ns(text: str) -> int:
    """UTC nanoseconds of Go's default time format (``2024-01-03 09:31:00 -0500 EST``)."""
    return to_ns(datetime.strptime(" ".join(text.split()[:3]), "%Y-%m-%d %H:%M:%S %z"))
