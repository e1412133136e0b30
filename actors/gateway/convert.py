"""Engine objects -> protobuf messages, and request validation (pure functions, no ray).

Time formats on the wire (spec 5.5, wire-v1.md):

* ``Trade.create_date`` / ``Order.create_date``: Go's default ``time.Time`` format,
  ``2006-01-02 15:04:05 -0700 MST`` (e.g. ``2021-01-04 09:30:00 -0500 EST``), in the
  playground's calendar zone (America/New_York for XNYS, UTC for a 24/7 clock).
* ``Bar.datetime``: the bar's start, ``YYYY-MM-DDTHH:MM:SSZ`` (UTC).
* every other time string (``TickDelta.current_time``, ``Clock``, equity plot): RFC 3339 as Go
  prints it (``2021-01-04T09:30:00-05:00``, ``Z`` for UTC).
"""
from __future__ import annotations

import math
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from backtestester.rpc import playground_pb2 as pb

UTC = timezone.utc
NEW_YORK = ZoneInfo("America/New_York")

# Repository.timespan_unit -> seconds, and (multiplier, unit) -> catalog timeframe.
UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400, "week": 7 * 86400}
CATALOG_TIMEFRAMES = {
    (1, "minute"): "1m", (5, "minute"): "5m", (15, "minute"): "15m", (30, "minute"): "30m",
    (1, "hour"): "1h", (4, "hour"): "4h", (1, "day"): "1d", (1, "week"): "1w",
}
INDICATORS = ("supertrend", "stochrsi", "moving_averages", "lag_features", "atr", "stochrsi_cross_above_20",
              "stochrsi_cross_below_80", "doji", "hammer")
ENVIRONMENTS = ("simulator", "live", "reconcile")
MAX_HISTORY_DAYS = 3660


class RequestError(ValueError):
    """A request the gateway refuses before it reaches a playground: ``code`` is the gRPC status
    name (``INVALID_ARGUMENT``, ``NOT_FOUND``, ...), the message the text clients see."""

    def __init__(self, message: str, code: str = "INVALID_ARGUMENT"):
        super().__init__(message)
        self.code = code


# --- time formatting ---------------------------------------------------------------------------
def go_time(dt: datetime, tz=None) -> str:
    """Go's default time format ``2006-01-02 15:04:05 -0700 MST``."""
    if tz is not None:
        dt = dt.astimezone(tz)
    name = dt.tzname() or "UTC"
    return dt.strftime("%Y-%m-%d %H:%M:%S %z ") + name


def rfc3339(dt: datetime, tz=None) -> str:
    """RFC 3339 as Go's ``time.RFC3339`` prints it: seconds, ``Z`` for UTC, else ``-05:00``."""
    if tz is not None:
        dt = dt.astimezone(tz)
    dt = dt.replace(microsecond=0)
    if dt.utcoffset() == timedelta(0):
        return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return dt.isoformat()


