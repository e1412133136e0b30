"""Deterministic synthetic OHLCV bars: seeded geometric Brownian motion on real sessions.

:func:`generate_bars` is used by ``make demo``, by the tests and by benchmarks
that need millions of one-minute bars, so everything is vectorised with numpy
(one million one-minute XNYS bars take ~0.3 s once exchange_calendars is
imported and the calendar cached, ~1 s in a fresh process).

Bar grid
--------
The grid of bars is fixed by the timeframe and the calendar, independent of
``start``/``end``; :func:`generate_bars` returns the grid bars whose start
instant lies in ``[start, end)`` (or the first ``n_bars`` of them from
``start``).

* Exchange calendar (``calendar="XNYS"`` or any other ``exchange_calendars``
  code; session opens, closes and lunch breaks come from ``exchange_calendars``,
  so holidays are absent and early closes honoured):

  - minute/hour timeframes: bars start at the session open (and again at the
    end of a lunch break) and step by the timeframe; a bar that would start at
    or after the close (or break start) is dropped, so the last bar of a
    session may be shorter than the timeframe (e.g. the ``4h`` bars of XNYS are
    09:30-13:30 and 13:30-16:00 New York);
  - ``1d``: one bar per session, stamped at the session *open* instant;
  - ``1w``: one bar per ISO week (Monday-Sunday, by session date) covering all
    of that week's sessions, stamped at the open of the week's first session.

  A ``start``/``end`` given as a *date* (``"2020-01-02"`` or
  :class:`datetime.date`) means a session date: the range starts at the open
  of the first session on/after that date, and ends (exclusive) at the open of
  the first session on/after ``end``.  A *datetime* is an instant (naive means
  UTC).  So with ``timeframe="1w"`` and a mid-week ``start`` the first bar is
  the next week's.

* ``calendar=None``: a 24/7 market.  Bars are contiguous and aligned to
  multiples of the timeframe since the Unix epoch (midnight UTC for ``1d``,
  Monday 00:00 UTC for ``1w``); the first bar is the first aligned one at or
  after ``start`` (a date means 00:00 UTC).

Price model
-----------
Log price follows a Brownian motion with drift ``mu - sigma**2 / 2`` and
volatility ``sigma`` per year of *variance time*:

* Exchange calendars: a year is 252 sessions, and each session is worth
  ``L + G`` minutes of variance, where ``L`` is the calendar's regular session
  length in trading minutes (390 for XNYS; the most common session length) and
  ``G = 120`` minutes is the overnight gap: the move between a session's close
  and the next open has the variance (and drift) of 120 trading minutes.  So
  ``annual_volatility`` is the annualised (x sqrt(252)) volatility of
  close-to-close daily returns, and a trading minute has
  ``dt = 1 / (252 * (L + G))`` years.  Calendars whose sessions are mostly
  back-to-back (``24/7``, ``24/5``) get no overnight gaps (``G = 0``).
* ``calendar=None``: a year is 365.25 days of 1440 minutes, no gaps.

Per bar of ``v`` variance-minutes (its trading minutes, plus ``G`` for every
overnight gap inside a weekly bar): ``log(close / open) ~ N((mu - sigma**2/2)
dt v, sigma**2 dt v)``; the open is the previous close (times the overnight
gap's return for the first bar after a gap; the very first open is
``initial_price``).  High and low are drawn from the exact distribution of the
maximum and minimum of a Brownian bridge from the open to the close (each
marginally; ``max = (x + sqrt(x**2 - 2 s**2 log U)) / 2`` in log space), so
``high >= max(open, close)`` and ``low <= min(open, close)``.  Prices are then
rounded to ``tick_size`` (nearest tick, never below one tick), and high/low are
widened to contain the rounded open/close, so the invariants hold exactly
after rounding.  Within a session each open equals the previous close.

Volume is ``1000`` shares per trading minute times a U-shaped intraday
profile (``3/5 * (1 + 2 (2x - 1)**2)`` at the bar's middle ``x`` in ``[0, 1]``
of the session: 1.8 at the open and close, 0.6 at midday, mean 1; flat for
daily/weekly bars and 24/7) times mean-one lognormal noise times a factor
growing with the bar's absolute return, rounded to whole shares (>= 1).

Randomness
----------
``numpy.random.default_rng`` streams are seeded from
``SeedSequence([seed, zlib.crc32(symbol)])`` (never Python's salted
``hash``): the same arguments give byte-identical tables, different symbols
differ.  Draws are indexed by bar position from ``start``, so the first ``k``
bars do not depend on ``end``/``n_bars``: ``generate_bars(n_bars=10)`` equals
the first 10 rows of ``generate_bars(n_bars=1000)``.

Part of the pure core: imports only the standard library, numpy, pyarrow and
exchange_calendars (through :mod:`backtestester.calendars`).
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import numpy as np
import pyarrow as pa

from ..calendars import MAX_YEAR, Sessions, calendar_info, load_sessions
from .dates import NS_PER_DAY, day_number, instant_ns, parse_when, year_of_day
from .schema import BAR_SCHEMA, TIMEFRAME_NS, TIMEFRAMES

__all__ = ["generate_bars"]

_NS_PER_MINUTE = 60 * 10**9
_EPOCH_MONDAY_NS = 4 * NS_PER_DAY  # 1970-01-05, the first Monday after the epoch
_SESSIONS_PER_YEAR = 252
_OVERNIGHT_MINUTES = 120.0
_MINUTES_PER_YEAR_247 = 365.25 * 1440
_BASE_VOLUME_PER_MINUTE = 1000.0
_VOLUME_NOISE_SIGMA = 0.5
_VOLUME_ABS_RETURN_WEIGHT = 0.5


# --------------------------------------------------------------------------- #
# Argument handling
# --------------------------------------------------------------------------- #


def _check_number(value: Any, name: str, *, positive: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value) or (positive and value <= 0):
        raise ValueError(f"{name} must be a finite number{' > 0' if positive else ''}, got {value!r}")
    return value


# --------------------------------------------------------------------------- #
# Bar grids: start ns, variance-minutes, trading minutes, gap-before flag, volume profile
# --------------------------------------------------------------------------- #


@dataclass
class _Grid:
    start: np.ndarray  # int64 ns
    var_minutes: np.ndarray  # float64: trading minutes + G per internal overnight gap
    trade_minutes: np.ndarray  # float64
    gap_before: np.ndarray  # bool: an overnight gap precedes the bar
    profile: np.ndarray  # float64 volume profile factor (mean 1)
    minute_dt: float  # years per variance-minute
    gap_minutes: float  # variance-minutes of an overnight gap


def _u_profile(x: np.ndarray) -> np.ndarray:
    return 0.6 * (1.0 + 2.0 * (2.0 * x - 1.0) ** 2)


def _grid_247(tf_ns: int, weekly: bool, start_ns: int, end_ns: int | None, n_bars: int | None) -> _Grid:
    anchor = _EPOCH_MONDAY_NS if weekly else 0
    first = anchor + -((anchor - start_ns) // tf_ns) * tf_ns  # first aligned instant >= start
    count = n_bars if n_bars is not None else max(0, -((first - end_ns) // tf_ns))
    starts = first + np.arange(count, dtype=np.int64) * tf_ns
    minutes = np.full(count, tf_ns / _NS_PER_MINUTE)
    return _Grid(
        start=starts,
        var_minutes=minutes,
        trade_minutes=minutes,
        gap_before=np.zeros(count, dtype=bool),
        profile=np.ones(count),
        minute_dt=1.0 / _MINUTES_PER_YEAR_247,
        gap_minutes=0.0,
    )


def _calendar_grid(s: Sessions, tf: str, tf_ns: int) -> _Grid:
    """The full bar grid over the fetched sessions ``s``."""
    opens, closes = s.opens, s.closes
    has_break = s.break_starts >= 0
    break_ns = np.where(has_break, s.break_ends - s.break_starts, 0)
    session_minutes = (closes - opens - break_ns) / _NS_PER_MINUTE
    # Regular session length L: the most common one (robust to early closes).
    values, counts = np.unique(session_minutes, return_counts=True)
    regular = float(values[np.argmax(counts)]) if values.size else 390.0
    # Overnight gaps: a boundary with non-trading time between a close and the next open.
    boundary_gap = np.empty(opens.size, dtype=bool)
    boundary_gap[0] = True
    boundary_gap[1:] = opens[1:] > closes[:-1]
    typical_gaps = bool(np.median(boundary_gap[1:])) if opens.size > 2 else True
    gap_minutes = _OVERNIGHT_MINUTES if typical_gaps else 0.0
    if not typical_gaps:
        boundary_gap[:] = False
    minute_dt = 1.0 / (_SESSIONS_PER_YEAR * (regular + gap_minutes))

    if tf == "1d":
        return _Grid(opens.copy(), session_minutes, session_minutes, boundary_gap,
                     np.ones(opens.size), minute_dt, gap_minutes)
    if tf == "1w":
        week = (s.labels + 3) // 7  # ISO (Monday-based) week number since the epoch
        first = np.flatnonzero(np.append(True, week[1:] != week[:-1]))
        if not s.complete_to_bound and first.size:
            # The last week of the fetched range may be cut by the fetch: drop it.
            cut = first[-1]
            first = first[:-1]
            session_minutes, boundary_gap = session_minutes[:cut], boundary_gap[:cut]
        if first.size:
            trade = np.add.reduceat(session_minutes, first)
            internal_gaps = np.add.reduceat(boundary_gap.astype(np.float64), first) - boundary_gap[first]
        else:
            trade = internal_gaps = np.empty(0)
        return _Grid(opens[first].copy(), trade + gap_minutes * internal_gaps, trade,
                     boundary_gap[first].copy(), np.ones(first.size), minute_dt, gap_minutes)

    # Intraday: segments [open, close) split at lunch breaks.
    seg_open = opens
    seg_close = np.where(has_break, s.break_starts, closes)
    brk = np.flatnonzero(has_break)
    if brk.size:
        seg_open = np.concatenate([opens, s.break_ends[brk]])
        seg_close = np.concatenate([seg_close, closes[brk]])
        seg_session = np.concatenate([np.arange(opens.size), brk])
        order = np.argsort(seg_open, kind="stable")
        seg_open, seg_close, seg_session = seg_open[order], seg_close[order], seg_session[order]
    else:
        seg_session = np.arange(opens.size)
    seg_first = np.ones(seg_open.size, dtype=bool)
    seg_first[1:] = seg_session[1:] != seg_session[:-1]
    n_per_seg = -((seg_open - seg_close) // tf_ns)  # ceil division: bars starting before the close
    n_per_seg = np.maximum(n_per_seg, 0)
    total = int(n_per_seg.sum())
    seg_of_bar = np.repeat(np.arange(seg_open.size), n_per_seg)
    offsets = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(n_per_seg) - n_per_seg, n_per_seg)
    starts = seg_open[seg_of_bar] + offsets * tf_ns
    trade_minutes = np.minimum(tf_ns, seg_close[seg_of_bar] - starts) / _NS_PER_MINUTE
    gap_before = (offsets == 0) & seg_first[seg_of_bar] & boundary_gap[seg_session[seg_of_bar]]
    sess = seg_session[seg_of_bar]
    mid = starts + trade_minutes * (_NS_PER_MINUTE / 2)
    x = (mid - opens[sess]) / (closes[sess] - opens[sess])
    return _Grid(starts, trade_minutes, trade_minutes, gap_before, _u_profile(np.clip(x, 0, 1)),
                 minute_dt, gap_minutes)


def _select_calendar_bars(
    name: str,
    tf: str,
    tf_ns: int,
    start: date | datetime,
    end: date | datetime | None,
    n_bars: int | None,
) -> _Grid:
    _, lo, hi = calendar_info(name)
    start_day = day_number(start)
    if hi is not None and start_day > hi:
        raise ValueError(
            f"start {start} is after the last date calendar {name!r} supports "
            f"({np.datetime64(hi, 'D')})"
        )
    if lo is not None and start_day < lo:
        raise ValueError(
            f"start {start} is before the first date calendar {name!r} supports "
            f"({np.datetime64(lo, 'D')})"
        )
    first_year = year_of_day(start_day - 14)
    if end is not None:
        last_year = year_of_day(day_number(end) + 14)
    else:
        # Rough guess of the span needed (390-minute sessions, 240 sessions a year), then grow.
        per_session = {"1d": 1.0, "1w": 0.2}.get(tf, math.ceil(390 * _NS_PER_MINUTE / tf_ns))
        last_year = year_of_day(start_day + int(n_bars / per_session / 240 * 366) + 60)
    while True:
        last_year = min(last_year, MAX_YEAR)
        s = load_sessions(name, first_year, last_year)
        # Resolve start/end: a date is a session date (its open), a datetime an instant.
        if isinstance(start, datetime):
            start_ns = instant_ns(start)
        else:
            i = int(np.searchsorted(s.labels, start_day))
            start_ns = int(s.opens[i]) if i < s.labels.size else None
        end_ns = None
        if end is not None:
            if isinstance(end, datetime):
                end_ns = instant_ns(end)
            else:
                j = int(np.searchsorted(s.labels, day_number(end)))
                end_ns = int(s.opens[j]) if j < s.labels.size else np.iinfo(np.int64).max
        if start_ns is not None:
            grid = _calendar_grid(s, tf, tf_ns)
            i0 = int(np.searchsorted(grid.start, start_ns))
            i1 = int(np.searchsorted(grid.start, end_ns)) if end_ns is not None else i0 + n_bars
            if i1 <= grid.start.size or end is not None or s.complete_to_bound:
                break
        elif s.complete_to_bound:
            i0 = i1 = 0
            grid = _calendar_grid(s, tf, tf_ns)
            break
        last_year = last_year + max(1, last_year - first_year)
    if i1 > grid.start.size:
        raise ValueError(
            f"n_bars={n_bars} is more than calendar {name!r} can provide after {start} "
            f"({grid.start.size - i0} bars up to its last supported session)"
        )
    sl = slice(i0, max(i0, i1))
    return _Grid(grid.start[sl], grid.var_minutes[sl], grid.trade_minutes[sl], grid.gap_before[sl],
                 grid.profile[sl], grid.minute_dt, grid.gap_minutes)


# --------------------------------------------------------------------------- #
# Simulation
# --------------------------------------------------------------------------- #


def _to_ticks(price: np.ndarray, tick_size: float | None) -> np.ndarray:
    if tick_size is None:
        return price
    inverse = round(1.0 / tick_size)
    ticks = np.maximum(np.rint(price / tick_size), 1.0)
    if inverse >= 1 and abs(inverse * tick_size - 1.0) < 1e-9:
        # Divide by the exact integer so that e.g. 10001 ticks of 0.01 give 100.01, not 100.01000000000001.
        return ticks / inverse
    return ticks * tick_size


def _simulate(
    grid: _Grid,
    rng_seed: np.random.SeedSequence,
    initial_price: float,
    mu: float,
    sigma: float,
    tick_size: float | None,
) -> dict[str, np.ndarray]:
    n = grid.start.size
    r_ret, r_gap, r_high, r_low, r_vol = (np.random.default_rng(s) for s in rng_seed.spawn(5))
    z = r_ret.standard_normal(n)
    z_gap = r_gap.standard_normal(n)
    u_high = 1.0 - r_high.random(n)  # (0, 1]
    u_low = 1.0 - r_low.random(n)
    z_vol = r_vol.standard_normal(n)

    drift = (mu - 0.5 * sigma * sigma) * grid.minute_dt  # per variance-minute
    var = sigma * sigma * grid.minute_dt * grid.var_minutes  # variance of each bar's log return
    x = drift * grid.var_minutes + np.sqrt(var) * z
    gap = np.where(
        grid.gap_before,
        drift * grid.gap_minutes + sigma * math.sqrt(grid.minute_dt * grid.gap_minutes) * z_gap,
        0.0,
    )
    if n:
        gap[0] = 0.0
    log_close = math.log(initial_price) + np.cumsum(gap + x)
    log_open = log_close - x
    # Maximum / minimum of a Brownian bridge from 0 to x with variance `var`.
    log_high = log_open + 0.5 * (x + np.sqrt(x * x - 2.0 * var * np.log(u_high)))
    log_low = log_open + 0.5 * (x - np.sqrt(x * x - 2.0 * var * np.log(u_low)))

    with np.errstate(over="ignore"):
        o, h, lo, c = (np.exp(a) for a in (log_open, log_high, log_low, log_close))
    if not (np.isfinite(h).all() and np.isfinite(lo).all()):
        raise ValueError(
            "annual_drift/annual_volatility/initial_price drive prices outside the float64 range"
        )
    o, h, lo, c = (_to_ticks(a, tick_size) for a in (o, h, lo, c))
    h = np.maximum(h, np.maximum(o, c))
    lo = np.minimum(lo, np.minimum(o, c))

    abs_z = np.abs(z)
    volume = (
        _BASE_VOLUME_PER_MINUTE
        * grid.trade_minutes
        * grid.profile
        * np.exp(_VOLUME_NOISE_SIGMA * z_vol - 0.5 * _VOLUME_NOISE_SIGMA**2)
        * (1.0 + _VOLUME_ABS_RETURN_WEIGHT * abs_z)
        / (1.0 + _VOLUME_ABS_RETURN_WEIGHT * math.sqrt(2.0 / math.pi))
    )
    volume = np.maximum(np.rint(volume), 1.0)
    return {"open": o, "high": h, "low": lo, "close": c, "volume": volume}


def _check_request(symbol: Any, timeframe: Any, end: Any, n_bars: Any, seed: Any) -> int | None:
    """Check what is asked for; returns ``n_bars`` as an int (or None)."""
    if not isinstance(symbol, str) or not symbol:
        raise ValueError(f"symbol must be a non-empty string, got {symbol!r}")
    if timeframe not in TIMEFRAMES:
        raise ValueError(
            f"timeframe must be one of {', '.join(repr(k) for k in TIMEFRAMES)}, got {timeframe!r}"
        )
    if (end is None) == (n_bars is None):
        raise ValueError("exactly one of end and n_bars must be given")
    if n_bars is not None:
        if isinstance(n_bars, bool) or not isinstance(n_bars, (int, np.integer)) or n_bars < 1:
            raise ValueError(f"n_bars must be an integer >= 1, got {n_bars!r}")
        n_bars = int(n_bars)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return n_bars


def _check_price_model(
    initial_price: Any, annual_drift: Any, annual_volatility: Any, tick_size: Any
) -> tuple[float, float, float, float | None]:
    """``(initial_price, mu, sigma, tick_size)`` as checked floats."""
    initial_price = _check_number(initial_price, "initial_price", positive=True)
    mu = _check_number(annual_drift, "annual_drift", positive=False)
    sigma = _check_number(annual_volatility, "annual_volatility", positive=True)
    if tick_size is not None:
        tick_size = _check_number(tick_size, "tick_size", positive=True)
        if initial_price < tick_size:
            raise ValueError(f"initial_price ({initial_price}) must be at least tick_size ({tick_size})")
    return initial_price, mu, sigma, tick_size


def _bar_grid(
    timeframe: str, calendar: Any, start_at: date | datetime, end_at: date | datetime | None, n_bars: int | None
) -> tuple[_Grid, str]:
    """The bars to generate and the canonical calendar name (``""`` for 24/7)."""
    tf_ns = TIMEFRAME_NS[timeframe]
    if calendar is None:
        end_ns = instant_ns(end_at) if end_at is not None else None
        return _grid_247(tf_ns, timeframe == "1w", instant_ns(start_at), end_ns, n_bars), ""
    if not isinstance(calendar, str):
        raise ValueError(
            f"calendar must be None (24/7) or an exchange_calendars code such as 'XNYS', "
            f"got {calendar!r}"
        )
    calendar_name, _, _ = calendar_info(calendar)
    return _select_calendar_bars(calendar_name, timeframe, tf_ns, start_at, end_at, n_bars), calendar_name


# --------------------------------------------------------------------------- #
# Public API
# --------------------------------------------------------------------------- #


def generate_bars(
    symbol: str = "SYNTH",
    *,
    timeframe: str = "1m",
    start: Any = "2020-01-02",
    end: Any = None,
    n_bars: int | None = None,
    calendar: str | None = "XNYS",
    seed: int = 0,
    initial_price: float = 100.0,
    annual_drift: float = 0.05,
    annual_volatility: float = 0.25,
    tick_size: float | None = 0.01,
) -> pa.Table:
    """Generate deterministic synthetic OHLCV bars (see the module docstring for the model).

    Args:
        symbol: Instrument name; mixed into the seed (via ``zlib.crc32``), so
            different symbols give different paths for the same ``seed``.
        timeframe: One of :data:`~.schema.TIMEFRAMES` (``"1m"``, ``"5m"``, ``"15m"``,
            ``"30m"``, ``"1h"``, ``"4h"``, ``"1d"``, ``"1w"``).
        start: First bar's lower bound (inclusive): a date / ISO date string
            (a session date for exchange calendars, 00:00 UTC for 24/7), or a
            datetime / ISO datetime string / ``numpy.datetime64`` (an instant;
            naive means UTC).
        end: Exclusive upper bound, same forms as ``start``.  Exactly one of
            ``end`` and ``n_bars`` must be given.
        n_bars: Exact number of bars to generate (>= 1).
        calendar: An ``exchange_calendars`` code (default ``"XNYS"``): bars
            exist only inside its sessions; ``None`` for a 24/7 market.
        seed: Non-negative integer seed.
        initial_price: Open of the first bar (> 0, at least one tick).
        annual_drift: ``mu``, the annual drift of the price (any finite number).
        annual_volatility: ``sigma`` (> 0), annualised volatility of
            close-to-close daily returns (per 365.25-day year for 24/7).
        tick_size: Price increment (> 0) all prices are rounded to, or ``None``
            for unrounded prices.

    Returns:
        A ``pyarrow.Table`` with schema :data:`~backtestester.data.schema.BAR_SCHEMA`: ``start``
        (``timestamp[ns, tz=UTC]``, the bar's start instant; sorted, unique),
        ``open``, ``high``, ``low``, ``close``, ``volume`` (``float64``).  May be
        empty if ``[start, end)`` contains no bar.  Schema metadata records the
        arguments (symbol, timeframe, calendar, seed).

    Raises:
        ValueError: unknown timeframe or calendar, both or neither of
            ``end``/``n_bars``, ``n_bars < 1``, ``end`` not after ``start``,
            non-positive ``initial_price``/``annual_volatility``/``tick_size``,
            negative ``seed``, or a range outside what the calendar supports.
    """
    n_bars = _check_request(symbol, timeframe, end, n_bars, seed)
    initial_price, mu, sigma, tick_size = _check_price_model(initial_price, annual_drift, annual_volatility,
                                                             tick_size)
    start_at = parse_when(start, "start")
    end_at = parse_when(end, "end") if end is not None else None
    if end_at is not None and instant_ns(end_at) <= instant_ns(start_at):
        raise ValueError(f"end ({end_at}) must be after start ({start_at})")
    grid, calendar_name = _bar_grid(timeframe, calendar, start_at, end_at, n_bars)

    seed_seq = np.random.SeedSequence([int(seed), zlib.crc32(symbol.encode("utf-8"))])
    cols = _simulate(grid, seed_seq, initial_price, mu, sigma, tick_size)
    metadata = {
        "symbol": symbol,
        "timeframe": timeframe,
        "calendar": calendar_name or "24/7",
        "seed": str(int(seed)),
        "generator": "backtestester.data.synthetic",
    }
    return pa.Table.from_arrays(
        [pa.array(grid.start, type=BAR_SCHEMA.field("start").type)]
        + [pa.array(cols[k], type=pa.float64()) for k in ("open", "high", "low", "close", "volume")],
        schema=BAR_SCHEMA.with_metadata(metadata),
    )
