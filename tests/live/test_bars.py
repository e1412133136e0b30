"""Live bars: completed bars only, each delivered once (also across a restart), corrections stored
without re-delivery, the catalog replay at speed, pushed bars validated, the broker's bars polled."""
from __future__ import annotations

import math
import re
import threading
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from backtestester.data.catalog import Catalog
from backtestester.data.synthetic import generate_bars
from backtestester.live.bars import LiveBars, is_aligned
from backtestester.live.barsources import BrokerBarSource, PushSource, ReplaySource
from backtestester.live.port import Bar, BrokerAuthError, BrokerUnavailable
from backtestester.live.simbroker import SimulatedBroker
from backtestester.playgrounds import catalog_playground

NS = 1_000_000_000
T0 = int(datetime(2024, 1, 2, 14, 30, tzinfo=timezone.utc).timestamp()) * NS  # the 09:30 ET open


def bar(start_ns, close=100.0, symbol="SPY", period_s=60, volume=10.0):
    return Bar(symbol, period_s, start_ns, close, close + 1, close - 1, close, volume)


class Clock:
    """An injected wall clock (int UTC ns)."""

    def __init__(self, t):
        self.t = t

    def __call__(self):
        return self.t


def live(sources, path=None, settle_s=2.0, clock=None, pairs=(("SPY", 60),)):
    lb = LiveBars(path, sources, settle_s=settle_s, now=clock or Clock(T0))
    for pair in pairs:
        lb.subscribe(*pair)
    return lb


# ------------------------------------------------------------------ delivery rules


def test_a_bar_is_delivered_once_after_its_end_and_the_settle_delay():
    src = PushSource()
    lb = live([src], settle_s=2.0)
    src.push([bar(T0), bar(T0 + 60 * NS)])
    assert lb.poll(T0 + 30 * NS) == []                       # in progress
    assert lb.poll(T0 + 61 * NS) == []                       # ended, not settled (end + 2 s)
    got = lb.poll(T0 + 62 * NS)
    assert [b.start_ns for b in got] == [T0]                 # due exactly at end + settle
    assert lb.poll(T0 + 63 * NS) == []                       # never again
    src.push([bar(T0)])                                      # a repeat of the same version
    assert lb.poll(T0 + 200 * NS) == [bar(T0 + 60 * NS)]     # only the other one, once


def test_due_bars_are_sorted_by_end_then_symbol_then_period():
    src = PushSource()
    lb = live([src], settle_s=0, pairs=[("SPY", 60), ("QQQ", 60), ("SPY", 300)])
    src.push([bar(T0 + 60 * NS, symbol="SPY"), bar(T0, period_s=300), bar(T0 + 240 * NS, symbol="QQQ"),
              bar(T0, symbol="QQQ"), bar(T0, symbol="SPY")])
    got = lb.poll(T0 + 300 * NS)
    assert [(b.end_ns, b.symbol, b.period_s) for b in got] == sorted((b.end_ns, b.symbol, b.period_s) for b in got)
    assert [(b.symbol, b.period_s, b.start_ns) for b in got] == [
        ("QQQ", 60, T0), ("SPY", 60, T0), ("SPY", 60, T0 + 60 * NS), ("QQQ", 60, T0 + 240 * NS), ("SPY", 300, T0)]


def test_a_restart_on_the_same_path_delivers_nothing_twice(tmp_path):
    path = str(tmp_path / "bars.sqlite3")
    src = PushSource()
    lb = live([src], path=path, settle_s=0)
    src.push([bar(T0), bar(T0 + 60 * NS), bar(T0 + 120 * NS)])
    assert [b.start_ns for b in lb.poll(T0 + 120 * NS)] == [T0, T0 + 60 * NS]
    lb.close()
    src2 = PushSource()                                      # the restarted feed sends it all again
    again = live([src2], path=path, settle_s=0)
    src2.push([bar(T0), bar(T0 + 60 * NS), bar(T0 + 120 * NS)])
    assert [b.start_ns for b in again.poll(T0 + 180 * NS)] == [T0 + 120 * NS]  # only the undelivered one
    assert again.poll(T0 + 500 * NS) == []


