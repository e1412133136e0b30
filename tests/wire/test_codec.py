"""The wire codec, both directions: times, request validation, engine objects <-> protobuf (no Ray, no server)."""
from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from backtestester.data.schema import TIMEFRAMES
from backtestester.engine import Event
from backtestester.engine.delta import TickDelta
from backtestester.engine.timeutil import from_ns, to_ns
from backtestester.rpc import playground_pb2 as pb
from backtestester.wire import codec, requests, times
from backtestester.wire.requests import RequestError

NY = ZoneInfo("America/New_York")
UTC = timezone.utc


def test_go_default_time_format():
    assert times.go_time(datetime(2021, 1, 4, 14, 30, tzinfo=UTC), NY) == "2021-01-04 09:30:00 -0500 EST"
    assert times.go_time(datetime(2021, 7, 1, 13, 30, tzinfo=UTC), NY) == "2021-07-01 09:30:00 -0400 EDT"
    assert times.go_time(datetime(2021, 7, 1, 13, 30, tzinfo=UTC)) == "2021-07-01 13:30:00 +0000 UTC"


def test_rfc3339_and_bar_times():
    t = datetime(2021, 1, 4, 14, 30, 0, 123456, tzinfo=UTC)
    assert times.rfc3339(t, NY) == "2021-01-04T09:30:00-05:00"
    assert times.rfc3339(t) == "2021-01-04T14:30:00Z"
    assert times.bar_time(t.astimezone(NY)) == "2021-01-04T14:30:00Z"


@pytest.mark.parametrize("zone", ["UTC", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", "America/St_Johns",
                                  "Africa/Monrovia"])
def test_rfc3339_at_prints_what_rfc3339_prints(zone):
    """The fast clock text (offsets cached per UTC hour) equals the datetime one: random instants
    from 1890 to 2096, and every minute around 2024's spring-forward in New York (Lord Howe: half-
    hour DST; Monrovia: an offset of -0:44:30 until 1972, printed the slow way)."""
    tz = ZoneInfo(zone)
    rng = random.Random(16)
    instants = [rng.randrange(-2_500_000_000, 4_000_000_000) * 10**9 + rng.randrange(10**9) for _ in range(3000)]
    instants += [to_ns(datetime(2024, 3, 10, 6, tzinfo=timezone.utc)) + k * 60 * 10**9 + 7 for k in range(300)]
    for ns in instants:
        assert times.rfc3339_at(ns, tz) == times.rfc3339(from_ns(ns), tz), ns


def test_parse_rfc3339():
    assert requests.parse_rfc3339("2024-01-02T14:30:00Z", "f") == datetime(2024, 1, 2, 14, 30, tzinfo=UTC)
    assert requests.parse_rfc3339("2024-01-02T09:30:00-05:00", "f") == datetime(2024, 1, 2, 14, 30, tzinfo=UTC)
    assert requests.parse_rfc3339("2024-01-02", "f") == datetime(2024, 1, 2, tzinfo=UTC)
    for bad, text in (("", "f is empty"), ("nope", "failed to parse f"), ("2024-01-02T09:30:00", "no UTC offset")):
        with pytest.raises(RequestError, match=text) as info:
            requests.parse_rfc3339(bad, "f")
        assert info.value.code == "INVALID_ARGUMENT"


def test_repository_spec_maps_timespans_to_catalog_timeframes():
    spec = requests.repository_spec(pb.Repository(symbol="aapl", timespan_multiplier=5, timespan_unit="minute",
                                                  indicators=["atr"], history_in_days=3))
    assert spec == {"symbol": "AAPL", "timeframe": "5m", "period_seconds": 300, "indicators": ["atr"],
                    "history_in_days": 3, "timespan_multiplier": 5, "timespan_unit": "minute"}
    assert requests.repository_spec(pb.Repository(symbol="x", timespan_multiplier=1, timespan_unit="day"))["timeframe"] == "1d"
    for r, text in ((pb.Repository(symbol="X", timespan_multiplier=1, timespan_unit="second"), "invalid timespan unit"),
                    (pb.Repository(symbol="X", timespan_multiplier=2, timespan_unit="hour"), "unsupported timespan 2 hour"),
                    (pb.Repository(symbol="", timespan_multiplier=1, timespan_unit="minute"), "symbol is empty"),
                    (pb.Repository(symbol="X", timespan_multiplier=1, timespan_unit="minute", indicators=["magic"]),
                     "unknown indicators")):
        with pytest.raises(RequestError, match=text):
            requests.repository_spec(r)


