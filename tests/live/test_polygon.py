"""Polygon/Massive market data over the fake server (tests/live/fake_polygon.py, its own process):
REST aggregates (pages, the adjusted flag, 429/5xx/dropped answers, the key), the daily summary,
and the AM WebSocket source (units, re-sent bars, gaps, reconnects, back-off, a refused key)."""
from __future__ import annotations

from datetime import date

import pytest

from backtestester.live.bars import LiveBars
from backtestester.live.polygon import PolygonRest, config_from_table, rest_source, span_of
from backtestester.live.port import BrokerAuthError, BrokerUnavailable

from .polygon_control import MINUTE_MS, am, row
from .tradier_control import T0, StepClock

T0_MS = T0 // 1_000_000  # 2026-12-08 15:00 UTC, a minute boundary
MIN_NS = 60_000_000_000
WAIT_S = 60.0


def minute(k: int) -> int:
    """The start (ms) of the k-th minute after T0."""
    return T0_MS + k * MINUTE_MS


def at(k: float) -> int:
    """Wall time (ns) k minutes after T0."""
    return T0 + int(k * MIN_NS)


# --- REST --------------------------------------------------------------------------------------
def test_aggregates_follow_next_url_pages_with_the_key_in_a_header(fake_polygon):
    fake_polygon.bars("AAPL", [row(minute(k), 100 + k) for k in range(5)])
    fake_polygon.set(page_size=2)
    rest = fake_polygon.rest()
    bars = rest.bars("aapl", 60, at(0), at(5))
    assert [b.start_ns for b in bars] == [at(k) for k in range(5)]  # t is ms: pinned here
    assert [b.close for b in bars] == [100, 101, 102, 103, 104]
    asked = fake_polygon.requests()
    assert len(asked) == 3 and all(r["auth"] == "header" and "apiKey" not in r["query"] for r in asked)
    assert [r["query"].get("cursor") for r in asked] == [None, "2", "4"]


def test_aggregates_range_is_half_open_and_a_gap_is_no_bar(fake_polygon):
    fake_polygon.bars("AAPL", [row(minute(k), 100 + k) for k in (0, 1, 3, 4)])  # no trades in minute 2
    bars = fake_polygon.rest().bars("AAPL", 60, at(1), at(4))
    assert [b.start_ns for b in bars] == [at(1), at(3)]


def test_adjusted_flag_is_sent_and_served(fake_polygon):
    fake_polygon.bars("AAPL", [row(minute(0), 100.0, 1000)])
    fake_polygon.control("split", {"symbol": "AAPL", "factor": 4})
    adjusted = fake_polygon.rest().bars("AAPL", 60, at(0), at(1))[0]
    raw = fake_polygon.rest(adjusted=False).bars("AAPL", 60, at(0), at(1))[0]
    assert (adjusted.close, adjusted.volume) == (100.0, 1000.0)
    assert (raw.close, raw.volume) == (400.0, 250.0)
    assert [r["query"]["adjusted"] for r in fake_polygon.requests()] == ["true", "false"]


def test_hour_bars_ask_the_hour_timespan(fake_polygon):
    assert span_of(3600) == (1, "hour") and span_of(300) == (5, "minute")
    fake_polygon.bars("AAPL", [row(minute(0), 10.0)], span="1/hour")
    assert len(fake_polygon.rest().bars("AAPL", 3600, at(0), at(60))) == 1
    with pytest.raises(ValueError, match="periods of"):
        span_of(45)


def test_429_is_waited_out_with_a_doubling_back_off(fake_polygon):
    fake_polygon.bars("AAPL", [row(minute(0), 100.0)])
    fake_polygon.faults({"path": "/v2/aggs", "times": 2, "action": "respond", "status": 429,
                         "json": {"status": "ERROR", "error": "You've exceeded the maximum requests per minute"}})
    clock = StepClock()
    assert len(fake_polygon.rest(clock).bars("AAPL", 60, at(0), at(1))) == 1
    assert clock.slept == [1.0, 2.0]