def test_a_correction_of_a_delivered_bar_is_stored_not_delivered_again():
    src = PushSource()
    lb = live([src], settle_s=0)
    src.push([bar(T0, close=100.0)])
    assert [b.close for b in lb.poll(T0 + 60 * NS)] == [100.0]
    src.push([bar(T0, close=101.5, volume=99.0)])            # late trades changed it
    assert lb.poll(T0 + 120 * NS) == []
    assert lb.candles("SPY", 60, T0) == [bar(T0, close=101.5, volume=99.0)]
    assert lb.corrections == 1
    assert lb.delivered_version("spy", 60, T0) == (bar(T0, close=100.0), T0 + 60 * NS)  # what the strategy saw
    assert lb.delivered_version("SPY", 60, T0 + 60 * NS) is None


def test_a_correction_before_delivery_replaces_the_bar():
    src = PushSource()
    lb = live([src], settle_s=2.0)
    src.push([bar(T0, close=100.0)])
    assert lb.poll(T0 + 61 * NS) == []                       # not settled yet
    src.push([bar(T0, close=99.0)])
    assert lb.poll(T0 + 62 * NS) == [bar(T0, close=99.0)]    # the last version, once
    assert lb.corrections == 0


def test_bars_not_aligned_to_their_period_are_refused_and_counted():
    src = PushSource()
    lb = live([src], settle_s=0, pairs=[("SPY", 60), ("SPY", 300)])
    src.push([bar(T0 + 30 * NS), bar(T0 + 60 * NS, period_s=300), bar(T0)])
    assert lb.poll(T0 + 900 * NS) == [bar(T0)]
    assert lb.refused == 2
    assert lb.candles("SPY", 300, 0) == [] and lb.candles("SPY", 60, 0) == [bar(T0)]
    # session-anchored long bars (an XNYS hour bar starts at 09:30) need only a 30-minute boundary
    assert is_aligned(bar(T0, period_s=3600)) and is_aligned(bar(T0, period_s=86400))
    assert not is_aligned(bar(T0 + 900 * NS, period_s=3600))


def test_bars_with_bad_values_from_a_source_are_refused_not_raised():
    class Raw:
        def fetch(self, now_ns):
            return [Bar("SPY", 60, T0, math.nan, 1, 1, 1), Bar("SPY", 60, T0 + 60 * NS, 1, 0.5, 1, 1), bar(T0 + 120 * NS)]

        def history(self, *args):
            return []

    lb = live([Raw()], settle_s=0)
    assert lb.poll(T0 + 180 * NS) == [bar(T0 + 120 * NS)]
    assert lb.refused == 2


def test_only_subscribed_pairs_are_delivered_others_are_stored():
    src = PushSource()
    lb = live([src], settle_s=0, pairs=[("spy", 60)])
    src.push([bar(T0), bar(T0, symbol="QQQ")])
    assert lb.poll(T0 + 60 * NS) == [bar(T0)]
    assert lb.candles("QQQ", 60, T0) == [bar(T0, symbol="QQQ")]   # stored, not delivered
    lb.subscribe("QQQ", 60)
    assert lb.poll(T0 + 120 * NS) == []                            # and not delivered later either
    src.push([bar(T0 + 60 * NS, symbol="QQQ")])
    assert lb.poll(T0 + 120 * NS) == [bar(T0 + 60 * NS, symbol="QQQ")]


def test_candles_never_show_a_bar_before_it_is_delivered():
    src = PushSource()
    lb = live([src], settle_s=2.0)
    src.push([bar(T0)])
    lb.poll(T0 + 30 * NS)
    assert lb.candles("SPY", 60, T0) == []
    lb.poll(T0 + 62 * NS)
    assert lb.candles("SPY", 60, T0) == [bar(T0)]


def test_settle_s_must_be_a_number_of_seconds():
    with pytest.raises(ValueError, match="settle_s must be a finite number of seconds >= 0"):
        LiveBars(None, [], settle_s=-1)


# ------------------------------------------------------------------ push


@pytest.mark.parametrize("bad, field", [
    (Bar("SPY", 0, T0, 1, 1, 1, 1), "period_s"),
    (Bar("SPY", 60, T0, math.nan, 1, 1, 1), "open"),
    (Bar("SPY", 60, T0, 1, math.inf, 1, 1), "high"),
    (Bar("SPY", 60, T0, 1, 1, 2, 1), "low"),                  # low above min(open, close): high < low
    (Bar("SPY", 60, T0, 1, 0.5, 0.5, 0.5), "high"),           # high below open
    (Bar("SPY", 60, T0, 1, 1, 1, 1, -5.0), "volume"),
    (Bar("", 60, T0, 1, 1, 1, 1), "symbol"),
    (Bar("SPY", 60, 1.5, 1, 1, 1, 1), "start_ns"),
    (Bar("SPY", 60, T0, "1", 1, 1, 1), "open"),
])
def test_push_refuses_a_bad_bar_naming_the_field_and_keeps_none_of_the_batch(bad, field):
    src = PushSource()
    with pytest.raises(ValueError, match=field):
        src.push([bar(T0), bad])
    assert src.fetch(T0) == []


