"""Tradier's bar feed with the market-events stream as its accelerator; time-sales polling stays the truth.

:class:`StreamedBarSource` wraps the polling :class:`~.barsources.BrokerBarSource` (time-sales per
symbol) and a :class:`~.tradier_stream.MarketStream` (``trade``/``timesale`` events of the same
symbols):

* **a bar completes**: a ``trade``, ``timesale`` or ``tradex`` event of symbol S whose time is at
  or past the end of S's current bar means that bar has completed. The stream's thread marks S
  *due* and sets :attr:`StreamedBarSource.news` (a ``threading.Event``): the gateway's poll loop
  waits on it with the brokers' order events (:meth:`~.desk.LiveDesk.wait_events`) and polls at
  once; that fetch asks S's time-sales now. A due symbol whose completed bar REST has not served
  yet is asked again at every fetch until it comes (or the next scheduled poll asks every symbol);
* **polling stays the truth**: every symbol's time-sales are asked at the first fetch, at every
  fetch while the stream is not connected, at the first fetch after each (re)connect and, while it
  is connected, every ``rest_poll_s`` seconds (a failed poll is asked again at the next fetch). A
  dead, silent or dropping stream therefore loses no bar: it only makes bars come later (at the
  poll period, as without a stream);
* S's current bar is the one holding the newest event seen (before any event: the bar in progress
  at the last fetch, by the caller's clock).

:func:`tradier_feed` builds the source a gateway's ``--live-feed tradier`` uses from its
``[tradier]`` table: ``streams = true`` (the account stream's switch, default on in production)
also starts the market stream; ``market_stream`` (true/false) overrides that for the bar feed
alone; ``rest_poll_s`` (default 60) is the slower REST schedule while the stream is connected.
"""
from __future__ import annotations

import logging
import threading
from typing import Iterable

from .barsources import NS, BrokerBarSource
from .port import Bar
from .tradier_stream import STREAM_OPTION_KEYS, MarketStream, stream_options

log = logging.getLogger(__name__)

#: Market event kinds whose time says a bar has completed (quotes and summaries do not trade).
COMPLETING = ("trade", "timesale", "tradex")
#: The bar feed's own settings in a ``[tradier]`` table (beside :data:`~.tradier_stream.STREAM_OPTION_KEYS`).
MARKET_OPTION_KEYS = ("market_stream", "rest_poll_s")


