"""Live trading through the real gateway (embedded Ray, OS-chosen port): a live playground on the
sim broker fed by an accelerated replay of the catalog. What a client sees: CreateLivePlayground
idempotent on client_id, a market buy filled and reported by NextTick with the new candles, the
account and the reconciliation report, MockFillOrder on the manual-fill sim (``mock``), orders
refused outside market hours, the brokers' health, and the live/backtest parity of an unchanged
reference strategy."""
from __future__ import annotations

import grpc
import pytest

from backtestester.playgrounds import run_on_catalog
from backtestester.remote.live import LiveClient, run_live
from backtestester.rpc import playground_pb2 as pb
from backtestester.strategy.reference import SmaCross

from .conftest import DEADLINE
from .livekit import Ticks, account, buy, create_live, data_dir, live_config, live_gateways, until

NS = 10**9


def test_live_playground_market_buy_fills_and_reconciles(ray_cluster, tmp_path):
    with live_gateways(ray_cluster) as gws:
        _, stub, _ = gws.start(data_dir(tmp_path), live_config())
        pid = create_live(stub, client_id="c1")
        assert create_live(stub, client_id="c1") == pid  # idempotent on client_id
        ticks = Ticks(stub, pid)
        until(lambda: ticks.pull() and ticks.candles, "the first live candle")
        order = buy(stub, pid, 10)
        assert order.status == "pending" and order.quantity == 10
        until(lambda: ticks.pull() and ticks.trades, "the fill in a NextTick delta")
        [trade] = ticks.trades
        assert trade.order_id == order.id and trade.quantity == 10 and trade.price > 0
        until(lambda: ticks.pull() and len(ticks.candles) >= 3, "more candles after the fill")
        assert all(c.symbol == "AAA" and c.period == 60 for c in ticks.candles)
        starts = [c.bar.datetime for c in ticks.candles]
        assert starts == sorted(set(starts))  # each bar once, in order

        acc = account(stub, pid)
        assert acc.positions["AAA"].quantity == 10 and acc.meta.environment == "live"
        assert [o.status for o in acc.orders] == ["filled"]
        assert stub.GetOrder(pb.GetOrderRequest(order_id=order.id), timeout=DEADLINE).status == "filled"
        listed = {s.playground_id: s for s in stub.GetPlaygrounds(pb.GetPlaygroundsRequest(), timeout=DEADLINE).playgrounds}
        assert listed[pid].repositories[0].symbol == "AAA" and listed[pid].meta.client_id == "c1"

        rid = acc.meta.reconcile_playground_id
        report = stub.GetReconciliationReport(pb.GetReconciliationReportRequest(reconcile_playground_id=rid),
                                              timeout=DEADLINE)
        assert [(p.symbol, p.quantity) for p in report.broker_positions] == [("AAA", 10)]
        assert [(p.symbol, p.quantity) for p in report.reconciliation_positions] == [("AAA", 10)]
        assert [(p.playground_id, p.symbol, p.quantity) for p in report.live_playground_positions] == [(pid, "AAA", 10)]
        assert not report.differences and not report.opens_blocked
        with pytest.raises(grpc.RpcError) as info:  # nothing of unknown outcome to settle: the text says so
            stub.SettleIntent(pb.SettleIntentRequest(reconcile_playground_id=rid, key="no/such/intent"), timeout=DEADLINE)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "no/such/intent" in info.value.details()
        with pytest.raises(grpc.RpcError) as info:
            stub.SettleIntent(pb.SettleIntentRequest(reconcile_playground_id="not-a-reconcile-id", key="k"), timeout=DEADLINE)
        assert info.value.code() == grpc.StatusCode.NOT_FOUND
        health = stub.GetBrokerHealth(pb.GetBrokerHealthRequest(), timeout=DEADLINE).accounts
        assert [h.account for h in health if h.connected] == ["sim:sim:paper"]

        # simulator-only calls on a live playground: FAILED_PRECONDITION saying what to call instead
        for call, text in ((lambda: stub.DeletePlayground(pb.DeletePlaygroundRequest(playground_id=pid), timeout=DEADLINE),
                            "record of real broker orders"),
                           (lambda: list(stub.StreamTicks(pb.StreamTicksRequest(playground_id=pid, seconds=60),
                                                          timeout=DEADLINE)), "call NextTick"),
                           (lambda: list(stub.StreamCandlesArrow(pb.GetCandlesRequest(
                               playground_id=pid, symbol="AAA", period_in_seconds=60, fromRTF3339="2024-01-03T00:00:00Z"),
                               timeout=DEADLINE)), "call GetCandles")):
            with pytest.raises(grpc.RpcError) as info:
                call()
            assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION and text in info.value.details()
        assert account(stub, pid).positions["AAA"].quantity == 10  # still there


