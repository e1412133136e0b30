"""Where live bars come from: a replay of the data catalog, the broker's bars, bars a client pushes.

Every source answers :meth:`BarSource.fetch` (the bars seen up to a wall-clock instant: complete
or not, repeats and corrections allowed; :class:`~backtestester.live.bars.LiveBars` keys, stores,
settles and delivers them) and :meth:`BarSource.history` (older bars, for charts and warm-up).

* :class:`ReplaySource`: the catalog's bars (loaded exactly as the gateway's simulator playgrounds
  load them, resampled from a finer stored timeframe when needed) replayed from ``start`` at
  ``speed`` times the wall clock. Its bars never change (``final = True``).
* :class:`BrokerBarSource`: polls :meth:`Broker.bars <backtestester.live.port.Broker.bars>`
  (Tradier time-sales) from the newest bar it has seen, each poll; a broker that cannot be reached
  is tried again next poll (a failure is never taken for "no bars").
* :class:`PushSource`: bars pushed by a client (the gateway's client-streaming RPC), validated.

Pure: standard library, numpy and the data catalog.
"""
from __future__ import annotations

import logging
import math
import threading
import time
from datetime import datetime, timezone
from typing import Iterable, Protocol, runtime_checkable

import numpy as np

from ..data.catalog import Catalog, DataNotFoundError
from ..data.schema import TIMEFRAMES, float64_values, int64_values
from ..data.validation import find_problem
from ..symbols import normalize_symbol
from ..texts import shown
from .port import Bar, BrokerUnavailable

log = logging.getLogger(__name__)

NS = 1_000_000_000
#: Periods Tradier's time-sales serve (``1min``, ``5min``, ``15min``).
BROKER_PERIODS = (60, 300, 900)
#: The calendar replayed catalog bars are loaded on: the gateway's simulator playgrounds' (D19).
REPLAY_CALENDAR = "XNYS"
#: How a replay spends wall time: on trading time only (``sessions``), or on all of it (``clock``).
PACES = ("sessions", "clock")


@runtime_checkable
class BarSource(Protocol):
    """A supplier of live bars. ``fetch(now_ns)``: bars seen up to ``now_ns`` (complete or not;
    repeats and corrections allowed). ``history(symbol, period_s, start_ns, end_ns)``: older bars
    starting in ``[start_ns, end_ns)``. A source may also have ``market_ns(now_ns)`` (its market
    clock, when it is not the wall clock), ``final`` (its bars never change) and
    ``resume(newest)`` (told the newest stored bar start per ``(symbol, period_s)`` at startup)."""

    def fetch(self, now_ns: int) -> list[Bar]: ...
    def history(self, symbol: str, period_s: int, start_ns: int, end_ns: int) -> list[Bar]: ...


def timeframe_of(period_s: int) -> str:
    """The catalog timeframe name (``"1m"``...) of a bar period in seconds."""
    for name, length in TIMEFRAMES.items():
        if int(length.total_seconds()) == period_s:
            return name
    accepted = ", ".join(f"{int(v.total_seconds())} ({k})" for k, v in TIMEFRAMES.items())
    raise ValueError(f"unsupported bar period {shown(period_s)} seconds: accepted: {accepted}")


def check_period(period_s) -> int:
    """``period_s`` as a positive whole number of seconds, else ``ValueError``."""
    if isinstance(period_s, bool) or not isinstance(period_s, (int, np.integer)) or period_s <= 0:
        raise ValueError(f"period_s must be a positive whole number of seconds, got {shown(period_s)}")
    return int(period_s)


def _symbols(symbols: Iterable[str]) -> list[str]:
    if isinstance(symbols, str):
        symbols = [symbols]
    out = list(dict.fromkeys(normalize_symbol(s) for s in symbols))
    if not out:
        raise ValueError("give at least one symbol")
    return out


def _instant_ns(when: datetime, what: str) -> int:
    if not isinstance(when, datetime):
        raise ValueError(f"{what} must be a datetime, got {shown(when)}")
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)  # naive = UTC, as the catalog reads it
    return int(when.timestamp()) * NS + when.microsecond * 1000