class StreamedBarSource:
    """Time-sales bars from ``rest`` (a :class:`~.barsources.BrokerBarSource`), fetched early for a
    symbol when ``stream`` (a :class:`~.tradier_stream.MarketStream` of the same symbols, started by
    :meth:`start` or the first fetch) shows its bar completed (see the module docstring).
    Counters for health and tests: ``early`` (symbols fetched ahead of the schedule), ``full``
    (polls of every symbol)."""

    final = False

    def __init__(self, rest: BrokerBarSource, stream: MarketStream, *, rest_poll_s: float = 60.0):
        if isinstance(rest_poll_s, bool) or not isinstance(rest_poll_s, (int, float)) or not rest_poll_s > 0:
            raise ValueError(f"rest_poll_s must be a number of seconds > 0, got {rest_poll_s!r}")
        self.rest, self.stream = rest, stream
        self.symbols, self.period_s = rest.symbols, rest.period_s
        self.rest_poll_ns = int(rest_poll_s * NS)
        self.news = threading.Event()  #: set when a bar completed by the stream; cleared by fetch
        self._lock = threading.Lock()
        self._current: dict[str, int] = {}  # symbol -> end of its current bar
        self._due: dict[str, int] = {}  # symbol -> end of the completed bar to fetch
        self._next_rest_ns = 0
        self._connects = -1  # the link's connects at the last full poll: a reconnect asks every symbol
        self.early = self.full = 0
        self._started = False
        stream.on_events = self._events

    def start(self) -> StreamedBarSource:
        """Start the market stream (idempotent; the first :meth:`fetch` starts it too)."""
        if not self._started:
            self._started = True
            self.stream.start()
        return self

    def _events(self, events) -> None:
        """On the stream's thread: mark the symbols whose current bar an event completed."""
        period, completed = self.period_s * NS, False
        with self._lock:
            for event in events:
                if event.kind not in COMPLETING or event.time_ns <= 0 or event.symbol not in self.symbols:
                    continue
                current = self._current.get(event.symbol)
                if current is not None and event.time_ns >= current:
                    self._due[event.symbol] = max(self._due.get(event.symbol, 0), current)
                    completed = True
                end = event.time_ns - event.time_ns % period + period
                if current is None or end > current:
                    self._current[event.symbol] = end
        if completed:
            self.news.set()

    def resume(self, newest: dict[tuple[str, int], int]) -> None:
        """The newest stored bar per ``(symbol, period_s)``: REST catches up from there."""
        self.rest.resume(newest)

    def fetch(self, now_ns: int) -> list[Bar]:
        """Every symbol's completed bars when a scheduled or catch-up poll is due, else those of
        the symbols the stream saw complete a bar (see the module docstring)."""
        self.start()
        now_ns = int(now_ns)
        self.stream.drain()  # events are read as they arrive (_events): the buffer only needs emptying
        with self._lock:
            due, self._due = self._due, {}
            self.news.clear()
        stats = self.stream.link.stats
        connects = stats.connects
        if not stats.connected or connects != self._connects or now_ns >= self._next_rest_ns:
            failures = self.rest.failures
            bars = self.rest.fetch(now_ns)
            self.full += 1
            if self.rest.failures == failures:
                self._next_rest_ns, self._connects = now_ns + self.rest_poll_ns, connects
            due = {}  # every symbol was asked: what is still missing comes at the next scheduled poll
        else:
            bars = self.rest.fetch(now_ns, due) if due else []
            self.early += len(due)
        self._settle(due, bars, now_ns)
        return bars

    def _settle(self, due: dict[str, int], bars: list[Bar], now_ns: int) -> None:
        """Keep due the symbols whose completed bar did not come; seed the current bar of those
        no event has placed yet (the bar in progress at ``now_ns``)."""
        period = self.period_s * NS
        served = {}
        for bar in bars:
            served[bar.symbol] = max(served.get(bar.symbol, 0), bar.end_ns)
        with self._lock:
            for symbol, end in due.items():
                if served.get(symbol, 0) < end:
                    self._due[symbol] = max(self._due.get(symbol, 0), end)
            for symbol in self.symbols:
                self._current.setdefault(symbol, now_ns - now_ns % period + period)

    def history(self, symbol: str, period_s: int, start_ns: int, end_ns: int) -> list[Bar]:
        """Older bars, from time-sales."""
        return self.rest.history(symbol, period_s, start_ns, end_ns)

    def close(self) -> None:
        """Stop the market stream (its thread is joined)."""
        self.stream.stop()


def market_options(table: dict, environment: str) -> tuple[bool, float, dict]:
    """``(enabled, rest_poll_s, stream options)`` of a ``[tradier]`` table (see the module docstring);
    ``ValueError`` naming the setting when one is bad."""
    options = stream_options({k: v for k, v in table.items() if k in STREAM_OPTION_KEYS}, environment)
    enabled = table.get("market_stream", options["streams"])
    if not isinstance(enabled, bool):
        raise ValueError(f"Tradier 'market_stream' must be true or false, got {enabled!r}")
    poll = table.get("rest_poll_s", 60.0)
    if isinstance(poll, bool) or not isinstance(poll, (int, float)) or not poll > 0:
        raise ValueError(f"Tradier rest_poll_s must be a number of seconds > 0, got {poll!r}")
    return enabled, float(poll), options


def tradier_feed(broker, table: dict, symbols: Iterable[str], period_s: int):
    """The bar source of ``--live-feed tradier``: time-sales polling (:class:`~.barsources.BrokerBarSource`),
    accelerated by the market stream (:class:`StreamedBarSource`, started) when the table enables it."""
    rest = BrokerBarSource(broker, symbols, period_s)
    enabled, poll, options = market_options(table, table.get("environment", "sandbox"))
    if not enabled:
        return rest
    stream = MarketStream(broker, rest.symbols, filters=("trade", "timesale"), options=options)
    return StreamedBarSource(rest, stream, rest_poll_s=poll).start()