@pytest.mark.parametrize("fault", [
    {"action": "respond", "status": 502, "text": "<html>Bad Gateway</html>"},
    {"action": "drop"},
    {"action": "respond", "status": 200, "json": {"status": "OK", "results": [{"t": 1}]}},  # a malformed row
], ids=["5xx", "dropped", "malformed"])
def test_a_failed_answer_is_unavailable_and_the_source_asks_the_same_range_again(fake_polygon, fault):
    fake_polygon.bars("AAPL", [row(minute(k), 100 + k) for k in range(3)])
    fake_polygon.faults({"path": "/v2/aggs", "times": 1, **fault})
    rest = fake_polygon.rest()
    with pytest.raises(BrokerUnavailable):
        rest.bars("AAPL", 60, at(0), at(3))
    fake_polygon.faults({"path": "/v2/aggs", "times": 1, **fault})
    source = rest_source(rest, ["AAPL"], 60, lookback_s=180)
    assert source.fetch(at(3)) == [] and source.failures == 1
    assert [b.start_ns for b in source.fetch(at(3))] == [at(0), at(1), at(2)]


def test_a_wrong_key_is_an_auth_error(fake_polygon):
    with pytest.raises(BrokerAuthError, match="401"):
        fake_polygon.rest(api_key="wrong").bars("AAPL", 60, at(0), at(1))


def test_next_url_to_another_host_is_not_followed(fake_polygon):
    fake_polygon.faults({"path": "/v2/aggs", "action": "respond", "status": 200,
                         "json": {"status": "OK", "results": [], "next_url": "https://elsewhere.example/v2/aggs?c=1"}})
    with pytest.raises(BrokerUnavailable, match="another host"):
        fake_polygon.rest().bars("AAPL", 60, at(0), at(1))
    assert len(fake_polygon.requests()) == 1


def test_daily_summary_reads_open_close_and_404_is_none(fake_polygon):
    fake_polygon.control("daily", {"symbol": "AAPL", "date": "2026-12-08", "body": {
        "open": 190.5, "high": 193.0, "low": 189.0, "close": 192.25, "volume": 51234567.0,
        "afterHours": 192.4, "preMarket": 190.1}})
    rest = fake_polygon.rest()
    assert rest.daily_summary("AAPL", date(2026, 12, 8)) == {
        "open": 190.5, "high": 193.0, "low": 189.0, "close": 192.25, "volume": 51234567,
        "after_hours_close": 192.4, "premarket_open": 190.1}
    assert rest.daily_summary("AAPL", date(2026, 12, 6)) is None


def test_config_reads_the_key_from_env_or_file_never_from_the_table(tmp_path, monkeypatch):
    monkeypatch.setenv("MY_POLY", "k-env")
    assert config_from_table({"api_key_env": "MY_POLY"}, "f.toml").api_key == "k-env"
    keyfile = tmp_path / "key"
    keyfile.write_text("k-file\n")
    config = config_from_table({"api_key_file": str(keyfile), "stream": True}, "f.toml")
    assert config.api_key == "k-file" and config.stream and "k-file" not in repr(config)
    with pytest.raises(ValueError, match="unknown keys api_key;"):
        config_from_table({"api_key": "inline"}, "f.toml")
    monkeypatch.delenv("POLYGON_API_KEY", raising=False)
    with pytest.raises(ValueError, match="POLYGON_API_KEY"):
        config_from_table({}, "f.toml")


def test_history_before_the_first_live_bar_is_backfilled_from_rest(fake_polygon):
    """A new live playground's warm-up: what lies before the first live bar comes from REST, once."""
    fake_polygon.bars("AAPL", [row(minute(k), 100.0 + k) for k in range(-30, 3)])
    bars = LiveBars(None, [rest_source(fake_polygon.rest(), ["AAPL"], 60)], settle_s=0, now=lambda: at(3))
    bars.subscribe("AAPL", 60)
    assert [b.start_ns for b in bars.poll(at(3))] == [at(1), at(2)]  # live: the last two periods
    history = bars.candles("AAPL", 60, at(-30))
    assert [b.start_ns for b in history] == [at(k) for k in range(-30, 3)]
    asked = len(fake_polygon.requests())
    assert len(bars.candles("AAPL", 60, at(-30))) == 33 and len(fake_polygon.requests()) == asked


