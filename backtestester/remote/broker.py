"""Run a strategy on a playground of the gateway, unchanged: the strategy API over gRPC.

:class:`GatewayBroker` is a :class:`~backtestester.strategy.broker.Broker` over a gateway
playground, driven through :class:`backtestester.remote.client.PlaygroundClient`; the one strategy loop
(:func:`~backtestester.strategy.runner.run_on_broker`) and the one context
(:class:`~backtestester.strategy.context.PlaygroundContext`) drive it exactly as they drive a
local playground. :func:`run_on_gateway` creates a playground from the gateway's catalog, runs a
strategy on it and deletes it; its local twin :func:`backtestester.playgrounds.run_on_catalog`
runs the same strategy on a playground built from a catalog by the gateway's rules (same bars,
same clock, same engine options), so the two results can be compared (the parity test shows they
are identical).

What crosses the wire, and how the adapter keeps the strategy's view identical:

* one ``NextTick`` per tick (its ``request_id`` makes the client's retries safe); fills,
  rejections, liquidations and new candles of the delta become engine objects for the hooks;
* candles: the adapter mirrors each repository's *revealed* candles (history from
  ``StreamCandlesArrow`` at the start, then the deltas' candles, a gap filled by ``GetCandles``),
  so ``bar``, ``ctx.price`` and ``ctx.indicator`` read the same numbers as locally. Indicator
  series are :class:`~backtestester.strategy.series.GrowingSeries`: future candles are not
  readable through the gateway (D2), so a causal ``fn`` is re-run over the revealed candles
  when it is read after new candles arrived (``sma`` over a suffix only:
  :func:`~backtestester.data.indicators.recompute_start`; one series per run and key, as locally);
* the account is fetched (``GetAccount``) when the strategy asks for it, at most once a tick;
* ``fraction=`` sizing travels as ``PlaceOrderRequest.equity_fraction`` (an addition): the
  gateway's engine sizes the order at its fill, as the local engine does, under any fill model;
* orders: placement answers, fills and rejections keep each order's status and trades current
  during the run; ``closes``/``closed_by`` are filled in from ``GetAccount`` for the result.

Additions to v1 (docs/wire.md) carry the rest: ``ctx.cancel`` is the CancelOrder RPC (its
refusals raise the engine's errors with the engine's texts), stop and stop-limit orders send
``stop_price``, and the engine's ``expired``/``canceled`` events arrive as TickDelta events.
CreatePlayground's engine options (fill model, margin basis, costs, ``enforce_stop_loss``) are
additions too: :func:`run_on_gateway` sends the run's options and enforcement, so ``sl``/``tp``
act as locally; a :class:`GatewayBroker` over a playground created without enforcement refuses
them (they would be stored only, D5). A refusal worded as a trading outcome (side not allowed,
volume to close...) is a rejection, as locally (:mod:`backtestester.strategy.rejections`). Unless a request sets them, the gateway's playgrounds
use the engine defaults: XNYS, fill model ``close``, no costs, sl/tp stored only.

Messages are decoded by :mod:`backtestester.wire.codec`. This module imports grpc (for its
errors); the strategy package, which it builds on, does not.
"""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from functools import partial
from itertools import repeat

import grpc
import numpy as np

from ..data.indicators import recompute_start
from ..engine import (
    Account,
    Candle,
    Event,
    NewCandle,
    NotFoundError,
    Order,
    PlaceOrderError,
    PlaygroundError,
    Position,
    Trade,
)
from ..engine.errors import place_order_error
from ..engine.ledger import EPS
from ..engine.orders import FLAT
from ..engine.timeutil import NS_PER_SECOND, from_ns, period_to_ns
from ..playgrounds import SIMULATOR_CALENDAR, default_step, repository_specs, session_available_ns
from ..strategy.base import Strategy
from ..strategy.broker import Broker
from ..strategy.context import outside_decisions_text
from ..strategy.runner import BacktestResult, run_on_broker
from ..strategy.series import GrowingSeries, Series, SeriesCache
from ..symbols import normalize_symbol
from ..wire.codec import account_from_pb, link_closes, order_from_pb, trade_from_pb
from ..wire.times import NEW_YORK, TIMESPANS, UNIT_SECONDS, rfc3339_from_ns, rfc3339_ns
from .session import MAX_ADVANCE_TICKS, SessionClient, SessionRefused

