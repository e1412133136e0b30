"""Vectorised OHLCV resampling on the sessions of an exchange calendar.

:func:`resample` turns bars of a finer timeframe into bars of a coarser one: every source
bar gets the start instant of its target bucket (a session-aligned bucket id), and the
buckets are reduced with numpy (``open`` = first, ``high`` = max, ``low`` = min, ``close`` =
last, ``volume`` = sum; ``np.maximum.reduceat`` and friends over the runs of equal ids of
the sorted bars).  No Python loop touches the bars.

Buckets are those of the synthetic generator's grid (:mod:`.synthetic`), so resampling
generated 1m bars gives bars at exactly the instants ``generate_bars`` uses for the coarser
timeframe:

* ``calendar="XNYS"`` (any ``exchange_calendars`` code):

  - intraday targets (``5m`` ... ``4h``): buckets start at the session open (and again at the
    end of a lunch break) and step by the timeframe; the last bucket of a session ends at the
    close (so it may be shorter: the XNYS ``4h`` bars are 09:30-13:30 and 13:30-16:00 New
    York, and on an early-close day 09:30-13:00 only).  A bar never spans two sessions or a
    lunch break.
  - ``1d``: one bar per session (lunch breaks included), stamped at the session open.
  - ``1w``: one bar per ISO week (Monday-Sunday, by session date) of the week's sessions,
    stamped at the open of the week's first session in the calendar.
  - Source bars outside every session (pre-market, after hours, holidays, lunch breaks for
    intraday targets) belong to no bucket and are left out; the count is recorded in the
    result's schema metadata (``dropped_outside_sessions``).  Daily source bars stamped at
    00:00 UTC of the session date (as some sources do) are placed on that session.

* ``calendar=None``: 24/7, buckets aligned to multiples of the timeframe since the Unix
  epoch (00:00 UTC for ``1d``, Monday 00:00 UTC for ``1w``): the same as pandas'
  ``resample(rule, origin="epoch", closed="left", label="left")``.

A source timeframe can serve a target when it is finer and, for intraday targets, divides it
(``1m`` serves everything, ``5m`` serves ``15m`` but ``1h`` does not serve ``90m``); intraday
timeframes serve ``1d``/``1w``, and ``1d`` serves ``1w``.  A source bar that would straddle
two target buckets (for instance hourly bars stamped on the hour resampled to XNYS ``4h``
buckets starting at 09:30) raises :class:`MisalignedBarsError`.

Part of the pure core: numpy, pyarrow and exchange_calendars (through the session tables of
:mod:`backtestester.calendars`, cached per calendar and year range).
"""
from __future__ import annotations

from datetime import datetime

import numpy as np
import pyarrow as pa

from ..calendars import Sessions, calendar_info, load_sessions
from .dates import NS_PER_DAY, day_number, instant_ns, parse_when, year_of_day
from .schema import BAR_SCHEMA, TIMEFRAME_NS, TIMEFRAMES, float64_values, int64_values

__all__ = [
    "resample",
    "bucket_starts",
    "can_resample",
    "sources_for",
    "calendar_name",
    "resolve_range",
    "session_mask",
    "stamp_dates",
    "MisalignedBarsError",
]

_EPOCH_MONDAY_NS = 4 * NS_PER_DAY  # 1970-01-05
_INTRADAY = ("1m", "5m", "15m", "30m", "1h", "4h")
_ORDER = list(TIMEFRAMES)


class MisalignedBarsError(ValueError):
    """A source bar would span two target buckets (the source grid does not fit the target's)."""


# --------------------------------------------------------------------------- #
# Helpers shared with the catalog and the importers
# --------------------------------------------------------------------------- #


def calendar_name(calendar: str | None) -> str | None:
    """Canonical ``exchange_calendars`` name of ``calendar`` (``None`` stays ``None``: 24/7).

    Raises ValueError naming accepted values for an unknown code."""
    if calendar is None:
        return None
    if isinstance(calendar, str) and calendar.strip().lower() in ("none", "24/7", ""):
        return None
    return calendar_info(calendar).name


def can_resample(source: str, target: str) -> bool:
    """Whether bars of ``source`` timeframe can be resampled to ``target``."""
    if source not in TIMEFRAMES or target not in TIMEFRAMES:
        return False
    if _ORDER.index(source) >= _ORDER.index(target):
        return False
    if target in ("1d", "1w"):
        return True
    return TIMEFRAME_NS[target] % TIMEFRAME_NS[source] == 0


def sources_for(target: str) -> list[str]:
    """Timeframes that can serve ``target`` by resampling, finest first."""
    return [tf for tf in TIMEFRAMES if can_resample(tf, target)]