def test_mock_fill_order_on_the_manual_fill_sim(ray_cluster, tmp_path):
    with live_gateways(ray_cluster) as gws:
        _, stub, _ = gws.start(data_dir(tmp_path), live_config())
        pid = create_live(stub, broker="mock", client_id="m1")
        ticks = Ticks(stub, pid)
        until(lambda: ticks.pull() and ticks.candles, "the first live candle")
        order = buy(stub, pid, 5)
        until(lambda: ticks.pull() and len(ticks.candles) >= 3, "bars after the order")
        assert not ticks.trades  # a manual-fill broker never fills by itself
        for status, price, text in (("done", 1.0, "invalid status: done"), ("filled", 0.0, "invalid price")):
            with pytest.raises(grpc.RpcError) as info:
                stub.MockFillOrder(pb.MockFillOrderRequest(order_id=order.id, price=price, status=status,
                                                           broker="mock"), timeout=DEADLINE)
            assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT and text in info.value.details()
        stub.MockFillOrder(pb.MockFillOrderRequest(order_id=order.id, price=101.25, status="filled", broker="mock"),
                           timeout=DEADLINE)
        until(lambda: ticks.pull() and ticks.trades, "the mock fill in a NextTick delta")
        assert [(t.order_id, t.quantity, t.price) for t in ticks.trades] == [(order.id, 5, 101.25)]
        assert account(stub, pid).positions["AAA"].quantity == 5


def test_order_outside_market_hours_is_rejected_with_the_sessions_text(ray_cluster, tmp_path):
    with live_gateways(ray_cluster) as gws:  # the replay clock reads 06:00 New York: premarket
        _, stub, _ = gws.start(data_dir(tmp_path), live_config(start="2024-01-03T06:00:00-05:00", speed=1.0))
        pid = create_live(stub, client_id="early")
        order = buy(stub, pid, 1)
        assert order.status == "rejected"
        assert order.reject_reason.startswith("market is closed: orders are accepted from 2024-01-03 09:30 "
                                              "America/New_York"), order.reject_reason
        assert account(stub, pid).positions.get("AAA") is None or account(stub, pid).positions["AAA"].quantity == 0


def _bar_of(ns: int) -> int:
    return ns // (60 * NS) * 60 * NS


@pytest.mark.parametrize("transport", ["session", "unary"])
def test_live_and_backtest_give_the_same_orders(ray_cluster, tmp_path, transport):
    """The unchanged SmaCross on the accelerated replay (sim broker, fill model close) and in a
    backtest over the same bars: the same orders (side, quantity, fill price, bar of the fill),
    through the Session stream (the default) and through the unary calls."""
    path = data_dir(tmp_path)
    params = dict(fast=2, slow=5)
    # 09:28 New York: two replay minutes before the first bar. Speed 30: a bar every 2 s, the time a
    # client has to act on a bar before the next one (the sim fills a market order at the close
    # current when it was placed, as the engine's close model does).
    with live_gateways(ray_cluster) as gws:
        _, _, address = gws.start(path, live_config(start="2024-01-03T09:28:00-05:00", speed=30.0))
        with LiveClient(address, timeout=DEADLINE) as client:
            pid, live = run_live(SmaCross(**params), client, broker="sim", symbols=["AAA"], timeframe="1m",
                                 client_id="parity", max_bars=30, poll_s=0.05, handle_signals=False,
                                 transport=transport)
    backtest = run_on_catalog(SmaCross(**params), path, [("AAA", "1m")], start_date="2024-01-03",
                              stop_date="2024-01-03", history_in_days=1)

    def fills(result, last_ns):
        return [(o.side, o.quantity, t.price, _bar_of(t.time_ns)) for o in result.orders for t in o.trades
                if t.time_ns <= last_ns]
    last = max(t.time_ns for o in live.orders for t in o.trades)
    live_fills = fills(live, last)
    assert len(live_fills) >= 2, "the window must hold trades to compare"
    assert live_fills == fills(backtest, _bar_of(last) + 60 * NS)


