"""The typed client over Twirp (protocol v8): :class:`TwirpPlaygroundClient`.

The same typed methods as :class:`~backtestester.remote.client.PlaygroundClient` (it is a subclass:
only the transport differs), each a ``POST /twirp/playground.PlaygroundService/<Method>`` with a
protobuf body on one keep-alive HTTP connection (standard library ``http.client``). A Twirp error
surfaces as a :class:`TwirpRpcError`, a :class:`grpc.RpcError` whose ``code()`` is the gRPC status
of the Twirp code (:data:`STATUS_OF_TWIRP`) and ``details()`` the Twirp ``msg``, so callers (the
broker, ``run_on_gateway``) handle both transports alike. UNAVAILABLE (connection refused or
reset, HTTP 503) is retried as over gRPC, with the same request ids. Twirp has unary calls only:
:meth:`TwirpPlaygroundClient.stream_candles_arrow` reads GetCandles and builds the same table;
``stream_ticks`` is gRPC only.
"""
from __future__ import annotations

import http.client
import json
import ssl
import threading
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import grpc
import numpy as np
import pyarrow as pa
from google.protobuf.message_factory import GetMessageClass

from backtestester.rpc import SERVICE_NAME
from backtestester.rpc import playground_pb2 as pb
from backtestester.service.indicators import candle_schema
from backtestester.symbols import normalize_symbol
from backtestester.wire.times import rfc3339_ns

from .client import MAX_MESSAGE_BYTES, PlaygroundClient

#: gRPC status of each Twirp v8 error code: the same names (``canceled`` is CANCELLED), and the
#: two Twirp-only codes. actors/gateway/twirp.py maps the other way with :data:`TWIRP_OF_STATUS`.
STATUS_OF_TWIRP = {("canceled" if c is grpc.StatusCode.CANCELLED else c.name.lower()): c
                   for c in grpc.StatusCode if c is not grpc.StatusCode.OK}
TWIRP_OF_STATUS = {c: name for name, c in STATUS_OF_TWIRP.items()}
STATUS_OF_TWIRP |= {"malformed": grpc.StatusCode.INVALID_ARGUMENT, "bad_route": grpc.StatusCode.UNIMPLEMENTED}
_OUTPUT = {m.name: GetMessageClass(m.output_type)
           for m in pb.DESCRIPTOR.services_by_name[SERVICE_NAME.rsplit(".", 1)[-1]].methods}
PROTOBUF = "application/protobuf"


class TwirpRpcError(grpc.RpcError):
    """A failed Twirp call, read as gRPC's: ``code()`` (a :class:`grpc.StatusCode`), ``details()``
    (the Twirp ``msg``); ``twirp_code`` and ``http_status`` as received."""

    def __init__(self, twirp_code: str, msg: str, http_status: int = 0):
        super().__init__(f"{twirp_code}: {msg}")
        self.twirp_code, self.msg, self.http_status = twirp_code, msg, http_status

    def code(self) -> grpc.StatusCode:
        return STATUS_OF_TWIRP.get(self.twirp_code, grpc.StatusCode.UNKNOWN)

    def details(self) -> str:
        return self.msg


def _error_of(status: int, body: bytes) -> TwirpRpcError:
    """The error of a non-200 answer: its Twirp JSON body, or (a proxy's page) by the HTTP status."""
    try:
        error = json.loads(body)
        return TwirpRpcError(str(error["code"]), str(error.get("msg", "")), status)
    except (ValueError, KeyError, TypeError):
        code = "unavailable" if status == 503 else "unknown"
        return TwirpRpcError(code, f"HTTP {status} without a Twirp error body: {body[:200]!r}", status)


