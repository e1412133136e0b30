"""``PlaygroundServiceServicer`` (grpc.aio): RPCs -> named playground actors, errors -> status codes.

Runs inside the gateway actor's event loop (:mod:`actors.gateway.server`). Each playground is a
named Ray actor (``playground-<id>`` in namespace ``backtestester-gateway``); the servicer keeps
a registry of ids (with tags and client ids) and resolves actor handles *lazily*, on the first
call that needs one, never in its constructor: a dead playground must not stop the gateway from
(re)starting. Every actor call has a timeout, and a dead or unresponsive actor is reported as
UNAVAILABLE instead of hanging the caller.

Status codes: INVALID_ARGUMENT (bad input, the spec's texts), NOT_FOUND (``playground not
found``, unknown order/symbol, data missing from the catalog), FAILED_PRECONDITION
(``backtest complete: clock expired``), UNAVAILABLE (playground actor died or timed out),
UNIMPLEMENTED (live-only RPCs, SavePlayground).
"""
from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import timedelta

import grpc

from backtestester.rpc import playground_pb2 as pb
from backtestester.rpc import playground_pb2_grpc as pb_grpc

from . import convert
from .playground_actor import NAMESPACE, PlaygroundActor, actor_name

log = logging.getLogger(__name__)

CALL_TIMEOUT = 30.0      # seconds an ordinary playground call may take before UNAVAILABLE
CREATE_TIMEOUT = 300.0   # loading repositories from the catalog can take longer
LIVE_ONLY = ("{rpc}: live trading has not landed in Backtestester yet; only simulator playgrounds "
             "(CreatePlayground) are supported")


class _Abort(Exception):
    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(message)
        self.code, self.message = code, message


def _status(code_name: str) -> grpc.StatusCode:
    return getattr(grpc.StatusCode, code_name, grpc.StatusCode.UNKNOWN)


def _rpc(func):
    """Turn ``_Abort``/``RequestError`` into gRPC statuses; unexpected errors into INTERNAL."""
    async def wrapper(self, request, context):
        try:
            return await func(self, request, context)
        except _Abort as exc:
            await context.abort(exc.code, exc.message)
        except convert.RequestError as exc:
            await context.abort(_status(exc.code), str(exc))
        except (grpc.aio.AbortError, asyncio.CancelledError):
            raise
        except Exception as exc:  # never crash the server, never leak a traceback to clients
            log.exception("%s failed", func.__name__)
            await context.abort(grpc.StatusCode.INTERNAL, f"{func.__name__}: internal error: {type(exc).__name__}")
    wrapper.__name__ = func.__name__
    return wrapper