def test_serve_refuses_a_live_configuration_that_cannot_run_before_ray_starts(no_ray, tmp_path, capsys):
    from actors.cli import main

    for flags, text in ((["--replay-start", "2024-01-03"], "--replay-start needs --replay-symbols"),
                        (["--live-broker", "tradier"], "need --tradier-config FILE"),
                        (["--live-broker", "alpaca"], "--live-broker alpaca needs --alpaca-config FILE"),
                        (["--replay-start", "soon", "--replay-symbols", "AAA"], "give a date YYYY-MM-DD"),
                        (["--live-poll-seconds", "0"], "must be greater than 0")):
        assert main(["serve", "--data-dir", str(tmp_path), "--port", "0", *flags]) == 2
        assert text in capsys.readouterr().err


def _candle(minute: int, close: float) -> pb.Candle:
    start = f"2024-01-03T14:{30 + minute:02d}:00Z"
    return pb.Candle(symbol="aaa", period=60, bar=pb.Bar(datetime=start, open=close, high=close + 1, low=close - 1,
                                                         close=close, volume=100))


def test_pushed_bars_reach_the_live_playground_once(ray_cluster, tmp_path):
    """``--live-feed push``: PushBars (a client stream) feeds the live playgrounds; each bar is
    delivered once; GetCandles serves them; a replay gateway refuses pushed bars."""
    with live_gateways(ray_cluster) as gws:
        _, stub, address = gws.start(data_dir(tmp_path), live_config(feed="push", start=None))
        pid = create_live(stub, client_id="p1")
        with LiveClient(address, timeout=DEADLINE) as client:
            assert client.push_bars([[_candle(0, 10.0), _candle(1, 11.0)], [_candle(1, 11.0), _candle(2, 12.0)]]) == 4
        ticks = Ticks(stub, pid)
        until(lambda: ticks.pull() and len(ticks.candles) >= 3, "the pushed bars")
        until(lambda: ticks.pull() is not None and len(ticks.candles) == 3 and
              stub.GetEquityReport(pb.GetEquityReportRequest(playground_id=account(stub, pid).meta.reconcile_playground_id),
                                   timeout=DEADLINE).items, "an equity point of the account")
        assert [(c.symbol, c.bar.datetime, c.bar.close) for c in ticks.candles] == [
            ("AAA", "2024-01-03T14:30:00Z", 10.0), ("AAA", "2024-01-03T14:31:00Z", 11.0),
            ("AAA", "2024-01-03T14:32:00Z", 12.0)]
        bars = stub.GetCandles(pb.GetCandlesRequest(playground_id=pid, symbol="AAA", period_in_seconds=60,
                                                    fromRTF3339="2024-01-03T00:00:00Z"), timeout=DEADLINE).bars
        assert [b.close for b in bars] == [10.0, 11.0, 12.0]
    with live_gateways(ray_cluster) as gws:
        _, _, address = gws.start(data_dir(tmp_path / "replay"), live_config())
        with LiveClient(address, timeout=DEADLINE) as client, pytest.raises(grpc.RpcError) as info:
            client.push_bars([[_candle(0, 10.0)]])
        assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION and "--live-feed push" in info.value.details()
