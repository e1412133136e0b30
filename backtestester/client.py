"""A typed Python client for the gateway (``playground.PlaygroundService``), first cut.

Every call has a deadline (``timeout``). UNAVAILABLE is retried with exponential back-off
(``retries`` attempts after the first, delays ``backoff * 2**i`` capped at ``max_backoff``);
business errors (INVALID_ARGUMENT, NOT_FOUND, FAILED_PRECONDITION, ...) are never retried and
surface as :class:`grpc.RpcError`. Retries never apply anything twice: ``next_tick`` sends one
``request_id`` for all attempts, ``place_order`` one ``client_request_id`` and
``create_playground`` one ``client_id`` (generated when the caller gives none).
"""
from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable

import grpc
from google.protobuf import empty_pb2

from backtestester.rpc import playground_pb2 as pb
from backtestester.rpc import playground_pb2_grpc as pb_grpc

RETRYABLE = (grpc.StatusCode.UNAVAILABLE,)


class PlaygroundClient:
    def __init__(self, address: str = "127.0.0.1:5051", *, timeout: float = 30.0, retries: int = 4,
                 backoff: float = 0.05, max_backoff: float = 2.0, channel: grpc.Channel | None = None,
                 stub=None, sleep: Callable[[float], None] = time.sleep):
        self._channel = channel if channel is not None or stub is not None else grpc.insecure_channel(address)
        self._stub = stub if stub is not None else pb_grpc.PlaygroundServiceStub(self._channel)
        self.timeout, self.retries, self.backoff, self.max_backoff = timeout, retries, backoff, max_backoff
        self._sleep = sleep

    def close(self) -> None:
        if self._channel is not None:
            self._channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _call(self, rpc: str, request, timeout: float | None = None):
        method = getattr(self._stub, rpc)
        for attempt in range(self.retries + 1):
            try:
                return method(request, timeout=timeout or self.timeout)
            except grpc.RpcError as exc:
                if exc.code() not in RETRYABLE or attempt == self.retries:
                    raise
                self._sleep(min(self.max_backoff, self.backoff * 2 ** attempt))
        raise AssertionError("unreachable")

    # --- playgrounds ----------------------------------------------------------------------------
    def create_playground(self, *, balance: float, start_date: str, stop_date: str,
                          repositories: Iterable[tuple[str, int, str] | pb.Repository], tags: Iterable[str] = (),
                          client_id: str | None = None, history_in_days: int = 0) -> str:
        repos = [r if isinstance(r, pb.Repository) else
                 pb.Repository(symbol=r[0], timespan_multiplier=r[1], timespan_unit=r[2], history_in_days=history_in_days)
                 for r in repositories]
        req = pb.CreatePolygonPlaygroundRequest(balance=balance, start_date=start_date, stop_date=stop_date,
                                                environment="simulator", repositories=repos, tags=list(tags),
                                                client_id=client_id or f"client-{uuid.uuid4()}")
        return self._call("CreatePlayground", req).id

    def get_playgrounds(self, tags: Iterable[str] = ()) -> list[pb.PlaygroundSession]:
        return list(self._call("GetPlaygrounds", pb.GetPlaygroundsRequest(tags=list(tags))).playgrounds)

    def delete_playground(self, playground_id: str) -> None:
        self._call("DeletePlayground", pb.DeletePlaygroundRequest(playground_id=playground_id))

    def next_tick(self, playground_id: str, seconds: int, *, preview: bool = False,
                  request_id: str | None = None) -> pb.TickDelta:
        return self._call("NextTick", pb.NextTickRequest(playground_id=playground_id, seconds=seconds,
                                                         is_preview=preview, request_id=request_id or uuid.uuid4().hex))

    def place_order(self, playground_id: str, symbol: str, side: str, quantity: float, *, requested_price: float,
                    order_type: str = "market", duration: str = "day", tag: str = "", price: float | None = None,
                    sl: float | None = None, close_order_id: int | None = None,
                    client_request_id: str | None = None) -> pb.Order:
        req = pb.PlaceOrderRequest(playground_id=playground_id, symbol=symbol, asset_class="equity", quantity=quantity,
                                   side=side, type=order_type, duration=duration, tag=tag,
                                   requested_price=requested_price,
                                   client_request_id=client_request_id or uuid.uuid4().hex)
        if price is not None:
            req.price = price
        if sl is not None:
            req.sl = sl
        if close_order_id is not None:
            req.close_order_id = close_order_id
        return self._call("PlaceOrder", req)

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