def test_create_config_validation():
    r = pb.Repository(symbol="AAA", timespan_multiplier=1, timespan_unit="minute")
    ok = pb.CreatePolygonPlaygroundRequest(balance=10, start_date="2024-01-03", stop_date="2024-01-04",
                                           environment="simulator", repositories=[r], tags=["a"], client_id="c")
    cfg = requests.create_config(ok)
    assert cfg["client_id"] == "c" and cfg["tags"] == ["a"] and cfg["repositories"][0]["timeframe"] == "1m"
    cases = (
        ({"environment": "live"}, "CreateLivePlayground"),
        ({"environment": "moon"}, "invalid environment"),
        ({"balance": -1}, "balance must be"),
        ({"stop_date": "2024-01-01"}, "is before clock.startDate"),
        ({"start_date": "2024/01/03"}, "failed to parse clock.startDate"),
    )
    for change, text in cases:
        req = pb.CreatePolygonPlaygroundRequest()
        req.CopyFrom(ok)
        for k, v in change.items():
            setattr(req, k, v)
        with pytest.raises(RequestError, match=text):
            requests.create_config(req)
    dup = pb.CreatePolygonPlaygroundRequest(start_date="2024-01-03", stop_date="2024-01-04", repositories=[r, r])
    with pytest.raises(RequestError, match="duplicate repository"):
        requests.create_config(dup)


def test_place_order_kwargs_keeps_optional_fields_optional():
    req = pb.PlaceOrderRequest(symbol="aaa", side="buy", quantity=2, requested_price=10, type="limit", duration="gtc",
                               price=9.5, sl=8.0, close_order_id=3, client_request_id="r", stop_price=9.0, tp=12.0)
    kw = requests.place_order_kwargs(req)
    assert kw == {"symbol": "aaa", "side": "buy", "quantity": 2.0, "requested_price": 10.0, "order_type": "limit",
                  "duration": "gtc", "tag": "", "price": 9.5, "sl": 8.0, "close_order_id": 3, "client_request_id": "r",
                  "stop_price": 9.0, "tp": 12.0}
    sized = requests.place_order_kwargs(pb.PlaceOrderRequest(side="buy", equity_fraction=0.5))
    assert sized["quantity"] is None and sized["equity_fraction"] == 0.5  # the engine sizes it at the fill
    with pytest.raises(RequestError, match="give either quantity or equity_fraction, not both"):
        requests.place_order_kwargs(pb.PlaceOrderRequest(side="buy", quantity=3, equity_fraction=0.5))
    with pytest.raises(RequestError, match="stop_price must be a finite number, got nan"):
        requests.place_order_kwargs(pb.PlaceOrderRequest(side="buy", stop_price=float("nan")))
    assert "price" not in requests.place_order_kwargs(pb.PlaceOrderRequest(side="buy"))
    with pytest.raises(RequestError, match="invalid class: invalid order class: crypto"):
        requests.place_order_kwargs(pb.PlaceOrderRequest(asset_class="crypto"))
    with pytest.raises(RequestError, match="only reconcile playgrounds can place adjustment orders"):
        requests.place_order_kwargs(pb.PlaceOrderRequest(is_adjustment=True))


