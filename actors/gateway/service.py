"""``PlaygroundServiceServicer`` (grpc.aio): RPCs -> playground sessions, errors -> status codes.

Runs inside the gateway actor's event loop (:mod:`actors.gateway.server`). Playgrounds
(:class:`~backtestester.service.session.PlaygroundSession`) live in the gateway's process or on a
pool of playground holder actors (:mod:`actors.gateway.placement`), spawned lazily, never in the
constructor: a dead playground must not stop the gateway from (re)starting. The servicer keeps a
registry of ids (with tags, client ids and owners). Every host call has a timeout, and a dead or
unresponsive host is reported as UNAVAILABLE instead of hanging the caller.

Each RPC sends a typed call (a function of :mod:`backtestester.wire.answers`, or a session method)
to the playground's holder and gets the answer message back; a refused call is a
:class:`~backtestester.service.errors.ServiceError`, turned into a gRPC status in one place
(:func:`_status_of`).

Durable playgrounds (:mod:`backtestester.service.store`, :mod:`backtestester.service.journal`): SavePlayground
makes a playground write-through to ``<data_dir>/gateway.sqlite3``. :meth:`PlaygroundService.load_saved`
(called once by the gateway's ``start``) registers the saved ids, tags, client ids and owners;
a saved playground is restored (replayed) onto a host lazily, on the first call that needs it, and
again after its host died. A saved playground that cannot be restored is FAILED_PRECONDITION for
its own calls, answered from memory; a later call tries again once the data directory's files
changed (an operator restored the catalog) or :data:`RESTORE_RETRY_SECONDS` passed. The others
are unaffected.

Status codes: INVALID_ARGUMENT (bad input, the spec's texts), NOT_FOUND (``playground not
found``, unknown order/symbol, data missing from the catalog), FAILED_PRECONDITION
(``backtest complete: clock expired``, a saved playground that cannot be restored),
UNAVAILABLE (playground host died or timed out), UNIMPLEMENTED (live-only RPCs).
"""
from __future__ import annotations

import asyncio
import logging
import os
import time
import uuid
from datetime import timedelta

import grpc

from backtestester import __version__
from backtestester.data.catalog import Catalog, DataNotFoundError
from backtestester.rpc import RESUME_METADATA
from backtestester.rpc import playground_pb2 as pb
from backtestester.rpc import playground_pb2_grpc as pb_grpc
from backtestester.service.errors import ServiceError, Status
from backtestester.service.journal import stream_request_id
from backtestester.service.session import PlaygroundSession
from backtestester.service.store import PlaygroundStore, StoreError, store_path
from backtestester.wire import answers, requests

from .placement import HostPool, HostUnavailable
from .security import PLAYGROUNDS_HINT, current_principal
from .session import serve_session

log = logging.getLogger(__name__)

CALL_TIMEOUT = 30.0      # seconds an ordinary playground call may take before UNAVAILABLE
CREATE_TIMEOUT = 300.0   # loading repositories from the catalog can take longer
RESTORE_RETRY_SECONDS = 30.0  # a broken saved playground is restored again after this, or when the data changes
LIVE_ONLY = ("{rpc}: live trading is off on this gateway (`backtestester serve` turns it on, see docs/live.md); "
             "only simulator playgrounds (CreatePlayground) are served")


STREAM_LANES = 2  # stream ticks running at once, all streams together (see StreamTicks)


def _resume_from(metadata) -> int:
    """The ``resume-from`` index of a StreamTicks call's metadata (0 without it)."""
    for key, value in metadata or ():
        if key == RESUME_METADATA:
            if not (isinstance(value, str) and value.isdigit() and len(value) < 19):
                raise ServiceError(Status.INVALID_ARGUMENT, f"metadata {RESUME_METADATA} must be a tick index "
                                   f"(0, 1, 2, ...), got {str(value)[:32]!r}")
            return int(value)
    return 0


REFUSALS = (ServiceError, requests.RequestError)  # the refused calls: a status and the text clients see
MAX_ERROR_CHARS = 1000  # an error text travels in trailers: a default Python client refuses more than 16 KB