class _Series:
    """One symbol's catalog bars at one period, as numpy columns."""

    def __init__(self, symbol: str, period_s: int, table):
        self.symbol, self.period_s = symbol, period_s
        self.start = int64_values(table.column("start"))
        self.end = self.start + period_s * NS
        self.cols = [float64_values(table.column(c)) for c in ("open", "high", "low", "close", "volume")]

    def bars(self, lo: int, hi: int) -> list[Bar]:
        o, h, l, c, v = self.cols
        return [Bar(self.symbol, self.period_s, int(self.start[i]), float(o[i]), float(h[i]), float(l[i]),
                    float(c[i]), float(v[i])) for i in range(lo, hi)]


class ReplaySource:
    """The catalog's bars of ``symbols`` at ``period_s`` replayed from ``start``, ``speed`` times
    faster than the wall clock (:meth:`market_ns` is the replay time; a live playground's clock
    reads it); a bar is seen when its end (``start + period``) is at or before the replay time.

    ``pace="sessions"`` (the default) spends wall time on trading time only: between two bars of
    the first symbol that do not touch (a night, a weekend, a holiday) the replay time jumps from
    the end of one to the start of the next, so a day of one-minute bars at speed 60 takes 6.5
    minutes, not 24, and the bar that closes a session arrives while the next one is open (an
    order placed on it is in session, as in a backtest, whose clock moves to the next open).
    Before the first bar and after the last the replay time runs on. ``pace="clock"``: the replay
    time is ``start + (now - origin_ns) * speed``, nights included.

    Bars are loaded as the gateway's simulator playgrounds load them (:meth:`Catalog.load` on the
    XNYS sessions, resampled from a finer stored timeframe when ``period_s`` is not stored), so a
    replay shows a strategy the numbers a backtest over the same range sees. :meth:`history` is the
    catalog's bars before ``start``. ``origin_ns`` defaults to the wall clock at construction.
    Raises ``ValueError`` for a bad period, speed or pace, :class:`DataNotFoundError` for a symbol or
    timeframe the catalog lacks."""

    final = True  # catalog bars never change: nothing to settle

    def __init__(self, catalog_dir, symbols: Iterable[str], period_s: int, *, start: datetime,
                 speed: float = 1.0, origin_ns: int | None = None, pace: str = "sessions"):
        if pace not in PACES:
            raise ValueError(f"replay pace must be one of {', '.join(PACES)}, got {shown(pace)}")
        self.pace = pace
        self.period_s = check_period(period_s)
        self.timeframe = timeframe_of(self.period_s)
        if isinstance(speed, bool) or not isinstance(speed, (int, float)) or not math.isfinite(speed) or speed <= 0:
            raise ValueError(f"replay speed must be a finite number > 0, got {shown(speed)}")
        self.speed = float(speed)
        self.symbols = _symbols(symbols)
        self.start_ns = _instant_ns(start, "replay start")
        self.origin_ns = time.time_ns() if origin_ns is None else int(origin_ns)
        self._catalog = Catalog(catalog_dir)
        self._series: dict[tuple[str, int], _Series] = {}
        self._cursor: dict[str, int] = {}
        for symbol in self.symbols:  # fail at construction, naming what is missing
            series = self._load(symbol, self.period_s)
            self._cursor[symbol] = int(np.searchsorted(series.start, self.start_ns, side="left"))
        self._first = self._cursor[self.symbols[0]]  # the first replayed bar of the pacing symbol

    def _load(self, symbol: str, period_s: int) -> _Series:
        key = (symbol, period_s)
        if key not in self._series:
            table = self._catalog.load(symbol, timeframe_of(period_s), calendar=REPLAY_CALENDAR)
            self._series[key] = _Series(symbol, period_s, table)
        return self._series[key]

    def market_ns(self, now_ns: int) -> int:
        """The replay time at wall time ``now_ns`` (see the class docstring for the two paces)."""
        elapsed = round((int(now_ns) - self.origin_ns) * self.speed)
        if self.pace == "clock":
            return self.start_ns + elapsed
        series = self._series[(self.symbols[0], self.period_s)]
        first = self._first
        before = max(int(series.start[first]) - self.start_ns, 0) if first < len(series.start) else 0
        if elapsed <= before:
            return self.start_ns + elapsed
        k, within = divmod(elapsed - before, self.period_s * NS)
        if first + k < len(series.start):
            return int(series.start[first + k]) + within
        return int(series.end[-1]) + (elapsed - before) - (len(series.start) - first) * self.period_s * NS

    def finished(self, now_ns: int) -> bool:
        """Whether every replayed bar has been seen at wall time ``now_ns`` (the catalog has no more)."""
        market = self.market_ns(now_ns)
        return all(self._series[(s, self.period_s)].end[-1:].max(initial=0) <= market for s in self.symbols)

    def fetch(self, now_ns: int) -> list[Bar]:
        """The bars (from ``start`` on) that ended at or before the replay time and were not
        returned by an earlier fetch of this source."""
        market = self.market_ns(now_ns)
        out = []
        for symbol in self.symbols:
            series = self._series[(symbol, self.period_s)]
            lo = self._cursor[symbol]
            hi = max(lo, int(np.searchsorted(series.end, market, side="right")))
            out.extend(series.bars(lo, hi))
            self._cursor[symbol] = hi
        return out

    def history(self, symbol: str, period_s: int, start_ns: int, end_ns: int) -> list[Bar]:
        """The catalog's bars of ``symbol`` at ``period_s`` starting in ``[start_ns, end_ns)`` and
        before the replay's ``start``; ``[]`` for a symbol this replay does not play."""
        symbol = normalize_symbol(symbol)
        if symbol not in self.symbols:
            return []
        try:
            series = self._load(symbol, check_period(period_s))
        except (DataNotFoundError, ValueError):
            return []
        hi_ns = min(int(end_ns), self.start_ns)
        lo = int(np.searchsorted(series.start, int(start_ns), side="left"))
        hi = int(np.searchsorted(series.start, hi_ns, side="left"))
        return series.bars(lo, max(lo, hi))


