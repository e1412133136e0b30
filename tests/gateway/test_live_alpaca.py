"""The live gateway trading through Alpaca's API, against the fake Alpaca server (a real aiohttp
server in its own process, OS-chosen port): ``serve --live-broker alpaca --alpaca-config FILE``,
keys from environment variables named in the file. The gateway is SIGKILLed while it is blocked
inside the order POST (the fake took the order and holds the answer); the restarted gateway finds
it by its ``client_order_id``: exactly one broker order, adopted, the live order filled once, and
the trade-updates stream connected again."""
from __future__ import annotations

import pytest

from backtestester.rpc import playground_pb2 as pb
from tests.live.alpaca_control import FakeAlpaca
from tests.live.fake_alpaca import KEY_ID, SECRET_KEY

from .conftest import DEADLINE, kill_host
from .livekit import Ticks, account, create_live, data_dir, live_config, live_gateways, until

POST_ORDERS = {"method": "POST", "path": "/v2/orders"}


@pytest.fixture
def fake_alpaca():
    server = FakeAlpaca.start()
    server.reset()
    yield server
    server.release()
    server.stop()


def test_sigkill_inside_the_alpaca_order_post_adopts_the_order_once(ray_cluster, tmp_path, fake_alpaca, monkeypatch):
    monkeypatch.setenv("BT_TEST_ALPACA_KEY", KEY_ID)
    secret = tmp_path / "alpaca.secret"
    secret.write_text(SECRET_KEY + "\n")
    toml = tmp_path / "alpaca.toml"
    toml.write_text(f'environment = "paper"\nbase_url = "{fake_alpaca.base_url}"\ndata_url = "{fake_alpaca.base_url}"\n'
                    f'timeout_s = 5.0\nkey_id_env = "BT_TEST_ALPACA_KEY"\nsecret_key_file = "{secret}"\n')
    config = live_config(brokers=("sim", "alpaca"), alpaca_config=str(toml))
    fake_alpaca.price(AAA=100.0)
    path = data_dir(tmp_path)
    with live_gateways(ray_cluster) as gws:
        gw, stub, _ = gws.start(path, config)
        pid = create_live(stub, broker="alpaca", client_id="a1")
        ticks = Ticks(stub, pid)
        until(lambda: ticks.pull() and ticks.candles, "the first live candle")
        until(lambda: fake_alpaca.stream_info()["listening"] == 1, "the trade-updates stream listening")
        fake_alpaca.faults(dict(POST_ORDERS, action="block", commit=True))
        in_flight = stub.PlaceOrder.future(pb.PlaceOrderRequest(
            playground_id=pid, symbol="AAA", asset_class="equity", quantity=3, side="buy", type="market",
            duration="day", requested_price=100.0, client_request_id="post-1"), timeout=DEADLINE)
        assert fake_alpaca.wait_blocked()  # the fake committed the order and holds the answer
        kill_host(ray_cluster, gw)
        assert in_flight.exception() is not None
        fake_alpaca.release()

        _, stub, _ = gws.start(path, config)
        ticks = Ticks(stub, pid)
        until(lambda: ticks.pull() and ticks.trades, "the adopted order's fill")
        assert len(fake_alpaca.orders()) == 1  # exactly one broker order: the POST was never sent again
        [order] = account(stub, pid).orders
        assert order.status == "filled" and [t.quantity for t in order.trades] == [3]
        assert [t.price for t in ticks.trades] == [100.0]
        until(lambda: fake_alpaca.stream_info()["connects"] == 2, "the restarted gateway's stream")
        until(lambda: ticks.pull() and len(ticks.candles) >= 2, "more polls after the fill")
        assert len(ticks.trades) == 1 and len(fake_alpaca.orders()) == 1
        health = {h.account: h for h in stub.GetBrokerHealth(pb.GetBrokerHealthRequest(), timeout=DEADLINE).accounts}
        assert health["alpaca:paper:paper"].unresolved_intents == 0