def bar_time(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(value: str, field: str) -> datetime:
    """An RFC 3339 instant (``Z`` or an offset); a bare date means 00:00 UTC. Refuses naive times."""
    if not isinstance(value, str) or not value.strip():
        raise RequestError(f"{field} is empty: give an RFC 3339 time such as 2024-01-02T14:30:00Z")
    text = value.strip()
    try:
        if len(text) == 10:
            d = date.fromisoformat(text)
            return datetime(d.year, d.month, d.day, tzinfo=UTC)
        dt = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise RequestError(f"failed to parse {field}: {value!r} is not an RFC 3339 time "
                           f"(e.g. 2024-01-02T14:30:00Z)") from None
    if dt.tzinfo is None:
        raise RequestError(f"failed to parse {field}: {value!r} has no UTC offset (add Z or e.g. -05:00)")
    return dt


def parse_date(value: str, field: str) -> date:
    """A ``YYYY-MM-DD`` date (spec: start_date, stop_date)."""
    text = value.strip() if isinstance(value, str) else ""
    try:
        if len(text) != 10:
            raise ValueError
        return date.fromisoformat(text)
    except ValueError:
        raise RequestError(f"failed to parse {field}: {value!r} is not a date YYYY-MM-DD") from None


# --- validation -------------------------------------------------------------------------------
def repository_spec(repo: pb.Repository) -> dict:
    """Validate a ``Repository`` message -> {symbol, timeframe, period_seconds, indicators, history_in_days}."""
    symbol = repo.symbol.strip().upper()
    if not symbol:
        raise RequestError("repository symbol is empty")
    unit = repo.timespan_unit.strip().lower()
    if unit not in UNIT_SECONDS:
        raise RequestError(f"invalid timespan unit {repo.timespan_unit!r} for {symbol}: "
                           f"accepted: {', '.join(UNIT_SECONDS)}")
    mult = repo.timespan_multiplier
    timeframe = CATALOG_TIMEFRAMES.get((mult, unit))
    if timeframe is None:
        accepted = ", ".join(f"{m} {u}" for m, u in CATALOG_TIMEFRAMES)
        raise RequestError(f"unsupported timespan {mult} {unit} for {symbol}: accepted: {accepted}")
    bad = [i for i in repo.indicators if i not in INDICATORS]
    if bad:
        raise RequestError(f"unknown indicators {bad} for {symbol}: accepted: {', '.join(INDICATORS)}")
    if repo.history_in_days > MAX_HISTORY_DAYS:
        raise RequestError(f"history_in_days {repo.history_in_days} for {symbol} is too large "
                           f"(at most {MAX_HISTORY_DAYS})")
    return {"symbol": symbol, "timeframe": timeframe, "period_seconds": mult * UNIT_SECONDS[unit],
            "indicators": list(repo.indicators), "history_in_days": int(repo.history_in_days),
            "timespan_multiplier": int(mult), "timespan_unit": unit}


def create_config(req: pb.CreatePolygonPlaygroundRequest) -> dict:
    """Validate a CreatePlayground request -> a plain, picklable config dict."""
    env = req.environment.strip().lower() or "simulator"
    if env not in ENVIRONMENTS:
        raise RequestError(f"invalid environment {req.environment!r}: accepted: {', '.join(ENVIRONMENTS)}")
    if env != "simulator":
        raise RequestError(f"CreatePlayground creates simulator playgrounds only, got environment {env!r}; "
                           f"live playgrounds use CreateLivePlayground")
    if not math.isfinite(req.balance) or req.balance < 0:
        raise RequestError(f"balance must be a finite number >= 0, got {req.balance!r}")
    if not req.repositories:
        raise RequestError("missing repositories")
    start = parse_date(req.start_date, "clock.startDate")
    stop = parse_date(req.stop_date, "clock.stopDate")
    if stop < start:
        raise RequestError(f"clock.stopDate {stop} is before clock.startDate {start}")
    repos, seen = [], set()
    for r in req.repositories:
        spec = repository_spec(r)
        key = (spec["symbol"], spec["period_seconds"])
        if key in seen:
            raise RequestError(f"duplicate repository {spec['symbol']} {spec['timespan_multiplier']} "
                               f"{spec['timespan_unit']}")
        seen.add(key)
        repos.append(spec)
    return {"balance": float(req.balance), "start_date": start.isoformat(), "stop_date": stop.isoformat(),
            "environment": env, "repositories": repos, "tags": list(req.tags),
            "client_id": req.client_id if req.HasField("client_id") else None, "calendar": "XNYS"}


def place_order_kwargs(req: pb.PlaceOrderRequest) -> dict:
    """Request-level validation of spec 7.1 step 2 -> keyword arguments of ``Playground.place_order``."""
    asset = req.asset_class.strip().lower() or "equity"
    if asset != "equity":
        raise RequestError(f"invalid request: invalid class: invalid order class: {req.asset_class}")
    if req.is_adjustment:
        raise RequestError("failed to place order: makeOrderRecord: only reconcile playgrounds can place "
                           "adjustment orders")
    kwargs = {"symbol": req.symbol, "side": req.side, "quantity": req.quantity,
              "requested_price": req.requested_price, "order_type": req.type or "market",
              "duration": req.duration or "day", "tag": req.tag}
    if req.HasField("price"):
        kwargs["price"] = req.price
    if req.HasField("sl"):
        kwargs["sl"] = req.sl
    if req.HasField("close_order_id"):
        kwargs["close_order_id"] = int(req.close_order_id)
    if req.HasField("client_request_id") and req.client_request_id:
        kwargs["client_request_id"] = req.client_request_id
    return kwargs


# --- engine -> protobuf --------------------------------------------------------------------
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
    """A ``Bar``; ``fields`` (``{Bar field: values}``, :mod:`actors.gateway.indicators`) fills the
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
    msg = pb.TickDelta(current_time=rfc3339(d.current_time, tz), is_backtest_complete=bool(d.is_backtest_complete))
    msg.new_trades.extend(trade(t, tz) for t in d.new_trades)
    for nc in d.new_candles:
        fields = indicators.get((nc.symbol, nc.repository.period_ns)) if indicators else None
        msg.new_candles.append(pb.Candle(symbol=nc.symbol, period=int(nc.period.total_seconds()),
                                         bar=bar(nc.candle, fields, nc.index)))
    msg.invalid_orders.extend(order(o, tz, lookup) for o in d.invalid_orders)
    for ev in d.events:
        if ev.type == "liquidation":  # the only event type of the v1 wire (spec 5.5)
            msg.events.append(pb.TickDeltaEvent(type="liquidation", liquidation_event=pb.LiquidationEvent(
                orders_placed=[order(o, tz, lookup) for o in ev.orders])))
    return msg


def positions_map(target, positions: dict) -> None:
    for sym, p in positions.items():
        target[sym].CopyFrom(position(p))


def order_matches(o, *, statuses, sides, symbols, start, end) -> bool:
    """GetAccount filters (spec 15.2): status / side / case-insensitive symbol lists; dates apply
    only to orders with closed_by records (the original's rule, kept for compatibility)."""
    if statuses and o.status not in statuses:
        return False
    if sides and o.side not in sides:
        return False
    if symbols and o.symbol.upper() not in symbols:
        return False
    if o.closed_by and (start is not None or end is not None):
        created = o.created_at
        if start is not None:
            latest = max(t.time for t in o.closed_by)
            if created < start and latest < start:
                return False
        if end is not None and created > end:
            return False
    return True
