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

from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

from ..data.schema import TIMEFRAMES
from ..engine.timeutil import NS_PER_SECOND, from_ns, to_ns

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


def rfc3339_at(ns: int, tz=UTC) -> str:
    """:func:`rfc3339` of the instant ``ns`` (UTC nanoseconds) in ``tz``, the same text in about a
    fifth of the time (a tick's and an equity point's clock): the zone's offset is looked up once
    per UTC hour and the date once per day; an hour in which the offset changes, or an offset that
    is not whole minutes, takes :func:`rfc3339`'s way."""
    s = ns // NS_PER_SECOND
    off = _offset(tz, s // 3600)
    if off is None:
        return rfc3339(from_ns(ns, tz))
    day, rem = divmod(s + off[0], 86400)
    h, rem = divmod(rem, 3600)
    m, sec = divmod(rem, 60)
    return f"{_date(day)}T{h:02d}:{m:02d}:{sec:02d}{off[1]}"


@lru_cache(maxsize=4096)
def _offset(tz, hour: int) -> tuple[int, str] | None:
    """``(seconds, text)`` of ``tz``'s UTC offset through UTC hour ``hour`` (since the epoch), as
    :func:`rfc3339` prints it; ``None`` if it changes within the hour or is not whole minutes."""
    first, last = (datetime.fromtimestamp(hour * 3600 + k, tz).utcoffset() for k in (0, 3599))
    seconds = int(first.total_seconds())
    if first != last or seconds % 60:
        return None
    if seconds == 0:
        return 0, "Z"
    sign, minutes = "+" if seconds > 0 else "-", abs(seconds) // 60
    return seconds, f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


@lru_cache(maxsize=4096)
def _date(day: int) -> str:
    """``YYYY-MM-DD`` of ``day`` days after 1970-01-01."""
    return date.fromordinal(_EPOCH_ORDINAL + day).isoformat()


_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


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
