"""The playground: an isolated trading account stepping through market time.

Behaviour follows ``shared/spec/playground-semantics.md`` with decisions D1-D19; the project's
own decisions are in ``docs/engine.md``.
"""
from __future__ import annotations

import math
from datetime import datetime, timedelta

from ..symbols import normalize_symbol
from .account import Account
from .candles import Candle, Repository
from .clock import Clock, step_ns
from .costs import Commission, Slippage, check_cost_model
from .delta import Event, NewCandle, TickDelta
from .equity import EquityRecorder
from .errors import BacktestCompleteError, NotFoundError, OrderRejected, PlaceOrderError, PlaygroundError
from .ledger import EPS, Ledger, Reject
from .matching import match
from .orders import (
    OPENING_SIDES,
    Order,
    Position,
    check_order_arguments,
    positive_or_none,
    side_rule_violation,
    side_sign,
    validate_tag,
)
from .quiet import quiet_ticks
from .snapshot import load_playground_state, playground_state
from .timeutil import UTC, from_ns, is_date_only, period_to_ns, to_ns

FILL_MODELS = ("close", "next_open")
MARGIN_BASES = ("cost", "market")


class Playground:
    """An isolated account over one or more repositories (symbols × timeframes).

    ``start``/``end`` are timezone-aware datetimes (or dates: a start date means that day's
    first session open, an end date the end of that day). ``calendar`` is an exchange code such
    as ``"XNYS"`` or ``None`` for a 24/7 clock. ``fill_model`` is ``"close"`` (market orders fill
    at the current candle's close when the next tick starts, the original) or ``"next_open"``
    (at the open of the next candle that becomes available). ``margin_basis`` ``"cost"`` (the
    original) or ``"market"`` (D12). ``enforce_stop_loss`` makes the engine act on ``sl``/``tp``
    (D5). ``commission``/``slippage`` take :class:`Commission`/:class:`Slippage`.
    """

    def __init__(self, *, balance: float, start, end, repositories, calendar: str | None = None,
                 fill_model: str = "close", margin_basis: str = "cost", enforce_stop_loss: bool = False,
                 commission: Commission | None = None, slippage: Slippage | None = None):
        if isinstance(balance, bool) or not isinstance(balance, (int, float)) or not math.isfinite(balance) or balance < 0:
            raise PlaygroundError(f"balance must be a finite number >= 0, got {balance!r}")
        if fill_model not in FILL_MODELS:
            raise PlaygroundError(f"fill_model must be one of {FILL_MODELS}, got {fill_model!r}")
        if margin_basis not in MARGIN_BASES:
            raise PlaygroundError(f"margin_basis must be one of {MARGIN_BASES}, got {margin_basis!r}")
        self.commission = check_cost_model(commission, Commission, "commission")
        self.slippage = check_cost_model(slippage, Slippage, "slippage")
        self.fill_model, self.margin_basis = fill_model, margin_basis
        self.enforce_stop_loss = bool(enforce_stop_loss)
        self.initial_balance = float(balance)

        repositories = list(repositories) if repositories is not None else []
        if not repositories:
            raise PlaygroundError("missing repositories: give at least one Repository")
        self._repos: list[Repository] = []
        self._pricing: dict[str, Repository] = {}
        seen = set()
        for repo in repositories:
            if not isinstance(repo, Repository):
                raise PlaygroundError(f"repositories must be Repository objects, got {type(repo).__name__}")
            if len(repo) == 0:  # D18
                raise PlaygroundError(f"repository {repo.describe()} is empty: it needs at least one candle")
            key = (repo.symbol, repo.period_ns)
            if key in seen:
                raise PlaygroundError(f"duplicate repository {repo.describe()}")
            seen.add(key)
            self._repos.append(repo)
            best = self._pricing.get(repo.symbol)
            if best is None or repo.period_ns < best.period_ns:  # D15: each symbol's own smallest period
                self._pricing[repo.symbol] = repo

        tz_probe = Clock(0, 1, calendar) if calendar is not None and (is_date_only(start) or is_date_only(end)) else None
        start_ns = self._time_arg(start, "start", tz_probe, end_of_day=False)
        end_ns = self._time_arg(end, "end", tz_probe, end_of_day=True)
        if end_ns <= start_ns:
            raise PlaygroundError(f"end ({from_ns(end_ns).isoformat()}) must be after start ({from_ns(start_ns).isoformat()})")
        self._clock = Clock(start_ns, end_ns, calendar)
        self._start_ns = self._clock.now_ns
        for repo in self._repos:
            repo.reset()
            repo.seek(self._clock.now_ns)

        self._ledger = Ledger(self.initial_balance, self._pricing, margin_basis)
        self._orders: dict[int, Order] = {}
        self._pending: list[Order] = []
        self._by_request_id: dict[str, Order] = {}
        self._order_seq = 0
        self._equity = EquityRecorder()
        self._first_tick = True
        self._complete = False

    @staticmethod
    def _time_arg(value, name, clock, end_of_day):
        if is_date_only(value):
            tz = clock.tz if clock is not None else UTC
            day = value + timedelta(days=1) if end_of_day else value
            return to_ns(datetime(day.year, day.month, day.day, tzinfo=tz), name)
        try:
            return to_ns(value, name)
        except (TypeError, ValueError) as exc:
            raise PlaygroundError(f"{exc}; a datetime.date is accepted too") from None

    def _symbol(self, symbol) -> str:
        """:func:`normalize_symbol`, without its work for a symbol already in its normal form."""
        return symbol if symbol.__class__ is str and symbol in self._pricing else normalize_symbol(symbol)

    # --- prices --------------------------------------------------------------------------------
    def _price(self, symbol: str) -> float:
        repo = self._pricing[symbol]
        if repo.position < 0:
            raise PlaygroundError(f"current price is not set for {symbol}: no candle is available yet")
        return repo.close_values[repo.position]

    def price(self, symbol: str) -> float:
        """Close of the latest available candle of the symbol's smallest timeframe (D15)."""
        sym = self._symbol(symbol)
        if sym not in self._pricing:
            raise NotFoundError(f"symbol {sym} not found in repos")
        return self._price(sym)

    # --- reading state -------------------------------------------------------------------------
    @property
    def current_time(self) -> datetime:
        return from_ns(self._clock.now_ns, self._clock.tz)

    @property
    def start_time(self) -> datetime:
        """The clock's first time (the start moved to a session open where needed, D17)."""
        return from_ns(self._start_ns, self._clock.tz)

    @property
    def end_time(self) -> datetime:
        return from_ns(self._clock.end_ns, self._clock.tz)

    @property
    def clock(self) -> Clock:
        """The playground's :class:`Clock` (``now_ns``, ``end_ns``, ``tz``); read it, do not move it."""
        return self._clock

    @property
    def start_ns(self) -> int:
        """The clock's first time in UTC nanoseconds (the start moved to a session open where needed)."""
        return self._start_ns

    @property
    def is_backtest_complete(self) -> bool:
        return self._complete

    @property
    def symbols(self) -> list[str]:
        return list(self._pricing)

    @property
    def repositories(self) -> list[Repository]:
        return list(self._repos)

    def repository(self, symbol, period) -> Repository:
        """The repository of (symbol, period); ``period`` in seconds or a timedelta.
        Unknown symbols and periods raise :class:`NotFoundError`."""
        sym = normalize_symbol(symbol)
        if sym not in self._pricing:
            raise NotFoundError(f"symbol {sym} not found in repos")
        p_ns = int(period * 1_000_000_000) if isinstance(period, (int, float)) and not isinstance(period, bool) \
            else period_to_ns(period)
        for repo in self._repos:
            if repo.symbol == sym and repo.period_ns == p_ns:
                return repo
        raise NotFoundError(f"period {timedelta(microseconds=p_ns // 1000)} not found in repos for {sym}")

    def current_candle(self, symbol: str, period) -> Candle | None:
        """The latest candle of (symbol, period) available at the clock, or ``None`` (D2)."""
        return self.repository(symbol, period).current()

    def candles(self, symbol: str, period, start: datetime, end: datetime | None = None) -> list[Candle]:
        """Candles with ``start <= candle.start < end`` that are available at the clock (never beyond it)."""
        repo = self.repository(symbol, period)
        rng = repo.between(to_ns(start, "start"), None if end is None else to_ns(end, "end"), self._clock.now_ns)
        return [repo.candle(i) for i in rng]

    def account(self) -> Account:
        """Balance, equity, free margin and positions (dict symbol -> :class:`Position`)."""
        led = self._ledger
        return Account(led.balance, led.equity(), led.free_margin(),
                       {s: led.position(s) for s in led.positions})

    def position(self, symbol: str) -> Position:
        return self._ledger.position(self._symbol(symbol))

    def quantity(self, symbol: str) -> float:
        """The signed quantity held of ``symbol`` (``position(symbol).quantity`` without the snapshot)."""
        return self._ledger.quantity(self._symbol(symbol))

    def orders(self) -> list[Order]:
        """Every order, in id order."""
        return list(self._orders.values())

    def pending_orders(self, symbol: str | None = None) -> list[Order]:
        sym = None if symbol is None else normalize_symbol(symbol)
        return [o for o in self._pending if sym is None or o.symbol == sym]

    def open_orders(self, symbol: str) -> list[Order]:
        """Filled buy/sell_short orders of ``symbol`` with open quantity left, in fill order (spec 9.1)."""
        return list(self._ledger.lots.get(normalize_symbol(symbol), []))

    def get_order(self, order_id: int) -> Order:
        try:
            return self._orders[order_id]
        except KeyError:
            raise NotFoundError(f"order {order_id} not found") from None

    def equity_plot(self) -> list[tuple[datetime, float]]:
        """One ``(time, equity)`` point per tick (the completion tick included, D6)."""
        tz = self._clock.tz
        return [(from_ns(t, tz), v) for t, v in zip(self._equity.times, self._equity.values().tolist())]

    def equity_arrays(self):
        """The equity plot as numpy arrays ``(times datetime64[ns] UTC-naive, equity float64)``."""
        return self._equity.time_array().astype("datetime64[ns]"), self._equity.values()

    def state(self) -> dict:
        """The mutable state (clock, cursors, orders, account, equity) as plain data: see
        :mod:`backtestester.engine.snapshot`."""
        return playground_state(self)

    def load_state(self, state: dict) -> None:
        """Continue from ``state`` (:meth:`state` of a playground built with the same arguments)."""
        load_playground_state(self, state)

    # --- placing -------------------------------------------------------------------------------
    def place_order(self, *, symbol: str, side: str, quantity: float | None, requested_price: float,
                    order_type: str = "market", price: float | None = None, stop_price: float | None = None,
                    sl: float | None = None, tp: float | None = None, duration: str = "day", tag: str = "",
                    close_order_id: int | None = None, client_request_id: str | None = None,
                    equity_fraction: float | None = None) -> Order:
        """Validate and queue an order; it fills on a later tick. Returns the :class:`Order`.

        A placement the spec refuses raises :class:`PlaceOrderError` with the original's wording:
        :class:`OrderRejected` (a subclass) when the account's state refuses it (the side rule,
        more volume to close than is open, the order to close not open), a trading outcome the
        strategy layer turns into a rejected order; the base class for bad arguments (side, type,
        quantity, prices, tag, unknown symbol) and for an order after the backtest completed.
        ``equity_fraction`` (instead of ``quantity``, opening sides only) sizes the order when it
        fills: ``floor(fraction × uninvested cash / fill price)`` whole shares.
        """
        return self.submit(symbol, side, quantity, requested_price, order_type, price, stop_price, sl, tp, duration,
                           tag, close_order_id, client_request_id, equity_fraction)

    def submit(self, symbol, side, quantity, requested_price, order_type, price, stop_price, sl, tp, duration, tag,
               close_order_id, client_request_id, equity_fraction) -> Order:
        """:meth:`place_order` with every argument given by position, in its order (the strategy
        context's call: no keyword re-binding on the way)."""
        if client_request_id is not None:  # D13: idempotent per playground
            if client_request_id in self._by_request_id:
                return self._by_request_id[client_request_id]
        try:
            order = self._validate(symbol, side, quantity, requested_price, order_type, price, stop_price, sl, tp,
                                   duration, tag, close_order_id, equity_fraction)
        except PlaceOrderError:
            raise
        except ValueError as exc:
            raise PlaceOrderError(str(exc)) from None
        order.client_request_id = client_request_id
        self._orders[order.id] = order
        self._pending.append(order)
        if client_request_id is not None:
            self._by_request_id[client_request_id] = order
        return order

    def _validate(self, symbol, side, quantity, requested_price, order_type, price, stop_price, sl, tp, duration, tag,
                  close_order_id, equity_fraction) -> Order:
        if self._complete:
            # the clock, not the arguments, refuses it: an order a strategy places on the last bar
            raise OrderRejected("backtest complete: clock expired: no more orders can be placed")
        quantity, equity_fraction, price, stop_price, sl, tp = check_order_arguments(
            side, quantity, equity_fraction, order_type, price, stop_price, sl, tp, duration, tag)

        sym = self._symbol(symbol)
        if close_order_id is not None:  # the service's pre-check runs before the engine's (spec 7.1 step 5)
            self._check_pending_closes(sym, close_order_id)
        if sym not in self._pricing:
            raise PlaceOrderError(f"symbol {sym} not found in repos")
        pos = self._ledger.quantity(sym)
        q = pos + sum(o.signed_quantity for o in self._pending if o.symbol == sym and o.protects is None) \
            if self._pending else pos
        rule = side_rule_violation(side, q)
        if rule:
            raise OrderRejected(f"PlaceOrder: side not allowed: {rule}")
        try:
            requested_price = positive_or_none(requested_price, "requested price must be greater than 0")
        except ValueError:
            requested_price = None
        if requested_price is None:
            raise PlaceOrderError("requested price must be greater than 0")
        if tag:
            validate_tag(tag)

        if pos != 0 and (pos > 0) != (side_sign(side) > 0):  # a close: is there enough open volume?
            try:
                self._ledger.allocate_lots(sym, close_order_id, quantity)
            except Reject as exc:
                raise OrderRejected(f"error getting close by requests: {exc}") from None

        self._order_seq += 1
        now = self._clock.now_ns
        # Day orders expire at their session's close; on a 24/7 clock, at the end of the UTC day of
        # the first candle they could trade on (set when that candle arrives).
        expires = None if duration == "gtc" or self._clock.calendar is None else self._clock.day_end(now)
        return Order(self._order_seq, sym, side, quantity, order_type, duration, price, requested_price, stop_price,
                     sl, tp, tag, close_order_id, now, equity_fraction=equity_fraction, expires_ns=expires)

    def _check_pending_closes(self, sym, close_order_id):
        """Spec 9.4: the target is a filled order of this playground, not over-claimed by pending closes."""
        target = self._orders.get(close_order_id)
        if target is None or target.symbol != sym or target.status != "filled" or target.side not in OPENING_SIDES:
            raise OrderRejected(f"failed to find order to close: {close_order_id}")
        pending = sum(o.quantity for o in self._pending if o.close_order_id == close_order_id and o.protects is None)
        remaining = abs(target.remaining_open_quantity)
        if pending > remaining + EPS:
            raise OrderRejected(f"pending close quantity {pending:.2f} is greater than remaining open quantity "
                                  f"{remaining:.2f}")

    def cancel_order(self, order_id: int) -> Order:
        """Cancel a pending order; anything else is a :class:`PlaygroundError`."""
        order = self.get_order(order_id)
        if order not in self._pending:
            raise PlaygroundError(f"order {order_id} is not pending: its status is {order.status}")
        order.status = "canceled"
        self._pending.remove(order)
        return order

    # --- ticking -------------------------------------------------------------------------------
    def tick(self, seconds=0, *, preview: bool = False) -> TickDelta:
        """Advance the clock by ``seconds`` (D1 order; see ``docs/engine.md``) and report what happened.

        A preview computes the next time without changing anything and reveals no candle (D2).
        """
        step = step_ns(seconds)
        clock = self._clock
        if preview:
            nxt = min(clock.next_time(clock.now_ns, step), clock.end_ns)
            return TickDelta([], [], [], [], nxt, nxt >= clock.end_ns, clock.tz)
        return self._tick(step)

    def _tick(self, step: int) -> TickDelta:
        trades, new_candles, invalid, events, now, complete = self.step(step)
        return TickDelta(list(trades), new_candles, list(invalid), list(events), now, complete, self._clock.tz)

    def step(self, step: int):
        """One tick of ``step`` nanoseconds as a tuple ``(trades, new_candles, invalid_orders,
        events, now_ns, complete)``; the runner's entry point (no argument parsing, no delta object).
        Part of the :class:`~backtestester.strategy.broker.Broker` protocol."""
        if self._complete:
            raise BacktestCompleteError("backtest complete: clock expired")
        clock = self._clock
        before = clock.now_ns
        pending = self._pending
        led = self._ledger
        if pending or led.positions:
            trades, invalid, events = [], [], []
            if pending and self.fill_model == "close":
                self._fill_market_at_close(before, trades, invalid, events)
            if led.positions:
                rec = self._equity
                if rec.version == led.version and self.margin_basis == "cost":  # no fill since the last tick
                    equity, mm = rec.current_equity(), rec.cost_maintenance
                else:
                    equity, mm = led.equity_and_maintenance()
                if equity < mm:
                    self._liquidate(before, events)
        else:
            trades = invalid = events = ()

        now = before + step
        if not (clock.calendar is None or clock.session_open <= now <= clock.session_close):  # Clock.advance, inlined
            now = clock.normalize(now)
        clock.now_ns = now
        complete = now >= clock.end_ns
        if complete:
            now = clock.now_ns = clock.end_ns
        new_candles = []
        moved = None
        first = self._first_tick
        for repo in self._repos:
            old = repo.advance(now)
            pos = repo.position
            if pos != old:
                new_candles.append(NewCandle(repo, pos))
                if pending:
                    (moved := moved or []).append((repo, old))
            elif first and pos >= 0:
                new_candles.append(NewCandle(repo, pos))
        self._first_tick = False
        if pending:
            if moved:
                self._match_new_candles(moved, trades, invalid, events)
            self._expire(now, events)

        rec = self._equity
        if rec.version == led.version:  # EquityRecorder.record, inlined for the common case
            rec.times.append(now)
        else:
            rec.record(now, led)
        if complete:
            self._complete = True
        return trades, new_candles, invalid, events, now, complete

    def quiet_ticks(self, step: int, on_candle, ctx, max_ticks: int, deliver=None) -> int:
        """Run up to ``max_ticks`` ticks that :meth:`step` would run without trading, calling
        ``on_candle(ctx, bar)`` for each new candle; return how many ran (see
        :mod:`backtestester.engine.quiet`: no pending order, no fill since the last equity
        point, no liquidation due, not the first tick, not the last). With ``deliver``
        (``deliver(trades, invalid_orders, events)``, called before the tick's ``on_candle``),
        a one-repository ``next_open`` run keeps its ticks with pending orders in the loop too.
        Part of the :class:`~backtestester.strategy.broker.Broker` protocol."""
        if self._first_tick or self._complete:
            return 0
        return quiet_ticks(self, step, on_candle, ctx, max_ticks, deliver)

    def _fill_market_at_close(self, time_ns, trades, invalid, events):
        for order in list(self._pending):
            if order.order_type != "market" or order.status not in ("pending", "partially_filled"):
                continue
            price = self._pricing[order.symbol].current_close()
            if price is None:  # no candle yet: stays pending (ErrCurrentPriceNotSet)
                continue
            self._fill(order, price, True, time_ns, trades, invalid, events)

    def _match_new_candles(self, moved, trades, invalid, events):
        """Resting orders (and ``next_open`` market orders) against every newly available candle
        of their symbol's pricing repository, in time order."""
        next_open = self.fill_model == "next_open"
        pending = self._pending
        one_symbol = len(self._pricing) == 1  # then every pending order is of this symbol
        for repo, old in moved:
            sym = repo.symbol
            if self._pricing[sym] is not repo:
                continue
            # the first candle's orders; re-read for each later one
            orders = pending[:] if one_symbol else [o for o in pending if o.symbol == sym]
            if not (next_open and orders) and all(o.order_type == "market" for o in orders):
                continue
            starts, opens, highs, lows = repo.start_values, repo.open_values, repo.high, repo.low
            key, shift = repo.available_key, repo.available_shift
            lazy_day = self._clock.calendar is None
            for i in range(old + 1, repo.position + 1):
                start = starts[i]
                available = key[i] + shift
                if i > old + 1:
                    orders = pending[:] if one_symbol else [o for o in pending if o.symbol == sym]
                for order in orders:
                    if order.status not in ("pending", "partially_filled"):
                        continue
                    if order.order_type == "market" and not next_open:
                        continue
                    if available <= order.eligible_ns:  # the candle was visible when the order was placed
                        continue
                    if order.expires_ns is None and lazy_day and order.duration != "gtc":
                        order.expires_ns = self._clock.day_end(start)  # 24/7: the day of its first candle
                    if order.expires_ns is not None and start >= order.expires_ns:
                        continue
                    if order.order_type == "market":  # next_open: the candle's open, slippage applies
                        price, slips = opens[i], True
                    else:
                        price, slips = match(order, side_sign(order.side) > 0, opens[i], float(highs[i]),
                                             float(lows[i]))
                    if price is not None:
                        self._fill(order, price, slips, start, trades, invalid, events, candle_available=available)

    def _expire(self, now, events):
        if not self._pending:
            return
        expired = [o for o in self._pending if o.expires_ns is not None and o.expires_ns <= now]
        for order in expired:
            order.status = "expired"
            self._pending.remove(order)
        if expired:
            events.append(Event("expired", expired))

    def _fill(self, order, price, slips, time_ns, trades, invalid, events, candle_available=None, liquidation=False):
        """Run the pre-trade checks and book one full fill; a failure rejects the order (spec 8)."""
        led = self._ledger
        buying = side_sign(order.side) > 0
        if slips and self.slippage is not None:
            price = self.slippage.adjust(price, buying)
        try:
            if order.equity_fraction is not None and order.quantity == 0:
                order.quantity = float((led.uninvested_cash() * order.equity_fraction) // price)
                if order.quantity <= 0:
                    raise Reject(f"insufficient free margin: equity_fraction {order.equity_fraction:g} buys no "
                                 f"whole share at {price:.2f}")
            if order.protects is not None:  # a protective order closes what is left of its lot
                left = abs(self._orders[order.protects].remaining_open_quantity)
                order.quantity = min(order.quantity, left) if left > EPS else order.quantity
            qty = (order.quantity - order.filled_quantity) * (1 if buying else -1)
            allocations = led.check(order, qty, price)
        except Reject as exc:
            order.status, order.reject_reason = "rejected", str(exc)
            self._pending.remove(order)
            invalid.append(order)
            return None
        fee = self.commission.fee(qty, price) if self.commission is not None else 0.0
        trade = led.apply(order, qty, price, time_ns, fee, allocations)
        if order.status == "filled":
            self._pending.remove(order)
        if not liquidation:
            trades.append(trade)
        self._after_fill(order, allocations, time_ns, candle_available, events)
        return trade

    def _after_fill(self, order, allocations, time_ns, candle_available, events):
        """D5: protective orders for an opening fill; cancel protection whose lot is closed."""
        if allocations:
            if not self._pending:
                return
            closed_lots = {lot.id for lot, _ in allocations if abs(lot.remaining_open_quantity) <= EPS}
            stale = [o for o in self._pending if o.protects in closed_lots and o is not order]
            for o in stale:
                o.status = "canceled"
                self._pending.remove(o)
            if stale:
                events.append(Event("canceled", stale))
            return
        if not self.enforce_stop_loss or order.status != "filled" or (order.sl is None and order.tp is None):
            return
        closing_side = "sell" if order.side == "buy" else "buy_to_cover"
        legs = []
        if order.sl is not None:
            legs.append(("stop", None, order.sl, "sl"))
        if order.tp is not None:
            legs.append(("limit", order.tp, None, "tp"))
        for kind, limit, stop, tag in legs:
            self._order_seq += 1
            guard = Order(self._order_seq, order.symbol, closing_side, order.quantity, kind, "gtc", limit,
                          order.avg_fill_price, stop, None, None, tag, order.id, time_ns, protects=order.id)
            if candle_available is not None:  # filled inside a candle: protection starts with the next one
                guard.eligible_ns = candle_available
            self._orders[guard.id] = guard
            self._pending.append(guard)

    def _liquidate(self, time_ns, events):
        """Spec 12 with D7: close the largest position while equity < maintenance margin,
        recomputing equity after every liquidation order."""
        led = self._ledger
        placed = []
        while led.positions:
            equity, mm = led.equity_and_maintenance()
            if not equity < mm:
                break
            sym = max(sorted(led.positions), key=lambda s: abs(led.positions[s].qty) * led.positions[s].cost)
            q = led.positions[sym].qty
            price = self._price(sym)
            self._order_seq += 1  # the tag is the original's Sprintf text exactly: its clients read it
            order = Order(self._order_seq, sym, "sell" if q > 0 else "buy_to_cover", abs(q), "market", "day", None,
                          price, None, None, None,
                          f"liquidation - equity of {equity:.2f} < {mm:.2f} (maintenance margin)", None, time_ns)
            self._orders[order.id] = order
            self._pending.append(order)
            invalid = []
            if self._fill(order, price, True, time_ns, [], invalid, events, liquidation=True) is None:
                raise PlaygroundError(f"performLiquidations: error committing pending orders: 1 invalid orders: "
                                      f"{invalid[0].reject_reason}")
            placed.append(order)
        if placed:
            events.append(Event("liquidation", placed))