def client_text(text: str, data_dir: str | None = None) -> str:
    """An error text as clients see it: the server's data directory (as an absolute path: a
    relative one could match ordinary words) shown as ``<data_dir>``, at most
    :data:`MAX_ERROR_CHARS` characters."""
    if data_dir:
        paths = {os.path.realpath(data_dir), os.path.abspath(data_dir)} - {os.sep}
        for path in sorted(paths, key=len, reverse=True):
            text = text.replace(path, "<data_dir>")
    if len(text) > MAX_ERROR_CHARS:
        text = f"{text[:MAX_ERROR_CHARS]}... (cut at {MAX_ERROR_CHARS} of {len(text)} characters)"
    return text


def _status_of(exc: ServiceError | requests.RequestError, data_dir: str | None = None) -> tuple[grpc.StatusCode, str]:
    """THE mapping of a refused call to a gRPC status (the names of :class:`Status` are gRPC's) and
    the text clients see (:func:`client_text`; a changed text is logged in full)."""
    name = exc.status.name if isinstance(exc, ServiceError) else exc.code
    full = str(exc)
    text = client_text(full, data_dir)
    if text != full:
        log.info("refused call, full text: %s", full)
    return getattr(grpc.StatusCode, name, grpc.StatusCode.UNKNOWN), text


def _rpc(func):
    """Turn refusals (:data:`REFUSALS`) into gRPC statuses; unexpected errors into INTERNAL."""
    async def wrapper(self, request, context):
        try:
            return await func(self, request, context)
        except REFUSALS as exc:
            await context.abort(*_status_of(exc, self.data_dir))
        except (grpc.aio.AbortError, asyncio.CancelledError):
            raise
        except Exception as exc:  # never crash the server, never leak a traceback to clients
            log.exception("%s failed", func.__name__)
            await context.abort(grpc.StatusCode.INTERNAL, f"{func.__name__}: internal error: {type(exc).__name__}")
    wrapper.__name__ = func.__name__
    wrapper.__wrapped__ = func  # a Session command runs the RPC's body (actors.gateway.session)
    return wrapper