# --- the AM stream ---------------------------------------------------------------------------
@pytest.fixture
def stream(fake_polygon):
    """A stream source of AAPL on the fake, closed (its thread joined) after the test."""
    made = []

    def make(**kwargs):
        source = fake_polygon.stream_source(["AAPL"], **kwargs)
        made.append(source)
        return source
    yield make
    for source in made:
        source.close()
        assert not source.running


def test_am_bars_arrive_with_ms_start_and_resends_replace_before_delivery(fake_polygon, stream):
    source = stream()
    bars = LiveBars(None, [source], settle_s=5.0, now=lambda: at(2))
    bars.subscribe("AAPL", 60)
    assert bars.poll(at(1)) == []  # starts the stream; REST has nothing
    assert fake_polygon.wait_subscribed(1), source.last_error
    fake_polygon.emit([am("AAPL", minute(0), 100.0, 500)])
    fake_polygon.emit([am("AAPL", minute(0), 100.5, 650)])  # late trades: sent again
    assert source.wait(lambda s: s.received == 2, WAIT_S)
    assert bars.poll(at(1)) == []  # not settled yet: end + 5 s
    (due,) = bars.poll(at(1) + 5_000_000_000)
    assert (due.start_ns, due.close, due.volume) == (at(0), 100.5, 650.0)


def test_a_resend_after_delivery_is_stored_not_delivered_again(fake_polygon, stream):
    source = stream()
    bars = LiveBars(None, [source], settle_s=1.0)
    bars.subscribe("AAPL", 60)
    bars.poll(at(1))
    assert fake_polygon.wait_subscribed(1), source.last_error
    fake_polygon.emit([am("AAPL", minute(0), 100.0, 500)])
    assert source.wait(lambda s: s.received == 1, WAIT_S)
    assert [b.close for b in bars.poll(at(1.5))] == [100.0]
    fake_polygon.emit([am("AAPL", minute(0), 99.0, 900)])
    assert source.wait(lambda s: s.received == 2, WAIT_S)
    assert bars.poll(at(2)) == [] and bars.corrections == 1
    assert bars.delivered_version("AAPL", 60, at(0))[0].close == 100.0
    assert bars.candles("AAPL", 60, at(0))[0].close == 99.0


def test_other_symbols_and_status_events_are_ignored(fake_polygon, stream):
    source = stream()
    source.fetch(at(0))
    assert fake_polygon.wait_subscribed(1)
    fake_polygon.emit([am("MSFT", minute(0), 1.0)])
    fake_polygon.emit([am("AAPL", minute(0), 2.0)])
    assert source.wait(lambda s: s.received == 1, WAIT_S)
    assert [b.symbol for b in source.fetch(at(1))] == ["AAPL"]


@pytest.mark.parametrize("fault", ["silent_close", "close_after_auth"])
def test_a_dropped_stream_reconnects_and_rest_backfills_the_gap(fake_polygon, stream, fault):
    fake_polygon.stream_faults({"action": fault, "times": 1})
    source = stream()
    bars = LiveBars(None, [source], settle_s=1.0)
    bars.subscribe("AAPL", 60)
    bars.poll(at(0))
    assert fake_polygon.wait_subscribed(1), source.last_error
    assert source.drops >= 1
    fake_polygon.emit([am("AAPL", minute(0), 100.0)], rest=True)
    assert source.wait(lambda s: s.received == 1, WAIT_S)
    bars.poll(at(1.5))
    fake_polygon.bars("AAPL", [row(minute(1), 101.0)])  # sent while the stream is down: REST only
    fake_polygon.drop_stream()
    assert fake_polygon.wait_subscribed(2)
    fake_polygon.emit([am("AAPL", minute(2), 102.0)], rest=True)
    assert source.wait(lambda s: s.received == 2, WAIT_S)
    got = bars.poll(at(3.5))
    assert [b.start_ns for b in got] == [at(1), at(2)]
    assert [b.close for b in got] == [101.0, 102.0]


