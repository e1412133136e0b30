"""Run a strategy on a playground of the gateway, unchanged: the strategy API over gRPC.

:class:`GatewayBroker` is a :class:`~backtestester.strategy.broker.Broker` over a gateway
playground, driven through :class:`backtestester.client.PlaygroundClient`; the one strategy loop
(:func:`~backtestester.strategy.runner.run_on_broker`) and the one context
(:class:`~backtestester.strategy.context.PlaygroundContext`) drive it exactly as they drive a
local playground. :func:`run_on_gateway` creates a playground from the gateway's catalog, runs a
strategy on it and deletes it; :func:`run_on_catalog` runs the same strategy locally on a
playground built from a catalog by the gateway's rules (same bars, same clock, same engine
options), so the two results can be compared (the parity test shows they are identical).

What crosses the wire, and how the adapter keeps the strategy's view identical:

* one ``NextTick`` per tick (its ``request_id`` makes the client's retries safe); fills,
  rejections, liquidations and new candles of the delta become engine objects for the hooks;
* candles: the adapter mirrors each repository's *revealed* candles (history from
  ``StreamCandlesArrow`` at the start, then the deltas' candles, a gap filled by ``GetCandles``),
  so ``bar``, ``ctx.price`` and ``ctx.indicator`` read the same numbers as locally. Indicator
  series are :class:`~backtestester.strategy.series.GrowingSeries`: future candles are not
  readable through the gateway (D2), so a causal ``fn`` is re-run over the revealed candles;
* the account is fetched (``GetAccount``) when the strategy asks for it, at most once a tick;
* ``fraction=`` sizing (not on the v1 wire) is done by the adapter at placement, with the
  engine's formula ``floor(fraction x uninvested cash / fill price)``: under the gateway's
  ``close`` fill model the fill price is the current close and nothing moves before the fill, so
  the quantity is the engine's (orders placed earlier in the same bar are projected);
* orders: placement answers, fills and rejections keep each order's status and trades current
  during the run; ``closes``/``closed_by`` are filled in from ``GetAccount`` for the result.

Not available through the v1 wire (a clear error): ``ctx.cancel``, ``stop_price`` (stop and
stop-limit orders), ``tp``. The engine's ``expired``/``canceled`` events are not sent (v1 has
only ``liquidation``). The gateway's playgrounds use the engine defaults: XNYS, fill model
``close``, no costs.

This module imports grpc only through :mod:`backtestester.client`, and only when a gateway is used.
"""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import numpy as np

from ..engine import (
    Account,
    Candle,
    Event,
    NewCandle,
    NotFoundError,
    Order,
    PlaceOrderError,
    Playground,
    PlaygroundError,
    Position,
    Trade,
)
from ..engine.ledger import EPS
from ..engine.orders import FLAT, OPENING_SIDES
from ..engine.timeutil import from_ns, period_to_ns
from ..symbols import normalize_symbol
from .base import Strategy
from .broker import Broker
from .runner import BacktestResult, run_on_broker, run_on_playground
from .series import GrowingSeries, Series

NS = 1_000_000_000
NEW_YORK = ZoneInfo("America/New_York")
#: catalog timeframe -> (timespan_multiplier, timespan_unit) of the wire's Repository.
TIMESPANS = {"1m": (1, "minute"), "5m": (5, "minute"), "15m": (15, "minute"), "30m": (30, "minute"),
             "1h": (1, "hour"), "4h": (4, "hour"), "1d": (1, "day"), "1w": (1, "week")}
UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400, "week": 7 * 86400}
BUSINESS_CODES = ("INVALID_ARGUMENT", "FAILED_PRECONDITION", "NOT_FOUND", "OUT_OF_RANGE")
EPOCH = "1970-01-01T00:00:00Z"


# --- times on the wire ---------------------------------------------------------------------------
def _ns(dt: datetime) -> int:
    return (dt - datetime(1970, 1, 1, tzinfo=timezone.utc)) // timedelta(microseconds=1) * 1000


