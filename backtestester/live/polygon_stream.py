"""Polygon/Massive's per-minute aggregates WebSocket (``AM``) as a live bar source, REST backfilled.

:class:`PolygonStreamSource` owns one thread that connects to the stocks WebSocket
(``shared/research/live-venues.md`` §3.2), authenticates (``{"action":"auth","params":KEY}``,
then ``auth_success``), subscribes ``AM.SYM,...`` and puts every ``AM`` event of its symbols in a
thread-safe buffer keyed by (symbol, start): a minute bar sent again when late trades change it
replaces the buffered version (last version wins). :meth:`~PolygonStreamSource.fetch` (the
desk's poll, on the caller's thread) drains the buffer; :class:`~.bars.LiveBars` stores, settles
and delivers the bars:

* **late corrections**: a re-sent bar that arrives before its settle delay has passed
  (``end + settle``) is the version delivered; one that arrives after delivery updates the store
  (GetCandles shows it, ``LiveBars.corrections`` counts it) and is *not* delivered again: a
  strategy sees each minute once, and ``LiveBars.delivered_version`` keeps what it saw. Massive
  re-sends within 15 minutes; later trades only reach the end-of-day data;
* **gaps**: Massive sends no bar for a minute without trades, and neither does REST: the strategy
  gets no candle for that minute (its next candle starts later than the last one's end), never a
  zero-volume filler;
* **polling stays the truth**: the stream is an accelerator. The first fetch, every fetch while
  the stream is not connected, the first fetch after each (re)connect and, while connected, every
  ``rest_poll_s`` seconds, REST aggregates are asked
  (:func:`~.polygon.rest_source`, from the newest bar seen before the outage; while connected,
  from ``RESEND_WINDOW_S`` before the newest streamed bar), so a bar sent while the stream was
  down, or lost without a drop, still arrives; a backfill that failed is asked again next fetch;
* **reconnects**: the connection is a :class:`~.streams.StreamLink` (``docs/live/desk.md``, Streams):
  a closed or failed connection (a close without a frame included) is opened again after a
  back-off doubling from ``backoff_s`` to ``max_backoff_s``, reset once a connection
  authenticates; ``auth_failed`` stops the thread and the next fetch raises
  :class:`~.port.BrokerAuthError`.

:meth:`~PolygonStreamSource.close` stops the thread and joins it. The key is never logged.
Pure: standard library and the ``websockets`` client (its synchronous API).
"""
from __future__ import annotations

import json
import logging
import threading
import time
from typing import Callable, Iterable

from .polygon import MS, NS, PolygonConfig, PolygonRest, rest_source
from .port import Bar, BrokerAuthError
from .streams import StreamLink, StreamRefused, websocket_connect
from .tradier_http import brief

log = logging.getLogger(__name__)

#: How long after a minute Massive may still re-send it: the REST poll while connected re-reads this much.
RESEND_WINDOW_S = 900
#: The ``AM`` channel sends one-minute bars.
STREAM_PERIOD_S = 60


def am_bar(event, symbols) -> Bar | None:
    """The :class:`Bar` of one ``AM`` event of one of ``symbols`` (``s``: the window start in
    Unix **ms**), ``None`` for another event or symbol; ``ValueError`` when a field is missing."""
    if not isinstance(event, dict) or event.get("ev") != "AM" or event.get("sym") not in symbols:
        return None
    try:
        return Bar(event["sym"], STREAM_PERIOD_S, int(event["s"]) * MS,
                   *(float(event[k]) for k in ("o", "h", "l", "c", "v")))
    except (KeyError, TypeError, ValueError):
        raise ValueError(f"malformed AM event: {brief(event)}") from None