def test_failed_connections_back_off_doubling_to_the_cap(fake_polygon, stream):
    fake_polygon.stream_faults({"action": "refuse", "times": 4})
    source = stream(backoff_s=0.01, max_backoff_s=0.04)
    source.start()
    assert fake_polygon.wait_subscribed(1), source.last_error
    assert source.backoffs == [0.01, 0.02, 0.04, 0.04]
    fake_polygon.drop_stream()
    assert fake_polygon.wait_subscribed(2)
    assert source.backoffs[-1] == 0.01  # an authenticated session resets the back-off


def test_a_refused_key_stops_the_stream_and_fetch_raises(fake_polygon):
    rest = PolygonRest(fake_polygon.polygon_config())
    from backtestester.live.polygon_stream import PolygonStreamSource

    source = PolygonStreamSource(rest, ["AAPL"], url=fake_polygon.stream_url, api_key="wrong", rest_poll_s=0)
    try:
        source.start()
        assert source.wait(lambda s: s.auth_error is not None, WAIT_S)
        with pytest.raises(BrokerAuthError, match="auth_failed"):
            source.fetch(at(0))
    finally:
        source.close()
    assert not source.running


def test_the_stream_serves_one_minute_bars_only(fake_polygon):
    with pytest.raises(ValueError, match="one-minute"):
        fake_polygon.stream_source(["AAPL"], period_s=300)


# --- flat files ------------------------------------------------------------------------------
def test_a_flat_file_imported_by_the_cli_replays_the_bars_rest_serves(fake_polygon, tmp_path, capsys):
    """A day file in Massive's layout (``us_stocks_sip/minute_aggs_v1/YYYY/MM/YYYY-MM-DD.csv.gz``,
    ``window_start`` in ns) goes through ``backtestester data import`` into the catalog; a replay of
    it delivers the bars the REST source delivers for the same rows."""
    import gzip
    from datetime import datetime, timezone

    from actors.cli import main
    from backtestester.live.barsources import ReplaySource

    t0 = int(datetime(2024, 1, 3, 15, 0, tzinfo=timezone.utc).timestamp()) * 1000
    rows = [row(t0 + k * MINUTE_MS, 100.0 + k, 1000 + k) for k in (0, 1, 3)]  # minute 2: no trades
    path = tmp_path / "us_stocks_sip/minute_aggs_v1/2024/01/2024-01-03.csv.gz"
    path.parent.mkdir(parents=True)
    lines = ["ticker,volume,open,close,high,low,window_start,transactions"]
    lines += [f"AAPL,{r['v']},{r['o']},{r['c']},{r['h']},{r['l']},{r['t'] * 1_000_000},7" for r in rows]
    lines += [f"MSFT,5,1,1,1,1,{t0 * 1_000_000},1"]
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    catalog = tmp_path / "catalog"
    assert main(["data", "import", str(path), "--tickers", "AAPL", "--data-dir", str(catalog)]) == 0, capsys.readouterr()

    replay = ReplaySource(catalog, ["AAPL"], 60, start=datetime(2024, 1, 3, 15, 0, tzinfo=timezone.utc),
                          origin_ns=0, pace="clock")
    fake_polygon.bars("AAPL", rows)
    live = rest_source(fake_polygon.rest(), ["AAPL"], 60, lookback_s=600)
    end = (t0 + 5 * MINUTE_MS) * 1_000_000
    assert replay.fetch(end - replay.start_ns) == live.fetch(end)
    assert len(live.history("AAPL", 60, 0, end)) == 3
