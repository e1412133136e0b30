"""A typed Python client for the gateway (``playground.PlaygroundService``), first cut.

Every call has a deadline (``timeout``). UNAVAILABLE is retried with exponential back-off
(``retries`` attempts after the first, delays ``backoff * 2**i`` capped at ``max_backoff``);
business errors (INVALID_ARGUMENT, NOT_FOUND, FAILED_PRECONDITION, ...) are never retried and
surface as :class:`grpc.RpcError`. Retries never apply anything twice: ``next_tick`` sends one
``request_id`` for all attempts, ``place_order`` one ``client_request_id`` and
``create_playground`` one ``client_id`` (generated when the caller gives none). The streams:
:meth:`PlaygroundClient.stream_ticks` (a :class:`TickStream`; a retry re-opens it with the same
``request_id``, so the gateway replays instead of ticking twice) and
:meth:`PlaygroundClient.stream_candles_arrow` (one :class:`pyarrow.Table`). To run a strategy
through the gateway, see :mod:`backtestester.remote.broker`.
"""
from __future__ import annotations

import time
import uuid
from collections import namedtuple
from collections.abc import Callable, Iterable

import grpc
import pyarrow as pa
from google.protobuf import empty_pb2

from backtestester.engine.costs import Commission, Slippage
from backtestester.rpc import RESUME_METADATA
from backtestester.rpc import playground_pb2 as pb
from backtestester.rpc import playground_pb2_grpc as pb_grpc
from backtestester.wire.requests import COST_FIELDS

RETRYABLE = (grpc.StatusCode.UNAVAILABLE,)
MAX_MESSAGE_BYTES = 16 * 1024 * 1024  # the gateway's default limit


class _BearerMetadata(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor,
                      grpc.StreamUnaryClientInterceptor, grpc.StreamStreamClientInterceptor):
    """Adds ``authorization: Bearer <token>`` to every call on a plaintext (loopback) channel, where
    grpc refuses call credentials."""

    def __init__(self, token: str):
        self._pair = ("authorization", f"Bearer {token}")

    def _add(self, details):
        metadata = [m for m in (details.metadata or ()) if m[0] != "authorization"] + [self._pair]
        return _Details(details.method, details.timeout, metadata, details.credentials,
                        getattr(details, "wait_for_ready", None), getattr(details, "compression", None))

    def intercept_unary_unary(self, continuation, details, request):
        return continuation(self._add(details), request)

    intercept_unary_stream = intercept_unary_unary

    def intercept_stream_unary(self, continuation, details, request_iterator):
        return continuation(self._add(details), request_iterator)

    intercept_stream_stream = intercept_stream_unary


class _Details(namedtuple("_Details", "method timeout metadata credentials wait_for_ready compression"),
               grpc.ClientCallDetails):
    pass