class PolygonStreamSource:
    """One-minute bars of ``symbols`` from the ``AM`` stream at ``url``, REST (``rest``) filling
    every gap (see the module docstring). ``connect`` is the WebSocket opener (``connect(url,
    timeout_s)``, default :func:`~.streams.websocket_connect`). Counters for health and tests:
    ``connections`` (authenticated sessions), ``drops``, ``received`` (AM bars), ``backoffs``
    (each wait, seconds), ``last_error``, ``auth_error`` (set when the stream refused the key)."""

    final = False

    def __init__(self, rest: PolygonRest, symbols: Iterable[str], period_s: int = STREAM_PERIOD_S, *, url: str,
                 api_key: str, rest_poll_s: float = 60.0, backoff_s: float = 1.0, max_backoff_s: float = 30.0,
                 lookback_s: float | None = None, open_timeout_s: float = 10.0, connect: Callable = websocket_connect):
        if period_s != STREAM_PERIOD_S:
            raise ValueError(f"the AM stream sends one-minute bars (period 60 s), got {period_s}; for other "
                             f"periods poll REST (stream = false)")
        self.rest = rest
        self.rest_source = rest_source(rest, symbols, STREAM_PERIOD_S, lookback_s=lookback_s)
        self.symbols = self.rest_source.symbols
        self.url, self._key = url, api_key
        self.rest_poll_ns = int(rest_poll_s * NS)
        self.open_timeout_s = open_timeout_s
        self._lock = threading.Lock()
        self._buffer: dict[tuple[str, int], Bar] = {}
        self._gap = True  # REST catches up at the first fetch and after every (re)connect
        self._seen_connects = 0  # the link's connects at the previous fetch: another means a reconnect
        self._next_rest_ns = 0
        self.auth_error: BrokerAuthError | None = None
        self.received = 0
        self.link = StreamLink("polygon-am", lambda: (self.url, ""), None, self._take, handshake=self._handshake,
                               connect=connect, silent_after_s=None,  # no bar in a minute without trades
                               backoff_s=backoff_s, max_backoff_s=max_backoff_s, connect_timeout_s=open_timeout_s,
                               stop_when_refused=True)

    # --- the link's counters -----------------------------------------------------------------
    @property
    def connections(self) -> int:
        return self.link.stats.connects

    @property
    def drops(self) -> int:
        return self.link.stats.drops

    @property
    def backoffs(self) -> list[float]:
        return list(self.link.stats.backoffs)

    @property
    def last_error(self) -> str:
        return self.link.stats.last_error

    # --- the caller's side -------------------------------------------------------------------
    def start(self) -> None:
        """Start the receiving thread (idempotent; :meth:`fetch` starts it too)."""
        self.link.start()

    def resume(self, newest: dict[tuple[str, int], int]) -> None:
        """The newest stored bar per ``(symbol, period_s)``: REST catches up from there."""
        self.rest_source.resume(newest)

    def fetch(self, now_ns: int) -> list[Bar]:
        """The streamed bars received since the last fetch (latest version of each), and the REST
        bars of a backfill or a periodic poll when one is due (see the module docstring).
        Raises :class:`~.port.BrokerAuthError` once the stream was refused its key."""
        self.start()
        if self.auth_error is not None:
            raise self.auth_error
        connected, connects = self.link.stats.connected, self.link.stats.connects
        with self._lock:
            streamed, self._buffer = list(self._buffer.values()), {}
            gap = self._gap or not connected or connects != self._seen_connects
            self._gap, self._seen_connects = False, connects
        if not gap and streamed:  # contiguous since the last fetch: REST need only re-read the resend window
            newest: dict[tuple[str, int], int] = {}
            for bar in streamed:
                newest[(bar.symbol, bar.period_s)] = max(newest.get((bar.symbol, bar.period_s), 0), bar.start_ns)
            self.rest_source.resume({k: v - RESEND_WINDOW_S * NS for k, v in newest.items()})
        if not gap and not (self.rest_poll_ns and now_ns >= self._next_rest_ns):
            return streamed
        failures = self.rest_source.failures
        polled = self.rest_source.fetch(int(now_ns))
        if self.rest_source.failures != failures:
            with self._lock:
                self._gap = self._gap or gap  # a failed backfill is asked again next fetch
        else:
            self._next_rest_ns = int(now_ns) + self.rest_poll_ns
        return streamed + polled  # REST was read after the buffer was drained: a bar in both keeps REST's version

    def history(self, symbol: str, period_s: int, start_ns: int, end_ns: int) -> list[Bar]:
        """Older bars, from REST."""
        return self.rest_source.history(symbol, period_s, start_ns, end_ns)

    def wait(self, predicate: Callable[["PolygonStreamSource"], bool], timeout_s: float) -> bool:
        """Block until ``predicate(self)`` holds (checked at every change of the counters or the
        buffer) or ``timeout_s`` passes; returns whether it holds."""
        return self.link.wait_for(lambda _stats: predicate(self), timeout_s)

    @property
    def running(self) -> bool:
        """Whether the receiving thread runs."""
        return self.link.running

    def pending(self) -> int:
        """How many bars the buffer holds (received, not yet fetched)."""
        with self._lock:
            return len(self._buffer)

    def close(self) -> None:
        """Stop the thread (closing the connection) and join it; close the REST session."""
        self.link.stop(self.open_timeout_s + 5)
        self.rest.close()

    # --- the link's thread ---------------------------------------------------------------------
    def _handshake(self, ws, _sessionid: str) -> None:
        """Auth (until ``auth_success``; ``auth_failed`` refuses for good), then subscribe."""
        ws.send(json.dumps({"action": "auth", "params": self._key}))
        while True:
            for event in self._events(ws.recv(self.open_timeout_s)):
                status = event.get("status") if isinstance(event, dict) and event.get("ev") == "status" else None
                if status == "auth_success":
                    ws.send(json.dumps({"action": "subscribe", "params": ",".join(f"AM.{s}" for s in self.symbols)}))
                    return
                if status in ("auth_failed", "auth_timeout"):
                    message = (f"Polygon stream: {status}: {brief(event.get('message', ''))} (check the key "
                               f"and that the plan includes WebSockets)")
                    log.error("Polygon stream refused the key; stream stopped: %s", message)
                    self.auth_error = BrokerAuthError(message)
                    raise StreamRefused(message)

    @staticmethod
    def _events(message) -> list:
        try:
            events = json.loads(message)
        except ValueError:
            log.warning("Polygon stream sent a message that is not JSON: %s", brief(message))
            return []
        return events if isinstance(events, list) else [events]

    def _take(self, message) -> None:
        bars = []
        for event in self._events(message):
            try:
                bar = am_bar(event, self.symbols)
            except ValueError as exc:
                log.warning("Polygon stream: %s", exc)
                continue
            if bar is not None:
                bars.append(bar)
            elif isinstance(event, dict) and event.get("ev") == "status":
                log.info("Polygon stream status %s: %s", event.get("status"), brief(event.get("message", "")))
        if bars:
            with self._lock:
                for bar in bars:
                    self._buffer[(bar.symbol, bar.start_ns)] = bar
                self.received += len(bars)
            self.link.notify()


def live_source(config: PolygonConfig, symbols: Iterable[str], period_s: int, *, now=time.time_ns):
    """The bar source a gateway configured for Polygon uses: the ``AM`` stream with REST
    backfill (:class:`PolygonStreamSource`) when ``config.stream`` (one-minute
    bars only: the stream sends minutes), else REST polling (:func:`~.polygon.rest_source`)."""
    rest = PolygonRest(config, now=now)
    if config.stream:
        return PolygonStreamSource(rest, symbols, period_s, url=config.stream_url, api_key=config.api_key,
                                   rest_poll_s=config.rest_poll_s, backoff_s=config.backoff_s,
                                   max_backoff_s=config.max_backoff_s)
    return rest_source(rest, symbols, period_s)