def rfc3339_ns(text: str) -> int:
    """UTC nanoseconds of an RFC 3339 time (``2024-01-03T09:31:00-05:00``, ``...Z``)."""
    return _ns(datetime.fromisoformat(text.replace("Z", "+00:00")))


def go_time_ns(text: str) -> int:
    """UTC nanoseconds of Go's default time format (``2024-01-03 09:31:00 -0500 EST``)."""
    return _ns(datetime.strptime(" ".join(text.split()[:3]), "%Y-%m-%d %H:%M:%S %z"))


def _rfc3339(ns: int) -> str:
    return from_ns(ns).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- wire messages -> engine objects ---------------------------------------------------------------
def trade_from_pb(t) -> Trade:
    return Trade(int(t.id), go_time_ns(t.create_date), t.quantity, t.price, int(t.order_id))


def position_from_pb(p) -> Position:
    return Position(p.quantity, p.cost_basis, p.pl, p.maintenance_margin, p.current_price)


def account_from_pb(resp) -> Account:
    return Account(resp.balance, resp.equity, resp.free_margin,
                   {sym: position_from_pb(p) for sym, p in sorted(resp.positions.items())})


def order_from_pb(m) -> Order:
    """An engine :class:`Order` from the wire's Order DTO (``closed_by`` left to :func:`link_closes`)."""
    o = Order(int(m.id), m.symbol, m.side, m.quantity, m.type, m.duration, m.price or None,
              m.requested_price or None, m.stop_price or None, None, None, m.tag,
              int(m.close_order_id) if m.HasField("close_order_id") else None, go_time_ns(m.create_date),
              client_request_id=m.client_request_id if m.HasField("client_request_id") else None)
    o.status, o.reject_reason = m.status, m.reject_reason
    o.trades = [trade_from_pb(t) for t in m.trades]
    o.filled_quantity = sum(abs(t.quantity) for t in o.trades)
    o.closes = [int(c.id) for c in m.closes]
    if m.HasField("previous_position"):
        o.previous_position = position_from_pb(m.previous_position)
    return o


def link_closes(messages, orders: dict[int, Order]) -> None:
    """Rebuild each open order's ``closed_by`` (the wire sends these trades without ids, spec 14):
    a record is the part of a fill of an order that lists the open order in ``closes``, at the
    same time and price; as in the engine, a record covering the whole fill is that fill."""
    closers: dict[int, list[Order]] = {}
    for o in orders.values():
        for lot_id in o.closes:
            closers.setdefault(lot_id, []).append(o)
    used: dict[int, float] = {}  # trade id -> quantity already allocated
    for m in messages:
        lot = orders[int(m.id)]
        lot.closed_by = []
        for rec in m.closed_by:
            t_ns, qty = go_time_ns(rec.create_date), rec.quantity
            fill = next((t for c in closers.get(lot.id, ()) for t in c.trades
                         if t.time_ns == t_ns and t.price == rec.price
                         and used.get(t.id, 0.0) + abs(qty) <= abs(t.quantity) + EPS), None)
            if fill is None:
                child = Trade(0, t_ns, qty, rec.price, 0)
            else:
                used[fill.id] = used.get(fill.id, 0.0) + abs(qty)
                child = fill if abs(abs(qty) - abs(fill.quantity)) <= EPS else Trade(fill.id, t_ns, qty, rec.price,
                                                                                     fill.order_id)
            lot.closed_by.append(child)
        lot.closed_quantity = sum(t.quantity for t in lot.closed_by)


