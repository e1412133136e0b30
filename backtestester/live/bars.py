"""Live bars: completed bars only, each delivered once per (symbol, period, start), corrections kept.

:class:`LiveBars` gathers the bars of its sources (:mod:`.barsources`: a replay of the catalog,
the broker's bars, bars a client pushes) into the SQLite table ``live_bars`` and hands the live
desk, at each :meth:`~LiveBars.poll`, the bars that became *due*:

* a bar is due when its window has ended and a settle delay has passed on the market clock
  (``end + settle <= clock``): in-progress bars and bars late trades may still change are held
  back (research §3.2, §6.4). A replay (every source ``final``) has nothing to settle. A bar
  stored before its end (a pushed one) is replaced by every later version until it is due;
* each key (symbol, period_s, start_ns) is returned once ever: the ``delivered`` flag is
  committed before :meth:`~LiveBars.poll` returns, so a restart (a new :class:`LiveBars` on the
  same path) delivers nothing twice;
* a later version of a bar (Massive resends a minute bar when late trades change it) replaces the
  stored one: before delivery it simply is the bar delivered; after delivery it updates the store
  (:meth:`~LiveBars.candles` shows it, ``corrections`` counts it) and is not delivered again;
* bars not aligned to their period are refused (counted in ``refused``, logged, not stored), as
  the original refused them (spec §17.6); so are bars with bad values (:func:`~.barsources.checked_bar`);
* the version of each bar a subscriber was handed is journaled (``live_bars_delivered``,
  :meth:`~LiveBars.delivered_version`), so what a strategy saw survives later corrections;
* only subscribed (symbol, period_s) pairs are delivered; the bars of other pairs are stored and,
  once due, marked delivered without being returned (:meth:`~LiveBars.candles` serves them).

Times are int UTC ns; ``now`` is an injectable callable. Pure: standard library and sqlite3.
"""
from __future__ import annotations

import logging
import math
import sqlite3
import threading
import time
from typing import Callable, Iterable

from ..symbols import normalize_symbol
from ..texts import shown
from .barsources import (  # noqa: F401  (re-exported: the live bars' one import)
    BROKER_PERIODS,
    BarSource,
    BrokerBarSource,
    PushSource,
    ReplaySource,
    check_period,
    checked_bar,
)
from .port import Bar, BrokerUnavailable

log = logging.getLogger(__name__)

NS = 1_000_000_000
#: Bars longer than this are anchored on sessions (an XNYS hour bar starts at 09:30), so they
#: need only start on a multiple of it; shorter bars must be aligned to their own period.
SESSION_ANCHOR_S = 1800

_SCHEMA = """
CREATE TABLE IF NOT EXISTS live_bars (
    symbol TEXT NOT NULL, period_s INTEGER NOT NULL, start_ns INTEGER NOT NULL,
    o REAL NOT NULL, h REAL NOT NULL, l REAL NOT NULL, c REAL NOT NULL, v REAL NOT NULL,
    delivered INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (symbol, period_s, start_ns)
);
CREATE INDEX IF NOT EXISTS live_bars_pending ON live_bars (delivered, start_ns) WHERE delivered = 0;
CREATE TABLE IF NOT EXISTS live_bars_delivered (
    symbol TEXT NOT NULL, period_s INTEGER NOT NULL, start_ns INTEGER NOT NULL,
    o REAL NOT NULL, h REAL NOT NULL, l REAL NOT NULL, c REAL NOT NULL, v REAL NOT NULL,
    delivered_ns INTEGER NOT NULL,
    PRIMARY KEY (symbol, period_s, start_ns)
);
"""
_COLUMNS = "symbol, period_s, start_ns, o, h, l, c, v"


def is_aligned(bar: Bar) -> bool:
    """Whether ``bar`` starts on its period's grid: a multiple of the period since the epoch for
    periods up to :data:`SESSION_ANCHOR_S` (the original's rule), of ``gcd(period, 1800 s)`` for
    longer, session-anchored bars."""
    step = bar.period_s if bar.period_s <= SESSION_ANCHOR_S else math.gcd(bar.period_s, SESSION_ANCHOR_S)
    return bar.period_s > 0 and bar.start_ns % (step * NS) == 0