def _sessions_covering(calendar: str, lo_ns: int, hi_ns: int) -> Sessions:
    first = year_of_day(int(lo_ns // NS_PER_DAY) - 14)
    last = year_of_day(int(hi_ns // NS_PER_DAY) + 14)
    return load_sessions(calendar_name(calendar), first, last)


def resolve_range(start, end, calendar: str | None) -> tuple[int | None, int | None]:
    """``[start, end)`` as nanoseconds; a date means the open of the first session on or
    after it (00:00 UTC when ``calendar`` is None), a datetime an instant (naive = UTC)."""

    def one(value, name):
        if value is None:
            return None
        when = parse_when(value, name)
        if isinstance(when, datetime) or calendar is None:
            return instant_ns(when)
        day = day_number(when)
        s = _sessions_covering(calendar, day * NS_PER_DAY, day * NS_PER_DAY)
        i = int(np.searchsorted(s.labels, day))
        return int(s.opens[i]) if i < s.labels.size else day * NS_PER_DAY

    lo, hi = one(start, "start"), one(end, "end")
    if lo is not None and hi is not None and hi <= lo:
        raise ValueError(f"end ({end}) must be after start ({start})")
    return lo, hi


def _locate(t: np.ndarray, s: Sessions) -> tuple[np.ndarray, np.ndarray]:
    """(session index, inside the session ``[open, close)``) of each instant."""
    i = np.searchsorted(s.opens, t, side="right") - 1
    ok = i >= 0
    i = np.where(ok, i, 0)
    if s.opens.size == 0:
        return i, np.zeros(t.size, dtype=bool)
    ok &= t < s.closes[i]
    return i, ok


def session_mask(start_ns: np.ndarray, calendar: str) -> np.ndarray:
    """True for instants inside a regular session of ``calendar`` (``open <= t < close``,
    outside lunch breaks)."""
    t = np.asarray(start_ns, dtype=np.int64)
    if t.size == 0:
        return np.zeros(0, dtype=bool)
    s = _sessions_covering(calendar, int(t.min()), int(t.max()))
    i, ok = _locate(t, s)
    bs, be = s.break_starts[i], s.break_ends[i]
    return ok & ~((bs >= 0) & (t >= bs) & (t < be))


def stamp_dates(days: np.ndarray, timeframe: str, calendar: str | None) -> tuple[np.ndarray, np.ndarray]:
    """Start instants of daily/weekly bars given by date (days since the epoch), as the
    generator stamps them: ``1d`` at the session's open, ``1w`` at the open of the first
    session of the date's ISO week; 24/7 (``calendar=None``): 00:00 UTC of the date, or of
    the week's Monday.  Returns ``(ns, ok)``; ``ok`` is False where the date is not a session
    (``1d``) or its week has none (``1w``)."""
    days = np.asarray(days, dtype=np.int64)
    if timeframe not in ("1d", "1w"):
        raise ValueError(f"dates without a time of day make 1d or 1w bars, not {timeframe}")
    if calendar is None:
        if timeframe == "1w":
            days = days - (days + 3) % 7
        return days * NS_PER_DAY, np.ones(days.size, dtype=bool)
    if days.size == 0:
        return days.copy(), np.ones(0, dtype=bool)
    s = _sessions_covering(calendar, int(days.min()) * NS_PER_DAY, int(days.max()) * NS_PER_DAY)
    if s.labels.size == 0:
        return np.zeros(days.size, dtype=np.int64), np.zeros(days.size, dtype=bool)
    keys, want = (s.labels, days) if timeframe == "1d" else ((s.labels + 3) // 7, (days + 3) // 7)
    i = np.searchsorted(keys, want)  # 1w: the first session of the week
    ic = np.minimum(i, keys.size - 1)
    ok = (i < keys.size) & (keys[ic] == want)
    return np.where(ok, s.opens[ic], 0), ok


# --------------------------------------------------------------------------- #
# Buckets
# --------------------------------------------------------------------------- #


def _fmt(ns: int) -> str:
    return str(np.datetime64(int(ns), "ns").astype("datetime64[s]")).replace("T", " ") + " UTC"


def bucket_starts(start_ns: np.ndarray, source: str, target: str,
                  calendar: str | None = "XNYS") -> tuple[np.ndarray, np.ndarray]:
    """The target bucket (its start instant, int64 ns) of each source bar, and a mask of the
    bars that belong to a bucket (False: outside every session).  ``start_ns`` must be
    sorted.  Raises :class:`MisalignedBarsError` if a source bar straddles two buckets and
    ValueError if ``source`` cannot serve ``target``."""
    if not can_resample(source, target):
        raise ValueError(
            f"cannot resample {source} bars to {target}: the source must be a finer timeframe that "
            f"divides the target (for {target}: {', '.join(sources_for(target)) or 'none'})")
    t = np.asarray(start_ns, dtype=np.int64)
    src_ns, tf_ns = TIMEFRAME_NS[source], TIMEFRAME_NS[target]
    if t.size == 0:
        return t.copy(), np.zeros(0, dtype=bool)
    calendar = calendar_name(calendar)
    if calendar is None:
        anchor = _EPOCH_MONDAY_NS if target == "1w" else 0
        b = anchor + ((t - anchor) // tf_ns) * tf_ns
        bad = t + src_ns > b + tf_ns
        if bad.any():
            k = int(np.argmax(bad))
            raise MisalignedBarsError(
                f"the {source} bar starting {_fmt(t[k])} spans two {target} buckets (24/7 buckets are "
                f"aligned to the epoch)")
        return b, np.ones(t.size, dtype=bool)

    s = _sessions_covering(calendar, int(t[0]), int(t[-1]))
    if s.opens.size == 0:
        return np.zeros(t.size, dtype=np.int64), np.zeros(t.size, dtype=bool)
    i, ok = _locate(t, s)
    if source == "1d":
        # Daily bars stamped at 00:00 UTC of the session date belong to that session.
        midnight = ~ok & (t % NS_PER_DAY == 0)
        if midnight.any():
            day = t[midnight] // NS_PER_DAY
            j = np.searchsorted(s.labels, day)
            jc = np.minimum(j, s.labels.size - 1)
            hit = (j < s.labels.size) & (s.labels[jc] == day)
            idx = np.flatnonzero(midnight)
            i[idx[hit]] = jc[hit]
            ok[idx[hit]] = True
    if target == "1d":
        return np.where(ok, s.opens[i], 0), ok
    if target == "1w":
        weeks = (s.labels + 3) // 7
        first_of_week = np.searchsorted(weeks, weeks)  # per session: index of its week's first session
        return np.where(ok, s.opens[first_of_week[i]], 0), ok

    # Intraday: segments are sessions split at lunch breaks.
    bs, be = s.break_starts[i], s.break_ends[i]
    has_break = bs >= 0
    after_break = has_break & (t >= be)
    in_break = has_break & (t >= bs) & ~after_break
    ok &= ~in_break
    seg_open = np.where(after_break, be, s.opens[i])
    seg_close = np.where(has_break & ~after_break, bs, s.closes[i])
    b = seg_open + ((t - seg_open) // tf_ns) * tf_ns
    bad = ok & (np.minimum(t + src_ns, seg_close) > np.minimum(b + tf_ns, seg_close))
    if bad.any():
        k = int(np.argmax(bad))
        raise MisalignedBarsError(
            f"the {source} bar starting {_fmt(t[k])} spans two {calendar} {target} buckets "
            f"(buckets start at the session open, {_fmt(seg_open[k])}, and step by {target})")
    return np.where(ok, b, 0), ok


def resample(table: pa.Table, source: str, target: str, *, calendar: str | None = "XNYS") -> pa.Table:
    """Resample a sorted bar table (``BAR_SCHEMA`` columns) of timeframe ``source`` to
    ``target`` on the sessions of ``calendar`` (``None``: 24/7).  See the module docstring.

    Returns a ``BAR_SCHEMA`` table (one chunk per column) whose schema metadata records
    ``resampled_from``, ``calendar`` and ``dropped_outside_sessions``.
    """
    for name in BAR_SCHEMA.names:
        if name not in table.column_names:
            raise ValueError(f"table is missing column {name!r}; required: {', '.join(BAR_SCHEMA.names)}")
    t = int64_values(table.column("start").cast(BAR_SCHEMA.field("start").type))
    if t.size > 1 and np.any(t[1:] <= t[:-1]):
        raise ValueError("resample needs bars sorted by start with unique timestamps")
    b, ok = bucket_starts(t, source, target, calendar)
    dropped = int(t.size - np.count_nonzero(ok))
    cols = {name: float64_values(table.column(name)) for name in ("open", "high", "low", "close", "volume")}
    if dropped:
        b = b[ok]
        cols = {k: v[ok] for k, v in cols.items()}
    n = b.size
    if n:
        cut = np.flatnonzero(b[1:] != b[:-1]) + 1
        first = np.concatenate(([0], cut))
        last = np.concatenate((cut - 1, [n - 1]))
        out = {
            "start": b[first],
            "open": cols["open"][first],
            "high": np.maximum.reduceat(cols["high"], first),
            "low": np.minimum.reduceat(cols["low"], first),
            "close": cols["close"][last],
            "volume": np.add.reduceat(cols["volume"], first),
        }
    else:
        out = {k: np.empty(0, dtype=np.int64 if k == "start" else np.float64) for k in BAR_SCHEMA.names}
    name = calendar_name(calendar)
    meta = {
        "timeframe": target,
        "resampled_from": source,
        "calendar": name or "24/7",
        "dropped_outside_sessions": str(dropped),
    }
    arrays = [pa.array(out["start"]).view(BAR_SCHEMA.field("start").type)]
    arrays += [pa.array(out[k]) for k in ("open", "high", "low", "close", "volume")]
    return pa.Table.from_arrays(arrays, schema=BAR_SCHEMA.with_metadata(meta))