NS = NS_PER_SECOND
BUSINESS_CODES = ("INVALID_ARGUMENT", "FAILED_PRECONDITION", "NOT_FOUND", "OUT_OF_RANGE")
EPOCH = "1970-01-01T00:00:00Z"
COLUMNS = ("open", "high", "low", "close", "volume")
TRANSPORTS = ("session", "unary")  # session: the Session RPC (default); unary: NextTick/GetAccount/PlaceOrder calls


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
        self._columns = {name: np.empty(64) for name in COLUMNS}  # the candles' values, grown by doubling

    def __len__(self) -> int:
        return len(self.start_ns)

    @property
    def position(self) -> int:
        return len(self.start_ns) - 1

    def column(self, name: str) -> np.ndarray:
        """The revealed candles' ``name`` column: a read-only view, no copy (the next candles are
        written after its end)."""
        view = self._columns[name][:len(self.start_ns)]
        view.flags.writeable = False
        return view

    def candle(self, i: int) -> Candle:
        s = self.start_ns[i]
        available = int(session_available_ns([s], self.period_ns, SIMULATOR_CALENDAR)[0])  # as the gateway's
        return Candle.from_ns(s, *(float(self._columns[name][i]) for name in COLUMNS), available)

    @property
    def close_values(self) -> memoryview:
        """The revealed closes, as an engine :class:`Repository` has them (read by ``NewCandle``)."""
        return memoryview(self._columns["close"][:len(self.start_ns)])

    def append(self, start_ns: int, o: float, h: float, lo: float, c: float, v: float) -> None:
        self.start_ns.append(start_ns)
        i = len(self.start_ns) - 1
        if i == len(self._columns["close"]):
            for name, values in self._columns.items():
                self._columns[name] = np.concatenate((values, np.empty(len(values))))
        for name, value in zip(COLUMNS, (o, h, lo, c, v)):
            self._columns[name][i] = value

    def extend_table(self, table) -> None:
        """Append the rows of a StreamCandlesArrow table (``start``, open, high, low, close, volume)."""
        starts = table.column("start").to_numpy().astype("datetime64[ns]").astype(np.int64).tolist()
        cols = [table.column(c).to_pylist() for c in COLUMNS]
        for row in zip(starts, *cols):
            self.append(*row)

    def append_bar(self, bar) -> None:
        self.append(rfc3339_ns(bar.datetime), bar.open, bar.high, bar.low, bar.close, bar.volume)