class PlaygroundService(pb_grpc.PlaygroundServiceServicer):
    def __init__(self, data_dir: str, *, call_timeout: float = CALL_TIMEOUT, version: str | None = None):
        self.data_dir = str(data_dir)
        self.call_timeout = call_timeout
        if version is None:
            from backtestester import __version__ as version
        self.version = version
        self._registry: dict[str, dict] = {}   # id -> {"tags": [...], "client_id": str | None}
        self._handles: dict[str, object] = {}   # lazily resolved actor handles
        self._create_lock = asyncio.Lock()

    # --- actor plumbing -----------------------------------------------------------------------
    async def _handle(self, pid: str):
        if not pid or pid not in self._registry:
            raise _Abort(grpc.StatusCode.NOT_FOUND, "playground not found")
        handle = self._handles.get(pid)
        if handle is None:
            import ray

            try:
                handle = await asyncio.to_thread(ray.get_actor, actor_name(pid), namespace=NAMESPACE)
            except ValueError:
                raise _Abort(grpc.StatusCode.UNAVAILABLE,
                             f"playground {pid} is unavailable: its actor is gone") from None
            self._handles[pid] = handle
        return handle

    async def _call(self, pid: str, method: str, *args, timeout: float | None = None):
        from ray.exceptions import RayActorError

        handle = await self._handle(pid)
        try:
            result = await asyncio.wait_for(getattr(handle, method).remote(*args), timeout or self.call_timeout)
        except RayActorError as exc:  # ActorDiedError, ActorUnavailableError
            self._handles.pop(pid, None)
            raise _Abort(grpc.StatusCode.UNAVAILABLE,
                         f"playground {pid} is unavailable: its actor died ({type(exc).__name__})") from None
        except asyncio.TimeoutError:
            raise _Abort(grpc.StatusCode.UNAVAILABLE,
                         f"playground {pid} is unavailable: no answer within {timeout or self.call_timeout:g} s") from None
        if result[0] == "error":
            raise _Abort(_status(result[1]), result[2])
        return result[1]

    # --- playgrounds --------------------------------------------------------------------------
    @_rpc
    async def CreatePlayground(self, request, context):
        config = convert.create_config(request)
        client_id = config["client_id"]
        if client_id is None:
            pid = await self._spawn(config)
        else:
            async with self._create_lock:  # spec 16: an existing client_id returns its playground
                for pid, entry in self._registry.items():
                    if entry["client_id"] == client_id:
                        return pb.CreatePlaygroundResponse(id=pid)
                pid = await self._spawn(config)
        return pb.CreatePlaygroundResponse(id=pid)

    async def _spawn(self, config: dict) -> str:
        import ray

        pid = str(uuid.uuid4())
        handle = ray.remote(PlaygroundActor).options(
            name=actor_name(pid), namespace=NAMESPACE, num_cpus=0, max_restarts=0).remote(pid)
        self._registry[pid] = {"tags": list(config["tags"]), "client_id": config["client_id"]}
        self._handles[pid] = handle
        try:
            await self._call(pid, "create", config, self.data_dir, timeout=CREATE_TIMEOUT)
        except BaseException:
            self._registry.pop(pid, None)
            self._handles.pop(pid, None)
            ray.kill(handle, no_restart=True)
            raise
        return pid

    @_rpc
    async def DeletePlayground(self, request, context):
        import ray

        pid = request.playground_id
        if pid not in self._registry:
            raise _Abort(grpc.StatusCode.NOT_FOUND, "playground not found")
        handle = self._handles.pop(pid, None)
        self._registry.pop(pid)
        if handle is None:
            try:
                handle = await asyncio.to_thread(ray.get_actor, actor_name(pid), namespace=NAMESPACE)
            except ValueError:
                handle = None
        if handle is not None:
            ray.kill(handle, no_restart=True)
        return pb.EmptyResponse()

    @_rpc
    async def GetPlaygrounds(self, request, context):
        wanted = set(request.tags)
        ids = [pid for pid, e in self._registry.items() if wanted <= set(e["tags"])]
        results = await asyncio.gather(*(self._call(pid, "session") for pid in ids), return_exceptions=True)
        resp = pb.GetPlaygroundsResponse()
        for pid, res in zip(ids, results):
            if isinstance(res, BaseException):  # a dead playground is left out, not an error for all
                log.warning("GetPlaygrounds: skipping %s: %s", pid, res)
                continue
            resp.playgrounds.append(pb.PlaygroundSession.FromString(res))
        return resp

    @_rpc
    async def NextTick(self, request, context):
        if not request.request_id:
            raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, "request id is empty")
        payload = await self._call(request.playground_id, "tick", int(request.seconds), bool(request.is_preview),
                                   request.request_id)
        return pb.TickDelta.FromString(payload)

    async def StreamTicks(self, request, context):
        """Addition: one NextTick per delta (see docs/wire.md)."""
        try:
            if request.is_preview and request.max_ticks > 1:
                raise _Abort(grpc.StatusCode.INVALID_ARGUMENT,
                             "a preview stream sends one delta: max_ticks must be 0 or 1")
            i = 0
            while request.max_ticks == 0 or i < request.max_ticks:
                rid = f"{request.request_id}/{i}" if request.request_id else ""
                payload = await self._call(request.playground_id, "tick", int(request.seconds),
                                           bool(request.is_preview), rid)
                delta = pb.TickDelta.FromString(payload)
                await context.write(delta)
                i += 1
                if delta.is_backtest_complete or request.is_preview:
                    return
        except _Abort as exc:
            await context.abort(exc.code, exc.message)

    async def StreamCandlesArrow(self, request, context):
        """Addition: GetCandles' selection as Arrow IPC batches (see docs/wire.md)."""
        try:
            start, end = self._candle_range(request)
            payloads = await self._call(request.playground_id, "candles_arrow", request.symbol,
                                        int(request.period_in_seconds), start, end)
        except _Abort as exc:
            await context.abort(exc.code, exc.message)
        except convert.RequestError as exc:
            await context.abort(_status(exc.code), str(exc))
        for ipc in payloads:
            await context.write(pb.ArrowBatch(ipc=ipc))

    @staticmethod
    def _candle_range(request):
        if request.period_in_seconds <= 0:
            raise _Abort(grpc.StatusCode.INVALID_ARGUMENT,
                         f"period_in_seconds must be greater than 0, got {request.period_in_seconds}")
        start = convert.parse_rfc3339(request.fromRTF3339, "fromRTF3339")
        end = convert.parse_rfc3339(request.toRTF3339, "toRTF3339") if request.HasField("toRTF3339") else None
        return start, end

    @_rpc
    async def PlaceOrder(self, request, context):
        kwargs = convert.place_order_kwargs(request)
        payload = await self._call(request.playground_id, "place_order", kwargs)
        return pb.Order.FromString(payload)

    @_rpc
    async def GetOrder(self, request, context):
        oid = int(request.order_id)
        if oid == 0:  # D8: 0 never names an order
            raise _Abort(grpc.StatusCode.NOT_FOUND, "order 0 not found: order ids start at 1")
        ids = list(self._registry)
        results = await asyncio.gather(*(self._call(pid, "get_order", oid) for pid in ids), return_exceptions=True)
        found = [r for r in results if isinstance(r, bytes)]
        if not found:
            raise _Abort(grpc.StatusCode.NOT_FOUND, f"order {oid} not found")
        if len(found) > 1:  # ids are unique per playground (D8); the v1 request names no playground
            raise _Abort(grpc.StatusCode.FAILED_PRECONDITION,
                         f"order {oid} is ambiguous: {len(found)} playgrounds have an order with this id")
        return pb.Order.FromString(found[0])

    @_rpc
    async def GetAccount(self, request, context):
        filters = {
            "statuses": set(request.status), "sides": set(request.sides),
            "symbols": {s.strip().upper() for s in request.symbols},
            "start": convert.parse_rfc3339(request.fromRTF3339, "fromRTF3339") if request.HasField("fromRTF3339") else None,
            "end": convert.parse_rfc3339(request.toRTF3339, "toRTF3339") if request.HasField("toRTF3339") else None,
        }
        payload = await self._call(request.playground_id, "get_account", bool(request.fetch_orders), filters)
        return pb.GetAccountResponse.FromString(payload)

    @_rpc
    async def GetCandles(self, request, context):
        start, end = self._candle_range(request)
        payload = await self._call(request.playground_id, "get_candles", request.symbol,
                                   int(request.period_in_seconds), start, end)
        return pb.GetCandlesResponse.FromString(payload)

    @_rpc
    async def GetOpenOrders(self, request, context):
        payload = await self._call(request.playground_id, "get_open_orders", request.symbol)
        return pb.GetOpenOrdersResponse.FromString(payload)

    @_rpc
    async def GetAccountStats(self, request, context):
        payload = await self._call(request.playground_id, "account_stats", bool(request.equity_plot))
        return pb.GetAccountStatsResponse.FromString(payload)

    @_rpc
    async def SavePlayground(self, request, context):
        await self._call(request.playground_id, "ping")  # NOT_FOUND / UNAVAILABLE first
        raise _Abort(grpc.StatusCode.UNIMPLEMENTED,
                     "SavePlayground: durable playgrounds (SQLite) have not landed in the gateway yet")

    @_rpc
    async def GetAppVersion(self, request, context):
        return pb.GetAppVersionResponse(version=self.version)

    @_rpc
    async def GetDailyTickerSummaryFromPolygon(self, request, context):
        """Daily open/high/low/close/volume from the data catalog (D19); no pre/after-hours data (0)."""
        day = convert.parse_date(request.date, "date")
        symbol = request.symbol.strip().upper()
        if not symbol:
            raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, "symbol is empty")

        def load():
            from backtestester.data.catalog import Catalog, DataNotFoundError

            try:
                return Catalog(self.data_dir).load(symbol, "1d", day.isoformat(),
                                                   (day + timedelta(days=1)).isoformat(), calendar="XNYS")
            except DataNotFoundError as exc:
                raise _Abort(grpc.StatusCode.NOT_FOUND, str(exc)) from None
            except ValueError as exc:
                raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc)) from None

        table = await asyncio.to_thread(load)
        if table.num_rows == 0:
            raise _Abort(grpc.StatusCode.NOT_FOUND, f"no daily bar of {symbol} on {day} in the data catalog")
        row = {name: table.column(name)[0].as_py() for name in ("open", "high", "low", "close", "volume")}
        return pb.GetDailyTickerSummaryFromPolygonResponse(open=row["open"], high=row["high"], low=row["low"],
                                                           close=row["close"], volume=int(row["volume"]))

    # --- live-only ----------------------------------------------------------------------------
    async def CreateLivePlayground(self, request, context):
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, LIVE_ONLY.format(rpc="CreateLivePlayground"))

    async def GetReconciliationReport(self, request, context):
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, LIVE_ONLY.format(rpc="GetReconciliationReport"))

    async def GetEquityReport(self, request, context):
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, LIVE_ONLY.format(rpc="GetEquityReport"))

    async def MockFillOrder(self, request, context):
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, LIVE_ONLY.format(rpc="MockFillOrder"))
