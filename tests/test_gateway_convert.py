"""Pure conversions of the gateway: engine objects -> protobuf, request validation (no Ray, no server)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import grpc
import pytest

from actors.gateway import convert
from actors.gateway.convert import RequestError
from backtestester.client import PlaygroundClient
from backtestester.engine import Event
from backtestester.engine.delta import TickDelta
from backtestester.rpc import playground_pb2 as pb

NY = ZoneInfo("America/New_York")
UTC = timezone.utc


def test_go_default_time_format():
    assert convert.go_time(datetime(2021, 1, 4, 14, 30, tzinfo=UTC), NY) == "2021-01-04 09:30:00 -0500 EST"
    assert convert.go_time(datetime(2021, 7, 1, 13, 30, tzinfo=UTC), NY) == "2021-07-01 09:30:00 -0400 EDT"
    assert convert.go_time(datetime(2021, 7, 1, 13, 30, tzinfo=UTC)) == "2021-07-01 13:30:00 +0000 UTC"


def test_rfc3339_and_bar_times():
    t = datetime(2021, 1, 4, 14, 30, 0, 123456, tzinfo=UTC)
    assert convert.rfc3339(t, NY) == "2021-01-04T09:30:00-05:00"
    assert convert.rfc3339(t) == "2021-01-04T14:30:00Z"
    assert convert.bar_time(t.astimezone(NY)) == "2021-01-04T14:30:00Z"


def test_parse_rfc3339():
    assert convert.parse_rfc3339("2024-01-02T14:30:00Z", "f") == datetime(2024, 1, 2, 14, 30, tzinfo=UTC)
    assert convert.parse_rfc3339("2024-01-02T09:30:00-05:00", "f") == datetime(2024, 1, 2, 14, 30, tzinfo=UTC)
    assert convert.parse_rfc3339("2024-01-02", "f") == datetime(2024, 1, 2, tzinfo=UTC)
    for bad, text in (("", "f is empty"), ("nope", "failed to parse f"), ("2024-01-02T09:30:00", "no UTC offset")):
        with pytest.raises(RequestError, match=text) as info:
            convert.parse_rfc3339(bad, "f")
        assert info.value.code == "INVALID_ARGUMENT"


def test_repository_spec_maps_timespans_to_catalog_timeframes():
    spec = convert.repository_spec(pb.Repository(symbol="aapl", timespan_multiplier=5, timespan_unit="minute",
                                                  indicators=["atr"], history_in_days=3))
    assert spec == {"symbol": "AAPL", "timeframe": "5m", "period_seconds": 300, "indicators": ["atr"],
                    "history_in_days": 3, "timespan_multiplier": 5, "timespan_unit": "minute"}
    assert convert.repository_spec(pb.Repository(symbol="x", timespan_multiplier=1, timespan_unit="day"))["timeframe"] == "1d"
    for r, text in ((pb.Repository(symbol="X", timespan_multiplier=1, timespan_unit="second"), "invalid timespan unit"),
                    (pb.Repository(symbol="X", timespan_multiplier=2, timespan_unit="hour"), "unsupported timespan 2 hour"),
                    (pb.Repository(symbol="", timespan_multiplier=1, timespan_unit="minute"), "symbol is empty"),
                    (pb.Repository(symbol="X", timespan_multiplier=1, timespan_unit="minute", indicators=["magic"]),
                     "unknown indicators")):
        with pytest.raises(RequestError, match=text):
            convert.repository_spec(r)


def test_create_config_validation():
    r = pb.Repository(symbol="AAA", timespan_multiplier=1, timespan_unit="minute")
    ok = pb.CreatePolygonPlaygroundRequest(balance=10, start_date="2024-01-03", stop_date="2024-01-04",
                                           environment="simulator", repositories=[r], tags=["a"], client_id="c")
    cfg = convert.create_config(ok)
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
            convert.create_config(req)
    dup = pb.CreatePolygonPlaygroundRequest(start_date="2024-01-03", stop_date="2024-01-04", repositories=[r, r])
    with pytest.raises(RequestError, match="duplicate repository"):
        convert.create_config(dup)


def test_place_order_kwargs_keeps_optional_fields_optional():
    req = pb.PlaceOrderRequest(symbol="aaa", side="buy", quantity=2, requested_price=10, type="limit", duration="gtc",
                               price=9.5, sl=8.0, close_order_id=3, client_request_id="r")
    kw = convert.place_order_kwargs(req)
    assert kw == {"symbol": "aaa", "side": "buy", "quantity": 2.0, "requested_price": 10.0, "order_type": "limit",
                  "duration": "gtc", "tag": "", "price": 9.5, "sl": 8.0, "close_order_id": 3, "client_request_id": "r"}
    assert "price" not in convert.place_order_kwargs(pb.PlaceOrderRequest(side="buy"))
    with pytest.raises(RequestError, match="invalid class: invalid order class: crypto"):
        convert.place_order_kwargs(pb.PlaceOrderRequest(asset_class="crypto"))
    with pytest.raises(RequestError, match="only reconcile playgrounds can place adjustment orders"):
        convert.place_order_kwargs(pb.PlaceOrderRequest(is_adjustment=True))


def test_order_dto_with_trades_closes_and_previous_position(pg_factory):
    pg = pg_factory({"AAA": [10, 11, 12, 13]})
    pg.tick(60)
    buy = pg.place_order(symbol="AAA", side="buy", quantity=5, requested_price=10, client_request_id="x")
    pg.tick(60)
    sell = pg.place_order(symbol="AAA", side="sell", quantity=5, requested_price=10)
    pg.tick(60)
    msg = convert.order(sell, UTC, pg.get_order)
    assert msg.id == sell.id and msg.status == "filled" and getattr(msg, "class") == "equity"
    assert msg.side == "sell" and msg.quantity == 5 and msg.type == "market" and msg.duration == "day"
    assert [c.id for c in msg.closes] == [buy.id] and msg.closes[0].client_request_id == "x"
    assert msg.previous_position.quantity == 5 and not msg.HasField("close_order_id")
    [t] = msg.trades
    assert t.order_id == sell.id and t.quantity == -5 and t.create_date.endswith("+0000 UTC")
    bmsg = convert.order(buy, UTC, pg.get_order)
    [cb] = bmsg.closed_by
    assert cb.quantity == -5 and cb.id == 0  # closed_by trades travel without ids (spec 14)
    assert bmsg.price == 0 and bmsg.stop_price == 0
    assert not convert.order(sell, UTC).closes  # without a lookup, closes stay empty


def test_tick_delta_with_candles_rejections_and_liquidation(pg_factory):
    pg = pg_factory({"AAA": [10, 11, 12]})
    d = pg.tick(60)
    msg = convert.tick_delta(d, UTC)
    assert msg.current_time == convert.rfc3339(d.current_time)
    [c] = msg.new_candles
    assert c.symbol == "AAA" and c.period == 60 and c.bar.close == 10 and c.bar.datetime.endswith("Z")
    o = pg.place_order(symbol="AAA", side="buy", quantity=1, requested_price=10)
    fake = TickDelta([], [], [o], [Event("liquidation", [o]), Event("expired", [o])], d.current_ns, True, UTC)
    msg = convert.tick_delta(fake, UTC)
    assert msg.is_backtest_complete and [x.id for x in msg.invalid_orders] == [o.id]
    [ev] = msg.events  # only liquidation is a v1 event type
    assert ev.type == "liquidation" and [x.id for x in ev.liquidation_event.orders_placed] == [o.id]


def test_get_account_filters(pg_factory):
    pg = pg_factory({"AAA": [10, 11, 12, 13]})
    pg.tick(60)
    buy = pg.place_order(symbol="AAA", side="buy", quantity=5, requested_price=10)
    pg.tick(60)
    sell = pg.place_order(symbol="AAA", side="sell", quantity=5, requested_price=10)
    pg.tick(60)
    none = {"statuses": set(), "sides": set(), "symbols": set(), "start": None, "end": None}
    assert convert.order_matches(buy, **none) and convert.order_matches(sell, **none)
    assert not convert.order_matches(buy, **{**none, "sides": {"sell"}})
    assert not convert.order_matches(buy, **{**none, "statuses": {"pending"}})
    assert convert.order_matches(buy, **{**none, "symbols": {"AAA"}})
    later = buy.closed_by[-1].time + timedelta(minutes=1)
    # dates only filter orders with closed_by records (the original's rule)
    assert not convert.order_matches(buy, **{**none, "start": later})
    assert convert.order_matches(sell, **{**none, "start": later})
    assert not convert.order_matches(buy, **{**none, "end": buy.created_at - timedelta(minutes=1)})


# --- the typed client's retry policy (a fake stub; no server) ----------------------------------
class _Err(grpc.RpcError):
    def __init__(self, code):
        self._code = code

    def code(self):
        return self._code

    def details(self):
        return self._code.name


class _FakeStub:
    def __init__(self, failures):
        self.failures, self.requests = list(failures), []

    def NextTick(self, request, timeout=None):
        self.requests.append((request, timeout))
        if self.failures:
            raise _Err(self.failures.pop(0))
        return pb.TickDelta(current_time="t")

    PlaceOrder = NextTick


def test_client_retries_unavailable_with_backoff_and_one_request_id():
    stub, sleeps = _FakeStub([grpc.StatusCode.UNAVAILABLE] * 3), []
    client = PlaygroundClient(stub=stub, sleep=sleeps.append, backoff=0.1, max_backoff=0.3, timeout=5)
    assert client.next_tick("p", 60).current_time == "t"
    assert sleeps == [0.1, 0.2, 0.3]
    assert len({r.request_id for r, _ in stub.requests}) == 1 and all(t == 5 for _, t in stub.requests)


def test_client_never_retries_business_errors_and_gives_up_after_retries():
    stub, sleeps = _FakeStub([grpc.StatusCode.INVALID_ARGUMENT]), []
    client = PlaygroundClient(stub=stub, sleep=sleeps.append)
    with pytest.raises(grpc.RpcError) as info:
        client.place_order("p", "AAA", "sell", 1, requested_price=10)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT and sleeps == [] and len(stub.requests) == 1
    assert stub.requests[0][0].client_request_id  # generated, so a retry would be idempotent
    stub = _FakeStub([grpc.StatusCode.UNAVAILABLE] * 5)
    client = PlaygroundClient(stub=stub, sleep=sleeps.append, retries=2)
    with pytest.raises(grpc.RpcError):
        client.next_tick("p", 60)
    assert len(stub.requests) == 3
