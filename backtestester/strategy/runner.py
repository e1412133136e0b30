"""Drive a strategy over a playground (local or through the gateway: a Broker) and collect the result
(trades, orders, equity, statistics)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from operator import attrgetter

import numpy as np
import pyarrow as pa

from ..engine import Account, Order, Playground, Repository, Trade
from ..engine.clock import step_ns as pg_step_ns
from ..engine.timeutil import from_ns
from ..stats import RoundTrip, Statistics, benchmark_curve, compute_statistics
from . import tables
from .base import Strategy
from .broker import Broker, LocalBroker
from .collector import fewer_collections
from .context import PlaygroundContext, decisions_only


@dataclass
class BacktestResult:
    """Everything a backtest produced. ``equity_times`` are UTC ``datetime64[ns]``."""

    strategy: str
    params: dict
    orders: list[Order]
    trades: list[Trade]
    round_trips: list[RoundTrip]
    equity_times: np.ndarray
    equity: np.ndarray
    statistics: Statistics
    final_equity: float
    ticks: int
    account: Account
    rejected_orders: list[Order] = field(default_factory=list)
    # The bars the run saw (a local playground's repositories; empty through a gateway): what plot() draws.
    repositories: list[Repository] = field(default_factory=list, repr=False)

    @property
    def rejections(self) -> int:
        """How many orders were rejected: placements the account's state refused (not in
        ``orders``: they never entered the book, id 0) and orders rejected at their fill."""
        return len(self.rejected_orders)

    def summary(self) -> dict:
        return {"strategy": self.strategy, **self.params, **self.statistics.as_dict()}

    def trades_table(self) -> pa.Table:
        """The closed round trips as an Arrow table (``.to_pandas()`` for a DataFrame); columns in
        :func:`backtestester.strategy.tables.trades_table`."""
        return tables.trades_table(self)

    def fills_table(self) -> pa.Table:
        """Every fill as an Arrow table (:func:`backtestester.strategy.tables.fills_table`)."""
        return tables.fills_table(self)

    def orders_table(self) -> pa.Table:
        """Every order, rejected ones included, as an Arrow table
        (:func:`backtestester.strategy.tables.orders_table`)."""
        return tables.orders_table(self)

    def equity_table(self) -> pa.Table:
        """The equity curve (time, equity, drawdown) as an Arrow table."""
        return tables.equity_table(self)

    def export(self, directory, fmt: str = "parquet") -> dict:
        """Write trades, fills, orders and equity into ``directory`` as Parquet (or ``fmt="csv"``)
        files; returns their paths (:func:`backtestester.strategy.tables.export_tables`)."""
        return tables.export_tables(self, directory, fmt)

    def plot(self, path=None, open_browser: bool = False, *, repositories=None, max_candles: int = 10_000):
        """Write an interactive HTML chart (Bokeh) of this run to ``path`` (default
        ``<strategy>.html``) and return its path: equity, drawdown, each trade's return, then per
        symbol its candles with entries and exits marked (coloured by profit) and its volume, on
        linked x axes with hover tooltips. More than ``max_candles`` candles are aggregated (the
        title says so). ``repositories`` replace the run's bars (a gateway run has none)."""
        from .plotting import plot_result  # noqa: PLC0415  (Bokeh is slow to import: only when a chart is drawn)

        return plot_result(self, path, repositories=repositories, open_browser=open_browser, max_candles=max_candles)


def run_backtest(strategy: Strategy, repositories: list[Repository], *, balance: float = 100_000.0,
                 start: datetime | None = None, end: datetime | None = None, step: timedelta | float | None = None,
                 periods_per_year: float = 252, progress=None, strict: bool = False,
                 **playground_options) -> BacktestResult:
    """Run ``strategy`` over ``repositories`` from ``start`` (default: the first candle) to ``end``
    (default: one step after the last candle becomes available, so orders placed on it can still
    fill at its close), ticking by ``step`` (default: the smallest period). ``playground_options``
    go to :class:`Playground` (calendar, fill_model, commission...); the engine enforces the
    strategy's ``sl``/``tp`` (``enforce_stop_loss`` is on, see :func:`run_on_playground`).
    A placement the account refuses is a rejected order (``on_reject``, counted in
    ``result.rejections``, a warning the first time); ``strict=True`` raises it instead.
    It never calls :meth:`Strategy.fit`: training fits a strategy before its run (see there)."""
    if not isinstance(strategy, Strategy):
        raise TypeError(f"strategy must be a Strategy instance, got {type(strategy).__name__}")
    if playground_options.pop("enforce_stop_loss", True) is not True:
        raise ValueError("run_backtest always enforces a strategy's sl and tp (enforce_stop_loss=True); "
                         "to keep them stored only, drive a Playground by hand")
    repositories = list(repositories)
    if not repositories or any(len(r) == 0 for r in repositories):
        raise ValueError("run_backtest needs at least one non-empty Repository")
    if step is None:
        step = min(r.period for r in repositories)
    if start is None:
        start = from_ns(min(int(r.start_ns[0]) for r in repositories))
    if end is None:
        end = from_ns(max(int(r.available_ns[-1]) for r in repositories)) + (
            step if isinstance(step, timedelta) else timedelta(seconds=step))
    pg = Playground(balance=balance, start=start, end=end, repositories=repositories, enforce_stop_loss=True,
                    **playground_options)
    return run_on_playground(strategy, pg, step, periods_per_year=periods_per_year, progress=progress, strict=strict)


