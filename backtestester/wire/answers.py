"""The playground calls of the gateway's servicer and their answers as wire messages, run where
the playground lives.

Each function takes a :class:`~backtestester.service.session.PlaygroundSession` (and the call's
plain arguments), calls it and builds the RPC's answer with the codec (:mod:`backtestester.wire.codec`).
The servicer (:mod:`actors.gateway.service`) sends them by reference through
:class:`~actors.gateway.placement.HostPool`: in the gateway's own process (``hosts=0``) the
message is returned as it is; on a holder actor Ray pickles it. The engine -> protobuf conversion
happens here, once.

Note the two ``PlaygroundSession`` names: the service's class (one playground) and ``pb.PlaygroundSession``,
the wire's summary of one playground in GetPlaygrounds (:func:`summary`).
"""
from __future__ import annotations

from backtestester.engine import Order, TickDelta
from backtestester.engine.timeutil import NS_PER_SECOND as NS
from backtestester.rpc import playground_pb2 as pb
from backtestester.service.errors import ServiceError
from backtestester.service.journal import Deferred, answer_of, stream_request_id
from backtestester.service.session import PlaygroundSession
from backtestester.wire import codec
from backtestester.wire.requests import order_matches
from backtestester.wire.times import rfc3339, rfc3339_at


# --- building sessions ------------------------------------------------------------------------
def created(pid: str, config: dict, data_dir: str) -> PlaygroundSession:
    """CreatePlayground: a new session built from the catalog."""
    session = PlaygroundSession(pid, render_tick=tick_delta)
    session.create(config, data_dir)
    unknown = {name for fields in session.indicators.values() for name in fields} - set(pb.Bar.DESCRIPTOR.fields_by_name)
    if unknown:  # a bug, not a request error: the indicator module and the proto disagree
        raise AssertionError(f"indicator columns without a Bar field: {sorted(unknown)}")
    return session


def restored(pid: str, db_path: str, data_dir: str) -> PlaygroundSession:
    """A saved playground rebuilt from the store (replayed)."""
    session = PlaygroundSession(pid, render_tick=tick_delta)
    session.restore(db_path, data_dir)
    return session


# --- answers ----------------------------------------------------------------------------------
def tick_delta(session: PlaygroundSession, delta: TickDelta) -> pb.TickDelta:
    """NextTick's answer (``render_tick`` of the gateway's sessions: cached by request_id)."""
    return codec.tick_delta(delta, session.tz, session.lookup, session.indicators)


def order(session: PlaygroundSession, o: Order) -> pb.Order:
    return codec.order(o, session.tz, session.lookup)


def place_order(session: PlaygroundSession, kwargs: dict) -> pb.Order:
    return order(session, session.place_order(**kwargs))


def cancel_order(session: PlaygroundSession, order_id: int) -> pb.Order:
    return order(session, session.cancel_order(order_id))


def get_order(session: PlaygroundSession, order_id: int) -> pb.Order:
    return order(session, session.get_order(order_id))


def meta(session: PlaygroundSession) -> pb.AccountMeta:
    """AccountMeta as the original sent it: ``start_date``/``end_date`` the clock's start and end
    as RFC 3339 instants (not the request's dates), ``live_account_type`` ``simulator``."""
    c, pg, tz = session.config, session.ready(), session.tz
    m = pb.AccountMeta(playground_id=session.playground_id, start_date=rfc3339(pg.start_time, tz),
                       end_date=rfc3339(pg.end_time, tz), symbols=pg.symbols, initial_balance=c["balance"],
                       environment=c["environment"], tags=c.get("tags", []))
    if c["environment"] == "simulator":  # spec 1.2: the original's type of every simulator playground
        m.live_account_type = "simulator"
    if c.get("client_id") is not None:
        m.client_id = c["client_id"]
    return m


def account(session: PlaygroundSession, fetch_orders: bool, filters: dict) -> pb.GetAccountResponse:
    """GetAccount; ``filters``: :func:`codec.order_matches`' keyword arguments."""
    pg = session.ready()
    acc = pg.account()
    resp = pb.GetAccountResponse(meta=meta(session), balance=acc.balance, equity=acc.equity,
                                 free_margin=acc.free_margin)
    codec.positions_map(resp.positions, acc.positions)
    if fetch_orders:
        for o in pg.orders():
            if order_matches(o, **filters):
                resp.orders.append(order(session, o))
    return resp


def account_snapshot(session: PlaygroundSession) -> pb.GetAccountResponse:
    """A Session's account after a tick: GetAccount's balance, equity, free margin and positions
    (no meta, no orders)."""
    return codec.account_snapshot(session.ready().account())


