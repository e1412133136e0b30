"""Market sessions: which order durations may be sent when, from the broker's calendar (cached
per month) or the exchange calendar; clock skew."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from backtestester.live.port import BrokerClock, BrokerUnavailable, SessionDay
from backtestester.live.sessions import SKEW_LIMIT_S, MarketSessions, exchange_days
from backtestester.live.simbroker import SimulatedBroker

NY = ZoneInfo("America/New_York")


def et(*args) -> int:
    """UTC ns of a New York wall time."""
    moment = datetime(*args, tzinfo=NY)
    return int(moment.timestamp()) * 10**9 + moment.microsecond * 1000


class CountingBroker(SimulatedBroker):
    """The simulated broker, counting calendar calls; ``fail``/``empty`` script its answers."""

    def __init__(self, fail=False, empty=False):
        super().__init__()
        self.calls, self.fail, self.empty = [], fail, empty

    def calendar(self, year, month):
        self.calls.append((year, month))
        if self.fail:
            raise BrokerUnavailable("calendar: 503")
        return [] if self.empty else super().calendar(year, month)


@pytest.fixture
def sessions():
    return MarketSessions(CountingBroker())


def test_a_weekday_one_second_before_the_open_is_refused_for_day_and_allowed_for_pre(sessions):
    now = et(2026, 12, 4, 9, 29, 59)
    assert sessions.refusal(now, "day") == (
        "market is closed: orders are accepted from 2026-12-04 09:30 America/New_York "
        "(use duration pre or post for extended hours)")
    assert sessions.refusal(now, "gtc") == sessions.refusal(now, "day")
    assert sessions.refusal(now, "pre") is None
    assert sessions.refusal(now, "post").startswith(
        "postmarket session is closed: post orders are accepted from 2026-12-04 16:00 America/New_York")


def test_the_open_is_allowed_for_day(sessions):
    assert sessions.refusal(et(2026, 12, 4, 9, 30), "day") is None
    assert sessions.refusal(et(2026, 12, 4, 9, 30), "pre").startswith(
        "premarket session is closed: pre orders are accepted from 2026-12-07 04:00 America/New_York")
    assert sessions.refusal(et(2026, 12, 4, 16, 0), "post") is None
    assert sessions.refusal(et(2026, 12, 4, 16, 0), "day") is not None


@pytest.mark.parametrize("duration", ["day", "gtc", "pre", "post"])
def test_saturday_is_refused_for_every_duration(sessions, duration):
    text = sessions.refusal(et(2026, 12, 5, 12, 0), duration)
    assert text is not None and "2026-12-07" in text


def test_a_holiday_is_refused_and_names_the_next_open(sessions):
    assert sessions.refusal(et(2026, 12, 25, 10, 0), "day") == (
        "market is closed: orders are accepted from 2026-12-28 09:30 America/New_York "
        "(use duration pre or post for extended hours)")


def test_an_early_close_refuses_day_orders_at_13_00_and_moves_postmarket(sessions):
    assert sessions.refusal(et(2026, 11, 27, 12, 59, 59), "day") is None
    assert sessions.refusal(et(2026, 11, 27, 13, 0), "day").startswith(
        "market is closed: orders are accepted from 2026-11-30 09:30 America/New_York")
    assert sessions.refusal(et(2026, 11, 27, 13, 0), "post") is None
    assert sessions.refusal(et(2026, 11, 27, 17, 0), "post") is not None


def test_many_refusals_in_one_day_make_one_calendar_call(sessions):
    for minute in range(0, 600, 7):
        sessions.refusal(et(2026, 12, 4, 4, 0) + minute * 60 * 10**9, "day")
    assert sessions.broker.calls == [(2026, 12)]


def test_the_exchange_calendar_stands_in_when_the_broker_fails_or_has_no_days():
    for broker in (CountingBroker(fail=True), CountingBroker(empty=True), None):
        s = MarketSessions(broker)
        assert s.refusal(et(2026, 12, 4, 10, 0), "day") is None
        assert s.refusal(et(2026, 12, 25, 10, 0), "day") is not None
        assert s.day(datetime(2026, 12, 4).date()) == exchange_days(2026, 12)[3]


def test_a_failed_broker_calendar_is_retried_on_the_next_local_date_only():
    broker = CountingBroker(fail=True)
    s = MarketSessions(broker)
    s.refusal(et(2026, 12, 4, 10, 0), "day")
    s.refusal(et(2026, 12, 4, 11, 0), "day")
    assert broker.calls == [(2026, 12)]
    broker.fail = False
    s.refusal(et(2026, 12, 7, 10, 0), "day")
    s.refusal(et(2026, 12, 7, 11, 0), "day")
    assert broker.calls == [(2026, 12), (2026, 12)]


def test_the_brokers_calendar_wins_over_the_exchange_calendar():
    class Closed(CountingBroker):
        def calendar(self, year, month):
            self.calls.append((year, month))
            return [SessionDay(d.date, False) for d in exchange_days(year, month)]

    s = MarketSessions(Closed())
    assert s.refusal(et(2026, 12, 4, 10, 0), "day").startswith("market is closed: no regular session in the next 14 days")


def test_an_unknown_duration_is_refused_naming_the_accepted_ones(sessions):
    with pytest.raises(ValueError, match="duration must be one of day, gtc, pre, post, got 'ioc'"):
        sessions.refusal(et(2026, 12, 4, 10, 0), "ioc")


def test_skew_is_local_minus_server_seconds():
    s = MarketSessions(None, now=lambda: 10_000 * 10**9)
    assert s.skew_s(BrokerClock("open", 9_997 * 10**9)) == 3.0 > SKEW_LIMIT_S
    assert s.skew_s(BrokerClock("open", 10_000_500_000_000)) == -0.5


def test_the_sim_brokers_clock_and_calendar_come_from_the_exchange_calendar():
    for now, state in ((et(2026, 12, 4, 8, 0), "premarket"), (et(2026, 12, 4, 10, 0), "open"),
                       (et(2026, 12, 4, 17, 0), "postmarket"), (et(2026, 12, 4, 21, 0), "closed"),
                       (et(2026, 12, 5, 10, 0), "closed")):
        assert SimulatedBroker(now=lambda now=now: now).clock() == BrokerClock(state, now)
    days = SimulatedBroker().calendar(2026, 12)
    assert len(days) == 31 and [d.is_open for d in days[3:7]] == [True, False, False, True]
    assert days[3].regular == (et(2026, 12, 4, 9, 30), et(2026, 12, 4, 16, 0))
    assert days[3].premarket == (et(2026, 12, 4, 4, 0), et(2026, 12, 4, 9, 30))
    assert days[3].postmarket == (et(2026, 12, 4, 16, 0), et(2026, 12, 4, 20, 0))
