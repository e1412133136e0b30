"""The live desk's answers as wire messages (pure functions, no ray, no server).

The gateway's live shell (:mod:`actors.gateway.live`) calls the desk
(:class:`~backtestester.live.desk.LiveDesk`) and turns what it returns into the RPC's message here,
with the same codec as the simulator's answers (:mod:`backtestester.wire.codec`): orders, trades and
positions look the same on a live playground as on a simulator one. Times of a live playground are
shown in New York time, as the simulator's XNYS playgrounds.
"""
from __future__ import annotations

from backtestester.engine.timeutil import from_ns
from backtestester.rpc import playground_pb2 as pb
from backtestester.wire import codec
from backtestester.wire.requests import order_matches
from backtestester.wire.times import NEW_YORK, TIMESPANS, UNIT_SECONDS, UTC, bar_time, rfc3339

TZ = NEW_YORK


def time_text(ns: int) -> str:
    """RFC 3339 in New York time of UTC nanoseconds (``""`` for 0: never)."""
    return rfc3339(from_ns(ns), TZ) if ns else ""


def order(o, lookup=None) -> pb.Order:
    return codec.order(o, TZ, lookup)


def bar(b) -> pb.Bar:
    """A live bar (:class:`~backtestester.live.port.Bar`) as the wire's Bar."""
    return pb.Bar(open=b.open, high=b.high, low=b.low, close=b.close, volume=b.volume,
                  datetime=bar_time(from_ns(b.start_ns, UTC)))


def candle(b) -> pb.Candle:
    return pb.Candle(symbol=b.symbol, period=int(b.period_s), bar=bar(b))


def tick_delta(delta, lookup=None) -> pb.TickDelta:
    """NextTick on a live playground: what arrived since the last call; never complete."""
    msg = pb.TickDelta(current_time=time_text(delta.current_ns), is_backtest_complete=False)
    msg.new_trades.extend(codec.trade(t, TZ) for t in delta.new_trades)
    msg.new_candles.extend(candle(b) for b in delta.new_candles)
    msg.invalid_orders.extend(order(o, lookup) for o in delta.invalid_orders)
    for ev in delta.events:
        orders = [order(o, lookup) for o in ev.orders]
        if ev.type == "liquidation":
            msg.events.append(pb.TickDeltaEvent(type="liquidation",
                                                liquidation_event=pb.LiquidationEvent(orders_placed=orders)))
        else:
            msg.events.append(pb.TickDeltaEvent(type=ev.type, orders=orders))
    return msg


def meta(m: dict) -> pb.AccountMeta:
    """AccountMeta of a live playground from ``desk.meta(pid)``."""
    msg = pb.AccountMeta(playground_id=m["playground_id"], start_date=time_text(m["start_ns"]),
                         symbols=list(m["symbols"]), initial_balance=m["initial_balance"],
                         environment=m.get("environment", "live"), tags=list(m.get("tags", ())))
    if m.get("reconcile_playground_id"):
        msg.reconcile_playground_id = m["reconcile_playground_id"]
    if m.get("live_account_type"):
        msg.live_account_type = m["live_account_type"]
    if m.get("client_id") is not None:
        msg.client_id = m["client_id"]
    return msg


def account(acc, m: dict, fetch_orders: bool, filters: dict, lookup=None) -> pb.GetAccountResponse:
    """GetAccount of a live playground: ``acc`` a ``LiveAccount``; ``filters``: :func:`order_matches`'."""
    resp = pb.GetAccountResponse(meta=meta(m), balance=acc.balance, equity=acc.equity, free_margin=acc.free_margin)
    codec.positions_map(resp.positions, acc.positions)
    if fetch_orders:
        resp.orders.extend(order(o, lookup) for o in acc.orders if order_matches(o, **filters))
    return resp


def repositories(m: dict) -> list[pb.Repository]:
    """The playground's ``(symbol, period_s)`` pairs (``m["repositories"]``) as Repository messages."""
    out = []
    for symbol, period_s in m.get("repositories", ()):
        mult, unit = next(((k, u) for k, u in TIMESPANS.values() if k * UNIT_SECONDS[u] == period_s),
                          (int(period_s) // 60, "minute"))
        out.append(pb.Repository(symbol=symbol, timespan_multiplier=mult, timespan_unit=unit))
    return out


def summary(acc, m: dict, now_ns: int) -> pb.PlaygroundSession:
    """GetPlaygrounds' entry of a live playground: its clock has no stop."""
    s = pb.PlaygroundSession(playground_id=m["playground_id"], meta=meta(m),
                             clock=pb.Clock(current_time=time_text(now_ns), start=time_text(m["start_ns"])),
                             balance=acc.balance, equity=acc.equity, free_margin=acc.free_margin)
    s.repositories.extend(repositories(m))
    codec.positions_map(s.positions, acc.positions)
    return s


def candles(bars) -> pb.GetCandlesResponse:
    return pb.GetCandlesResponse(bars=[bar(b) for b in bars])


def equity_points(points) -> list[pb.LiveAccountPlot]:
    return [pb.LiveAccountPlot(timestamp=time_text(ns), equity=v) for ns, v in points]


def account_stats(points) -> pb.GetAccountStatsResponse:
    return pb.GetAccountStatsResponse(equity_plot=[pb.EquityPlot(created_at=time_text(ns), equity=v)
                                                   for ns, v in points])


def _positions(qty: dict, pid: str | None = None) -> list[pb.PositionReport]:
    out = []
    for sym, q in sorted(qty.items()):
        p = pb.PositionReport(symbol=sym, quantity=q)
        if pid is not None:
            p.playground_id = pid
        out.append(p)
    return out


def reconciliation_report(r) -> pb.GetReconciliationReportResponse:
    """The three position lists of the original, and (additions) what reconciliation found."""
    resp = pb.GetReconciliationReportResponse(broker_positions=_positions(r.broker_positions),
                                              reconciliation_positions=_positions(r.reconcile_positions),
                                              differences=list(r.differences), unknown_intents=list(r.unknown_intents),
                                              opens_blocked=bool(r.opens_blocked))
    for pid, qty in sorted(r.live_positions.items()):
        resp.live_playground_positions.extend(_positions(qty, pid))
    resp.unknown_broker_orders.extend(f"order {o.id}: {o.side} {o.quantity:g} {o.symbol} {o.status}"
                                      f"{f' tag {o.tag}' if o.tag else ''}" for o in r.unknown_broker_orders)
    return resp


def equity_report(points) -> pb.GetEquityReportResponse:
    """GetEquityReport: the reconcile account's equity, newest first (as the original)."""
    return pb.GetEquityReportResponse(items=equity_points(sorted(points, reverse=True)))


def broker_health(rows: dict) -> pb.GetBrokerHealthResponse:
    """GetBrokerHealth from ``desk.health()`` (``{account key: dict}``)."""
    resp = pb.GetBrokerHealthResponse()
    for key, h in sorted(rows.items(), key=lambda kv: str(kv[0])):
        name = ":".join(str(k) for k in key) if isinstance(key, tuple) else str(key)
        resp.accounts.append(pb.BrokerHealth(
            account=name, connected=bool(h.get("connected")), last_poll_time=time_text(h.get("last_poll_ns") or 0),
            unresolved_intents=int(h.get("unresolved_intents") or 0),
            position_difference=bool(h.get("position_difference")), opens_blocked=bool(h.get("opens_blocked")),
            reason=h.get("reason") or ""))
    return resp