class BrokerBarSource:
    """Bars of ``symbols`` at ``period_s`` (one of ``periods``: Tradier's 60, 300 or 900 s by
    default) from ``broker.bars`` (Tradier's time-sales; any object with that method, such as
    :class:`~backtestester.live.polygon.PolygonRest`, Polygon/Massive's aggregates).

    Each fetch asks, per symbol, from the start of the newest completed bar this source has seen
    (so its corrections are seen too) to ``now`` and returns the completed bars only: an
    in-progress version never reaches the store, so a broker that fails when a bar completes
    cannot leave a partial bar to be delivered; before any bar, from
    ``now - lookback_s`` (default two periods, so a fresh start does not replay the day), or from
    what :meth:`resume` was told (the newest stored bar, so a restart catches up what it missed).
    :class:`BrokerUnavailable` is logged and counted (``failures``, ``last_error``) and the same
    range is asked again next fetch: a failure is never taken for "no bars".
    :class:`~backtestester.live.port.BrokerAuthError` propagates (fail fast)."""

    def __init__(self, broker, symbols: Iterable[str], period_s: int, *, lookback_s: float | None = None,
                 periods: tuple[int, ...] = BROKER_PERIODS):
        self.period_s = check_period(period_s)
        if self.period_s not in periods:
            raise ValueError(f"broker bars come in periods of {', '.join(map(str, periods))} seconds, "
                             f"got {self.period_s}")
        self.periods = tuple(periods)
        self.broker = broker
        self.symbols = _symbols(symbols)
        self.lookback_ns = int((2 * self.period_s if lookback_s is None else lookback_s) * NS)
        self._from: dict[str, int] = {}
        self.failures = 0
        self.last_error = ""

    def resume(self, newest: dict[tuple[str, int], int]) -> None:
        """Start each symbol's next fetch at the newest stored bar's start (``{(symbol, period_s): start_ns}``)."""
        for symbol in self.symbols:
            start = newest.get((symbol, self.period_s))
            if start is not None and start > self._from.get(symbol, -1):
                self._from[symbol] = int(start)

    def fetch(self, now_ns: int, symbols: Iterable[str] | None = None) -> list[Bar]:
        """The broker's completed bars since the newest seen bar's start, per symbol (of ``symbols``
        only, when given); a symbol whose call fails with :class:`BrokerUnavailable` gives nothing
        this time and is asked again next time."""
        out = []
        wanted = self.symbols if symbols is None else [s for s in self.symbols if s in set(symbols)]
        for symbol in wanted:
            since = self._from.get(symbol, int(now_ns) - self.lookback_ns)
            try:
                bars = self.broker.bars(symbol, self.period_s, since, int(now_ns))
            except BrokerUnavailable as exc:
                self.failures += 1
                self.last_error = f"{symbol}: {exc}"
                log.warning("broker bars of %s unavailable (asked again next poll): %s", symbol, exc)
                continue
            bars = [b for b in bars if b.symbol == symbol and b.period_s == self.period_s and b.end_ns <= now_ns]
            if bars:
                self._from[symbol] = max(since, max(b.start_ns for b in bars))
            out.extend(bars)
        return out

    def history(self, symbol: str, period_s: int, start_ns: int, end_ns: int) -> list[Bar]:
        """The broker's bars of ``symbol`` starting in ``[start_ns, end_ns)`` (``[]`` for another
        symbol or a period the broker does not serve); :class:`BrokerUnavailable` propagates."""
        symbol = normalize_symbol(symbol)
        if symbol not in self.symbols or period_s not in self.periods:
            return []
        bars = self.broker.bars(symbol, int(period_s), int(start_ns), int(end_ns))
        return [b for b in bars if b.symbol == symbol and b.period_s == period_s and start_ns <= b.start_ns < end_ns]


