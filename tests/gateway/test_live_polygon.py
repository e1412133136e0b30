"""The live gateway fed by Polygon/Massive, against the fake Polygon server (a real aiohttp server
in its own process, OS-chosen port): ``serve --live-feed polygon --polygon-config FILE``, with the
AM stream on. The first poll backfills the last minutes from REST (GetCandles shows them); a
minute the stream sends later reaches NextTick, once; GetDailyTickerSummaryFromPolygon is answered by Polygon's open/close
(pre-market and after-hours included) instead of the catalog."""
from __future__ import annotations

import time
from dataclasses import replace
from datetime import datetime, timezone

import pytest

from backtestester.rpc import playground_pb2 as pb
from tests.live.fake_polygon import KEY
from tests.live.polygon_control import FakePolygon, am, row

from .conftest import DEADLINE
from .livekit import Ticks, create_live, data_dir, live_config, live_gateways, until


@pytest.fixture
def fake_polygon():
    server = FakePolygon.start()
    server.reset()
    yield server
    server.stop()


def test_polygon_feed_backfills_streams_and_answers_the_daily_summary(ray_cluster, tmp_path, fake_polygon,
                                                                       monkeypatch):
    monkeypatch.setenv("BT_TEST_POLYGON_KEY", KEY)
    toml = tmp_path / "polygon.toml"
    toml.write_text(f'api_key_env = "BT_TEST_POLYGON_KEY"\nbase_url = "{fake_polygon.url}"\n'
                    f'stream_url = "{fake_polygon.stream_url}"\nstream = true\nbackoff_s = 0.05\n')
    minute_ms = int(time.time()) // 60 * 60_000  # the minute now in progress (the gateway reads the wall clock)
    fake_polygon.bars("AAA", [row(minute_ms - k * 60_000, 100.0 + k) for k in range(2, 6)])
    fake_polygon.control("daily", {"symbol": "AAA", "date": "2024-01-03", "body": {
        "open": 10.0, "high": 12.0, "low": 9.5, "close": 11.0, "volume": 12345, "afterHours": 11.2,
        "preMarket": 9.9}})
    config = live_config(start=None, feed="polygon", polygon_config=str(toml))
    with live_gateways(ray_cluster) as gws:
        _, stub, _ = gws.start(data_dir(tmp_path), config)
        pid = create_live(stub, client_id="p1")
        ticks = Ticks(stub, pid)
        assert fake_polygon.wait_subscribed(1)
        assert fake_polygon.emit([am("AAA", minute_ms - 60_000, 777.0)]) == 1
        until(lambda: ticks.pull() and any(c.bar.close == 777.0 for c in ticks.candles), "the streamed minute")
        starts = [c.bar.datetime for c in ticks.candles]
        assert len(starts) == len(set(starts))  # each minute once
        since = datetime.fromtimestamp((minute_ms - 600_000) / 1000, tz=timezone.utc).isoformat()
        candles = stub.GetCandles(pb.GetCandlesRequest(playground_id=pid, symbol="AAA", period_in_seconds=60,
                                                       fromRTF3339=since), timeout=DEADLINE).bars
        closes = [b.close for b in candles]
        assert closes[-1] == 777.0 and {102.0, 103.0} & set(closes)  # REST's last minutes, then the stream's

        got = stub.GetDailyTickerSummaryFromPolygon(pb.GetDailyTickerSummaryFromPolygonRequest(
            symbol="aaa", date="2024-01-03"), timeout=DEADLINE)
        assert (got.open, got.close, got.volume, got.premarket_open, got.after_hours_close) == (
            10.0, 11.0, 12345, 9.9, 11.2)


def test_polygon_feed_configuration_is_checked_before_anything_starts(tmp_path, monkeypatch):
    from actors.gateway.live import LiveConfig
    from backtestester.live.barsources import BrokerBarSource
    from backtestester.live.polygon_stream import PolygonStreamSource, live_source

    with pytest.raises(ValueError, match="--live-feed polygon needs --polygon-config"):
        LiveConfig(feed="polygon", replay_symbols=("AAA",)).validate()
    toml = tmp_path / "polygon.toml"
    toml.write_text('api_key_env = "BT_TEST_POLYGON_KEY"\nstreams = true\n')
    monkeypatch.setenv("BT_TEST_POLYGON_KEY", KEY)
    with pytest.raises(ValueError, match="unknown keys streams; accepted: api_key_env"):
        LiveConfig(feed="polygon", polygon_config=str(toml)).validate()
    toml.write_text('api_key_env = "BT_TEST_POLYGON_KEY"\n')
    monkeypatch.delenv("BT_TEST_POLYGON_KEY")
    with pytest.raises(ValueError, match="BT_TEST_POLYGON_KEY .* is not set"):
        LiveConfig(feed="polygon", polygon_config=str(toml)).validate()
    monkeypatch.setenv("BT_TEST_POLYGON_KEY", KEY)
    config = LiveConfig(feed="polygon", polygon_config=str(toml), replay_symbols=("AAA",)).validate()
    assert config.polygon.api_key == KEY and KEY not in repr(config)
    assert isinstance(live_source(config.polygon, ["AAA"], 300), BrokerBarSource)
    streamed = live_source(replace(config.polygon, stream=True), ["AAA"], 60)
    assert isinstance(streamed, PolygonStreamSource) and not streamed.running  # started by the first poll
    streamed.close()