class TwirpPlaygroundClient(PlaygroundClient):
    """A blocking Twirp client of the gateway at ``base_url`` (``http://host:port`` or
    ``https://...``; ``serve --twirp-port``). ``token`` is sent as ``Authorization: Bearer``;
    ``root_certificates`` (PEM bytes) is the CA to trust over https (default: the system's).
    ``timeout``, ``retries``, ``backoff``, ``max_backoff``: as :class:`PlaygroundClient`'s. Safe to
    share between threads (one call at a time on the connection)."""

    sessions = False  # Twirp has no streams: runs through it use the unary calls

    def __init__(self, base_url: str = "http://127.0.0.1:5052", *, timeout: float = 30.0, retries: int = 4,
                 backoff: float = 0.05, max_backoff: float = 2.0, sleep: Callable[[float], None] = time.sleep,
                 token: str | None = None, root_certificates: bytes | None = None,
                 max_message_bytes: int = MAX_MESSAGE_BYTES):
        url = urlsplit(base_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"base_url must be http://host:port or https://host:port, got {base_url!r}")
        self._url, self._prefix = url, f"{url.path.rstrip('/')}/twirp/{SERVICE_NAME}/"
        self._context = (ssl.create_default_context(cadata=root_certificates.decode() if root_certificates else None)
                         if url.scheme == "https" else None)
        self._headers = {"Content-Type": PROTOBUF, "Accept": PROTOBUF}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        self._conn: http.client.HTTPConnection | None = None
        self._lock = threading.Lock()
        self._channel = self._stub = None
        self.max_message_bytes = max_message_bytes
        self.timeout, self.retries, self.backoff, self.max_backoff = timeout, retries, backoff, max_backoff
        self._sleep = sleep

    def close(self) -> None:
        with self._lock:
            self.close_locked()

    def _connection(self, timeout: float) -> http.client.HTTPConnection:
        if self._conn is None:
            host, port = self._url.hostname, self._url.port
            self._conn = (http.client.HTTPSConnection(host, port, timeout=timeout, context=self._context)
                          if self._context else http.client.HTTPConnection(host, port, timeout=timeout))
        self._conn.timeout = timeout
        if self._conn.sock is not None:
            self._conn.sock.settimeout(timeout)
        return self._conn

    def _invoke(self, rpc: str, request, timeout: float):
        """One POST; a broken connection is closed (the next attempt opens a new one)."""
        with self._lock:
            try:
                conn = self._connection(timeout)
                conn.request("POST", self._prefix + rpc, body=request.SerializeToString(), headers=self._headers)
                resp = conn.getresponse()
                body = resp.read()
            except TimeoutError:
                self.close_locked()  # a late answer must not be read as the next call's
                raise TwirpRpcError("deadline_exceeded", f"{rpc}: no answer within {timeout} s") from None
            except (OSError, http.client.HTTPException) as exc:  # refused, reset, closed while idle
                self.close_locked()
                raise TwirpRpcError("unavailable", f"{rpc}: cannot reach {self._url.netloc}: {exc}") from None
        if resp.status != 200:
            raise _error_of(resp.status, body)
        return _OUTPUT[rpc].FromString(body)

    def close_locked(self) -> None:
        """Drop the connection (the caller holds the lock)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def stream_ticks(self, *args, **kwargs):
        """StreamTicks is a gRPC addition: over Twirp, tick with :meth:`next_tick`."""
        raise TwirpRpcError("bad_route", "StreamTicks is served over gRPC only: Twirp has unary calls only "
                                         "(use next_tick)")

    def stream_candles_arrow(self, playground_id: str, symbol: str, period_in_seconds: int, start: str,
                             end: str | None = None, *, timeout: float | None = None):
        """StreamCandlesArrow's table, read with GetCandles: the columns ``start``, ``open``,
        ``high``, ``low``, ``close``, ``volume`` and the schema metadata ``symbol`` and
        ``period_in_seconds`` (indicator columns are not included: read them from the bars)."""
        bars = self.get_candles(playground_id, symbol, period_in_seconds, start, end)
        schema = candle_schema(normalize_symbol(symbol), period_in_seconds)
        starts = pa.array(np.asarray([rfc3339_ns(b.datetime) for b in bars], dtype=np.int64), pa.int64())
        cols = [starts.view(schema.field(0).type)]
        cols += [pa.array([getattr(b, c) for b in bars], pa.float64()) for c in ("open", "high", "low", "close", "volume")]
        return pa.Table.from_arrays(cols, schema=schema)