def checked_bar(bar) -> Bar:
    """``bar`` validated (a :class:`Bar` with a symbol, a positive whole period, an integer start,
    finite prices with ``low <= min(open, close)`` and ``high >= max(open, close)``, a finite
    volume >= 0) and its symbol normalised; ``ValueError`` naming the field otherwise."""
    if not isinstance(bar, Bar):
        raise ValueError(f"expected a Bar, got {type(bar).__name__}")
    symbol = normalize_symbol(bar.symbol)
    period_s = check_period(bar.period_s)
    if isinstance(bar.start_ns, bool) or not isinstance(bar.start_ns, (int, np.integer)):
        raise ValueError(f"start_ns must be an integer of UTC nanoseconds, got {shown(bar.start_ns)}")
    values = {}
    for name in ("open", "high", "low", "close", "volume"):
        value = getattr(bar, name)
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
            raise ValueError(f"{name} must be a number, got {shown(value)} ({symbol} bar at {bar.start_ns})")
        values[name] = np.array([float(value)])
    problem = find_problem(np.array([int(bar.start_ns)], dtype=np.int64), values["open"], values["high"],
                           values["low"], values["close"], values["volume"], "1m")
    if problem is not None:
        raise ValueError(f"{symbol} bar at {bar.start_ns}: {problem[1]}")
    return Bar(symbol, period_s, int(bar.start_ns), *(float(values[k][0]) for k in
                                                      ("open", "high", "low", "close", "volume")))


class PushSource:
    """Bars pushed by a client (the gateway's ``PushBars`` stream). :meth:`push` is thread-safe
    and validates the whole batch first (:func:`checked_bar`): a bad bar raises ``ValueError``
    naming the field and nothing of that batch is kept. :meth:`fetch` hands the pushed bars over
    once. No history."""

    def __init__(self):
        self._lock = threading.Lock()
        self._pending: list[Bar] = []

    def push(self, bars: Iterable[Bar]) -> int:
        """Queue ``bars`` for the next fetch; returns how many were queued."""
        checked = [checked_bar(b) for b in bars]
        with self._lock:
            self._pending.extend(checked)
        return len(checked)

    def fetch(self, now_ns: int) -> list[Bar]:
        """Every bar pushed since the last fetch."""
        with self._lock:
            out, self._pending = self._pending, []
        return out

    def history(self, symbol: str, period_s: int, start_ns: int, end_ns: int) -> list[Bar]:
        """None: pushed bars are live only (LiveBars' store keeps what arrived)."""
        return []