def test_order_dto_with_trades_closes_and_previous_position(pg_factory):
    pg = pg_factory({"AAA": [10, 11, 12, 13]})
    pg.tick(60)
    buy = pg.place_order(symbol="AAA", side="buy", quantity=5, requested_price=10, client_request_id="x")
    pg.tick(60)
    sell = pg.place_order(symbol="AAA", side="sell", quantity=5, requested_price=10)
    pg.tick(60)
    msg = codec.order(sell, UTC, pg.get_order)
    assert msg.id == sell.id and msg.status == "filled" and getattr(msg, "class") == "equity"
    assert msg.side == "sell" and msg.quantity == 5 and msg.type == "market" and msg.duration == "day"
    assert [c.id for c in msg.closes] == [buy.id] and msg.closes[0].client_request_id == "x"
    assert msg.previous_position.quantity == 5 and not msg.HasField("close_order_id")
    [t] = msg.trades
    assert t.order_id == sell.id and t.quantity == -5 and t.create_date.endswith("+0000 UTC")
    bmsg = codec.order(buy, UTC, pg.get_order)
    [cb] = bmsg.closed_by
    assert cb.quantity == -5 and cb.id == 0  # closed_by trades travel without ids (spec 14)
    assert bmsg.price == 0 and bmsg.stop_price == 0
    assert not codec.order(sell, UTC).closes  # without a lookup, closes stay empty


def test_tick_delta_with_candles_rejections_and_liquidation(pg_factory):
    pg = pg_factory({"AAA": [10, 11, 12]})
    d = pg.tick(60)
    msg = codec.tick_delta(d, UTC)
    assert msg.current_time == times.rfc3339(d.current_time)
    [c] = msg.new_candles
    assert c.symbol == "AAA" and c.period == 60 and c.bar.close == 10 and c.bar.datetime.endswith("Z")
    o = pg.place_order(symbol="AAA", side="buy", quantity=1, requested_price=10)
    fake = TickDelta([], [], [o], [Event("liquidation", [o]), Event("expired", [o])], d.current_ns, True, UTC)
    msg = codec.tick_delta(fake, UTC)
    assert msg.is_backtest_complete and [x.id for x in msg.invalid_orders] == [o.id]
    ev, expired = msg.events  # liquidation as in v1; expired/canceled carry their orders in an addition
    assert ev.type == "liquidation" and [x.id for x in ev.liquidation_event.orders_placed] == [o.id]
    assert not ev.orders
    assert expired.type == "expired" and [x.id for x in expired.orders] == [o.id]
    assert not expired.liquidation_event.orders_placed  # a v1 client reading it sees no placed orders


def test_order_additions_carry_sl_tp_and_the_stop_price_exactly(pg_factory):
    """v1's stop_price still falls back to sl (old clients); the additions say exactly what the
    order carries, so the decoded order equals the engine's; a v1 message still decodes."""
    pg = pg_factory({"AAA": [10, 11, 12, 13]})
    pg.tick(60)
    stop = pg.place_order(symbol="AAA", side="buy", quantity=1, requested_price=10, order_type="stop_limit",
                          stop_price=10.5, price=10.8, sl=9.0, tp=12.0, duration="gtc")
    plain = pg.place_order(symbol="AAA", side="buy", quantity=1, requested_price=10, sl=9.5)
    m_stop, m_plain = codec.order(stop, UTC), codec.order(plain, UTC)
    assert (m_stop.stop_price, m_stop.order_stop_price, m_stop.sl, m_stop.tp) == (10.5, 10.5, 9.0, 12.0)
    assert m_plain.stop_price == 9.5 and not m_plain.HasField("order_stop_price") and not m_plain.HasField("tp")
    fields = ("stop_price", "sl", "tp", "price", "protects", "order_type")
    for o, m in ((stop, m_stop), (plain, m_plain)):
        assert [getattr(codec.order_from_pb(m), f) for f in fields] == [getattr(o, f) for f in fields]
    v1 = pb.Order(id=3, type="stop", stop_price=10.5, create_date=m_stop.create_date)  # a v1 server's answer
    assert codec.order_from_pb(v1).stop_price == 10.5 and codec.order_from_pb(v1).sl is None


