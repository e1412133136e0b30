"""The gateway's live shell: one :class:`~backtestester.live.desk.LiveDesk` in the gateway's process.

The desk is pure and blocking (SQLite, broker HTTP) and thread-safe (its own two locks: the calls
that talk to a broker are sequenced, the reads never wait for one). The shell runs each desk call
in a thread, never on the event loop: calls that may reach a broker (poll, place, cancel, create,
mock fill, reconciliation, candles' backfill) in one small pool, the reads (NextTick, GetAccount,
...) in another, so a broker that hangs until its timeout holds up neither the event loop nor
the reads. A poll task calls ``desk.poll()`` every ``poll_seconds`` until the gateway stops. The servicer (:mod:`actors.gateway.service`) sends the calls on live playground
ids here (:meth:`LiveShell.owns`); simulator calls are unchanged.

Configuration (:class:`LiveConfig`, the ``serve`` flags): the brokers (``sim`` always, with
``mock``, a manual-fill sim: only MockFillOrder fills it, as the original's mock broker;
``tradier`` with a TOML file), the bar feed (``replay`` of the gateway's catalog, ``tradier``
time-sales, ``push``: bars sent with PushBars, or ``polygon``: Polygon/Massive REST aggregates or
its AM stream, docs/live/polygon.md) and the poll period. Everything durable lives in
the data directory: ``live.sqlite3`` (the desk), ``live-bars.sqlite3`` (delivered bars),
``live-<broker>.sqlite3`` (the simulated brokers) and ``live-replay.json`` (the replay's origin,
so a restarted gateway continues the same replay clock instead of starting it again).
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone

from backtestester.data.schema import TIMEFRAMES
from backtestester.live.barsources import PACES
from backtestester.service.errors import ServiceError, Status

from .security import current_principal

log = logging.getLogger(__name__)

FEEDS = ("replay", "tradier", "push", "polygon")
LIVE_BROKERS = ("sim", "tradier", "alpaca")
REPLAY_FILE = "live-replay.json"
TRADIER_KEYS = ("account_id", "environment", "base_url", "data_url", "trading_token_env", "data_token_env",
                "timeout_s", "account_type")


@dataclass(frozen=True)
class LiveConfig:
    """The live part of ``serve``: see the module docstring. ``replay_start``: ISO date or time
    (a bare date: that day's 09:30 New York open); ``fill_model``: the sim brokers' (close, the
    engine's default, or next_open)."""

    brokers: tuple[str, ...] = ("sim",)
    feed: str = "replay"
    replay_start: str | None = None
    replay_speed: float = 1.0
    replay_pace: str = "sessions"
    replay_symbols: tuple[str, ...] = ()
    replay_timeframe: str = "1m"
    tradier_config: str | None = None
    polygon_config: str | None = None
    poll_seconds: float = 1.0
    settle_seconds: float = 2.0
    fill_model: str = "close"
    tradier: dict = field(default_factory=dict, compare=False, repr=False)  # the TOML file and tokens, by validate()
    alpaca_config: str | None = None
    alpaca: dict = field(default_factory=dict, compare=False, repr=False)  # the TOML file and keys, by validate()
    polygon: object = field(default=None, compare=False, repr=False)  # a PolygonConfig, by validate()

    def validate(self) -> LiveConfig:
        """Refuse a configuration that cannot run (a ``ValueError`` naming what is accepted) before
        anything starts; returns the config with the Tradier and Alpaca files read."""
        from backtestester.live.alpaca_config import read_alpaca_config  # noqa: PLC0415
        from backtestester.sweep.arguments import load_toml  # noqa: PLC0415  (the one TOML reader)

        unknown = sorted(set(self.brokers) - set(LIVE_BROKERS))
        if unknown:
            raise ValueError(f"--live-broker {', '.join(unknown)}: accepted: {', '.join(LIVE_BROKERS)}")
        if self.replay_pace not in PACES:
            raise ValueError(f"--replay-pace {self.replay_pace}: accepted: {', '.join(PACES)}")
        if self.feed not in FEEDS:
            raise ValueError(f"--live-feed {self.feed}: accepted: {', '.join(FEEDS)}")
        if self.replay_timeframe not in TIMEFRAMES:
            raise ValueError(f"--replay-timeframe {self.replay_timeframe}: accepted: {', '.join(TIMEFRAMES)}")
        if not self.poll_seconds > 0 or not self.replay_speed > 0:
            raise ValueError("--live-poll-seconds and --replay-speed must be greater than 0")
        if self.feed == "replay" and self.replay_start and not self.replay_symbols:
            raise ValueError("--replay-start needs --replay-symbols (the catalog's symbols to replay)")
        if self.feed == "replay" and self.replay_start:
            replay_start(self.replay_start)
        wants_tradier = "tradier" in self.brokers or self.feed == "tradier"
        if wants_tradier and not self.tradier_config:
            raise ValueError("--live-broker tradier and --live-feed tradier need --tradier-config FILE (TOML)")
        tradier = read_tradier_config(self.tradier_config) if wants_tradier else {}
        if "alpaca" in self.brokers and not self.alpaca_config:
            raise ValueError("--live-broker alpaca needs --alpaca-config FILE (TOML)")
        alpaca = read_alpaca_config(self.alpaca_config, load_toml) if "alpaca" in self.brokers else {}
        if self.feed == "polygon" and not self.polygon_config:
            raise ValueError("--live-feed polygon needs --polygon-config FILE (TOML)")
        polygon = read_polygon_config(self.polygon_config) if self.polygon_config else None
        return LiveConfig(**{**self.__dict__, "tradier": tradier, "alpaca": alpaca, "polygon": polygon})

    @property
    def period_s(self) -> int:
        return int(TIMEFRAMES[self.replay_timeframe].total_seconds())


def replay_start(text: str) -> datetime:
    """``--replay-start``: an ISO date (09:30 New York that day) or an ISO time (UTC if naive)."""
    from backtestester.wire.times import NEW_YORK  # noqa: PLC0415

    try:
        if len(text) == 10:
            day = datetime.fromisoformat(text)
            return day.replace(hour=9, minute=30, tzinfo=NEW_YORK).astimezone(timezone.utc)
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"--replay-start {text!r}: give a date YYYY-MM-DD or a time such as "
                         f"2024-01-03T14:30:00Z") from None
    return (dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)


def read_tradier_config(path: str) -> dict:
    """The ``--tradier-config`` TOML file: ``account_id`` (required), ``environment`` (sandbox or
    production), ``base_url``, ``data_url``, ``timeout_s``, ``account_type``, and the *names* of the
    environment variables holding the tokens (``trading_token_env``, default TRADIER_TOKEN;
    ``data_token_env``, default the trading one): tokens never live in the file."""
    from backtestester.sweep.arguments import load_toml  # noqa: PLC0415  (the one TOML reader)

    try:
        table = load_toml(path)
    except ValueError as exc:
        raise ValueError(f"--tradier-config {path}: {exc}") from None
    from backtestester.live.tradier_bars import MARKET_OPTION_KEYS  # noqa: PLC0415  (market_stream, rest_poll_s)
    from backtestester.live.tradier_stream import STREAM_OPTION_KEYS  # noqa: PLC0415  (streams = true, ...)

    accepted = (*TRADIER_KEYS, *STREAM_OPTION_KEYS, *MARKET_OPTION_KEYS)
    unknown = sorted(set(table) - set(accepted))
    if unknown:
        raise ValueError(f"--tradier-config {path}: unknown keys {', '.join(unknown)}; accepted: "
                         f"{', '.join(accepted)}")
    if not table.get("account_id"):
        raise ValueError(f"--tradier-config {path}: account_id is required")
    token_env = table.get("trading_token_env", "TRADIER_TOKEN")
    if not os.environ.get(token_env):
        raise ValueError(f"--tradier-config {path}: the environment variable {token_env} (the trading token) is not set")
    # read here, where serve starts: the gateway's process (a Ray worker) may not share this environment
    table["trading_token"] = os.environ[token_env]
    table["data_token"] = os.environ.get(table.get("data_token_env", ""), "") or table["trading_token"]
    return table


def read_polygon_config(path: str):
    """The ``--polygon-config`` TOML file as a :class:`~backtestester.live.polygon.PolygonConfig`
    (keys: docs/live/polygon.md; the API key from ``api_key_env`` or ``api_key_file``, read here,
    where serve starts: the gateway's process may not share this environment)."""
    from backtestester.live.polygon import config_from_table  # noqa: PLC0415
    from backtestester.sweep.arguments import load_toml  # noqa: PLC0415  (the one TOML reader)

    try:
        table = load_toml(path)
    except ValueError as exc:
        raise ValueError(f"--polygon-config {path}: {exc}") from None
    return config_from_table(table, f"--polygon-config {path}")


def _replay_origin(data_dir: str, start: datetime, speed: float, pace: str, now_ns: int) -> int:
    """The wall time the replay started at: kept in ``live-replay.json`` so that a restarted gateway
    continues the replay where it was (a new start, speed or pace starts a new replay)."""
    path = os.path.join(data_dir, REPLAY_FILE)
    key = {"start": start.isoformat(), "speed": speed, "pace": pace}
    try:
        with open(path) as f:
            saved = json.load(f)
        if {k: saved.get(k) for k in key} == key:
            return int(saved["origin_ns"])
    except (OSError, ValueError, KeyError):
        pass
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump({**key, "origin_ns": now_ns}, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return now_ns


def build_desk(data_dir: str, config: LiveConfig, *, now=time.time_ns):
    """The desk of a gateway: brokers, bar sources, sessions. The simulated brokers and the sessions
    run on the market clock (the replay's time under a replay feed, else ``now``); the desk gets the
    wall clock and reads market time from the bars itself. Returns ``(desk, push source or None,
    market_now)``."""
    from backtestester.live import bars as live_bars  # noqa: PLC0415  (live trading only when served)
    from backtestester.live.alpaca_config import alpaca_broker  # noqa: PLC0415
    from backtestester.live.desk import LiveDesk  # noqa: PLC0415
    from backtestester.live.port import BrokerConfig  # noqa: PLC0415
    from backtestester.live.sessions import MarketSessions  # noqa: PLC0415
    from backtestester.live.simbroker import SimulatedBroker  # noqa: PLC0415

    bars_box: list = []

    def market_now() -> int:
        return bars_box[0].clock_ns(now()) if bars_box else now()

    brokers = {}
    for name, options in (("sim", {"fill": "auto"}), ("mock", {"fill": "manual"})):
        cfg = BrokerConfig(name, account_id=name if name == "sim" else "mock_default",
                           options={**options, "fill_model": config.fill_model})
        brokers[name] = SimulatedBroker(cfg, path=os.path.join(data_dir, f"live-{name}.sqlite3"), now=market_now)
        brokers[name].name = name
    if config.tradier:
        brokers["tradier"] = _tradier(config.tradier, now)
    if config.alpaca:
        brokers["alpaca"] = alpaca_broker(config.alpaca, now)
    push = None
    if config.feed == "replay":
        sources = []
        if config.replay_start:
            start = replay_start(config.replay_start)
            origin = _replay_origin(data_dir, start, config.replay_speed, config.replay_pace, now())
            sources.append(live_bars.ReplaySource(data_dir, list(config.replay_symbols), config.period_s, start=start,
                                                  speed=config.replay_speed, origin_ns=origin, pace=config.replay_pace))
    elif config.feed == "push":
        push = live_bars.PushSource()
        sources = [push]
    elif config.feed == "polygon":
        from backtestester.live.polygon_stream import live_source  # noqa: PLC0415

        sources = [live_source(config.polygon, list(config.replay_symbols), config.period_s, now=now)]
    else:
        from backtestester.live.tradier_bars import tradier_feed  # noqa: PLC0415  (streams = true: market stream)

        try:
            sources = [tradier_feed(brokers["tradier"], config.tradier, list(config.replay_symbols), config.period_s)]
        except ValueError as exc:
            raise ValueError(f"--tradier-config: {exc}") from None
    store = live_bars.LiveBars(os.path.join(data_dir, "live-bars.sqlite3"), sources,
                               settle_s=config.settle_seconds, now=now)
    bars_box.append(store)
    sessions = {name: MarketSessions(b, now=market_now) for name, b in brokers.items()}
    desk = LiveDesk(data_dir, brokers, store, sessions=sessions, now=now)  # the desk reads market time from the bars
    return desk, push, market_now


def _tradier(table: dict, now):
    from backtestester.live.port import BrokerConfig  # noqa: PLC0415
    from backtestester.live.tradier import TradierBroker  # noqa: PLC0415

    cfg = BrokerConfig("tradier", account_id=table["account_id"], base_url=table.get("base_url", ""),
                       data_url=table.get("data_url", ""), trading_token=table["trading_token"],
                       data_token=table["data_token"],
                       timeout_s=float(table.get("timeout_s", 10.0)),
                       options={"environment": table.get("environment", "sandbox")})
    broker = TradierBroker(cfg, now=now)
    # the account-events stream (streams = true; default on in production): order events make the
    # poll loop read an order at once (LiveShell._pause); polling stays the truth
    from backtestester.live.tradier_stream import account_stream  # noqa: PLC0415

    try:
        broker.stream = account_stream(broker, table, table.get("environment", "sandbox"))
    except ValueError as exc:
        raise ValueError(f"--tradier-config: {exc}") from None
    return broker


class LiveShell:
    """The desk of one gateway, served to the event loop (see the module docstring)."""

    def __init__(self, data_dir: str, config: LiveConfig, *, now=time.time_ns):
        self.data_dir, self.config, self.now = str(data_dir), config, now
        self.desk = self.push = None
        self.polygon = None  # Polygon/Massive REST when configured: GetDailyTickerSummaryFromPolygon reads it
        self.market_now = now
        self._broker_pool = ThreadPoolExecutor(4, thread_name_prefix="live-broker")
        self._read_pool = ThreadPoolExecutor(4, thread_name_prefix="live-read")
        self._task: asyncio.Task | None = None
        self._owners: dict[str, str | None] = {}   # live playground id -> the principal that created it
        self._reconciles: dict[str, set] = {}      # reconcile playground id -> the principals of its live ones

    async def start(self) -> None:
        """Build (resume) the desk in a thread, learn its playgrounds, start the poll task."""
        if self.desk is None:
            self.desk, self.push, self.market_now = await asyncio.to_thread(build_desk, self.data_dir, self.config,
                                                                            now=self.now)
        if self.config.polygon is not None and self.polygon is None:
            from backtestester.live.polygon import PolygonRest  # noqa: PLC0415

            self.polygon = PolygonRest(self.config.polygon)

        def metas():
            return [self.desk.meta(pid) for pid in self.desk.playgrounds()]
        for m in await self.read(metas):
            self.remember(m["playground_id"], m.get("owner"), m.get("reconcile_playground_id"))
        self._task = asyncio.ensure_future(self._poll_loop())
        log.info("live desk serving %d live playgrounds (feed %s, poll every %gs)", len(self._owners),
                 self.config.feed, self.config.poll_seconds)

    async def stop(self) -> None:
        """Stop polling and close the desk (its files stay: a restart resumes)."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        if self.desk is not None:
            await self.run(self.desk.close)
            await self.run(self.desk.bars.close)  # a stream source's thread is joined
            self.desk = None
        if self.polygon is not None:
            self.polygon.close()
            self.polygon = None
        self._broker_pool.shutdown(wait=False)
        self._read_pool.shutdown(wait=False)

    async def _poll_loop(self) -> None:
        failing = None  # the text of the failure logged last: a broker down is logged once, not every poll
        while True:
            try:
                await self.run(self.desk.poll)
                if failing is not None:
                    log.warning("live poll works again (it failed with: %s)", failing)
                    failing = None
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a broker down must not stop the loop: the desk's health reports it
                text = f"{type(exc).__name__}: {exc}"
                if text != failing:
                    log.exception("live poll failed (logged again only when the failure changes)")
                    failing = text
            await self._pause()

    async def _pause(self) -> None:
        """Until the next poll; order events of a broker's stream are applied meanwhile, at once."""
        if not self.desk.streaming:
            await asyncio.sleep(self.config.poll_seconds)
            return
        loop = asyncio.get_running_loop()
        end = loop.time() + self.config.poll_seconds
        while (left := end - loop.time()) > 0:
            # waits of at most a second: a stopped loop leaves no long wait behind in a thread
            if await asyncio.to_thread(self.desk.wait_events, min(left, 1.0)):
                if self.desk.bar_news:  # a market stream saw a bar complete: poll (fetch it) now
                    return
                await self.run(self.desk.poll_events)

    async def run(self, fn, *args, **kwargs):
        """``fn(*args, **kwargs)`` (a desk call that may reach a broker) in a thread of the broker pool."""
        return await asyncio.get_running_loop().run_in_executor(self._broker_pool, lambda: fn(*args, **kwargs))

    async def read(self, fn, *args, **kwargs):
        """``fn(*args, **kwargs)`` (a desk read: never a broker call) in a thread of the read pool."""
        return await asyncio.get_running_loop().run_in_executor(self._read_pool, lambda: fn(*args, **kwargs))

    def owns(self, pid: str) -> bool:
        """Whether ``pid`` is a live playground of this gateway's desk."""
        return pid in self._owners

    def visible(self, pid: str, principal) -> bool:
        """Tenant scoping, as the simulator's: a live playground belongs to the principal that made it."""
        return pid in self._owners and self._owners[pid] == principal

    def reconcile_visible(self, rid: str, principal) -> bool:
        """Whether ``rid`` is the reconcile playground of one of ``principal``'s live playgrounds."""
        return principal in self._reconciles.get(rid, ())

    def remember(self, pid: str, owner, reconcile_id: str | None) -> None:
        self._owners[pid] = owner
        if reconcile_id:
            self._reconciles.setdefault(reconcile_id, set()).add(owner)

    async def daily_summary(self, symbol: str, day):
        """Polygon's open/close of ``symbol`` on ``day`` (a dict, ``None`` when it has none), or
        ``None`` when no Polygon source is configured (the caller reads the catalog then)."""
        if self.polygon is None:
            return None
        return await self.run(self.polygon.daily_summary, symbol, day)

    def require_push(self):
        if self.push is None:
            raise ServiceError(Status.FAILED_PRECONDITION,
                               f"PushBars: this gateway's live feed is {self.config.feed}; serve it with "
                               f"--live-feed push to accept pushed bars")
        return self.push


# --- the live RPCs: request -> desk call (in a thread) -> answer message ------------------------------
ACCOUNT_TYPES = ("paper", "margin", "cash", "mock")


def live_create_args(request) -> dict:
    """CreateLivePlayground's request -> ``desk.create_playground`` keyword arguments (spec §17:
    an empty client_id string is refused; the repositories' symbols and periods)."""
    import math  # noqa: PLC0415

    from backtestester.wire import requests  # noqa: PLC0415

    if request.HasField("client_id") and not request.client_id:
        raise ServiceError(Status.INVALID_ARGUMENT, "failed to create live playground: client id is an empty string")
    if not math.isfinite(request.balance) or request.balance <= 0:
        raise ServiceError(Status.INVALID_ARGUMENT, f"balance must be a finite number > 0, got {request.balance!r}")
    if not request.repositories:
        raise ServiceError(Status.INVALID_ARGUMENT, "missing repositories")
    repos = []
    for r in request.repositories:
        spec = requests.repository_spec(r)
        repos.append((spec["symbol"], spec["period_seconds"]))
    if len(set(repos)) != len(repos):
        raise ServiceError(Status.INVALID_ARGUMENT, "duplicate repository")
    account_type = request.account_type.strip().lower() or "paper"
    return {"broker": request.broker.strip().lower() or "sim", "account_type": account_type,
            "repositories": repos, "balance": float(request.balance),
            "client_id": requests.identifier(request.client_id, "client_id") if request.HasField("client_id") else None,
            "tags": tuple(requests.identifier(t, "tag") for t in request.tags)}


class LiveRPCs:
    """The live playgrounds' RPCs over a :class:`LiveShell` (the servicer routes live ids here)."""

    def __init__(self, shell: LiveShell):
        self.shell = shell

    @property
    def desk(self):
        return self.shell.desk

    def _lookup(self, oid: int):
        return self.desk.get_order(oid)

    async def create(self, request) -> str:
        """CreateLivePlayground for the calling principal (its owner)."""
        kwargs, owner = live_create_args(request), current_principal()
        def create():
            pid = self.desk.create_playground(owner=owner, **kwargs)
            return pid, self.desk.meta(pid).get("reconcile_playground_id")
        pid, rid = await self.shell.run(create)
        self.shell.remember(pid, owner, rid)
        return pid

    async def next_tick(self, pid: str, request_id: str):
        from backtestester.wire import live_answers  # noqa: PLC0415

        def tick():
            return live_answers.tick_delta(self.desk.next_tick(pid, request_id or None), self._lookup)
        return await self.shell.read(tick)

    async def place_order(self, pid: str, kwargs: dict):
        from backtestester.wire import live_answers  # noqa: PLC0415

        if kwargs.pop("equity_fraction", None) is not None or kwargs.get("quantity") is None:
            raise ServiceError(Status.INVALID_ARGUMENT, "equity_fraction is not supported on live playgrounds: "
                                                        "give a quantity of whole shares")
        return await self.shell.run(lambda: live_answers.order(self.desk.place_order(pid, **kwargs), self._lookup))

    async def cancel_order(self, pid: str, oid: int):
        from backtestester.wire import live_answers  # noqa: PLC0415

        return await self.shell.run(lambda: live_answers.order(self.desk.cancel_order(pid, oid), self._lookup))

    async def get_order(self, oid: int):
        """The live order ``oid``, or None when the desk has none."""
        from backtestester.wire import live_answers  # noqa: PLC0415

        def find():
            try:
                return live_answers.order(self.desk.get_order(oid), self._lookup)
            except (ServiceError, LookupError):
                return None
        return await self.shell.read(find)

    async def account(self, pid: str, fetch_orders: bool, filters: dict):
        from backtestester.wire import live_answers  # noqa: PLC0415

        def answer():
            return live_answers.account(self.desk.account(pid), self.desk.meta(pid), fetch_orders, filters, self._lookup)
        return await self.shell.read(answer)

    async def candles(self, pid: str, symbol: str, period_s: int, start, end):
        from backtestester.engine.timeutil import to_ns  # noqa: PLC0415
        from backtestester.wire import live_answers  # noqa: PLC0415

        end_ns = None if end is None else to_ns(end)
        return await self.shell.run(lambda: live_answers.candles(
            self.desk.candles(pid, symbol, period_s, to_ns(start), end_ns)))

    async def open_orders(self, pid: str, symbol: str):
        from backtestester.rpc import playground_pb2 as pb  # noqa: PLC0415
        from backtestester.wire import live_answers  # noqa: PLC0415

        return await self.shell.read(lambda: pb.GetOpenOrdersResponse(
            orders=[live_answers.order(o, self._lookup) for o in self.desk.open_orders(pid, symbol)]))

    async def account_stats(self, pid: str, equity_plot: bool):
        from backtestester.wire import live_answers  # noqa: PLC0415

        return await self.shell.read(lambda: live_answers.account_stats(self.desk.equity_plot(pid) if equity_plot else []))

    async def summaries(self, tags) -> list:
        """GetPlaygrounds' entries of the caller's live playgrounds."""
        owner = current_principal()

        from backtestester.wire import live_answers  # noqa: PLC0415

        def answer():
            out = []
            for pid in self.desk.playgrounds(tuple(tags)):
                if self.shell.visible(pid, owner):
                    out.append(live_answers.summary(self.desk.account(pid), self.desk.meta(pid), self.shell.market_now()))
            return out
        return await self.shell.read(answer)

    async def reconciliation_report(self, rid: str):
        from backtestester.wire import live_answers  # noqa: PLC0415

        return await self.shell.run(lambda: live_answers.reconciliation_report(self.desk.reconciliation_report(rid)))

    async def settle_intent(self, rid: str, key: str, note: str):
        from backtestester.wire import live_answers  # noqa: PLC0415

        return await self.shell.run(lambda: live_answers.reconciliation_report(self.desk.settle_intent(rid, key, note)))

    async def equity_report(self, rid: str):
        from backtestester.wire import live_answers  # noqa: PLC0415

        return await self.shell.read(lambda: live_answers.equity_report(self.desk.equity_report(rid)))

    async def health(self):
        from backtestester.wire import live_answers  # noqa: PLC0415

        return await self.shell.read(lambda: live_answers.broker_health(self.desk.health()))

    async def mock_fill(self, request) -> None:
        if request.HasField("delay_in_seconds") and request.delay_in_seconds > 0:
            async def later():
                await asyncio.sleep(request.delay_in_seconds)
                try:
                    await self.mock_fill_now(request)
                except Exception:
                    log.exception("delayed MockFillOrder of order %d failed", request.order_id)
            asyncio.ensure_future(later())
            return
        await self.mock_fill_now(request)

    async def mock_fill_now(self, request) -> None:
        await self.shell.run(self.desk.mock_fill, int(request.order_id), float(request.price), request.status,
                             broker=request.broker.strip().lower() or "mock")

    async def daily_summary(self, symbol: str, day) -> dict | None:
        """GetDailyTickerSummaryFromPolygon from Polygon (the shell's REST client); BrokerUnavailable
        is UNAVAILABLE, a refused key FAILED_PRECONDITION."""
        from backtestester.live.port import BrokerAuthError, BrokerUnavailable  # noqa: PLC0415

        try:
            return await self.shell.daily_summary(symbol, day)
        except BrokerAuthError as exc:
            raise ServiceError(Status.FAILED_PRECONDITION, f"Polygon refused the gateway's key: {exc}") from None
        except BrokerUnavailable as exc:
            raise ServiceError(Status.UNAVAILABLE, f"Polygon daily summary unavailable: {exc}") from None

    async def push_bars(self, request_iterator) -> int:
        from backtestester.live.port import Bar  # noqa: PLC0415
        from backtestester.wire.times import rfc3339_ns  # noqa: PLC0415

        push, received = self.shell.require_push(), 0
        async for msg in request_iterator:
            bars = []
            for c in msg.candles:
                try:
                    start = rfc3339_ns(c.bar.datetime)
                except ValueError:
                    raise ServiceError(Status.INVALID_ARGUMENT, f"PushBars: candle {c.symbol} has no valid bar "
                                       f"datetime (RFC 3339, the bar's start)") from None
                if c.period <= 0:
                    raise ServiceError(Status.INVALID_ARGUMENT, f"PushBars: candle {c.symbol} period must be > 0 seconds")
                bars.append(Bar(c.symbol.strip().upper(), int(c.period), start, c.bar.open, c.bar.high, c.bar.low,
                                c.bar.close, c.bar.volume))
            push.push(bars)
            received += len(bars)
        return received
