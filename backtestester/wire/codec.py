"""Messages of the wire, both directions (pure functions, no ray, no server).

* engine -> protobuf (the gateway's answers): :func:`order`, :func:`trade`, :func:`position`,
  :func:`positions_map`, :func:`bar`, :func:`tick_delta`;
* protobuf -> engine (what the remote broker reads): :func:`order_from_pb`, :func:`trade_from_pb`,
  :func:`position_from_pb`, :func:`account_from_pb`, and :func:`link_closes`, which rebuilds the
  ``closed_by`` records the wire sends without ids.

Times are formatted and parsed by :mod:`backtestester.wire.times`.
"""
from __future__ import annotations

from ..engine import Account, Order, Position, Trade
from ..engine.ledger import EPS
from ..engine.timeutil import NS_PER_SECOND
from ..rpc import playground_pb2 as pb
from .times import bar_time, go_time, go_time_ns, rfc3339_at


# --- engine -> protobuf --------------------------------------------------------------------------
def position(p) -> pb.Position:
    if p is None:
        return pb.Position()
    return pb.Position(quantity=p.quantity, cost_basis=p.cost_basis, pl=p.pl,
                       maintenance_margin=p.maintenance_margin, current_price=p.current_price)


def trade(t, tz, *, with_id: bool = True) -> pb.Trade:
    msg = pb.Trade(create_date=go_time(t.time, tz), quantity=t.quantity, price=t.price)
    if with_id:
        msg.id = t.id
        if t.order_id:
            msg.order_id = t.order_id
    if t.commission:  # an addition (docs/wire.md)
        msg.commission = t.commission
    return msg


def order(o, tz, lookup=None, _seen=None) -> pb.Order:
    """The Order DTO (spec 14 ``convertOrder``). ``lookup(order_id) -> engine Order`` resolves
    ``closes`` into nested orders (each appears once, D9); without it ``closes`` stays empty."""
    msg = pb.Order(
        id=o.id, symbol=o.symbol, side=o.side, quantity=o.quantity, type=o.order_type,
        duration=o.duration, price=o.price or 0.0, requested_price=o.requested_price or 0.0,
        stop_price=(o.stop_price if o.stop_price is not None else (o.sl or 0.0)), tag=o.tag or "",
        status=o.status, reject_reason=o.reject_reason or "",
        create_date=go_time(o.created_at, tz), previous_position=position(o.previous_position))
    setattr(msg, "class", "equity")
    msg.trades.extend(trade(t, tz) for t in o.trades)
    msg.closed_by.extend(trade(t, tz, with_id=False) for t in o.closed_by)
    if o.client_request_id:
        msg.client_request_id = o.client_request_id
    if o.close_order_id is not None:
        msg.close_order_id = o.close_order_id
    for field, value in (("sl", o.sl), ("tp", o.tp), ("order_stop_price", o.stop_price), ("protects", o.protects)):
        if value is not None:  # additions (docs/wire.md): exactly what the order carries
            setattr(msg, field, value)
    if lookup is not None and o.closes:
        seen = set() if _seen is None else _seen
        seen.add(o.id)
        for oid in dict.fromkeys(o.closes):
            if oid in seen:
                continue
            try:
                target = lookup(oid)
            except LookupError:
                continue
            msg.closes.append(order(target, tz, lookup, seen))
    return msg


def bar(candle, fields: dict | None = None, index: int | None = None) -> pb.Bar:
    """A ``Bar``; ``fields`` (``{Bar field: values}``, :mod:`backtestester.service.indicators`) fills the
    indicator fields with the values at ``index``, the candle's index in its repository."""
    msg = pb.Bar(open=candle.open, high=candle.high, low=candle.low, close=candle.close,
                 volume=candle.volume, datetime=bar_time(candle.start))
    if fields:
        for name, values in fields.items():
            setattr(msg, name, values[index].item())
    return msg


def tick_delta(d, tz, lookup=None, indicators: dict | None = None) -> pb.TickDelta:
    """The TickDelta message; ``indicators`` (``{(symbol, period_ns): fields}``) fills the new
    candles' indicator fields."""
    msg = pb.TickDelta(current_time=rfc3339_at(d.current_ns, tz), is_backtest_complete=bool(d.is_backtest_complete))
    if d.new_trades:  # most ticks have none: an empty extend costs more than the test
        msg.new_trades.extend(trade(t, tz) for t in d.new_trades)
    for nc in d.new_candles:
        fields = indicators.get((nc.symbol, nc.repository.period_ns)) if indicators else None
        msg.new_candles.append(pb.Candle(symbol=nc.symbol, period=int(nc.period.total_seconds()),
                                         bar=bar(nc.candle, fields, nc.index)))
    if d.invalid_orders:
        msg.invalid_orders.extend(order(o, tz, lookup) for o in d.invalid_orders)
    for ev in d.events:
        orders = [order(o, tz, lookup) for o in ev.orders]
        if ev.type == "liquidation":  # the only event type of the v1 wire (spec 5.5)
            msg.events.append(pb.TickDeltaEvent(type="liquidation",
                                                liquidation_event=pb.LiquidationEvent(orders_placed=orders)))
        else:  # expired / canceled: an addition (TickDeltaEvent.orders, docs/wire.md)
            msg.events.append(pb.TickDeltaEvent(type=ev.type, orders=orders))
    return msg


