"""Broker streams as accelerators over polling: one supervised WebSocket per stream, in its own
thread, and the thread-safe buffer of order events the desk drains.

Polling stays the source of truth (``docs/live/desk.md``): a stream only makes the desk read an
order *now* instead of at its next poll. A stream that is down, silent or lying therefore loses
nothing; the next poll applies what it missed.

:class:`StreamLink` keeps one stream up: it opens a session (a callable: a vendor's session ids
expire, so every connection gets a fresh one), connects, sends the subscription frame, hands
every frame to the owner, and reconnects with exponential back-off when the socket closes (with
or without a frame), answers an error, or stays silent longer than ``silent_after_s`` by the
injected clock. A stream whose server wants an exchange first (Alpaca's and Polygon's: send the
keys, wait for the answer, then subscribe) passes a ``handshake`` instead of a subscription frame;
a refusal (:class:`StreamRefused`) waits ``max_backoff_s`` before the next try (keys do not get
better by hammering) or, with ``stop_when_refused``, ends the link. Binary frames are read as UTF-8
text. Every venue's stream runs on it: Tradier's account and market streams
(:mod:`.tradier_stream`), Alpaca's trade updates (:mod:`.alpaca_stream`), Polygon's ``AM`` bars
(:mod:`.polygon_stream`). :class:`OrderEvents` is the buffer between a broker stream's thread and
the desk.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

NS = 1_000_000_000


class StreamClosed(Exception):
    """The stream must be reconnected (closed by the server, an error frame, silence, a bad session)."""


class StreamRefused(StreamClosed):
    """The server refused the keys or the subscription (kept apart from a dropped connection)."""


class OrderEvents:
    """Broker order ids a stream reported, deduplicated, until the desk drains them; thread-safe.

    ``wait(timeout_s)`` blocks until an id arrives (or the timeout passes): the gateway's poll
    loop waits on it between polls."""

    def __init__(self):
        self._lock = threading.Lock()
        self._ids: dict[str, None] = {}
        self._ready = threading.Event()
        self.received = 0

    def put(self, order_id: str) -> None:
        with self._lock:
            self._ids[str(order_id)] = None
            self.received += 1
            self._ready.set()

    def drain(self) -> list[str]:
        """The ids reported since the previous drain, in arrival order (each once)."""
        with self._lock:
            ids, self._ids = list(self._ids), {}
            self._ready.clear()
            return ids

    def wait(self, timeout_s: float) -> bool:
        """Whether ids are waiting, after at most ``timeout_s`` seconds."""
        return self._ready.wait(timeout_s)


@dataclass
class LinkStats:
    """What a link did: ``connects`` (sockets opened), ``sessions`` (sessions created), ``drops``
    (reconnects for any reason), ``silent`` (drops for silence), ``refused`` (refusals),
    ``frames``, ``last_error``, ``backoffs`` (the latest waits before a reconnect, seconds)."""

    connects: int = 0
    sessions: int = 0
    drops: int = 0
    silent: int = 0
    refused: int = 0
    frames: int = 0
    connected: bool = False
    last_error: str = ""
    backoffs: deque = field(default_factory=lambda: deque(maxlen=1000))


def websocket_connect(url: str, timeout_s: float):
    """A WebSocket connection (``websockets``' synchronous client) with ``send(text)``,
    ``recv(timeout) -> str`` (``TimeoutError`` when nothing came) and ``close()``."""
    from websockets.sync.client import connect  # noqa: PLC0415  (only a link that runs needs it)

    return connect(url, open_timeout=timeout_s, close_timeout=min(timeout_s, 2.0), max_size=2**22)


class StreamLink:
    """One stream kept up in a daemon thread (see the module doc).

    ``open_session() -> (url, sessionid)`` creates a session (raising on failure);
    ``subscribe(sessionid) -> str`` is the first frame, or ``handshake(socket, sessionid)`` (when
    given; ``subscribe`` may then be ``None``) does the opening exchange with ``socket.send(text)``
    and ``socket.recv(timeout)``, raising :class:`StreamRefused` for a refusal and
    :class:`StreamClosed` for anything else; ``on_frame(text)`` gets every later frame and raises
    :class:`StreamClosed` to reconnect (an error frame). ``now`` (int ns) measures silence
    (``silent_after_s=None``: none, for a stream quiet by nature; the client's keepalive pings find
    a dead socket); ``sleep(seconds)`` waits out a back-off (default: an interruptible wait).
    Back-off: ``backoff_s`` doubled per failed attempt up to ``max_backoff_s``; reset once a
    connection has delivered a frame or passed its handshake. ``stop_when_refused``: a refusal
    ends the thread (``stats.refused``, ``stats.last_error`` say why)."""

    def __init__(self, name: str, open_session, subscribe, on_frame, *, connect=websocket_connect,
                 now=time.monotonic_ns, sleep=None, silent_after_s: float | None = 150.0, backoff_s: float = 1.0,
                 max_backoff_s: float = 60.0, recv_timeout_s: float = 0.5, connect_timeout_s: float = 10.0,
                 handshake=None, stop_when_refused: bool = False):
        if ((silent_after_s is not None and silent_after_s <= 0) or backoff_s <= 0 or max_backoff_s < backoff_s
                or recv_timeout_s <= 0):
            raise ValueError("stream timings must be > 0 (and max_backoff_s >= backoff_s): got silent_after_s="
                             f"{silent_after_s!r}, backoff_s={backoff_s!r}, max_backoff_s={max_backoff_s!r}, "
                             f"recv_timeout_s={recv_timeout_s!r}")
        self.name = name
        if subscribe is None and handshake is None:
            raise ValueError(f"stream {name}: give a subscribe frame or a handshake")
        self._open_session, self._subscribe, self._on_frame = open_session, subscribe, on_frame
        self._handshake, self.stop_when_refused = handshake, stop_when_refused
        self._connect, self._now, self._sleep = connect, now, sleep
        self.silent_after_ns = None if silent_after_s is None else int(silent_after_s * NS)
        self.backoff_s, self.max_backoff_s = backoff_s, max_backoff_s
        self.recv_timeout_s, self.connect_timeout_s = recv_timeout_s, connect_timeout_s
        self.stats = LinkStats()
        self._stop = threading.Event()
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None
        self._socket = None
        self._delivered = False

    # --- lifecycle ------------------------------------------------------------------------------
    def start(self) -> StreamLink:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=f"stream-{self.name}", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the thread and join it."""
        self._stop.set()
        socket = self._socket
        if socket is not None:
            try:
                socket.close()
            except Exception:  # noqa: BLE001  (closing a broken socket may fail: it is gone anyway)
                pass
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    @property
    def running(self) -> bool:
        """Whether the thread is alive (false once :meth:`stop` joined it or a refusal ended it)."""
        return self._thread is not None and self._thread.is_alive()

    def notify(self) -> None:
        """Wake the :meth:`wait_for` waiters (an owner whose own state changed, e.g. its buffer)."""
        with self._changed:
            self._changed.notify_all()

    def wait_for(self, predicate, timeout_s: float) -> bool:
        """Block until ``predicate(stats)`` holds (checked on every change of the stats) or the timeout."""
        with self._changed:
            return self._changed.wait_for(lambda: predicate(self.stats), timeout_s)

    def _note(self, **changes) -> None:
        with self._changed:
            for key, value in changes.items():
                setattr(self.stats, key, value)
            self._changed.notify_all()

    # --- the thread -----------------------------------------------------------------------------
    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            self._delivered, refused = False, False
            try:
                self._session()
            except StreamRefused as exc:
                refused = True
                self._note(refused=self.stats.refused + 1)
                self._dropped(str(exc))
            except StreamClosed as exc:
                self._dropped(str(exc))
            except Exception as exc:  # noqa: BLE001  (any fault of a stream means: reconnect)
                self._dropped(f"{type(exc).__name__}: {exc}")
            if self._stop.is_set() or (refused and self.stop_when_refused):
                break
            failures = 0 if self._delivered else failures + 1
            delay = min(self.backoff_s * 2 ** max(failures - 1, 0), self.max_backoff_s)
            delay = self.max_backoff_s if refused else delay
            with self._changed:
                self.stats.backoffs.append(delay)
            self._pause(delay)
        self._note(connected=False)

    def _dropped(self, reason: str) -> None:
        if not self._stop.is_set():
            log.info("stream %s dropped: %s (reconnecting)", self.name, reason)
            self._note(drops=self.stats.drops + 1, connected=False, last_error=reason)

    def _pause(self, seconds: float) -> None:
        if self._sleep is not None:
            self._sleep(seconds)
        else:
            self._stop.wait(seconds)

    def _session(self) -> None:
        """One session and connection, read until it ends (``_delivered``: it delivered a frame)."""
        url, sessionid = self._open_session()
        self._note(sessions=self.stats.sessions + 1)
        with self._connect(url, self.connect_timeout_s) as socket:
            self._socket = socket
            self._read(socket, sessionid)

    def _read(self, socket, sessionid: str) -> None:
        try:
            if self._handshake is not None:
                self._handshake(socket, sessionid)
                self._delivered = True  # accepted: the back-off starts again from its first step
            else:
                socket.send(self._subscribe(sessionid))
            last = self._now()  # before the stats say connected: a test moves the clock after that
            self._note(connects=self.stats.connects + 1, connected=True)
            while not self._stop.is_set():
                try:
                    frame = socket.recv(self.recv_timeout_s)
                except TimeoutError:
                    if self.silent_after_ns is not None and self._now() - last > self.silent_after_ns:
                        self._note(silent=self.stats.silent + 1)
                        raise StreamClosed(f"silent for more than {self.silent_after_ns / NS:g} s") from None
                    continue
                last = self._now()
                self._delivered = True
                self._note(frames=self.stats.frames + 1)
                self._on_frame(frame if isinstance(frame, str) else frame.decode("utf-8", "replace"))
        except StreamClosed:
            raise
        except Exception as exc:  # noqa: BLE001  (closed by the server, reset, ...)
            if not self._stop.is_set():
                raise StreamClosed(f"closed: {type(exc).__name__}: {exc}" if str(exc) else "closed") from None
        finally:
            self._socket = None  # the connection's context closes it