# --- the candles a remote playground has revealed --------------------------------------------------
class MirrorRepository:
    """The revealed candles of one (symbol, period) of a remote playground, growing as ticks reveal
    more. Read like an engine :class:`Repository` by :class:`NewCandle` and :class:`Series`: the
    current candle is the last one (``position``)."""

    def __init__(self, symbol: str, period_seconds: int):
        self.symbol = symbol
        self.period = timedelta(seconds=period_seconds)
        self.period_ns = period_seconds * NS
        self.start_ns: list[int] = []
        self.open: list[float] = []
        self.high: list[float] = []
        self.low: list[float] = []
        self.close_values: list[float] = []
        self.volume: list[float] = []

    def __len__(self) -> int:
        return len(self.start_ns)

    @property
    def position(self) -> int:
        return len(self.start_ns) - 1

    def column(self, name: str) -> np.ndarray:
        return np.array(self.close_values if name == "close" else getattr(self, name), dtype=np.float64)

    def candle(self, i: int) -> Candle:
        s = self.start_ns[i]
        return Candle.from_ns(s, self.open[i], self.high[i], self.low[i], self.close_values[i], self.volume[i],
                               s + self.period_ns)

    def append(self, start_ns: int, o: float, h: float, lo: float, c: float, v: float) -> None:
        self.start_ns.append(start_ns)
        self.open.append(o)
        self.high.append(h)
        self.low.append(lo)
        self.close_values.append(c)
        self.volume.append(v)

    def extend_table(self, table) -> None:
        """Append the rows of a StreamCandlesArrow table (``start``, open, high, low, close, volume)."""
        starts = table.column("start").to_numpy().astype("datetime64[ns]").astype(np.int64).tolist()
        cols = [table.column(c).to_pylist() for c in ("open", "high", "low", "close", "volume")]
        for row in zip(starts, *cols):
            self.append(*row)

    def append_bar(self, bar) -> None:
        self.append(rfc3339_ns(bar.datetime), bar.open, bar.high, bar.low, bar.close, bar.volume)