def positions_map(target, positions: dict) -> None:
    for sym, p in positions.items():
        target[sym].CopyFrom(position(p))


def account_snapshot(acc: Account) -> pb.GetAccountResponse:
    """A Session's account after a tick: GetAccount's balance, equity, free margin and positions
    (no meta, no orders)."""
    resp = pb.GetAccountResponse(balance=acc.balance, equity=acc.equity, free_margin=acc.free_margin)
    positions_map(resp.positions, acc.positions)
    return resp


class QuietColumns:
    """The ``SessionQuietTicks`` message of a compact Session advance, built tick by tick from engine
    :class:`~backtestester.engine.TickDelta` objects of quiet ticks (no trades, invalid orders or
    events; see protos/playground.proto) and written once (:meth:`write`). Times are whole
    seconds, as the full rendering prints them (:func:`~backtestester.wire.times.rfc3339`,
    :func:`~backtestester.wire.times.bar_time`)."""

    FIELDS = ("times", "candle_ticks", "candle_symbols", "candle_periods", "candle_starts",
              "open", "high", "low", "close", "volume", "account_ticks", "candle_indices")

    def __init__(self):
        self.times: list[int] = []
        self.candles: list[tuple] = []  # (tick, NewCandle)
        self.account_ticks: list[int] = []
        self.accounts: list[pb.GetAccountResponse] = []

    def add(self, delta, account: Account | None = None, stops: frozenset = frozenset()) -> bool:
        """One tick; ``account``: the account after it, when it changed (else ``None``). Returns
        whether it revealed a candle of a period (ns) in ``stops``."""
        i = len(self.times)
        self.times.append(delta.current_ns // NS_PER_SECOND)
        stop = False
        for nc in delta.new_candles:
            self.candles.append((i, nc))
            stop = stop or nc.repository.period_ns in stops
        if account is not None:
            self.account_ticks.append(i)
            self.accounts.append(account_snapshot(account))
        return stop

    def write(self, msg) -> None:
        """Append the columns to ``msg`` (a ``SessionQuietTicks``)."""
        msg.times.extend(self.times)
        candles = self.candles
        msg.candle_ticks.extend([i for i, _ in candles])
        msg.candle_indices.extend([nc.index for _, nc in candles])
        msg.candle_symbols.extend([nc.symbol for _, nc in candles])
        msg.candle_periods.extend([nc.repository.period_ns // NS_PER_SECOND for _, nc in candles])
        msg.candle_starts.extend([int(nc.repository.start_ns[nc.index]) // NS_PER_SECOND for _, nc in candles])
        msg.open.extend([nc.open for _, nc in candles])
        msg.high.extend([nc.high for _, nc in candles])
        msg.low.extend([nc.low for _, nc in candles])
        msg.close.extend([nc.close for _, nc in candles])
        msg.volume.extend([nc.volume for _, nc in candles])
        msg.account_ticks.extend(self.account_ticks)
        msg.accounts.extend(self.accounts)


def extend_quiet(target, more) -> None:
    """Append the ticks of ``SessionQuietTicks`` ``more`` to ``target`` (an advance run in two parts)."""
    offset = len(target.times)
    for name in QuietColumns.FIELDS:
        values = getattr(more, name)
        getattr(target, name).extend([i + offset for i in values] if name.endswith("_ticks") else values)
    target.accounts.extend(more.accounts)


# --- protobuf -> engine --------------------------------------------------------------------------
def trade_from_pb(t) -> Trade:
    return Trade(int(t.id), go_time_ns(t.create_date), t.quantity, t.price, int(t.order_id), t.commission)


def position_from_pb(p) -> Position:
    return Position(p.quantity, p.cost_basis, p.pl, p.maintenance_margin, p.current_price)


def account_from_pb(resp) -> Account:
    return Account(resp.balance, resp.equity, resp.free_margin,
                   {sym: position_from_pb(p) for sym, p in sorted(resp.positions.items())})


def order_from_pb(m) -> Order:
    """An engine :class:`Order` from the wire's Order DTO (``closed_by`` left to :func:`link_closes`)."""
    def present(field):  # the additions (docs/wire.md); a v1 server sends stop_price only
        return getattr(m, field) if m.HasField(field) else None

    stop = present("order_stop_price") if m.HasField("sl") or m.HasField("order_stop_price") else m.stop_price or None
    o = Order(int(m.id), m.symbol, m.side, m.quantity, m.type, m.duration, m.price or None,
              m.requested_price or None, stop, present("sl"), present("tp"), m.tag,
              int(m.close_order_id) if m.HasField("close_order_id") else None, go_time_ns(m.create_date),
              client_request_id=m.client_request_id if m.HasField("client_request_id") else None,
              protects=int(m.protects) if m.HasField("protects") else None)
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