class PlaygroundClient:
    """A blocking client of ``playground.PlaygroundService`` at ``address`` (``host:port``).

    Security: ``token`` is sent as ``authorization: Bearer <token>`` on every call. ``tls=True``
    (or ``root_certificates``, PEM bytes of the CA or self-signed certificate to trust; default: the
    system's roots) makes the channel TLS; ``server_name`` overrides the name checked against the
    server's certificate. ``max_message_bytes`` bounds sent and received messages (default 16 MiB,
    the gateway's). With ``channel=`` or ``stub=`` the caller owns the connection and its credentials.
    """

    sessions = True  # the Session RPC is available (gRPC); a run through this client uses it by default
    compact = True  # a run's Session advances ask for compact answers (docs/wire.md); False: full TickDeltas

    def __init__(self, address: str = "127.0.0.1:5051", *, timeout: float = 30.0, retries: int = 4,
                 backoff: float = 0.05, max_backoff: float = 2.0, channel: grpc.Channel | None = None,
                 stub=None, sleep: Callable[[float], None] = time.sleep, token: str | None = None,
                 tls: bool = False, root_certificates: bytes | None = None, server_name: str | None = None,
                 max_message_bytes: int = MAX_MESSAGE_BYTES):
        tls = tls or root_certificates is not None
        if (channel is not None or stub is not None) and (token or tls or server_name):
            raise ValueError("give either channel=/stub= or token=/tls=/root_certificates=/server_name=, not both")
        if channel is None and stub is None:
            options = [("grpc.max_receive_message_length", max_message_bytes),
                       ("grpc.max_send_message_length", max_message_bytes)]
            if server_name:
                options.append(("grpc.ssl_target_name_override", server_name))
            if tls:
                creds = grpc.ssl_channel_credentials(root_certificates=root_certificates)
                if token:  # call credentials: grpc sends them only over a secure channel
                    creds = grpc.composite_channel_credentials(creds, grpc.access_token_call_credentials(token))
                channel = grpc.secure_channel(address, creds, options=options)
            else:
                channel = grpc.insecure_channel(address, options=options)
                if token:
                    channel = grpc.intercept_channel(channel, _BearerMetadata(token))
        self._channel = channel
        self._stub = stub if stub is not None else pb_grpc.PlaygroundServiceStub(self._channel)
        self.timeout, self.retries, self.backoff, self.max_backoff = timeout, retries, backoff, max_backoff
        self._sleep = sleep

    @property
    def stub(self):
        """The ``PlaygroundServiceStub`` (a :class:`~backtestester.remote.session.SessionClient` opens its stream on it)."""
        return self._stub

    def close(self) -> None:
        if self._channel is not None:
            self._channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _call(self, rpc: str, request, timeout: float | None = None):
        """One unary call with the retries of UNAVAILABLE (the module docstring)."""
        for attempt in range(self.retries + 1):
            try:
                return self._invoke(rpc, request, timeout or self.timeout)
            except grpc.RpcError as exc:
                if exc.code() not in RETRYABLE or attempt == self.retries:
                    raise
                self._sleep(min(self.max_backoff, self.backoff * 2 ** attempt))
        raise AssertionError("unreachable")

    def _invoke(self, rpc: str, request, timeout: float):
        """One attempt of the unary call ``rpc`` (the transport; the Twirp client overrides it)."""
        return getattr(self._stub, rpc)(request, timeout=timeout)

    # --- playgrounds ----------------------------------------------------------------------------
    def create_playground(self, *, balance: float, start_date: str, stop_date: str,
                          repositories: Iterable[tuple[str, int, str] | pb.Repository], tags: Iterable[str] = (),
                          client_id: str | None = None, history_in_days: int = 0, fill_model: str | None = None,
                          margin_basis: str | None = None, enforce_stop_loss: bool | None = None,
                          commission: Commission | None = None, slippage: Slippage | None = None) -> str:
        """CreatePlayground; the engine options (``fill_model`` ... ``slippage``, additions to v1,
        docs/wire.md) are sent only when given: None is the engine's default."""
        repos = [r if isinstance(r, pb.Repository) else
                 pb.Repository(symbol=r[0], timespan_multiplier=r[1], timespan_unit=r[2], history_in_days=history_in_days)
                 for r in repositories]
        req = pb.CreatePolygonPlaygroundRequest(balance=balance, start_date=start_date, stop_date=stop_date,
                                                environment="simulator", repositories=repos, tags=list(tags),
                                                client_id=client_id or f"client-{uuid.uuid4()}")
        for name, value in (("fill_model", fill_model), ("margin_basis", margin_basis),
                            ("enforce_stop_loss", enforce_stop_loss)):
            if value is not None:
                setattr(req, name, value)
        for model, (_, fields) in COST_FIELDS.items():
            given = commission if model == "commission" else slippage
            if given is not None:
                for field, attr in fields:
                    setattr(req, field, getattr(given, attr))
        return self._call("CreatePlayground", req).id

    def get_playgrounds(self, tags: Iterable[str] = ()) -> list[pb.PlaygroundSession]:
        return list(self._call("GetPlaygrounds", pb.GetPlaygroundsRequest(tags=list(tags))).playgrounds)

    def delete_playground(self, playground_id: str) -> None:
        self._call("DeletePlayground", pb.DeletePlaygroundRequest(playground_id=playground_id))

    def save_playground(self, playground_id: str) -> None:
        """SavePlayground: from now on the playground survives a restart of the gateway."""
        self._call("SavePlayground", pb.SavePlaygroundRequest(playground_id=playground_id))

    def next_tick(self, playground_id: str, seconds: int, *, preview: bool = False,
                  request_id: str | None = None) -> pb.TickDelta:
        return self._call("NextTick", pb.NextTickRequest(playground_id=playground_id, seconds=seconds,
                                                         is_preview=preview, request_id=request_id or uuid.uuid4().hex))

    def place_order(self, playground_id: str, symbol: str, side: str, quantity: float, *, requested_price: float,
                    order_type: str = "market", duration: str = "day", tag: str = "", price: float | None = None,
                    sl: float | None = None, close_order_id: int | None = None,
                    client_request_id: str | None = None, stop_price: float | None = None,
                    tp: float | None = None, equity_fraction: float | None = None) -> pb.Order:
        """PlaceOrder. ``stop_price`` (stop and stop-limit orders), ``tp`` and ``equity_fraction``
        (sizing at the fill; give quantity 0) are additions to v1 (docs/wire.md); None leaves a
        field unset."""
        req = pb.PlaceOrderRequest(playground_id=playground_id, symbol=symbol, asset_class="equity", quantity=quantity,
                                   side=side, type=order_type, duration=duration, tag=tag,
                                   requested_price=requested_price,
                                   client_request_id=client_request_id or uuid.uuid4().hex)
        if price is not None:
            req.price = price
        for name, value in (("sl", sl), ("stop_price", stop_price), ("tp", tp), ("equity_fraction", equity_fraction)):
            if value is not None:
                setattr(req, name, value)
        if close_order_id is not None:
            req.close_order_id = close_order_id
        return self._call("PlaceOrder", req)

    def cancel_order(self, playground_id: str, order_id: int) -> pb.Order:
        """CancelOrder (an addition to v1): the canceled order. A retry after a lost answer gets
        FAILED_PRECONDITION (the order is no longer pending: it was canceled by the first attempt)."""
        return self._call("CancelOrder", pb.CancelOrderRequest(playground_id=playground_id, order_id=order_id))

    def get_order(self, order_id: int) -> pb.Order:
        return self._call("GetOrder", pb.GetOrderRequest(order_id=order_id))

    def get_account(self, playground_id: str, *, fetch_orders: bool = False, **filters) -> pb.GetAccountResponse:
        return self._call("GetAccount", pb.GetAccountRequest(playground_id=playground_id, fetch_orders=fetch_orders,
                                                             **filters))

    def get_candles(self, playground_id: str, symbol: str, period_in_seconds: int, start: str,
                    end: str | None = None) -> list[pb.Bar]:
        req = pb.GetCandlesRequest(playground_id=playground_id, symbol=symbol, period_in_seconds=period_in_seconds,
                                   fromRTF3339=start)
        if end is not None:
            req.toRTF3339 = end
        return list(self._call("GetCandles", req).bars)

    def get_open_orders(self, playground_id: str, symbol: str) -> list[pb.Order]:
        return list(self._call("GetOpenOrders", pb.GetOpenOrdersRequest(playground_id=playground_id,
                                                                         symbol=symbol)).orders)

    def equity_plot(self, playground_id: str) -> list[pb.EquityPlot]:
        return list(self._call("GetAccountStats", pb.GetAccountStatsRequest(playground_id=playground_id,
                                                                             equity_plot=True)).equity_plot)

    def version(self) -> str:
        return self._call("GetAppVersion", empty_pb2.Empty()).version

    # --- streams (additions to v1, docs/wire.md) ---------------------------------------------------
    def stream_ticks(self, playground_id: str, seconds: int, *, max_ticks: int = 0, preview: bool = False,
                     request_id: str | None = None, timeout: float | None = None) -> "TickStream":
        """StreamTicks: one :class:`TickDelta` per tick of ``seconds`` until ``max_ticks`` deltas
        (0: until the delta completing the backtest). Returns a :class:`TickStream`: iterate it for
        the deltas; ``cancel()`` (or leaving its ``with`` block) stops it, and the ticks the server
        already ran stay run (``delivered`` counts the deltas handed to the caller).

        UNAVAILABLE re-opens the stream with the same ``request_id`` (generated when not given)
        and the metadata ``resume-from: <delivered>``: the gateway replays the ticks it already ran
        after those (from its cache of a playground's last 1,000 tick answers, for 5 minutes)
        instead of running them again, so a retry never ticks twice; if they are no longer cached
        the stream ends with FAILED_PRECONDITION.
        Business errors end the stream at once. ``timeout``: deadline of each attempt, the whole
        stream (default: the client's ``timeout``; give a longer one for long streams)."""
        req = pb.StreamTicksRequest(playground_id=playground_id, seconds=seconds, max_ticks=max_ticks,
                                    is_preview=preview, request_id=request_id or uuid.uuid4().hex)
        return TickStream(self, req, timeout or self.timeout)

    def stream_candles_arrow(self, playground_id: str, symbol: str, period_in_seconds: int, start: str,
                             end: str | None = None, *, timeout: float | None = None):
        """StreamCandlesArrow: GetCandles' selection (``start <= candle start < end``, never beyond
        the playground's clock) as one :class:`pyarrow.Table` (columns ``start``, ``open``, ``high``,
        ``low``, ``close``, ``volume``, then any indicator columns; schema metadata ``symbol`` and
        ``period_in_seconds``). Read-only, so UNAVAILABLE re-reads the whole selection."""
        req = pb.GetCandlesRequest(playground_id=playground_id, symbol=symbol, period_in_seconds=period_in_seconds,
                                   fromRTF3339=start)
        if end is not None:
            req.toRTF3339 = end
        for attempt in range(self.retries + 1):
            try:
                tables = [pa.ipc.open_stream(m.ipc).read_all()
                          for m in self._stub.StreamCandlesArrow(req, timeout=timeout or self.timeout)]
                return pa.concat_tables(tables)
            except grpc.RpcError as exc:
                if exc.code() not in RETRYABLE or attempt == self.retries:
                    raise
                self._sleep(min(self.max_backoff, self.backoff * 2 ** attempt))
        raise AssertionError("unreachable")