# --- the broker ---------------------------------------------------------------------------------
class GatewayBroker(Broker):
    """A :class:`Broker` over the gateway playground ``playground_id`` (see the module docstring).
    ``session``: its ``PlaygroundSession`` (default: looked up with ``GetPlaygrounds``)."""

    progress_every = 64

    def __init__(self, client, playground_id: str, *, session=None):
        self.client, self.playground_id = client, playground_id
        if session is None:
            session = next((s for s in client.get_playgrounds() if s.playground_id == playground_id), None)
            if session is None:
                raise NotFoundError(f"playground {playground_id} not found on the gateway")
        self.initial_balance = session.meta.initial_balance
        self.start_ns = rfc3339_ns(session.clock.start)
        self.end_ns = rfc3339_ns(session.clock.stop)
        self._now = rfc3339_ns(session.clock.current_time)
        self._repos: dict[tuple[str, int], MirrorRepository] = {}
        self._pricing: dict[str, MirrorRepository] = {}
        for r in session.repositories:
            repo = MirrorRepository(r.symbol, r.timespan_multiplier * UNIT_SECONDS[r.timespan_unit])
            repo.extend_table(client.stream_candles_arrow(playground_id, repo.symbol, repo.period_ns // NS, EPOCH))
            self._repos[(repo.symbol, repo.period_ns)] = repo
            best = self._pricing.get(repo.symbol)
            if best is None or repo.period_ns < best.period_ns:  # D15: each symbol's own smallest period
                self._pricing[repo.symbol] = repo
        self._orders: dict[int, Order] = {}
        self._account: Account | None = None
        self._projected: dict[str, float] | None = None  # positions after this bar's pending market orders
        self._rpc_error = _rpc_error()

    # --- the strategy's view ------------------------------------------------------------------
    @property
    def current_time(self) -> datetime:
        return from_ns(self._now, NEW_YORK)  # the gateway's simulator runs on XNYS

    @property
    def symbols(self) -> list[str]:
        return list(self._pricing)

    def now_ns(self) -> int:
        return self._now

    def account(self) -> Account:
        if self._account is None:
            self._account = account_from_pb(self.client.get_account(self.playground_id))
        return self._account

    def position(self, symbol: str) -> Position:
        return self.account().positions.get(normalize_symbol(symbol), FLAT)

    def price(self, symbol: str) -> float:
        sym = normalize_symbol(symbol)
        repo = self._pricing.get(sym)
        if repo is None:
            raise NotFoundError(f"symbol {sym} not found in repos")
        if not len(repo):
            raise PlaygroundError(f"current price is not set for {sym}: no candle is available yet")
        return repo.close_values[-1]

    def _repo(self, symbol, period) -> MirrorRepository:
        sym = normalize_symbol(symbol)
        if sym not in self._pricing:
            raise NotFoundError(f"symbol {sym} not found in repos")
        p_ns = int(period * NS) if isinstance(period, (int, float)) and not isinstance(period, bool) \
            else period_to_ns(period)
        repo = self._repos.get((sym, p_ns))
        if repo is None:
            raise NotFoundError(f"period {timedelta(microseconds=p_ns // 1000)} not found in repos for {sym}")
        return repo

    def series(self, symbol, period, fn, args, source, name) -> Series:
        return GrowingSeries(lambda column: fn(column, *args), self._repo(symbol, period), source, name)

    def place_order(self, *, symbol, side, quantity=None, requested_price, order_type="market", price=None,
                    stop_price=None, sl=None, tp=None, duration="day", tag="", close_order_id=None,
                    client_request_id=None, equity_fraction=None) -> Order:
        if stop_price is not None or tp is not None:
            raise PlaceOrderError("stop_price and tp are not on the gateway's v1 wire: stop, stop-limit and "
                                  "take-profit orders need a local playground")
        sym = normalize_symbol(symbol)
        if equity_fraction is not None:
            quantity = self._fraction_quantity(sym, side, quantity, order_type, equity_fraction)
        try:
            msg = self.client.place_order(self.playground_id, sym, side, 0.0 if quantity is None else quantity,
                                          requested_price=requested_price or 0.0, order_type=order_type,
                                          duration=duration, tag=tag, price=price, sl=sl,
                                          close_order_id=close_order_id, client_request_id=client_request_id)
        except self._rpc_error as exc:
            if exc.code().name not in BUSINESS_CODES:
                raise
            raise PlaceOrderError(exc.details().removeprefix("failed to place order: ")) from None
        order = self._upsert(msg)
        if order.order_type == "market" and order.is_open:
            projected = self._projection()
            projected[sym] = projected.get(sym, 0.0) + order.signed_quantity
        return order

    def _projection(self) -> dict[str, float]:
        if self._projected is None:
            self._projected = {s: p.quantity for s, p in self.account().positions.items()}
        return self._projected

    def _fraction_quantity(self, sym, side, quantity, order_type, fraction) -> float:
        """The engine's fill-time sizing, done at placement (see the module docstring)."""
        if quantity is not None:
            raise PlaceOrderError("give either quantity or equity_fraction, not both")
        if side not in OPENING_SIDES:
            raise PlaceOrderError(f"equity_fraction sizing is only for opening sides {OPENING_SIDES}, not {side}")
        if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 < fraction <= 1:
            raise PlaceOrderError("equity_fraction must be in (0, 1]")
        if order_type != "market":
            raise PlaceOrderError("equity_fraction over the gateway: market orders only (sized at the current close)")
        fill_price = self.price(sym)
        invested = sum(abs(q) * self.price(s) for s, q in self._projection().items() if q)
        qty = float(((self.account().equity - invested) * fraction) // fill_price)
        if qty <= 0:
            raise PlaceOrderError(f"insufficient free margin: equity_fraction {fraction:g} buys no whole share "
                                  f"at {fill_price:.2f}")
        return qty

    def cancel_order(self, order_id: int) -> Order:
        raise PlaygroundError("cancel_order: the gateway's v1 wire has no cancel RPC")

    # --- the runner's -------------------------------------------------------------------------
    def step(self, step_ns: int):
        if step_ns % NS:
            raise ValueError(f"gateway ticks are whole seconds, got {step_ns / NS:g} s")
        delta = self.client.next_tick(self.playground_id, step_ns // NS)
        self._now = rfc3339_ns(delta.current_time)
        self._account = self._projected = None
        trades = [trade_from_pb(t) for t in delta.new_trades]
        for t in trades:
            self._book(t)
        invalid = [self._upsert(o) for o in delta.invalid_orders]
        events = [Event("liquidation", [self._upsert(o) for o in ev.liquidation_event.orders_placed])
                  for ev in delta.events if ev.type == "liquidation"]
        new_candles = [self._reveal(c) for c in delta.new_candles]
        return trades, new_candles, invalid, events, self._now, delta.is_backtest_complete

    def _upsert(self, msg) -> Order:
        """The order of ``msg``, updated in place when known: a strategy holding the object that
        ``ctx.buy`` returned sees its status change, as with a local playground."""
        fresh = order_from_pb(msg)
        order = self._orders.get(fresh.id)
        if order is None:
            self._orders[fresh.id] = order = fresh
        else:
            for slot in Order.__slots__:
                setattr(order, slot, getattr(fresh, slot))
        return order

    def _book(self, trade: Trade) -> None:
        order = self._orders.get(trade.order_id)
        if order is None:  # placed by another client of the playground
            self._refresh_orders()
            return
        order.trades.append(trade)
        order.filled_quantity += abs(trade.quantity)
        order.status = "filled" if order.filled_quantity >= order.quantity - EPS else "partially_filled"

    def _reveal(self, candle) -> NewCandle:
        repo = self._repos[(candle.symbol, int(candle.period) * NS)]
        start = rfc3339_ns(candle.bar.datetime)
        if repo.start_ns and start <= repo.start_ns[-1]:  # the first tick re-reports the current candle
            return NewCandle(repo, repo.start_ns.index(start) if start != repo.start_ns[-1] else repo.position)
        if repo.start_ns and start - repo.start_ns[-1] != repo.period_ns:  # a gap: candles a long tick skipped
            for bar in self.client.get_candles(self.playground_id, repo.symbol, repo.period_ns // NS,
                                               _rfc3339(repo.start_ns[-1] + NS), _rfc3339(start)):
                repo.append_bar(bar)
        repo.append_bar(candle.bar)
        return NewCandle(repo, repo.position)

    def get_order(self, order_id: int) -> Order:
        order = self._orders.get(order_id)
        if order is None:
            self._refresh_orders()
            order = self._orders.get(order_id)
            if order is None:
                raise NotFoundError(f"order {order_id} not found")
        return order

    # --- results ------------------------------------------------------------------------------
    def _refresh_orders(self) -> None:
        resp = self.client.get_account(self.playground_id, fetch_orders=True)
        for m in resp.orders:
            self._upsert(m)
        link_closes(resp.orders, self._orders)

    def orders(self) -> list[Order]:
        self._refresh_orders()
        return [self._orders[k] for k in sorted(self._orders)]

    def equity_arrays(self):
        plot = self.client.equity_plot(self.playground_id)
        times = np.array([rfc3339_ns(p.created_at) for p in plot], dtype=np.int64).astype("datetime64[ns]")
        return times, np.array([p.equity for p in plot], dtype=np.float64)


def _rpc_error():
    from ..client import grpc  # grpc only through the client module

    return grpc.RpcError


# --- running ------------------------------------------------------------------------------------
def _repository_specs(repositories) -> list[tuple[str, str]]:
    out = []
    for r in repositories:
        symbol, timeframe = (r, "1m") if isinstance(r, str) else r
        if timeframe not in TIMESPANS:
            raise ValueError(f"unsupported timeframe {timeframe!r}: accepted: {', '.join(TIMESPANS)}")
        out.append((normalize_symbol(symbol), timeframe))
    if not out:
        raise ValueError("give at least one (symbol, timeframe) repository")
    return out


def _default_step(specs) -> int:
    return min(TIMESPANS[tf][0] * UNIT_SECONDS[TIMESPANS[tf][1]] for _, tf in specs)


def run_on_gateway(strategy: Strategy, client, repositories, *, start_date: str, stop_date: str,
                   balance: float = 100_000.0, history_in_days: int = 0, step: int | None = None,
                   tags=(), keep: bool = False, periods_per_year: float = 252, progress=None) -> BacktestResult:
    """Create a simulator playground on the gateway (``CreatePlayground``: the gateway's catalog,
    ``repositories`` as ``(symbol, timeframe)`` pairs such as ``("AAPL", "1m")``), run ``strategy``
    on it with :func:`run_on_broker`, ticking ``step`` seconds (default: the smallest timeframe),
    and delete it (``keep=True`` leaves it). ``client`` is a :class:`~backtestester.client.PlaygroundClient`."""
    if not isinstance(strategy, Strategy):
        raise TypeError(f"strategy must be a Strategy instance, got {type(strategy).__name__}")
    specs = _repository_specs(repositories)
    run_tag = f"run-{uuid.uuid4().hex}"
    pid = client.create_playground(balance=balance, start_date=start_date, stop_date=stop_date,
                                   repositories=[(sym, *TIMESPANS[tf]) for sym, tf in specs],
                                   tags=[*tags, run_tag], history_in_days=history_in_days)
    try:
        [session] = [s for s in client.get_playgrounds([run_tag]) if s.playground_id == pid]
        broker = GatewayBroker(client, pid, session=session)
        return run_on_broker(strategy, broker, step or _default_step(specs), periods_per_year=periods_per_year,
                             progress=progress)
    finally:
        if not keep:
            client.delete_playground(pid)


def catalog_playground(data_dir, repositories, *, start_date: str, stop_date: str, balance: float = 100_000.0,
                       history_in_days: int = 0, calendar: str = "XNYS", **playground_options) -> Playground:
    """A local playground built from the catalog at ``data_dir`` exactly as the gateway builds a
    simulator playground (:func:`backtestester.data.simulator.simulator_playground`): bars from ``start_date -
    history_in_days`` to the end of ``stop_date`` (resampled by the catalog when not stored), the
    clock from the first session open on/after ``start_date`` to 16:00 New York on ``stop_date``,
    the engine's default options (fill model ``close``, no costs) unless ``playground_options``
    (``fill_model=``, ``commission=``...) say otherwise; then the run no longer matches the gateway's."""
    from ..data.simulator import simulator_playground

    specs = [(symbol, timeframe, history_in_days) for symbol, timeframe in _repository_specs(repositories)]
    return simulator_playground(data_dir, specs, start_date=start_date, stop_date=stop_date, balance=balance,
                                calendar=calendar, **playground_options)


def run_on_catalog(strategy: Strategy, data_dir, repositories, *, start_date: str, stop_date: str,
                   balance: float = 100_000.0, history_in_days: int = 0, step: int | None = None,
                   periods_per_year: float = 252, progress=None, **playground_options) -> BacktestResult:
    """:func:`run_on_gateway`'s local twin: the same run on :func:`catalog_playground` (with
    ``playground_options`` passed to it)."""
    if not isinstance(strategy, Strategy):
        raise TypeError(f"strategy must be a Strategy instance, got {type(strategy).__name__}")
    pg = catalog_playground(data_dir, repositories, start_date=start_date, stop_date=stop_date, balance=balance,
                            history_in_days=history_in_days, **playground_options)
    return run_on_playground(strategy, pg, step or _default_step(_repository_specs(repositories)),
                             periods_per_year=periods_per_year, progress=progress)