def test_get_account_filters(pg_factory):
    pg = pg_factory({"AAA": [10, 11, 12, 13]})
    pg.tick(60)
    buy = pg.place_order(symbol="AAA", side="buy", quantity=5, requested_price=10)
    pg.tick(60)
    sell = pg.place_order(symbol="AAA", side="sell", quantity=5, requested_price=10)
    pg.tick(60)
    none = {"statuses": set(), "sides": set(), "symbols": set(), "start": None, "end": None}
    assert requests.order_matches(buy, **none) and requests.order_matches(sell, **none)
    assert not requests.order_matches(buy, **{**none, "sides": {"sell"}})
    assert not requests.order_matches(buy, **{**none, "statuses": {"pending"}})
    assert requests.order_matches(buy, **{**none, "symbols": {"AAA"}})
    later = buy.closed_by[-1].time + timedelta(minutes=1)
    # dates only filter orders with closed_by records (the original's rule)
    assert not requests.order_matches(buy, **{**none, "start": later})
    assert requests.order_matches(sell, **{**none, "start": later})
    assert not requests.order_matches(buy, **{**none, "end": buy.created_at - timedelta(minutes=1)})


# --- protobuf -> engine, and the vocabulary both directions share ---------------------------------
def test_timeframe_vocabulary_is_the_catalogs():
    assert times.TIMESPANS == {"1m": (1, "minute"), "5m": (5, "minute"), "15m": (15, "minute"),
                               "30m": (30, "minute"), "1h": (1, "hour"), "4h": (4, "hour"), "1d": (1, "day"),
                               "1w": (1, "week")}
    assert list(times.TIMESPANS) == list(TIMEFRAMES)
    assert {name: span for span, name in times.CATALOG_TIMEFRAMES.items()} == times.TIMESPANS
    for name, (mult, unit) in times.TIMESPANS.items():
        assert mult * times.UNIT_SECONDS[unit] == TIMEFRAMES[name].total_seconds()


def test_wire_times_parse_back_to_nanoseconds():
    t = datetime(2021, 1, 4, 14, 30, tzinfo=UTC)
    ns = to_ns(t)
    assert times.go_time_ns(times.go_time(t, NY)) == ns == times.go_time_ns(times.go_time(t))
    assert times.rfc3339_ns(times.rfc3339(t, NY)) == ns == times.rfc3339_ns(times.rfc3339(t))
    assert times.rfc3339_from_ns(ns) == "2021-01-04T14:30:00Z" == times.bar_time(t)


def test_orders_and_account_decode_to_the_engine_objects(pg_factory):
    pg = pg_factory({"AAA": [10, 11, 12, 13]})
    pg.tick(60)
    buy = pg.place_order(symbol="AAA", side="buy", quantity=5, requested_price=10, client_request_id="x", tag="t-1")
    pg.tick(60)
    sell = pg.place_order(symbol="AAA", side="sell", quantity=3, requested_price=10)
    pg.tick(60)
    messages = [codec.order(o, NY, pg.get_order) for o in (buy, sell)]
    decoded = {m.id: codec.order_from_pb(m) for m in messages}
    codec.link_closes(messages, decoded)
    fields = ("id", "symbol", "side", "quantity", "order_type", "duration", "status", "tag", "client_request_id",
              "created_ns", "closes", "close_order_id", "previous_position", "trades", "closed_by",
              "filled_quantity", "remaining_open_quantity")
    for o in (buy, sell):
        assert [getattr(decoded[o.id], f) for f in fields] == [getattr(o, f) for f in fields]
    acc = pg.account()
    resp = pb.GetAccountResponse(balance=acc.balance, equity=acc.equity, free_margin=acc.free_margin)
    codec.positions_map(resp.positions, acc.positions)
    assert codec.account_from_pb(resp) == acc
