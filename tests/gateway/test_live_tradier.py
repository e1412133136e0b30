"""The live gateway trading through Tradier's REST API, against the fake Tradier server (a real
aiohttp server in its own process, OS-chosen port): ``serve --live-broker tradier
--tradier-config FILE``. The gateway is SIGKILLed while it is blocked inside the order POST (the
fake took the order and holds the answer); the restarted gateway finds it by tag: exactly one
broker order, adopted, and the live order filled once."""
from __future__ import annotations

import pytest

from backtestester.rpc import playground_pb2 as pb
from tests.live.fake_tradier import ACCOUNT, DATA_TOKEN, TRADING_TOKEN
from tests.live.tradier_control import T0, FakeTradier

from .conftest import DEADLINE, kill_host
from .livekit import Ticks, account, create_live, data_dir, live_config, live_gateways, until

POST_ORDERS = {"method": "POST", "path": "/orders"}


@pytest.fixture
def fake_tradier():
    server = FakeTradier.start()
    server.reset(time_ns=T0)
    yield server
    server.release()
    server.stop()


def test_sigkill_inside_the_tradier_order_post_adopts_the_order_once(ray_cluster, tmp_path, fake_tradier,
                                                                      monkeypatch):
    monkeypatch.setenv("BT_TEST_TRADIER_TOKEN", TRADING_TOKEN)
    monkeypatch.setenv("BT_TEST_TRADIER_DATA", DATA_TOKEN)
    toml = tmp_path / "tradier.toml"
    toml.write_text(f'account_id = "{ACCOUNT}"\nbase_url = "{fake_tradier.base_url}"\ntimeout_s = 5.0\n'
                    f'trading_token_env = "BT_TEST_TRADIER_TOKEN"\ndata_token_env = "BT_TEST_TRADIER_DATA"\n')
    config = live_config(brokers=("sim", "tradier"), tradier_config=str(toml))
    fake_tradier.price(AAA=100.0)
    path = data_dir(tmp_path)
    with live_gateways(ray_cluster) as gws:
        gw, stub, _ = gws.start(path, config)
        pid = create_live(stub, broker="tradier", client_id="t1")
        ticks = Ticks(stub, pid)
        until(lambda: ticks.pull() and ticks.candles, "the first live candle")
        fake_tradier.faults(dict(POST_ORDERS, action="block", commit=True))
        in_flight = stub.PlaceOrder.future(pb.PlaceOrderRequest(
            playground_id=pid, symbol="AAA", asset_class="equity", quantity=3, side="buy", type="market",
            duration="day", requested_price=100.0, client_request_id="post-1"), timeout=DEADLINE)
        assert fake_tradier.wait_blocked()  # the fake committed the order and holds the answer
        kill_host(ray_cluster, gw)
        assert in_flight.exception() is not None
        fake_tradier.release()

        _, stub, _ = gws.start(path, config)
        ticks = Ticks(stub, pid)
        until(lambda: ticks.pull() and ticks.trades, "the adopted order's fill")
        assert len(fake_tradier.orders()) == 1  # exactly one broker order: the POST was never sent again
        acc = account(stub, pid)
        [order] = acc.orders
        assert order.status == "filled" and [t.quantity for t in order.trades] == [3]
        assert [t.price for t in ticks.trades] == [100.0]
        until(lambda: ticks.pull() and len(ticks.candles) >= 2, "more polls after the fill")
        assert len(ticks.trades) == 1 and len(fake_tradier.orders()) == 1
        health = {h.account: h for h in stub.GetBrokerHealth(pb.GetBrokerHealthRequest(), timeout=DEADLINE).accounts}
        assert health[f"tradier:{ACCOUNT}:paper"].unresolved_intents == 0
