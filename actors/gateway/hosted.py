"""One simulator playground of the gateway, as held by a playground host.

``HostedPlayground`` owns one engine ``Playground``; a :class:`~actors.gateway.host.PlaygroundHost`
actor holds many and serialises the calls to each, so the engine needs no locks.

Every public method returns a *result tuple* instead of raising, so no exception class has to
cross the process boundary: ``("ok", payload)`` or ``("error", code, message)`` where ``code`` is
a gRPC status name. Payloads are serialised protobuf messages (``bytes``) or plain values.
"""
from __future__ import annotations

import time
from collections import OrderedDict
from datetime import datetime, timedelta

from backtestester.wire import codec as convert
from backtestester.wire.requests import order_matches
from backtestester.wire.times import rfc3339

from . import indicators
from .durable import Durable

TICK_CACHE_SECONDS = 300.0  # request_id idempotency window (spec 16: 5 minutes)


def ok(payload=None):
    return ("ok", payload)


def error(code: str, message: str):
    return ("error", code, message)


class HostedPlayground(Durable):  # Durable: journal, save, restore (actors/gateway/durable.py)
    def __init__(self, playground_id: str):
        # Nothing heavy here: a constructor that fails makes every later call fail obscurely.
        self.playground_id = playground_id
        self.pg = None
        self.config: dict = {}
        self.indicators: dict = {}  # (symbol, period_ns) -> {Bar field: values} (actors/gateway/indicators.py)
        self._tick_cache: OrderedDict[str, tuple[float, bytes]] = OrderedDict()  # request_id -> (when, delta)

    # --- creation ---------------------------------------------------------------------------
    def create(self, config: dict, data_dir: str):
        """Load every repository from the catalog (D19) and build the engine playground."""
        from backtestester.data.catalog import DataNotFoundError
        from backtestester.engine import PlaygroundError
        from backtestester.playgrounds import simulator_playground

        specs = [(s["symbol"], s["timeframe"], s["history_in_days"]) for s in config["repositories"]]
        try:
            self.pg = simulator_playground(data_dir, specs, start_date=config["start_date"],
                                           stop_date=config["stop_date"], balance=config["balance"],
                                           calendar=config.get("calendar", "XNYS"))
        except DataNotFoundError as exc:  # D18/D19: missing data is a clear error at creation
            return error("NOT_FOUND", str(exc))
        except (ValueError, PlaygroundError) as exc:
            return error("INVALID_ARGUMENT", str(exc))
        repos = self.pg.repositories
        self.indicators = indicators.compute(repos, config["repositories"])  # spec 4.8: once, history + range
        self.config = dict(config)
        return ok(self.playground_id)

    def _ready(self):
        return None if self.pg is not None else error("UNAVAILABLE", self._lost or "playground is not initialised")

    @property
    def tz(self):
        return self.pg.clock.tz

    def _lookup(self, order_id):
        return self.pg.get_order(order_id)

    def _tick_payload(self, delta) -> bytes:
        """NextTick's answer (also rebuilt by a restore for the request_id cache, durable.py)."""
        return convert.tick_delta(delta, self.tz, self._lookup, self.indicators).SerializeToString()

    # --- RPCs -------------------------------------------------------------------------------
    def tick(self, seconds: int, is_preview: bool, request_id: str):
        from backtestester.engine import BacktestCompleteError, PlaygroundError

        if (bad := self._ready()) is not None:
            return bad
        now = time.monotonic()
        if request_id and not is_preview:
            self._expire_cache(now)
            hit = self._tick_cache.get(request_id)
            if hit is not None:
                return ok(hit[1])
        before = self._pending_before(is_preview)
        try:
            delta = self.pg.tick(seconds, preview=is_preview)
        except BacktestCompleteError as exc:
            return error("FAILED_PRECONDITION", str(exc))
        except PlaygroundError as exc:  # raised half-way through a tick: journalled (see durable.py)
            if not is_preview:
                failed = self._record("tick", {"seconds": seconds, "fails": True}, request_id, orders=before)
                if failed is not None:
                    return failed
            return error("INVALID_ARGUMENT", str(exc))
        except (ValueError, OverflowError) as exc:
            return error("INVALID_ARGUMENT", str(exc))
        payload = self._tick_payload(delta)
        if not is_preview and (failed := self._record("tick", {"seconds": seconds}, request_id,
                                                      orders=before, delta=delta)) is not None:
            return failed
        if request_id and not is_preview:  # a failed tick stores nothing, so a retry recomputes
            self._tick_cache[request_id] = (now, payload)
        return ok(payload)

    def _expire_cache(self, now):
        cache = self._tick_cache  # oldest first: entries are added in time order
        while cache and now - next(iter(cache.values()))[0] > TICK_CACHE_SECONDS:
            cache.popitem(last=False)

    def place_order(self, kwargs: dict):
        from backtestester.engine import NotFoundError, PlaygroundError

        if (bad := self._ready()) is not None:
            return bad
        try:
            o = self.pg.place_order(**kwargs)
        except NotFoundError as exc:
            return error("NOT_FOUND", f"failed to place order: {exc}")
        except PlaygroundError as exc:
            text = str(exc)
            code = "FAILED_PRECONDITION" if text.startswith("backtest complete") else "INVALID_ARGUMENT"
            return error(code, f"failed to place order: {text}")
        if (failed := self._record("place_order", kwargs, orders=(o,))) is not None:
            return failed
        return ok(convert.order(o, self.tz, self._lookup).SerializeToString())

    def get_order(self, order_id: int):
        from backtestester.engine import NotFoundError

        if (bad := self._ready()) is not None:
            return bad
        try:
            o = self.pg.get_order(order_id)
        except NotFoundError as exc:
            return error("NOT_FOUND", str(exc))
        return ok(convert.order(o, self.tz, self._lookup).SerializeToString())

    def meta(self):
        from backtestester.rpc import playground_pb2 as pb

        c = self.config
        m = pb.AccountMeta(playground_id=self.playground_id, start_date=c["start_date"], end_date=c["stop_date"],
                           symbols=self.pg.symbols, initial_balance=c["balance"], environment=c["environment"],
                           tags=c.get("tags", []))
        if c.get("client_id") is not None:
            m.client_id = c["client_id"]
        return m

    def get_account(self, fetch_orders: bool, filters: dict):
        from backtestester.rpc import playground_pb2 as pb

        if (bad := self._ready()) is not None:
            return bad
        acc = self.pg.account()
        resp = pb.GetAccountResponse(meta=self.meta(), balance=acc.balance, equity=acc.equity,
                                     free_margin=acc.free_margin)
        convert.positions_map(resp.positions, acc.positions)
        if fetch_orders:
            for o in self.pg.orders():
                if order_matches(o, **filters):
                    resp.orders.append(convert.order(o, self.tz, self._lookup))
        return ok(resp.SerializeToString())

    def session(self):
        """The PlaygroundSession of GetPlaygrounds (and the tags, for filtering)."""
        from backtestester.rpc import playground_pb2 as pb

        if (bad := self._ready()) is not None:
            return bad
        acc = self.pg.account()
        clock = pb.Clock(current_time=rfc3339(self.pg.current_time, self.tz),
                         start=rfc3339(self.pg.start_time, self.tz),
                         stop=rfc3339(self.pg.end_time, self.tz))
        s = pb.PlaygroundSession(playground_id=self.playground_id, meta=self.meta(), clock=clock,
                                 balance=acc.balance, equity=acc.equity, free_margin=acc.free_margin)
        for spec in self.config["repositories"]:
            s.repositories.append(pb.Repository(symbol=spec["symbol"], timespan_multiplier=spec["timespan_multiplier"],
                                                timespan_unit=spec["timespan_unit"], indicators=spec["indicators"],
                                                history_in_days=spec["history_in_days"]))
        convert.positions_map(s.positions, acc.positions)
        return ok(s.SerializeToString())

    def get_candles(self, symbol: str, period_seconds: int, start: datetime, end: datetime | None):
        from backtestester.engine import NotFoundError, PlaygroundError
        from backtestester.rpc import playground_pb2 as pb

        if (bad := self._ready()) is not None:
            return bad
        try:
            bars = indicators.candle_bars(self.pg, self.indicators, symbol, period_seconds, start, end)
        except NotFoundError as exc:
            return error("NOT_FOUND", str(exc))
        except PlaygroundError as exc:
            return error("INVALID_ARGUMENT", str(exc))
        return ok(pb.GetCandlesResponse(bars=bars).SerializeToString())

    def candles_arrow(self, symbol: str, period_seconds: int, start: datetime, end: datetime | None):
        """StreamCandlesArrow: the GetCandles selection as Arrow IPC streams of at most ~1 MiB each,
        with the repository's indicator columns (:func:`indicators.arrow_batches`); at least one message."""
        from backtestester.engine.timeutil import to_ns

        if (bad := self._ready()) is not None:
            return bad
        sym = symbol.strip().upper()
        if sym not in self.pg.symbols:
            return error("NOT_FOUND", f"symbol {sym} not found in repos")
        p_ns = int(period_seconds) * 1_000_000_000
        repo = next((r for r in self.pg.repositories if r.symbol == sym and r.period_ns == p_ns), None)
        if repo is None:
            return error("NOT_FOUND", f"period {timedelta(seconds=period_seconds)} not found in repos for {sym}")
        rng = repo.between(to_ns(start, "start"), None if end is None else to_ns(end, "end"), self.pg.clock.now_ns)
        return ok(indicators.arrow_batches(repo, rng.start, rng.stop, period_seconds, self.indicators.get((sym, p_ns))))

    def get_open_orders(self, symbol: str):
        from backtestester.rpc import playground_pb2 as pb

        if (bad := self._ready()) is not None:
            return bad
        sym = symbol.strip().upper()
        if sym not in self.pg.symbols:
            return error("NOT_FOUND", f"symbol {sym} not found in repos")
        orders = [convert.order(o, self.tz, self._lookup) for o in self.pg.open_orders(sym)]
        return ok(pb.GetOpenOrdersResponse(orders=orders).SerializeToString())

    def account_stats(self, equity_plot: bool):
        from backtestester.rpc import playground_pb2 as pb

        if (bad := self._ready()) is not None:
            return bad
        resp = pb.GetAccountStatsResponse()
        if equity_plot:
            for t, v in self.pg.equity_plot():
                resp.equity_plot.append(pb.EquityPlot(created_at=rfc3339(t, self.tz), equity=v))
        return ok(resp.SerializeToString())

    def ping(self):
        return ok(self.playground_id)