class TickStream:
    """The deltas of one :meth:`PlaygroundClient.stream_ticks` call (iterate once); see there."""

    def __init__(self, client: PlaygroundClient, request, timeout: float):
        self._client, self._request, self._timeout = client, request, timeout
        self._call = None
        self._cancelled = False
        self.delivered = 0
        self.request_id = request.request_id

    def __iter__(self):
        client = self._client
        attempt = 0
        while not self._cancelled:
            # a re-opened stream asks for the deltas not delivered yet (the gateway replays the
            # ticks it ran meanwhile from its cache, then ticks on)
            resume = [(RESUME_METADATA, str(self.delivered))] if self.delivered else None
            self._call = call = client._stub.StreamTicks(self._request, timeout=self._timeout, metadata=resume)
            try:
                for delta in call:
                    self.delivered += 1
                    attempt = 0
                    yield delta
                return
            except grpc.RpcError as exc:
                if self._cancelled:
                    return
                if exc.code() not in RETRYABLE or attempt == client.retries:
                    raise
                client._sleep(min(client.max_backoff, client.backoff * 2 ** attempt))
                attempt += 1

    def cancel(self) -> None:
        """Stop the stream. The server stops ticking at once; a tick already under way completes,
        and deltas still in flight are not delivered (a new stream with the same ``request_id``
        replays them without ticking again)."""
        self._cancelled = True
        if self._call is not None:
            self._call.cancel()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.cancel()