def run_on_playground(strategy: Strategy, pg: Playground, step, *, periods_per_year: float = 252,
                      progress=None, strict: bool = False) -> BacktestResult:
    """Tick ``pg`` until it completes, feeding ``strategy`` through a :class:`PlaygroundContext`
    (:func:`run_on_broker` over a :class:`LocalBroker`). Turns the playground's
    ``enforce_stop_loss`` on: a stop-loss or take-profit the strategy asks for acts (D5)."""
    pg.enforce_stop_loss = True
    return run_on_broker(strategy, LocalBroker(pg), step, periods_per_year=periods_per_year, progress=progress,
                         strict=strict)


def run_on_broker(strategy: Strategy, broker: Broker, step, *, periods_per_year: float = 252,
                  progress=None, strict: bool = False) -> BacktestResult:
    """The one strategy loop: tick ``broker`` by ``step`` until its playground completes, feeding
    ``strategy`` through a :class:`PlaygroundContext`. Per tick: fills (``on_fill``), rejections
    (``on_reject``), events (``on_event``), then new candles (``on_candle``). ``progress(fraction_done)``
    is called every ``broker.progress_every`` ticks and at the end. A placement the account refuses
    is delivered at once as a rejected order (``on_reject``) and counted; ``strict=True`` raises
    it (:class:`~backtestester.engine.OrderRejected`), see :mod:`backtestester.strategy.rejections`."""
    with fewer_collections():  # a run's orders and fills live until its end: see strategy/collector.py
        ticks, rejected = _drive(strategy, broker, step, progress, strict)
        return collect_result(strategy, broker, ticks, periods_per_year, rejected)


def _drive(strategy: Strategy, broker: Broker, step, progress, strict: bool) -> tuple[int, list]:
    """The loop of :func:`run_on_broker`: ``(ticks run, rejected orders)``."""
    ctx = PlaygroundContext(broker, strict=strict)
    rejections = ctx.rejections
    step_tick = broker.step
    get_order = broker.get_order
    step_ns = pg_step_ns(step)
    start_ns, end_ns, every = broker.start_ns, broker.end_ns, broker.progress_every
    strategy.on_start(ctx)
    # Bound after on_start, which may choose the handlers.
    on_candle, on_fill, on_reject, on_event = strategy.on_candle, strategy.on_fill, strategy.on_reject, strategy.on_event
    if (periods := strategy.decision_periods()) is not None:
        on_candle = decisions_only(on_candle, ctx, periods)
    ctx.on_reject = on_reject

    fills_seen = getattr(on_fill, "__func__", None) is not Strategy.on_fill  # not the base class's no-op

    def deliver(trades, invalid, events):
        """A tick's fills (``on_fill``), rejections (``on_reject``) and events (``on_event``), in that order."""
        if fills_seen:
            for trade in trades:
                on_fill(ctx, trade, get_order(trade.order_id))
        for order in invalid:
            rejections.record(order)
            on_reject(ctx, order)
        for event in events:
            on_event(ctx, event)
    quiet = broker.quiet_ticks
    ticks = reported = 0
    complete = False
    while not complete:
        done = quiet(step_ns, on_candle, ctx, 4096, deliver)
        ticks += done
        if done < 4096:  # the next tick liquidates, completes, is the first or trades outside the loop
            trades, new_candles, invalid, events, _, complete = step_tick(step_ns)
            ticks += 1
            if trades or invalid or events:
                deliver(trades, invalid, events)
            for bar in new_candles:
                on_candle(ctx, bar)
        if progress is not None and ticks - reported >= every:
            progress((broker.now_ns() - start_ns) / (end_ns - start_ns))
            reported = ticks
    strategy.on_stop(ctx)
    if progress is not None:
        progress(1.0)
    return ticks, rejections.orders