def _gaps(lo: int, hi: int, covered: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The parts of ``[lo, hi)`` outside every ``covered`` range."""
    out = []
    for a, b in sorted(covered):
        if b <= lo or a >= hi:
            continue
        if a > lo:
            out.append((lo, a))
        lo = max(lo, b)
    if lo < hi:
        out.append((lo, hi))
    return out


def _row(bar: Bar) -> tuple:
    return (bar.symbol, bar.period_s, bar.start_ns, bar.open, bar.high, bar.low, bar.close, bar.volume)


def _bar(row) -> Bar:
    return Bar(row[0], int(row[1]), int(row[2]), *(float(x) for x in row[3:8]))


class LiveBars:
    """The live bar store and its delivery rule (see the module docstring).

    ``path``: the SQLite file (``None``: in memory, nothing survives). ``sources``: the
    :class:`BarSource` objects fetched at each poll. ``settle_s``: how long after its end a bar
    may still change (market-clock seconds; 0 when every source is ``final``). ``now``: the wall
    clock, a callable returning int UTC ns. Subscribe the pairs to deliver before the first poll:
    a due bar of a pair not subscribed at that poll is consumed without delivery."""

    def __init__(self, path: str | None, sources: Iterable[BarSource], *, settle_s: float = 2.0,
                 now: Callable[[], int] = time.time_ns):
        if isinstance(settle_s, bool) or not isinstance(settle_s, (int, float)) or not settle_s >= 0 \
                or not math.isfinite(settle_s):
            raise ValueError(f"settle_s must be a finite number of seconds >= 0, got {shown(settle_s)}")
        self.sources = list(sources)
        final = bool(self.sources) and all(getattr(s, "final", False) for s in self.sources)
        self.settle_ns = 0 if final else round(settle_s * NS)
        self._now = now
        self._lock = threading.RLock()
        self._subscribed: set[tuple[str, int]] = set()
        self._backfilled: dict[tuple[str, int], list[tuple[int, int]]] = {}  # history ranges asked
        self._live_first: dict[tuple[str, int], int] = {}  # where history ends and live bars begin
        self.refused = 0
        self.corrections = 0
        self._db = sqlite3.connect(path or ":memory:", check_same_thread=False)
        if path:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        self._resume_sources()

    def _resume_sources(self) -> None:
        newest = {(s, int(p)): int(t) for s, p, t in self._db.execute(
            "SELECT symbol, period_s, MAX(start_ns) FROM live_bars GROUP BY symbol, period_s")}
        for source in self.sources:
            if hasattr(source, "resume"):
                source.resume(newest)

    def subscribe(self, symbol: str, period_s: int) -> None:
        """Deliver the bars of ``(symbol, period_s)`` from the next poll on (idempotent)."""
        with self._lock:
            self._subscribed.add((normalize_symbol(symbol), check_period(period_s)))

    def unsubscribe(self, symbol: str, period_s: int) -> None:
        """Stop delivering ``(symbol, period_s)`` (its bars are still stored)."""
        with self._lock:
            self._subscribed.discard((normalize_symbol(symbol), check_period(period_s)))

    @property
    def subscriptions(self) -> set[tuple[str, int]]:
        return set(self._subscribed)

    def clock_ns(self, now_ns: int | None = None) -> int:
        """The market time at wall time ``now_ns`` (default: now): a replay source's replay time,
        else the wall clock."""
        now_ns = self._now() if now_ns is None else int(now_ns)
        for source in self.sources:
            market = getattr(source, "market_ns", None)
            if market is not None:
                return int(market(now_ns))
        return now_ns

    def poll(self, now_ns: int | None = None) -> list[Bar]:
        """Fetch every source, store what arrived and return the subscribed bars newly due
        (``end + settle <= clock_ns(now)``), each key once ever, sorted by (end, symbol, period).
        A source's :class:`BrokerUnavailable` is logged (its bars come next poll);
        :class:`~.port.BrokerAuthError` propagates."""
        now_ns = self._now() if now_ns is None else int(now_ns)
        market = self.clock_ns(now_ns)
        arrived = []
        for source in self.sources:
            try:
                arrived.extend(source.fetch(now_ns))
            except BrokerUnavailable as exc:
                log.warning("live bar source %s unavailable (asked again next poll): %s", type(source).__name__, exc)
        with self._lock:
            self.store(arrived)
            return self._take_due(market)

    def store(self, bars: Iterable[Bar], *, delivered: bool = False) -> int:
        """Store ``bars`` (a key seen before is replaced by the new version, its delivered flag
        kept); unaligned bars are refused. ``delivered=True`` stores new keys as already
        delivered (history) and leaves existing keys alone. Returns how many rows changed."""
        changed = 0
        with self._lock, self._db:
            for bar in bars:
                try:
                    bar = checked_bar(bar)
                    if not is_aligned(bar):
                        raise ValueError(f"{bar.symbol} bar at {bar.start_ns} is not aligned to its period "
                                         f"of {bar.period_s} s")
                except ValueError as exc:
                    self.refused += 1
                    log.warning("refused live bar: %s", exc)
                    continue
                changed += self._upsert(bar, delivered)
        return changed

    def _upsert(self, bar: Bar, history: bool) -> int:
        old = self._db.execute(f"SELECT {_COLUMNS}, delivered FROM live_bars WHERE symbol=? AND period_s=? "
                               "AND start_ns=?", bar.key).fetchone()
        row = _row(bar)
        if old is None:
            self._db.execute(f"INSERT INTO live_bars ({_COLUMNS}, delivered) VALUES (?,?,?,?,?,?,?,?,?)",
                             row + (int(history),))
            return 1
        if history or tuple(old[3:8]) == row[3:8]:
            return 0
        self._db.execute("UPDATE live_bars SET o=?, h=?, l=?, c=?, v=? WHERE symbol=? AND period_s=? AND start_ns=?",
                         row[3:8] + bar.key)
        if old[8]:
            self.corrections += 1
            log.info("correction of delivered bar %s/%ss at %s stored (not delivered again)", *bar.key)
        return 1

    def _take_due(self, market_ns: int) -> list[Bar]:
        rows = self._db.execute(
            f"SELECT {_COLUMNS} FROM live_bars WHERE delivered = 0 AND start_ns + period_s * {NS} + ? <= ?",
            (self.settle_ns, market_ns)).fetchall()
        if not rows:
            return []
        due = [r for r in rows if (r[0], int(r[1])) in self._subscribed]
        with self._db:
            self._db.executemany("UPDATE live_bars SET delivered = 1 WHERE symbol=? AND period_s=? AND start_ns=?",
                                 [r[:3] for r in rows])
            self._db.executemany(f"INSERT OR IGNORE INTO live_bars_delivered ({_COLUMNS}, delivered_ns) "
                                 "VALUES (?,?,?,?,?,?,?,?,?)", [tuple(r) + (market_ns,) for r in due])
        due = [_bar(r) for r in due]
        due.sort(key=lambda b: (b.end_ns, b.symbol, b.period_s))
        return due

    def delivered_version(self, symbol: str, period_s: int, start_ns: int) -> tuple[Bar, int] | None:
        """The bar as it was delivered (before any later correction) and the market time of its
        delivery, or ``None`` when it was not delivered: the journal of what a strategy saw
        (research §3.2: a next-day replay will not match the live bars exactly)."""
        with self._lock:
            row = self._db.execute(f"SELECT {_COLUMNS}, delivered_ns FROM live_bars_delivered WHERE symbol=? "
                                   "AND period_s=? AND start_ns=?",
                                   (normalize_symbol(symbol), int(period_s), int(start_ns))).fetchone()
        return None if row is None else (_bar(row), int(row[8]))

    def candles(self, symbol: str, period_s: int, start_ns: int, end_ns: int | None = None) -> list[Bar]:
        """The delivered bars of ``(symbol, period_s)`` starting in ``[start_ns, end_ns)``
        (``end_ns=None``: no bound), corrections applied, oldest first. What lies before the live bars (the
        store's first bar when the pair is first asked for, else that moment) is asked once from the
        sources' ``history`` and kept (a range whose history call failed is asked again next time)."""
        symbol, period_s = normalize_symbol(symbol), check_period(period_s)
        start_ns = int(start_ns)
        self._backfill(symbol, period_s, start_ns, end_ns)
        sql = (f"SELECT {_COLUMNS} FROM live_bars WHERE symbol=? AND period_s=? AND delivered=1 AND start_ns >= ?"
               + ("" if end_ns is None else " AND start_ns < ?") + " ORDER BY start_ns")
        args = (symbol, period_s, start_ns) + (() if end_ns is None else (int(end_ns),))
        with self._lock:
            return [_bar(r) for r in self._db.execute(sql, args)]

    def _backfill(self, symbol: str, period_s: int, start_ns: int, end_ns: int | None) -> None:
        """Ask the sources' history for what lies before the pair's live bars (the store's first
        bar when first asked, else the market time then) and was not asked before."""
        key = (symbol, period_s)
        with self._lock:
            if key not in self._live_first:
                first = self._db.execute("SELECT MIN(start_ns) FROM live_bars WHERE symbol=? AND period_s=?",
                                         key).fetchone()[0]
                self._live_first[key] = self.clock_ns() if first is None else int(first)
            upper = self._live_first[key] if end_ns is None else min(self._live_first[key], int(end_ns))
            covered = self._backfilled.setdefault(key, [])
            gaps = _gaps(start_ns, upper, covered)
        market = self.clock_ns()
        for lo, hi in gaps:
            bars = []
            for source in self.sources:
                try:
                    bars.extend(source.history(symbol, period_s, lo, hi))
                except BrokerUnavailable as exc:
                    log.warning("history of %s/%ss unavailable (asked again next time): %s", symbol, period_s, exc)
                    return
            self.store([b for b in bars if b.end_ns + self.settle_ns <= market], delivered=True)
            with self._lock:
                covered.append((lo, hi))

    def close(self) -> None:
        """Close the store and every source that has a ``close`` (a stream's thread is joined)."""
        with self._lock:
            self._db.close()
        for source in self.sources:
            if callable(getattr(source, "close", None)):
                source.close()