def advance_stops(delta: pb.TickDelta, stop_periods: frozenset) -> bool:
    """Whether a Session advance stops after ``delta`` (SessionAdvance in protos/playground.proto):
    the backtest completed, something the client must see happened, or a candle of
    ``stop_periods`` (seconds) was revealed."""
    if delta.is_backtest_complete or delta.new_trades or delta.invalid_orders or delta.events:
        return True
    return bool(stop_periods) and any(c.period in stop_periods for c in delta.new_candles)


def advanced_to_stop(ticks: pb.SessionTicks, stop_periods: frozenset) -> bool:
    """Whether the last tick of an advance's answer stops it (:func:`advance_stops`; a quiet tick
    only by a candle of ``stop_periods``)."""
    if ticks.deltas:
        return advance_stops(ticks.deltas[-1], stop_periods)
    q, last = ticks.quiet, len(ticks.quiet.times) - 1
    return bool(stop_periods) and any(t == last and p in stop_periods for t, p in zip(q.candle_ticks, q.candle_periods))


def advance(session: PlaygroundSession, seconds: int, max_ticks: int, stop_periods: frozenset, request_id: str,
            with_accounts: bool, first: int = 0, compact: bool = False) -> tuple[pb.SessionTicks, ServiceError | None]:
    """A Session's advance: up to ``max_ticks`` NextTicks in one call, tick ``i`` with request id
    ``<request_id>/<i>`` (journalled and cached as NextTick's; ``i`` from ``first``), until
    :func:`advance_stops`. Returns the ticks and ``None``, or the ticks run and the refusal of the
    next one; a refusal of the first tick is raised. ``compact``: the quiet ticks go into
    ``quiet`` as columns (:class:`~backtestester.wire.codec.QuietColumns`) while no tick went
    into ``deltas``; their NextTick answers are cached unrendered
    (:class:`~backtestester.service.journal.Deferred`), rendered only if asked for again."""
    out = pb.SessionTicks()
    quiet = codec.QuietColumns() if compact else None
    pg, last, stops = session.ready(), None, frozenset(p * NS for p in stop_periods)
    error = None
    for i in range(first, first + max_ticks):
        try:
            answer = session.tick(seconds, False, stream_request_id(request_id, i), deferred=compact)
        except ServiceError as exc:
            if i == first:
                raise
            error = exc
            break
        if type(answer) is Deferred and not answer.delta.is_backtest_complete and not out.deltas:
            if with_accounts:  # flat before a quiet tick (no fill): the same account after it
                acc = last if last is not None and not last.positions else pg.account()
                stop = quiet.add(answer.delta, None if acc is last or acc == last else acc, stops)
                last = acc
            else:
                stop = quiet.add(answer.delta, None, stops)
            if stop:
                break
            continue
        delta = answer_of(answer)
        out.deltas.append(delta)
        if with_accounts:
            out.accounts.append(account_snapshot(session))
        if advance_stops(delta, stop_periods):
            break
    if quiet is not None and quiet.times:
        quiet.write(out.quiet)
    return out, error


def summary(session: PlaygroundSession) -> pb.PlaygroundSession:
    """The wire's PlaygroundSession of GetPlaygrounds (and the tags, for filtering)."""
    pg = session.ready()
    acc = pg.account()
    tz = session.tz
    clock = pb.Clock(current_time=rfc3339(pg.current_time, tz), start=rfc3339(pg.start_time, tz),
                     stop=rfc3339(pg.end_time, tz))
    s = pb.PlaygroundSession(playground_id=session.playground_id, meta=meta(session), clock=clock,
                             balance=acc.balance, equity=acc.equity, free_margin=acc.free_margin)
    for spec in session.config["repositories"]:
        s.repositories.append(pb.Repository(symbol=spec["symbol"], timespan_multiplier=spec["timespan_multiplier"],
                                            timespan_unit=spec["timespan_unit"], indicators=spec["indicators"],
                                            history_in_days=spec["history_in_days"]))
    codec.positions_map(s.positions, acc.positions)
    return s


def candles(session: PlaygroundSession, symbol: str, period_seconds: int, start, end) -> pb.GetCandlesResponse:
    """GetCandles' bars with the repository's indicator fields."""
    repo, rng, fields = session.candles(symbol, period_seconds, start, end)
    return pb.GetCandlesResponse(bars=[codec.bar(repo.candle(i), fields, i) for i in rng])


def open_orders(session: PlaygroundSession, symbol: str) -> pb.GetOpenOrdersResponse:
    return pb.GetOpenOrdersResponse(orders=[order(session, o) for o in session.open_orders(symbol)])


def account_stats(session: PlaygroundSession, equity_plot: bool) -> pb.GetAccountStatsResponse:
    pg = session.ready()
    resp = pb.GetAccountStatsResponse()
    if equity_plot:
        tz = session.tz
        times, values = pg.equity_arrays()
        resp.equity_plot.extend(pb.EquityPlot(created_at=rfc3339_at(t, tz), equity=v)
                                for t, v in zip(times.astype("int64").tolist(), values.tolist()))
    return resp