# --- the broker ---------------------------------------------------------------------------------
class GatewayBroker(Broker):
    """A :class:`Broker` over the gateway playground ``playground_id`` (see the module docstring).
    ``session``: its ``PlaygroundSession`` (default: looked up with ``GetPlaygrounds``).
    ``record_equity``: the run ticks this playground alone from its first tick (a new one, as
    :func:`run_on_gateway`'s), so over the Session its equity curve is taken from the accounts its
    ticks carry (each the engine's ``Account.equity``, the value its recorder stores) instead of
    read back with GetAccountStats at the end."""

    progress_every = 64

    def __init__(self, client, playground_id: str, *, session=None, enforce_stop_loss: bool = False,
                 fill_model: str = "close", transport: str | None = None, decision_periods=None,
                 record_equity: bool = False):
        transport = transport or ("session" if client.sessions else "unary")
        if transport not in TRANSPORTS:
            raise ValueError(f"transport must be one of {', '.join(TRANSPORTS)}, got {transport!r}")
        self.transport = transport
        self.compact = getattr(client, "compact", True)  # the Session's advances: columns for quiet ticks
        if transport == "session":  # ticks, orders and account reads on one Session stream
            client = SessionClient(client, playground_id)
            session = session or client.opened
        self.client, self.playground_id = client, playground_id
        # the playground's options as created (CreatePlayground's additions; the wire does not report them)
        self.enforce_stop_loss, self.fill_model = enforce_stop_loss, fill_model
        self._account_pb = None  # the account the Session sent with the last tick
        self._held = None        # applies the Session's last tick of a batch: the runner's next step()
        self._batch = False      # replaying a batch's quiet ticks: the strategy promised not to act
        # the equity curve from the accounts of the Session's ticks: (times ns, equities), None: read it back
        self._curve = ([], []) if record_equity and transport == "session" else None
        if session is None:
            session = next((s for s in client.get_playgrounds() if s.playground_id == playground_id), None)
            if session is None:
                raise NotFoundError(f"playground {playground_id} not found on the gateway")
        self.initial_balance = session.meta.initial_balance
        self.start_ns, self.end_ns, self._now = self._clock(session)
        self._repos: dict[tuple[str, int], MirrorRepository] = {}
        self._pricing: dict[str, MirrorRepository] = {}
        for r in session.repositories:
            repo = MirrorRepository(r.symbol, r.timespan_multiplier * UNIT_SECONDS[r.timespan_unit])
            self._load_history(repo)
            self._repos[(repo.symbol, repo.period_ns)] = repo
            best = self._pricing.get(repo.symbol)
            if best is None or repo.period_ns < best.period_ns:  # D15: each symbol's own smallest period
                self._pricing[repo.symbol] = repo
        self._orders: dict[int, Order] = {}
        self._account: Account | None = None
        self._series = SeriesCache(self._repo, _growing_series)
        # a Session advance returns control after a candle of these periods (seconds) or any activity
        self.stop_periods = tuple(decision_periods or sorted({p // NS for _, p in self._repos}))

    @staticmethod
    def _clock(session) -> tuple[int, int, int]:
        """``(start_ns, end_ns, now_ns)`` of the playground's clock."""
        return (rfc3339_ns(session.clock.start), rfc3339_ns(session.clock.stop),
                rfc3339_ns(session.clock.current_time))

    def _load_history(self, repo: MirrorRepository) -> None:
        """The candles revealed so far into ``repo`` (``StreamCandlesArrow``)."""
        repo.extend_table(self.client.stream_candles_arrow(self.playground_id, repo.symbol, repo.period_ns // NS, EPOCH))

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
            msg = self._account_pb if self._account_pb is not None else self.client.get_account(self.playground_id)
            self._account = account_from_pb(msg)
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
        return self._series.get(symbol, period, fn, args, source, name)

    def place_order(self, *, symbol, side, quantity=None, requested_price, order_type="market", price=None,
                    stop_price=None, sl=None, tp=None, duration="day", tag="", close_order_id=None,
                    client_request_id=None, equity_fraction=None) -> Order:
        if (sl is not None or tp is not None) and not self.enforce_stop_loss:
            raise PlaceOrderError("sl/tp on a gateway playground created without enforce_stop_loss would be stored "
                                  "only, never acted on (D5), so the order is refused; run_on_gateway creates its "
                                  "playground with enforce_stop_loss")
        if equity_fraction is not None and quantity is not None:
            raise PlaceOrderError("give either quantity or equity_fraction, not both")
        self._check_decision("place an order")
        try:
            msg = self.client.place_order(self.playground_id, normalize_symbol(symbol), side, quantity or 0.0,
                                          requested_price=requested_price or 0.0, order_type=order_type,
                                          duration=duration, tag=tag, price=price, sl=sl, tp=tp,
                                          stop_price=stop_price, close_order_id=close_order_id,
                                          client_request_id=client_request_id, equity_fraction=equity_fraction)
        except grpc.RpcError as exc:
            if exc.code().name not in BUSINESS_CODES:
                raise
            raise place_order_error(exc.details().removeprefix("failed to place order: ")) from None
        return self._upsert(msg)

    def cancel_order(self, order_id: int) -> Order:
        """``ctx.cancel``: the CancelOrder RPC; refusals raise the engine's errors, as locally."""
        self._check_decision("cancel an order")
        try:
            msg = self.client.cancel_order(self.playground_id, order_id)
        except grpc.RpcError as exc:
            if exc.code().name not in BUSINESS_CODES:
                raise
            text = exc.details().removeprefix("failed to cancel order: ")
            if exc.code() is grpc.StatusCode.NOT_FOUND:
                raise NotFoundError(text) from None
            raise PlaygroundError(text.removesuffix("; only a pending order can be canceled")) from None
        return self._upsert(msg)

    # --- the runner's -------------------------------------------------------------------------
    def _check_decision(self, what: str) -> None:
        if self._batch:
            raise PlaygroundError(outside_decisions_text(what, self.stop_periods))

    def quiet_ticks(self, step_ns: int, on_candle, ctx, max_ticks: int, deliver=None) -> int:
        """Session transport: one advance command runs ticks until one the strategy must see with
        full semantics (a candle of ``stop_periods``, a fill, a rejection, an event, the end); the
        ticks before it are replayed here (``on_candle`` for their candles, the account after each),
        the last one is held for the runner's next :meth:`step`. The advance is compact unless the
        client's ``compact`` is False: its quiet ticks come as columns (:meth:`_apply_quiet`), then
        any full deltas (an answer may be all deltas). Unary: none (every tick is a step)."""
        if self.transport != "session" or self._held is not None or step_ns % NS:
            return 0
        ticks = self.client.advance(step_ns // NS, max_ticks=min(max_ticks, MAX_ADVANCE_TICKS),
                                    stop_periods=self.stop_periods, compact=self.compact)
        quiet = QuietReader(ticks.quiet, lambda sym, period: self._repos[(sym, period * NS)])
        deltas, accounts = ticks.deltas, ticks.accounts
        n = len(quiet) + len(deltas)
        if deltas:  # values bound now: a closure would see the loop variables of the replay below
            self._held = partial(self._apply, deltas[-1], accounts[-1] if accounts else None)
        elif n:
            self._held = partial(self._apply_quiet, quiet, n - 1)
        else:  # no tick at all (a refused first tick raises instead): cannot happen, kept for clarity
            self._held = lambda: _raise(SessionRefused(ticks.error.code, ticks.error.message))
        self._batch = True
        try:
            for i in range(min(len(quiet), n - 1)):
                for bar in self._apply_quiet(quiet, i)[1]:
                    on_candle(ctx, bar)
            for delta, account in zip(deltas[:-1], accounts):
                for bar in self._apply(delta, account)[1]:
                    on_candle(ctx, bar)
        finally:
            self._batch = False
        return n - 1

    def step(self, step_ns: int):
        if step_ns % NS:
            raise ValueError(f"gateway ticks are whole seconds, got {step_ns / NS:g} s")
        if self._held is not None:
            apply, self._held = self._held, None
            return apply()
        if self.transport == "session":
            ticks = self.client.advance(step_ns // NS)
            delta, account = ticks.deltas[0], ticks.accounts[0]
        else:
            delta, account = self.client.next_tick(self.playground_id, step_ns // NS), None
        return self._apply(delta, account)

    def _apply(self, delta, account=None):
        """A tick's delta as the runner's tuple; ``account``: the account after it (Session)."""
        self._now = rfc3339_ns(delta.current_time)
        self._account, self._account_pb = None, account
        if self._curve is not None:
            self._record_point(account, None)
        trades = [trade_from_pb(t) for t in delta.new_trades]
        for t in trades:
            self._book(t)
        invalid = [self._upsert(o) for o in delta.invalid_orders]
        events = [Event(ev.type, [self._upsert(o) for o in (ev.liquidation_event.orders_placed
                                                             if ev.type == "liquidation" else ev.orders)])
                  for ev in delta.events]
        new_candles = [self._reveal(self._repos[(c.symbol, int(c.period) * NS)], rfc3339_ns(c.bar.datetime),
                                    (c.bar.open, c.bar.high, c.bar.low, c.bar.close, c.bar.volume))
                       for c in delta.new_candles]
        return trades, new_candles, invalid, events, self._now, delta.is_backtest_complete

    def _apply_quiet(self, quiet: "QuietReader", i: int):
        """Quiet tick ``i`` of a compact advance (in order) as the runner's tuple."""
        self._now = quiet.times[i] * NS
        account = quiet.accounts.get(i)
        if account is not None:  # else the same as after the tick before
            self._account, self._account_pb = None, account
        if self._curve is not None:
            self._record_point(account, self._curve[1][-1] if self._curve[1] else None)
        new_candles = [self._reveal(repo, start, ohlcv, index) for repo, start, ohlcv, index in quiet.candles[i]]
        return [], new_candles, [], [], self._now, False
    def _record_point(self, account, unchanged) -> None:
        """The equity point of the tick just applied: ``account``'s equity, else ``unchanged`` (the
        point before, for a tick whose account did not change); neither: the curve is read back."""
        equity = account.equity if account is not None else unchanged
        if equity is None:
            self._curve = None
        else:
            self._curve[0].append(self._now)
            self._curve[1].append(equity)

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
        if not order.quantity:  # an equity_fraction order: the engine sized it at this fill
            order.quantity = order.filled_quantity
        order.status = "filled" if order.filled_quantity >= order.quantity - EPS else "partially_filled"

    def _reveal(self, repo: MirrorRepository, start: int, ohlcv: tuple, index: int | None = None) -> NewCandle:
        """The new candle starting at ``start`` (ns) with prices and volume ``ohlcv``, appended to
        ``repo``; ``index``: its index in the gateway's repository when the wire says it (a
        compact advance), else found from the starts."""
        if index is not None:
            if index < len(repo):  # the first tick re-reports the current candle
                return NewCandle(repo, index)
            gap = index > len(repo)
        elif repo.start_ns and start <= repo.start_ns[-1]:
            return NewCandle(repo, repo.start_ns.index(start) if start != repo.start_ns[-1] else repo.position)
        else:  # a gap in time may be candles a long tick skipped, or none (the night)
            gap = bool(repo.start_ns) and start - repo.start_ns[-1] != repo.period_ns
        if gap:
            after = rfc3339_from_ns(repo.start_ns[-1] + NS) if repo.start_ns else EPOCH
            for missing in self.client.get_candles(self.playground_id, repo.symbol, repo.period_ns // NS, after,
                                                   rfc3339_from_ns(start)):
                repo.append_bar(missing)
        repo.append(start, *ohlcv)  # its start parsed once
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

    def bars_seen(self) -> list:
        """The revealed candles of each (symbol, period), the benchmark's bars."""
        out = []
        for repo in self._repos.values():
            start = np.array(repo.start_ns, dtype=np.int64)
            out.append((repo.symbol, repo.period_ns, start, start + repo.period_ns, repo.column("close")))
        return out

    def equity_arrays(self):
        """The playground's equity plot: recorded from the Session's accounts when the run saw
        every tick (``record_equity``), else GetAccountStats."""
        if self._curve is not None and self._curve[0]:
            times, values = self._curve
            return np.array(times, dtype=np.int64).astype("datetime64[ns]"), np.array(values, dtype=np.float64)
        plot = self.client.equity_plot(self.playground_id)
        times = np.array([rfc3339_ns(p.created_at) for p in plot], dtype=np.int64).astype("datetime64[ns]")
        return times, np.array([p.equity for p in plot], dtype=np.float64)


class QuietReader:
    """The ticks of a compact advance's ``SessionQuietTicks`` (protos/playground.proto), unpacked
    once: ``times`` (seconds), ``candles[i]`` (``(repository, start ns, (open, high, low, close,
    volume), index or None)`` of each candle tick ``i`` revealed; ``repository(symbol, period s)``
    finds the mirror) and ``accounts`` (``{tick: account}`` of the ticks after which it changed)."""

    def __init__(self, msg, repository):
        self.times = list(msg.times)
        self.candles: list[list] = [[] for _ in self.times]
        indices = msg.candle_indices if len(msg.candle_indices) == len(msg.candle_ticks) else repeat(None)
        repos: dict = {}
        for tick, sym, period, start, ohlcv, index in zip(msg.candle_ticks, msg.candle_symbols, msg.candle_periods,
                                                          msg.candle_starts, zip(msg.open, msg.high, msg.low,
                                                                                 msg.close, msg.volume), indices):
            repo = repos.get((sym, period))
            if repo is None:
                repo = repos[(sym, period)] = repository(sym, period)
            self.candles[tick].append((repo, start * NS, ohlcv, index))
        self.accounts = dict(zip(msg.account_ticks, msg.accounts))

    def __len__(self) -> int:
        return len(self.times)


def _raise(exc: Exception):
    raise exc


def _growing_series(repo, fn, args, source, name) -> GrowingSeries:
    return GrowingSeries(lambda column: fn(column, *args), repo, source, name,
                         recompute_start=lambda known: recompute_start(fn, args, known))


# --- running ------------------------------------------------------------------------------------
def run_on_gateway(strategy: Strategy, client, repositories, *, start_date: str, stop_date: str,
                   balance: float = 100_000.0, history_in_days: int = 0, step: int | None = None,
                   tags=(), keep: bool = False, periods_per_year: float = 252, progress=None,
                   strict: bool = False, transport: str | None = None, **playground_options) -> BacktestResult:
    """Create a simulator playground on the gateway (``CreatePlayground``: the gateway's catalog,
    ``repositories`` as ``(symbol, timeframe)`` pairs such as ``("AAPL", "1m")``), run ``strategy``
    on it with :func:`run_on_broker`, ticking ``step`` seconds (default: the smallest timeframe),
    and delete it (``keep=True`` leaves it). ``client`` is a :class:`~backtestester.remote.client.PlaygroundClient`.
    ``playground_options`` (``fill_model``, ``margin_basis``, ``commission``, ``slippage``) are the
    engine options of :func:`~backtestester.playgrounds.run_on_catalog`, sent with CreatePlayground;
    as every strategy runner it enforces the strategy's ``sl``/``tp`` (``enforce_stop_loss``).
    ``transport``: ``"session"`` (the Session RPC, advancing until a candle of the strategy's
    :meth:`~backtestester.strategy.base.Strategy.decision_periods`; the default over gRPC) or
    ``"unary"`` (one NextTick per tick; the default over Twirp, which has no streams)."""
    if not isinstance(strategy, Strategy):
        raise TypeError(f"strategy must be a Strategy instance, got {type(strategy).__name__}")
    specs = repository_specs(repositories)
    run_tag = f"run-{uuid.uuid4().hex}"
    pid = client.create_playground(balance=balance, start_date=start_date, stop_date=stop_date,
                                   repositories=[(sym, *TIMESPANS[tf]) for sym, tf in specs],
                                   tags=[*tags, run_tag], history_in_days=history_in_days,
                                   enforce_stop_loss=True, **playground_options)
    try:
        [session] = [s for s in client.get_playgrounds([run_tag]) if s.playground_id == pid]
        broker = GatewayBroker(client, pid, session=session, enforce_stop_loss=True,
                               fill_model=playground_options.get("fill_model") or "close", transport=transport,
                               decision_periods=strategy.decision_periods(), record_equity=True)
        try:
            return run_on_broker(strategy, broker, step or default_step(specs), periods_per_year=periods_per_year,
                                 progress=progress, strict=strict)
        finally:
            if broker.transport == "session":
                broker.client.close()
    finally:
        if not keep:
            client.delete_playground(pid)