class PlaygroundService(pb_grpc.PlaygroundServiceServicer):
    """The servicer. ``store``: the saved playgrounds (default ``<data_dir>/gateway.sqlite3``);
    ``hosts``: 0 (playgrounds in this process), N holder actors or ``"auto"`` (:class:`~actors.gateway.placement.HostPool`)."""

    refusals = REFUSALS  # what a Session answers with an error event (actors.gateway.session)

    def __init__(self, data_dir: str, *, call_timeout: float = CALL_TIMEOUT, version: str | None = None,
                 store: PlaygroundStore | None = None, hosts: int | str = 0, max_playgrounds: int = 0):
        self.data_dir = str(data_dir)
        self.max_playgrounds = max_playgrounds  # per principal, saved ones included (0: no limit)
        self.store = store if store is not None else PlaygroundStore(store_path(self.data_dir))
        self._broken: dict[str, tuple] = {}     # saved id -> (why it cannot be restored, when, data_stamp())
        self.clock = time.monotonic              # of the retry back-off (tests set their own)
        self._restoring: dict[str, asyncio.Future] = {}  # saved id -> its restore in progress
        self.call_timeout = call_timeout
        self.version = __version__ if version is None else version
        self._registry: dict[str, dict] = {}   # id -> {"tags": [...], "client_id": str | None, "saved": bool, ...}
        self.pool = HostPool(hosts)  # spawns its host actors lazily, on the first playground
        self._create_lock = asyncio.Lock()
        self._stream_lane = asyncio.Semaphore(STREAM_LANES)
        self.live = None  # actors.gateway.live.LiveRPCs when the gateway trades live (set by the server)
        self.charge = None  # the rate limit of a Session's commands: charge(context, method) (set by the server)

    def refusal_status(self, exc) -> tuple[grpc.StatusCode, str]:
        """The status code and client text of a refused call (:func:`_status_of`), for the Session."""
        return _status_of(exc, self.data_dir)

    def is_live(self, pid: str) -> bool:
        """Whether ``pid`` is a live playground the caller may see (its calls go to the live desk)."""
        return self._live(pid)

    async def call(self, pid: str, fn, *args, inline: bool = False):
        """``fn(session, *args)`` on playground ``pid`` (see ``_call``; ``inline``: see
        :meth:`HostPool.call <actors.gateway.placement.HostPool.call>`): for the Session."""
        saved = self._registry.get(pid, {}).get("saved")  # a saved one writes each command: not on the loop
        return await self._call(pid, fn, *args, inline=inline and not saved)

    # --- live playgrounds: their ids go to the live desk (actors.gateway.live) ---------------------
    def _live(self, pid: str) -> bool:
        """Whether ``pid`` is a live playground the caller may see (its calls go to the live desk)."""
        return self.live is not None and self.live.shell.visible(pid, current_principal())

    def _not_for_live(self, pid: str, rpc: str, why: str) -> None:
        """Refuse a simulator-only call on a live playground with FAILED_PRECONDITION, saying why."""
        if self._live(pid):
            raise ServiceError(Status.FAILED_PRECONDITION, f"{rpc} is for simulator playgrounds; {pid} is live: {why}")

    def _live_rpcs(self, rpc: str):
        if self.live is None:
            raise requests.RequestError(LIVE_ONLY.format(rpc=rpc), "UNIMPLEMENTED")
        return self.live

    # --- playground plumbing ------------------------------------------------------------------
    def _visible(self, pid: str) -> bool:
        """Tenant scoping: a playground belongs to the token (principal) that created it; without
        tokens every caller is the same principal (None). Others get NOT_FOUND, as for no such id."""
        entry = self._registry.get(pid)
        return entry is not None and entry.get("owner") == current_principal()

    async def _held(self, pid: str) -> bool:
        """Make sure playground ``pid`` is on a host (restoring a saved one that is not): NOT_FOUND
        if the caller may not see it, UNAVAILABLE if its host died unsaved. Returns whether it is saved."""
        if not pid or not self._visible(pid):
            raise ServiceError(Status.NOT_FOUND, "playground not found")
        saved = self._registry[pid].get("saved")
        if pid in self._restoring or not self.pool.holds(pid):
            if not saved:
                raise HostUnavailable(f"playground {pid} is unavailable: its host died and it was not saved")
            await self._restored(pid)
        return saved

    async def _call(self, pid: str, fn, *args, timeout: float | None = None, inline: bool = False):
        """``fn(session, *args)`` on playground ``pid``'s session (restoring a saved one first if it
        is not held): a function of :mod:`backtestester.wire.answers` or a ``PlaygroundSession`` method."""
        saved = await self._held(pid)
        try:
            return await self.pool.call(pid, fn, *args, timeout=timeout or self.call_timeout, inline=inline)
        except HostUnavailable:
            raise
        except ServiceError as exc:
            if exc.status is Status.UNAVAILABLE and saved:  # it could not write a command: the next call restores it
                await self.pool.drop(pid, self.call_timeout)
            raise

    # --- durable playgrounds ------------------------------------------------------------------
    async def load_saved(self) -> int:
        """Register every saved playground (id, tags, client id, owner) from the store; cheap, no
        playground is built: each is restored on the first call that needs it. Returns how many.
        Raises :class:`~backtestester.service.store.StoreError` if the database cannot be read."""
        rows = await asyncio.to_thread(self.store.registry)
        for row in rows:
            self._registry.setdefault(row["id"], {"tags": row["tags"], "client_id": row["client_id"],
                                                  "owner": row["owner"], "saved": True})
        if rows:
            log.info("%d saved playgrounds registered from %s", len(rows), self.store.path)
        return len(rows)

    def data_stamp(self) -> tuple:
        """What the data directory's files are now (path, size, mtime of each; the gateway's own
        database and lock excepted): a broken playground is retried when this changes."""
        stamp = []
        for root, dirs, files in os.walk(self.data_dir):
            dirs.sort()
            for name in sorted(files):
                if not name.startswith("gateway."):
                    path = os.path.join(root, name)
                    try:
                        st = os.stat(path)
                    except OSError:
                        continue
                    stamp.append((path, st.st_size, st.st_mtime_ns))
        return tuple(stamp)

    async def _restored(self, pid: str):
        """Restore a saved playground on first use. Concurrent callers share one
        restore, and a caller that gives up (deadline, cancel) does not cancel it for the others.
        A broken one is answered from memory until its data changed or the back-off passed."""
        broken = self._broken.get(pid)
        if broken is not None:
            why, since, stamp = broken
            if self.clock() - since < RESTORE_RETRY_SECONDS and await asyncio.to_thread(self.data_stamp) == stamp:
                raise ServiceError(Status.FAILED_PRECONDITION, why)
            self._broken.pop(pid, None)
            log.info("retrying the restore of saved playground %s", pid)
        task = self._restoring.get(pid)
        if task is None:
            task = self._restoring[pid] = asyncio.ensure_future(self._restore(pid))

            def done(t, pid=pid):
                if self._restoring.get(pid) is t:
                    del self._restoring[pid]
                if not t.cancelled():
                    t.exception()  # retrieved: nobody may be waiting any more
            task.add_done_callback(done)
        return await asyncio.shield(task)

    async def _restore(self, pid: str) -> None:
        since, stamp = self.clock(), await asyncio.to_thread(self.data_stamp)  # before: a fix meanwhile retries
        try:
            await self.pool.place(pid, answers.restored, self.store.path, self.data_dir, timeout=CREATE_TIMEOUT)
        except HostUnavailable:
            raise
        except ServiceError as exc:
            log.error("cannot restore saved playground %s: %s", pid, exc.message)
            if exc.status is Status.FAILED_PRECONDITION:  # deterministic: not again until the data changes or later
                self._broken[pid] = (exc.message, since, stamp)
            raise
        if pid not in self._registry:  # deleted meanwhile
            await self.pool.drop(pid, self.call_timeout)
            raise ServiceError(Status.NOT_FOUND, "playground not found")
        log.info("restored saved playground %s", pid)

    # --- playgrounds --------------------------------------------------------------------------
    @_rpc
    async def CreatePlayground(self, request, context):
        config = requests.create_config(request)
        client_id = config["client_id"]
        if client_id is None:
            pid = await self._spawn(config)
        else:
            async with self._create_lock:  # spec 16: an existing client_id returns its playground
                for pid, entry in self._registry.items():
                    if entry["client_id"] == client_id and self._visible(pid):
                        return pb.CreatePlaygroundResponse(id=pid)
                pid = await self._spawn(config)
        return pb.CreatePlaygroundResponse(id=pid)

    async def _spawn(self, config: dict) -> str:
        owner = current_principal()
        if self.max_playgrounds and sum(e.get("owner") == owner for e in self._registry.values()) >= self.max_playgrounds:
            raise ServiceError(Status.RESOURCE_EXHAUSTED,
                               f"at most {self.max_playgrounds} playgrounds per client (the gateway's "
                               f"{PLAYGROUNDS_HINT}): delete one first")
        pid = str(uuid.uuid4())
        self._registry[pid] = {"tags": list(config["tags"]), "client_id": config["client_id"],
                               "owner": owner, "saved": False}
        try:
            await self.pool.place(pid, answers.created, config, self.data_dir, timeout=CREATE_TIMEOUT)
        except BaseException:
            self._registry.pop(pid, None)
            raise
        return pid

    @_rpc
    async def DeletePlayground(self, request, context):
        pid = request.playground_id
        self._not_for_live(pid, "DeletePlayground", "they are the record of real broker orders and are kept")
        if not self._visible(pid):
            raise ServiceError(Status.NOT_FOUND, "playground not found")
        try:  # the saved rows first: if that fails, nothing has changed
            await asyncio.to_thread(self.store.delete, pid)
        except StoreError as exc:
            raise ServiceError(exc.status, f"DeletePlayground: cannot delete saved playground {pid}: {exc}") from None
        self._registry.pop(pid, None)
        self._broken.pop(pid, None)
        await self.pool.drop(pid, self.call_timeout)
        return pb.EmptyResponse()

    @_rpc
    async def GetPlaygrounds(self, request, context):
        wanted = set(request.tags)
        live = await self.live.summaries(request.tags) if self.live is not None else []
        ids = [pid for pid, e in self._registry.items() if wanted <= set(e["tags"]) and self._visible(pid)]
        results = await asyncio.gather(*(self._call(pid, answers.summary) for pid in ids), return_exceptions=True)
        resp = pb.GetPlaygroundsResponse()
        for pid, res in zip(ids, results):
            if isinstance(res, BaseException):  # a dead playground is left out, not an error for all
                log.warning("GetPlaygrounds: skipping %s: %s", pid, res)
                continue
            resp.playgrounds.append(res)
        resp.playgrounds.extend(live)
        return resp

    @_rpc
    async def NextTick(self, request, context):
        if not request.request_id:
            raise ServiceError(Status.INVALID_ARGUMENT, "request id is empty")
        requests.identifier(request.request_id, "request_id")
        if self._live(request.playground_id):
            return await self.live.next_tick(request.playground_id, request.request_id)
        return await self._call(request.playground_id, PlaygroundSession.tick, int(request.seconds),
                                bool(request.is_preview), request.request_id)

    async def StreamTicks(self, request, context):
        """Addition: one NextTick per delta (see docs/wire.md). Metadata ``resume-from: <n>`` (with a
        ``request_id``) starts at the stream's tick ``n``: a client re-opening a broken stream asks
        only for the deltas it has not received. Stream ticks take turns in :data:`STREAM_LANES`
        lanes (a lane is held for the tick only, not while the delta is written), so that streams
        running flat out leave the event loop and the other calls their share of the GIL."""
        try:
            self._not_for_live(request.playground_id, "StreamTicks", "they move with the market: call NextTick")
            if request.is_preview and request.max_ticks > 1:
                raise ServiceError(Status.INVALID_ARGUMENT, "a preview stream sends one delta: max_ticks must be 0 or 1")
            requests.identifier(request.request_id, "request_id")
            i = _resume_from(context.invocation_metadata()) if request.request_id else 0
            while request.max_ticks == 0 or i < request.max_ticks:
                rid = stream_request_id(request.request_id, i) if request.request_id else ""
                await self._held(request.playground_id)  # a restore (up to minutes) waits outside the lanes
                async with self._stream_lane:
                    delta = await self._call(request.playground_id, PlaygroundSession.tick, int(request.seconds),
                                             bool(request.is_preview), rid)
                await context.write(delta)
                i += 1
                if delta.is_backtest_complete or request.is_preview:
                    return
        except REFUSALS as exc:
            await context.abort(*_status_of(exc, self.data_dir))

    async def StreamCandlesArrow(self, request, context):
        """Addition: GetCandles' selection as Arrow IPC batches (see docs/wire.md)."""
        try:
            self._not_for_live(request.playground_id, "StreamCandlesArrow", "call GetCandles")
            symbol, start, end = self._candle_range(request)
            payloads = await self._call(request.playground_id, PlaygroundSession.candles_arrow, symbol,
                                        int(request.period_in_seconds), start, end)
        except REFUSALS as exc:
            await context.abort(*_status_of(exc, self.data_dir))
        for ipc in payloads:
            await context.write(pb.ArrowBatch(ipc=ipc))

    @staticmethod
    def _candle_range(request):
        """GetCandles' and StreamCandlesArrow's ``(symbol, start, end)``."""
        symbol = requests.parse_symbol(request.symbol)
        if request.period_in_seconds <= 0:
            raise ServiceError(Status.INVALID_ARGUMENT,
                               f"period_in_seconds must be greater than 0, got {request.period_in_seconds}")
        start = requests.parse_rfc3339(request.fromRTF3339, "fromRTF3339")
        end = requests.parse_rfc3339(request.toRTF3339, "toRTF3339") if request.HasField("toRTF3339") else None
        return symbol, start, end

    @_rpc
    async def PlaceOrder(self, request, context):
        kwargs = requests.place_order_kwargs(request)
        if self._live(request.playground_id):
            return await self.live.place_order(request.playground_id, kwargs)
        return await self._call(request.playground_id, answers.place_order, kwargs)

    @_rpc
    async def CancelOrder(self, request, context):
        """Addition: cancel a pending order (see docs/wire.md); journalled like PlaceOrder."""
        oid = int(request.order_id)
        if oid == 0:  # D8: 0 never names an order
            raise ServiceError(Status.NOT_FOUND, "order 0 not found: order ids start at 1")
        if self._live(request.playground_id):
            return await self.live.cancel_order(request.playground_id, oid)
        return await self._call(request.playground_id, answers.cancel_order, oid)

    @_rpc
    async def GetOrder(self, request, context):
        oid = int(request.order_id)
        if oid == 0:  # D8: 0 never names an order
            raise ServiceError(Status.NOT_FOUND, "order 0 not found: order ids start at 1")
        ids = [pid for pid in self._registry if self._visible(pid)]
        results = await asyncio.gather(*(self._call(pid, answers.get_order, oid) for pid in ids), return_exceptions=True)
        found = [r for r in results if isinstance(r, pb.Order)]
        if self.live is not None and (live := await self.live.get_order(oid)) is not None:
            found.append(live)
        if not found:
            raise ServiceError(Status.NOT_FOUND, f"order {oid} not found")
        if len(found) > 1:  # ids are unique per playground (D8); the v1 request names no playground
            raise ServiceError(Status.FAILED_PRECONDITION,
                               f"order {oid} is ambiguous: {len(found)} playgrounds have an order with this id")
        return found[0]

    @_rpc
    async def GetAccount(self, request, context):
        filters = {
            "statuses": set(request.status), "sides": set(request.sides),
            "symbols": {s.strip().upper() for s in request.symbols},
            "start": requests.parse_rfc3339(request.fromRTF3339, "fromRTF3339") if request.HasField("fromRTF3339") else None,
            "end": requests.parse_rfc3339(request.toRTF3339, "toRTF3339") if request.HasField("toRTF3339") else None,
        }
        if self._live(request.playground_id):
            return await self.live.account(request.playground_id, bool(request.fetch_orders), filters)
        return await self._call(request.playground_id, answers.account, bool(request.fetch_orders), filters)

    @_rpc
    async def GetCandles(self, request, context):
        symbol, start, end = self._candle_range(request)
        if self._live(request.playground_id):
            return await self.live.candles(request.playground_id, symbol, int(request.period_in_seconds), start, end)
        return await self._call(request.playground_id, answers.candles, symbol,
                                int(request.period_in_seconds), start, end)

    @_rpc
    async def GetOpenOrders(self, request, context):
        if self._live(request.playground_id):
            return await self.live.open_orders(request.playground_id, requests.parse_symbol(request.symbol))
        return await self._call(request.playground_id, answers.open_orders, requests.parse_symbol(request.symbol))

    @_rpc
    async def GetAccountStats(self, request, context):
        if self._live(request.playground_id):
            return await self.live.account_stats(request.playground_id, bool(request.equity_plot))
        return await self._call(request.playground_id, answers.account_stats, bool(request.equity_plot))

    @_rpc
    async def SavePlayground(self, request, context):
        """Write the playground to the store; from then on every command is written through."""
        pid = request.playground_id
        if self._live(pid):  # live playgrounds are durable always
            return pb.EmptyResponse()
        owner = self._registry.get(pid, {}).get("owner")
        await self._call(pid, PlaygroundSession.save, self.store.path, owner, timeout=CREATE_TIMEOUT)
        entry = self._registry.get(pid)
        if entry is None:  # deleted while it was being saved: leave no rows behind
            await asyncio.to_thread(self.store.delete, pid)
            raise ServiceError(Status.NOT_FOUND, "playground not found")
        entry["saved"] = True
        return pb.EmptyResponse()

    @_rpc
    async def GetAppVersion(self, request, context):
        return pb.GetAppVersionResponse(version=self.version)

    @_rpc
    async def GetDailyTickerSummaryFromPolygon(self, request, context):
        """Daily open/high/low/close/volume (and the pre-market open and after-hours close) from
        Polygon/Massive when the gateway has a ``--polygon-config``, else from the data catalog
        (D19; no pre/after-hours data there: 0)."""
        day = requests.parse_date(request.date, "date")
        symbol = requests.parse_symbol(request.symbol)
        if self.live is not None and self.live.shell.polygon is not None:
            summary = await self.live.daily_summary(symbol, day)
            if summary is None:
                raise ServiceError(Status.NOT_FOUND, f"Polygon has no daily summary of {symbol} on {day}")
            return pb.GetDailyTickerSummaryFromPolygonResponse(**summary)

        def load():
            try:
                return Catalog(self.data_dir).load(symbol, "1d", day.isoformat(),
                                                   (day + timedelta(days=1)).isoformat(), calendar="XNYS")
            except DataNotFoundError as exc:
                log.info("GetDailyTickerSummaryFromPolygon: %s", exc)  # the full text names the data directory
                raise ServiceError(Status.NOT_FOUND, exc.public_message) from None
            except ValueError as exc:
                raise ServiceError(Status.INVALID_ARGUMENT, str(exc)) from None

        table = await asyncio.to_thread(load)
        if table.num_rows == 0:
            raise ServiceError(Status.NOT_FOUND, f"no daily bar of {symbol} on {day} in the data catalog")
        row = {name: table.column(name)[0].as_py() for name in ("open", "high", "low", "close", "volume")}
        return pb.GetDailyTickerSummaryFromPolygonResponse(open=row["open"], high=row["high"], low=row["low"],
                                                           close=row["close"], volume=int(row["volume"]))

    # --- live-only (actors.gateway.live) -------------------------------------------------------
    @_rpc
    async def CreateLivePlayground(self, request, context):
        """A live playground (idempotent on client_id per principal), durable always."""
        return pb.CreatePlaygroundResponse(id=await self._live_rpcs("CreateLivePlayground").create(request))

    @_rpc
    async def GetReconciliationReport(self, request, context):
        live = self._live_rpcs("GetReconciliationReport")
        return await live.reconciliation_report(self._reconcile_id(request.reconcile_playground_id))

    @_rpc
    async def SettleIntent(self, request, context):
        """An operator settles an intent of unknown outcome; the fresh reconciliation report."""
        live = self._live_rpcs("SettleIntent")
        rid = self._reconcile_id(request.reconcile_playground_id)
        return await live.settle_intent(rid, requests.identifier(request.key, "key"), request.note[:1000])

    @_rpc
    async def GetEquityReport(self, request, context):
        live = self._live_rpcs("GetEquityReport")
        return await live.equity_report(self._reconcile_id(request.playground_id))

    def _reconcile_id(self, rid: str) -> str:
        """A reconcile playground id the caller may ask about: one of its live playgrounds' (or that one's)."""
        if not self.live.shell.reconcile_visible(rid, current_principal()):
            raise ServiceError(Status.NOT_FOUND, "playground is not a reconciliation playground")
        return rid

    @_rpc
    async def MockFillOrder(self, request, context):
        await self._live_rpcs("MockFillOrder").mock_fill(request)
        return pb.EmptyResponse()

    @_rpc
    async def GetBrokerHealth(self, request, context):
        return await self._live_rpcs("GetBrokerHealth").health()

    async def Session(self, request_iterator, context):
        """Addition: the bidirectional session (see :mod:`actors.gateway.session`, docs/wire.md)."""
        async for event in serve_session(self, request_iterator, context):
            yield event

    @_rpc
    async def PushBars(self, request_iterator, context):
        """Bars for ``--live-feed push`` (a client stream), each delivered once after the settle delay."""
        return pb.PushBarsResponse(received=await self._live_rpcs("PushBars").push_bars(request_iterator))