def test_push_is_thread_safe_and_normalises_symbols():
    src = PushSource()
    threads = [threading.Thread(target=lambda k=k: [src.push([bar(T0 + (k * 100 + i) * 60 * NS, symbol="spy")])
                                                   for i in range(100)]) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    got = src.fetch(T0)
    assert len(got) == 400 and {b.symbol for b in got} == {"SPY"}
    assert len({b.start_ns for b in got}) == 400


# ------------------------------------------------------------------ replay


@pytest.fixture(scope="module")
def catalog_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("catalog")
    cat = Catalog(root)
    for seed, sym in enumerate(["AAA", "BBB"]):
        cat.write(sym, "1m", generate_bars(sym, start="2024-01-02", end="2024-01-05", seed=seed))
    return root


START = datetime(2024, 1, 3, 14, 30, tzinfo=timezone.utc)  # 09:30 ET on 3 Jan 2024
START_NS = int(START.timestamp()) * NS
ORIGIN = 10**18


def test_replay_time_runs_at_speed_from_the_origin(catalog_dir):
    src = ReplaySource(catalog_dir, ["AAA"], 60, start=START, speed=60, origin_ns=ORIGIN)
    assert src.market_ns(ORIGIN) == START_NS
    assert src.market_ns(ORIGIN + NS) == START_NS + 60 * NS    # one wall second = one market minute
    lb = live([src], pairs=[("AAA", 60)], clock=Clock(ORIGIN + 5 * NS))
    assert lb.clock_ns() == START_NS + 300 * NS


def test_replay_at_speed_60_shows_each_bar_exactly_when_its_end_is_reached(catalog_dir):
    src = ReplaySource(catalog_dir, ["AAA", "BBB"], 60, start=START, speed=60, origin_ns=ORIGIN)
    lb = live([src], settle_s=2.0, pairs=[("AAA", 60), ("BBB", 60)])   # a replay has nothing to settle
    step = NS // 60                                                   # one market second
    assert lb.poll(ORIGIN + NS - step) == []                          # 09:30:59: the first bar is in progress
    got = lb.poll(ORIGIN + NS)                                        # 09:31:00: its end
    assert [(b.symbol, b.start_ns) for b in got] == [("AAA", START_NS), ("BBB", START_NS)]
    assert lb.poll(ORIGIN + 2 * NS - step) == []
    got = lb.poll(ORIGIN + 10 * NS)                                   # 09:40: nine more each, in order
    assert [b.start_ns for b in got] == sorted([START_NS + i * 60 * NS for i in range(1, 10)] * 2)
    assert all(b.end_ns <= lb.clock_ns(ORIGIN + 10 * NS) for b in got)


def test_replay_bars_are_the_bars_a_backtest_sees_also_resampled(catalog_dir):
    for timeframe, period_s in (("1m", 60), ("5m", 300)):
        pg = catalog_playground(catalog_dir, [("AAA", timeframe)], start_date="2024-01-03", stop_date="2024-01-03")
        repo = pg.repository("AAA", period_s)
        src = ReplaySource(catalog_dir, ["AAA"], period_s, start=START, speed=1, origin_ns=ORIGIN, pace="clock")
        got = src.fetch(ORIGIN + 7 * 3600 * NS)                       # until 16:30 ET
        assert len(got) == (390 * 60) // period_s
        i = int(np.searchsorted(repo.start_ns, START_NS))
        assert [b.start_ns for b in got] == list(repo.start_ns[i:i + len(got)])
        for name in ("open", "high", "low", "close", "volume"):
            assert [getattr(b, name) for b in got] == list(getattr(repo, name)[i:i + len(got)]), name


def test_a_replay_is_finished_when_its_last_bar_has_been_seen(catalog_dir):
    src = ReplaySource(catalog_dir, ["AAA"], 60, start=START, speed=3600, origin_ns=ORIGIN, pace="clock")
    assert not src.finished(ORIGIN + 24 * NS)                   # 4 Jan 09:30: a session to go
    assert len(src.fetch(ORIGIN + 48 * NS)) == 2 * 390 and src.finished(ORIGIN + 48 * NS)
    assert src.fetch(ORIGIN + 96 * NS) == []


def test_replay_history_is_the_catalog_before_start(catalog_dir):
    src = ReplaySource(catalog_dir, ["AAA"], 60, start=START, speed=1, origin_ns=ORIGIN)
    hist = src.history("aaa", 60, 0, 2**62)
    assert hist and all(b.start_ns < START_NS for b in hist)
    assert len(hist) == 390                                           # 2 Jan 2024's session
    assert src.history("ZZZ", 60, 0, 2**62) == []
    lb = live([src], pairs=[("AAA", 60)], clock=Clock(ORIGIN))
    assert lb.candles("AAA", 60, START_NS - 86400 * NS) == hist       # LiveBars serves it
    assert lb.candles("AAA", 60, hist[-60].start_ns) == hist[-60:]


def test_a_replay_restart_delivers_nothing_twice(catalog_dir, tmp_path):
    path = str(tmp_path / "bars.sqlite3")
    first = live([ReplaySource(catalog_dir, ["AAA"], 60, start=START, speed=60, origin_ns=ORIGIN)],
                 path=path, pairs=[("AAA", 60)])
    assert len(first.poll(ORIGIN + 3 * NS)) == 3
    first.close()
    again = live([ReplaySource(catalog_dir, ["AAA"], 60, start=START, speed=60, origin_ns=ORIGIN)],
                 path=path, pairs=[("AAA", 60)])
    assert [b.start_ns for b in again.poll(ORIGIN + 5 * NS)] == [START_NS + 3 * 60 * NS, START_NS + 4 * 60 * NS]


def test_a_session_paced_replay_spends_no_wall_time_on_nights(catalog_dir):
    """pace="sessions" (the default): a day of 1m bars at speed 60 takes 390 wall seconds; the
    bar that closes the session arrives at the next session's open, so an order placed on it is in
    session (a backtest's clock moves to the next open too). pace="clock" waits out the night."""
    paced = ReplaySource(catalog_dir, ["AAA"], 60, start=START, speed=60, origin_ns=ORIGIN)
    clock = ReplaySource(catalog_dir, ["AAA"], 60, start=START, speed=60, origin_ns=ORIGIN, pace="clock")
    next_open = START_NS + 24 * 3600 * NS                              # 4 Jan 2024 09:30 ET
    assert paced.market_ns(ORIGIN + 389 * NS) == START_NS + 389 * 60 * NS   # 15:59, as the clock pace
    assert paced.market_ns(ORIGIN + 390 * NS) == next_open
    assert len(paced.fetch(ORIGIN + 390 * NS)) == 390 and paced.fetch(ORIGIN + 390 * NS) == []
    [first] = paced.fetch(ORIGIN + 391 * NS)                            # the next session's first bar
    assert first.start_ns == next_open
    assert clock.market_ns(ORIGIN + 390 * NS) == START_NS + 390 * 60 * NS   # 16:00: the night to go
    assert len(clock.fetch(ORIGIN + 391 * NS)) == 390 and clock.fetch(ORIGIN + 1000 * NS) == []
    before = ReplaySource(catalog_dir, ["AAA"], 60, start=START - timedelta(minutes=5), speed=60, origin_ns=ORIGIN)
    assert before.market_ns(ORIGIN + 5 * NS) == START_NS                 # before the first bar: the clock runs


@pytest.mark.parametrize("kwargs, text", [
    (dict(pace="fast"), "replay pace must be one of sessions, clock"),
    (dict(speed=0), "replay speed must be a finite number > 0"),
    (dict(speed=math.inf), "replay speed must be a finite number > 0"),
    (dict(period_s=7), "unsupported bar period 7 seconds: accepted: 60 (1m)"),
    (dict(symbols=["ZZZ"]), "ZZZ"),
])
def test_replay_refuses_bad_input_saying_what_is_accepted(catalog_dir, kwargs, text):
    args = dict(symbols=["AAA"], period_s=60, start=START, speed=1.0, origin_ns=ORIGIN) | kwargs
    with pytest.raises((ValueError, LookupError), match=re.escape(text)):
        ReplaySource(catalog_dir, args.pop("symbols"), args.pop("period_s"), **args)


# ------------------------------------------------------------------ broker bars


class FaultySim(SimulatedBroker):
    """The simulated broker (its bars() serves the bars fed with on_bar), with a fault switch and
    a record of the ranges asked: the one thing the sim cannot do by itself is fail."""

    def __init__(self, bars=()):
        super().__init__()
        self.asked = []
        self.fail: Exception | None = None
        for b in bars:
            self.on_bar(b)

    def bars(self, symbol, period_s, start_ns, end_ns):
        self.asked.append((symbol, start_ns, end_ns))
        if self.fail is not None:
            raise self.fail
        return super().bars(symbol, period_s, start_ns, end_ns)


def test_broker_source_asks_from_the_newest_bar_and_survives_unavailability():
    broker = FaultySim([bar(T0), bar(T0 + 60 * NS)])
    src = BrokerBarSource(broker, ["SPY"], 60)
    lb = live([src], settle_s=0)
    assert lb.poll(T0 + 90 * NS) == [bar(T0)]                     # the second is in progress
    assert broker.asked[-1] == ("SPY", T0 + 90 * NS - 120 * NS, T0 + 90 * NS)   # lookback: two periods
    broker.fail = BrokerUnavailable("503")
    assert lb.poll(T0 + 130 * NS) == []                            # a failure is not "no bars" ...
    assert src.failures == 1 and "503" in src.last_error
    broker.fail = None
    broker.on_bar(bar(T0 + 120 * NS))
    assert lb.poll(T0 + 200 * NS) == [bar(T0 + 60 * NS), bar(T0 + 120 * NS)]   # ... nothing lost
    assert broker.asked[-1][1] == T0                               # from the newest completed bar's start
    assert lb.poll(T0 + 210 * NS) == [] and broker.asked[-1][1] == T0 + 120 * NS


def test_broker_source_auth_error_propagates():
    broker = FaultySim([])
    broker.fail = BrokerAuthError("invalid token")
    lb = live([BrokerBarSource(broker, ["SPY"], 60)])
    with pytest.raises(BrokerAuthError, match="invalid token"):
        lb.poll(T0)


def test_broker_source_resumes_from_the_newest_stored_bar_after_a_restart(tmp_path):
    path = str(tmp_path / "bars.sqlite3")
    broker = FaultySim([bar(T0 + i * 60 * NS) for i in range(10)])
    first = live([BrokerBarSource(broker, ["SPY"], 60)], path=path, settle_s=0)
    assert first.poll(T0 + 120 * NS) == [bar(T0), bar(T0 + 60 * NS)]
    first.close()
    again = live([BrokerBarSource(broker, ["SPY"], 60)], path=path, settle_s=0)
    got = again.poll(T0 + 600 * NS)                                 # down for 8 minutes: catches up
    assert broker.asked[-1][1] == T0 + 60 * NS
    assert [b.start_ns for b in got] == [T0 + i * 60 * NS for i in range(2, 10)]


def test_broker_source_refuses_periods_the_broker_does_not_serve():
    with pytest.raises(ValueError, match="periods of 60, 300, 900 seconds"):
        BrokerBarSource(FaultySim([]), ["SPY"], 3600)


def test_candles_fill_the_gap_before_the_stored_bars_from_the_broker_once():
    broker = FaultySim([bar(T0 + i * 60 * NS) for i in range(10)])
    src = BrokerBarSource(broker, ["SPY"], 60)
    lb = live([src], settle_s=0, clock=Clock(T0 + 600 * NS))
    assert [b.start_ns for b in lb.poll()] == [T0 + 480 * NS, T0 + 540 * NS]   # the lookback's two
    broker.fail = BrokerUnavailable("timeout")
    assert lb.candles("SPY", 60, T0) == [bar(T0 + 480 * NS), bar(T0 + 540 * NS)]  # the store, unfilled
    broker.fail = None
    assert lb.candles("SPY", 60, T0, T0 + 120 * NS) == [bar(T0), bar(T0 + 60 * NS)]
    assert lb.candles("SPY", 60, T0) == [bar(T0 + i * 60 * NS) for i in range(10)]  # the rest of the gap too
    asked = len(broker.asked)
    assert len(lb.candles("SPY", 60, T0)) == 10 and len(broker.asked) == asked  # asked once
    assert lb.poll() == []                                                      # history is not delivered