def collect_result(strategy, broker: Broker | Playground, ticks: int, periods_per_year,
                   rejected_orders=()) -> BacktestResult:
    """The :class:`BacktestResult` of a finished run on ``broker`` (or a local playground)."""
    if isinstance(broker, Playground):
        broker = LocalBroker(broker)
    orders = broker.orders()
    trades = sorted((t for o in orders for t in o.trades), key=attrgetter("time_ns", "id"))
    round_trips = round_trips_of(orders)
    times, equity = broker.equity_arrays()
    if len(times) == 0:
        raise ValueError("the playground recorded no equity point: tick it at least once")
    # The curve starts at the initial balance at the start time, then one point per tick.
    times = np.concatenate([np.array([broker.start_ns], dtype="datetime64[ns]"), times])
    equity = np.concatenate([[broker.initial_balance], equity])
    if len(times) > 1 and times[1] == times[0]:  # a first tick of 0 s adds no time
        times, equity = times[1:], equity[1:]
    stats = compute_statistics(times, equity, round_trips, in_market=in_market(trades, times, {o.id: o.symbol for o in orders}),
                               periods_per_year=periods_per_year, benchmark=buy_and_hold(broker, times))
    return BacktestResult(type(strategy).__name__, strategy.params, orders, trades, round_trips, times, equity,
                          stats, float(equity[-1]), ticks, broker.account(), list(rejected_orders),
                          broker.playground.repositories if isinstance(broker, LocalBroker) else [])


def buy_and_hold(broker: Broker, times: np.ndarray):
    """The buy-and-hold benchmark at ``times`` (:func:`~backtestester.stats.benchmark_curve`):
    each symbol's bars of its shortest timeframe that start at or after the curve's start (not
    the warm-up history before it), equal weights; ``None`` if the broker knows no such bar."""
    finest: dict[str, tuple] = {}
    for symbol, period_ns, start_ns, available_ns, close in broker.bars_seen():
        if symbol not in finest or period_ns < finest[symbol][0]:
            finest[symbol] = (period_ns, start_ns, available_ns, close)
    t0 = np.datetime64(times[0], "ns").astype(np.int64)
    closes = []
    for _, start_ns, available_ns, close in finest.values():
        keep = np.asarray(start_ns) >= t0
        if keep.any():
            closes.append((np.asarray(available_ns)[keep], np.asarray(close, dtype=np.float64)[keep]))
    return benchmark_curve(times, closes) if closes else None


def in_market(trades: list[Trade], times: np.ndarray, symbol_of: dict[int, str]) -> np.ndarray:
    """For each equity time: was any position open after the fills (sorted by time) up to then?"""
    if not trades:
        return np.zeros(len(times), dtype=bool)
    if len(set(symbol_of.values())) == 1:  # one symbol: its running quantity (the same additions, in order)
        flags = np.abs(np.cumsum([t.quantity for t in trades])) > 1e-9
    else:
        held: dict[str, float] = {}
        flags = []
        open_symbols = 0  # how many symbols are held (|quantity| > 1e-9)
        for t in trades:
            sym = symbol_of[t.order_id]
            before = held.get(sym, 0.0)
            held[sym] = after = before + t.quantity
            open_symbols += (abs(after) > 1e-9) - (abs(before) > 1e-9)
            flags.append(open_symbols > 0)
    trade_times = np.array([t.time_ns for t in trades], dtype="datetime64[ns]")
    idx = np.searchsorted(trade_times, times, side="right") - 1
    return np.where(idx >= 0, np.asarray(flags)[np.maximum(idx, 0)], False)


def round_trips_of(orders: list[Order]) -> list[RoundTrip]:
    """One round trip per (open order, closing allocation), in closing order; commissions pro rata.
    The engine's fills make valid round trips (a positive quantity, an exit at or after its entry):
    they are built with :meth:`RoundTrip.trusted`."""
    by_id = {o.id: o for o in orders}
    trip = RoundTrip.trusted
    out, keys = [], []
    for lot in orders:
        if lot.side not in ("buy", "sell_short") or not lot.closed_by:
            continue
        long = lot.side == "buy"
        side = "long" if long else "short"
        entry_price = lot.avg_fill_price
        filled = lot.filled_quantity
        lot_commission = lot.commission
        entry_ns = lot.trades[0].time_ns
        entry_time = from_ns(entry_ns)
        for part in lot.closed_by:
            q = abs(part.quantity)
            trades = by_id[part.order_id].trades
            fill = trades[0] if trades[0].id == part.id else next(t for t in trades if t.id == part.id)
            commission = lot_commission * q / filled + fill.commission * q / abs(fill.quantity)
            gross = (part.price - entry_price) * q if long else (entry_price - part.price) * q
            out.append(trip(lot.symbol, side, q, entry_time, from_ns(part.time_ns), entry_price, part.price,
                            gross - commission, commission))
            # (exit_time, entry_time) as one int: microseconds, the times' resolution (from_ns)
            keys.append(((part.time_ns // 1000) << 64) + entry_ns // 1000)
    return [out[i] for i in sorted(range(len(out)), key=keys.__getitem__)]
