"""The simulated clock and market calendar: spec section 3 with D6 and D17, and docs/engine.md
"Time" (inclusive session close, dates as start/end, clamping to the end)."""
from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from backtestester.engine import BacktestCompleteError, Clock, Playground
from backtestester.engine.timeutil import from_ns, to_ns

from .conftest import MINUTE, T0, UTC, repo  # T0: Tuesday 2024-01-02 09:30 New York

NY = ZoneInfo("America/New_York")


def ny(y, m, d, hh=0, mm=0):
    return datetime(y, m, d, hh, mm, tzinfo=NY)


def pg_247(start=T0, end=None):
    return Playground(balance=10_000, start=start, end=end or start + timedelta(days=30), repositories=[repo(n=5)])


def pg_nyse(start, end=None, candles_at=T0):
    return Playground(balance=10_000, start=start, end=end or start + timedelta(days=30),
                      repositories=[repo(start=candles_at, n=5)], calendar="XNYS")


def same_instant_in_ny(actual: datetime, expected: datetime):
    """Equal as instants and shown in New York time."""
    assert actual == expected
    assert str(actual.tzinfo) == "America/New_York"
    assert actual.utcoffset() == expected.utcoffset()


# --- 24/7 clock ------------------------------------------------------------------------------

def test_24_7_tick_advances_by_exactly_the_step():
    """3.4 step 2: without a calendar GetNext(t, d) = t + d."""
    pg = pg_247()
    assert pg.current_time == T0
    assert pg.tick(60).current_time == T0 + MINUTE
    assert pg.current_time == T0 + MINUTE
    pg.tick(3600)
    assert pg.current_time == T0 + MINUTE + timedelta(hours=1)
    pg.tick(0.5)
    assert pg.current_time == T0 + MINUTE + timedelta(hours=1, seconds=0.5)


def test_24_7_tick_zero_does_not_move_time():
    """5.1: Tick(0) fills without moving time."""
    pg = pg_247()
    pg.tick(60)
    assert pg.tick(0).current_time == T0 + MINUTE
    assert pg.current_time == T0 + MINUTE


def test_24_7_clock_steps_through_nights_and_weekends():
    """3.4 step 2: a 24/7 clock knows no sessions; it crosses nights and weekends unchanged."""
    friday_evening = datetime(2024, 1, 5, 23, 0, tzinfo=UTC)
    pg = pg_247(start=friday_evening)
    assert pg.tick(3600).current_time == datetime(2024, 1, 6, 0, 0, tzinfo=UTC)  # Saturday midnight
    assert pg.tick(86_400).current_time == datetime(2024, 1, 7, 0, 0, tzinfo=UTC)  # Sunday


def test_24_7_start_on_a_weekend_is_kept():
    """3.3: only a calendar moves the start; without one it is taken as given."""
    saturday = datetime(2024, 1, 6, 3, 17, tzinfo=UTC)
    pg = pg_247(start=saturday)
    assert pg.current_time == saturday and pg.start_time == saturday


def test_24_7_current_time_is_utc():
    """Spec conventions + docs/engine.md: without a calendar times are UTC."""
    pg = pg_247()
    assert pg.current_time.tzinfo == UTC
    assert pg.tick(60).current_time.tzinfo == UTC
    assert pg.current_time.utcoffset() == timedelta(0)


def test_negative_tick_is_refused():
    """3.4: the clock only moves forward; a negative step is bad input."""
    pg = pg_247()
    with pytest.raises(ValueError):
        pg.tick(-60)
    assert pg.current_time == T0


# --- XNYS calendar: the start (D17) -----------------------------------------------------------

def test_calendar_current_time_is_new_york():
    """Spec conventions: the simulator clock lives in America/New_York once a calendar is used."""
    pg = pg_nyse(ny(2024, 1, 2, 10, 0))
    assert str(pg.current_time.tzinfo) == "America/New_York"
    assert pg.current_time.utcoffset() == timedelta(hours=-5)  # EST in January
    assert str(pg.tick(60).current_time.tzinfo) == "America/New_York"
    summer = pg_nyse(ny(2024, 7, 2, 10, 0), candles_at=datetime(2024, 7, 2, 14, tzinfo=UTC))
    assert summer.current_time.utcoffset() == timedelta(hours=-4)  # EDT in July


def test_calendar_start_given_in_utc_is_reported_in_new_york():
    """Spec conventions: a UTC start inside the session is kept, shown in New York time."""
    pg = pg_nyse(T0 + timedelta(minutes=30))  # 10:00 New York
    same_instant_in_ny(pg.current_time, ny(2024, 1, 2, 10, 0))


def test_calendar_start_within_session_is_kept():
    """3.3: a start within market hours is not adjusted."""
    pg = pg_nyse(ny(2024, 1, 3, 10, 17))
    same_instant_in_ny(pg.current_time, ny(2024, 1, 3, 10, 17))


def test_calendar_start_exactly_at_the_open_is_kept():
    """3.1: the open is within market hours."""
    pg = pg_nyse(ny(2024, 1, 3, 9, 30))
    same_instant_in_ny(pg.current_time, ny(2024, 1, 3, 9, 30))


def test_calendar_start_exactly_at_the_close_is_kept():
    """docs/engine.md inclusive-close decision: the close instant itself is in session."""
    pg = pg_nyse(ny(2024, 1, 3, 16, 0))
    same_instant_in_ny(pg.current_time, ny(2024, 1, 3, 16, 0))


def test_calendar_start_on_a_weekend_moves_to_next_open():
    """D17 (fixes 20.19): a start on a non-trading day moves to the next session's open."""
    pg = pg_nyse(ny(2024, 1, 6, 10, 0))  # Saturday
    same_instant_in_ny(pg.current_time, ny(2024, 1, 8, 9, 30))  # Monday open
    same_instant_in_ny(pg.start_time, ny(2024, 1, 8, 9, 30))


def test_calendar_start_on_a_holiday_moves_to_next_open():
    """D17: New Year's Day 2024 (Monday) is not a session; the clock starts Tuesday 09:30."""
    pg = pg_nyse(ny(2024, 1, 1, 11, 0))
    same_instant_in_ny(pg.current_time, ny(2024, 1, 2, 9, 30))


def test_calendar_start_on_independence_day_moves_to_next_open():
    """D17: 2024-07-04 is a holiday; the next open is 2024-07-05 09:30."""
    pg = pg_nyse(ny(2024, 7, 4, 12, 0), candles_at=datetime(2024, 7, 5, 13, 30, tzinfo=UTC))
    same_instant_in_ny(pg.current_time, ny(2024, 7, 5, 9, 30))


def test_calendar_start_after_close_moves_to_next_sessions_open():
    """D17 (fixes 20.19, where the original moved back to that day's open)."""
    pg = pg_nyse(ny(2024, 1, 2, 17, 0))
    same_instant_in_ny(pg.current_time, ny(2024, 1, 3, 9, 30))


def test_calendar_start_friday_after_close_moves_to_monday_open():
    """D17: after Friday's close the next session is Monday's."""
    pg = pg_nyse(ny(2024, 1, 5, 16, 30))
    same_instant_in_ny(pg.current_time, ny(2024, 1, 8, 9, 30))


def test_calendar_start_before_open_moves_to_that_days_open():
    """3.3 / D17: a start before the open of a trading day moves to that day's open."""
    pg = pg_nyse(ny(2024, 1, 3, 7, 0))
    same_instant_in_ny(pg.current_time, ny(2024, 1, 3, 9, 30))


def test_calendar_start_one_minute_before_open_moves_to_that_open():
    """3.1: 09:29 is outside market hours; the clock waits for 09:30 the same day."""
    pg = pg_nyse(ny(2024, 1, 3, 9, 29))
    same_instant_in_ny(pg.current_time, ny(2024, 1, 3, 9, 30))


def test_calendar_start_date_is_that_days_first_open_and_end_date_the_end_of_that_day():
    """docs/engine.md Time: a start date is 00:00 in the calendar's zone, moved to the first open
    (D17); an end date is the end of that day."""
    pg = Playground(balance=10_000, start=date(2024, 1, 6), end=date(2024, 1, 9), repositories=[repo(n=5)],
                    calendar="XNYS")
    same_instant_in_ny(pg.current_time, ny(2024, 1, 8, 9, 30))
    same_instant_in_ny(pg.end_time, ny(2024, 1, 10, 0, 0))


# --- XNYS calendar: steps -------------------------------------------------------------------

def test_calendar_step_within_session_lands_where_it_lands():
    """3.4 step 3: a time within market hours is returned unchanged."""
    pg = pg_nyse(ny(2024, 1, 3, 10, 0))
    same_instant_in_ny(pg.tick(90 * 60).current_time, ny(2024, 1, 3, 11, 30))


def test_calendar_step_from_1559_by_one_minute_lands_on_the_close():
    """docs/engine.md inclusive-close decision (the original's [open, close) would skip to the
    next open): 15:59 + 1 min = 16:00, the close, is in session."""
    pg = pg_nyse(ny(2024, 1, 3, 15, 59))
    delta = pg.tick(60)
    same_instant_in_ny(delta.current_time, ny(2024, 1, 3, 16, 0))
    same_instant_in_ny(pg.current_time, ny(2024, 1, 3, 16, 0))


def test_calendar_step_after_the_close_moves_to_next_sessions_open():
    """3.4 / D17: 16:00 + 1 min is after the close; the clock moves to the next day's 09:30."""
    pg = pg_nyse(ny(2024, 1, 3, 15, 59))
    pg.tick(60)
    same_instant_in_ny(pg.tick(60).current_time, ny(2024, 1, 4, 9, 30))


def test_calendar_step_past_friday_close_moves_to_monday_open():
    """3.4 / D17: the weekend is skipped."""
    pg = pg_nyse(ny(2024, 1, 5, 16, 0))
    same_instant_in_ny(pg.tick(60).current_time, ny(2024, 1, 8, 9, 30))


def test_calendar_step_past_close_skips_a_holiday():
    """3.4 / D17: Friday 2024-01-12 close -> Monday 2024-01-15 is MLK day -> Tuesday 09:30."""
    pg = pg_nyse(ny(2024, 1, 12, 16, 0))
    same_instant_in_ny(pg.tick(300).current_time, ny(2024, 1, 16, 9, 30))


def test_calendar_step_landing_before_the_open_lands_on_that_open():
    """D17 (fixes 20.19, where the original skipped the whole day): 16:00 + 17 h = 09:00 next
    day, before its open, lands on that day's 09:30."""
    pg = pg_nyse(ny(2024, 1, 2, 16, 0))
    same_instant_in_ny(pg.tick(17 * 3600).current_time, ny(2024, 1, 3, 9, 30))


def test_calendar_step_landing_exactly_on_the_open_is_kept():
    """3.1: the open is within market hours."""
    pg = pg_nyse(ny(2024, 1, 2, 16, 0))
    same_instant_in_ny(pg.tick(17.5 * 3600).current_time, ny(2024, 1, 3, 9, 30))


def test_calendar_step_landing_on_a_weekend_moves_to_next_open():
    """3.4 step 4 / D17: a time on a non-trading day moves to the next session's open."""
    pg = pg_nyse(ny(2024, 1, 5, 10, 0))
    same_instant_in_ny(pg.tick(24 * 3600).current_time, ny(2024, 1, 8, 9, 30))  # Saturday 10:00 -> Monday


def test_calendar_one_minute_steps_walk_a_whole_session_then_jump_to_the_next_open():
    """3.4 with the inclusive close: 09:30..16:00 are 391 one-minute stamps, then the next open."""
    pg = pg_nyse(ny(2024, 1, 3, 9, 30))
    times = [pg.current_time]
    for _ in range(391):
        times.append(pg.tick(60).current_time)
    assert times[0] == ny(2024, 1, 3, 9, 30)
    assert times[390] == ny(2024, 1, 3, 16, 0)
    assert all(b - a == MINUTE for a, b in zip(times[:391], times[1:391]))
    assert times[391] == ny(2024, 1, 4, 9, 30)


def test_calendar_early_close_1300_is_in_session_and_1301_is_not():
    """3.1 (early closes honoured via the close time) + inclusive close: 2020-11-27 closes 13:00
    New York; 12:59 + 1 min = 13:00 (kept), + 1 min more -> Monday 2020-11-30 09:30."""
    candles_at = datetime(2020, 11, 27, 14, 30, tzinfo=UTC)
    pg = pg_nyse(ny(2020, 11, 27, 12, 59), candles_at=candles_at)
    same_instant_in_ny(pg.tick(60).current_time, ny(2020, 11, 27, 13, 0))
    same_instant_in_ny(pg.tick(60).current_time, ny(2020, 11, 30, 9, 30))


def test_calendar_step_into_the_afternoon_of_an_early_close_moves_to_next_open():
    """3.1: on 2020-11-27 14:00 is after the 13:00 close although a normal day would be open."""
    candles_at = datetime(2020, 11, 27, 14, 30, tzinfo=UTC)
    pg = pg_nyse(ny(2020, 11, 27, 12, 0), candles_at=candles_at)
    same_instant_in_ny(pg.tick(2 * 3600).current_time, ny(2020, 11, 30, 9, 30))


def test_calendar_start_after_an_early_close_moves_to_next_open():
    """D17 + early close: a 14:00 start on 2020-11-27 (closed at 13:00) moves to 2020-11-30 09:30."""
    candles_at = datetime(2020, 11, 27, 14, 30, tzinfo=UTC)
    pg = pg_nyse(ny(2020, 11, 27, 14, 0), candles_at=candles_at)
    same_instant_in_ny(pg.current_time, ny(2020, 11, 30, 9, 30))


def test_lunch_break_splits_the_session():
    """docs/engine.md Time: lunch breaks (e.g. XHKG) split a session in two; a step into the break
    lands on the afternoon open."""
    hk = ZoneInfo("Asia/Hong_Kong")
    pg = Playground(balance=10_000, start=datetime(2024, 1, 3, 11, 59, tzinfo=hk), end=datetime(2024, 1, 10, tzinfo=hk),
                    repositories=[repo(n=5)], calendar="XHKG")
    assert str(pg.current_time.tzinfo) == "Asia/Hong_Kong"
    assert pg.tick(60).current_time == datetime(2024, 1, 3, 12, 0, tzinfo=hk)  # morning close, inclusive
    assert pg.tick(60).current_time == datetime(2024, 1, 3, 13, 0, tzinfo=hk)  # afternoon open


# --- the Clock object directly ---------------------------------------------------------------

def nyse_clock(start=ny(2024, 1, 3, 10, 0), end=ny(2024, 2, 1)):
    return Clock(to_ns(start), to_ns(end), "XNYS")


def test_clock_session_is_open_to_close_inclusive():
    """3.1 with the inclusive-close decision: open <= t <= close is in session."""
    clock = nyse_clock()
    open_ns, close_ns = to_ns(ny(2024, 1, 3, 9, 30)), to_ns(ny(2024, 1, 3, 16, 0))
    assert clock.in_session(open_ns)
    assert clock.in_session(close_ns)
    assert clock.in_session(to_ns(ny(2024, 1, 3, 12, 0)))
    assert not clock.in_session(open_ns - 1)
    assert not clock.in_session(close_ns + 1)
    assert not clock.in_session(to_ns(ny(2024, 1, 6, 12, 0)))  # Saturday


def test_clock_next_time_is_pure():
    """3.4: GetNext is pure; Add mutates."""
    clock = nyse_clock(start=ny(2024, 1, 3, 15, 59))
    before = clock.now_ns
    assert clock.next_time(before, 120 * 1_000_000_000) == to_ns(ny(2024, 1, 4, 9, 30))
    assert clock.now_ns == before
    assert clock.advance(60 * 1_000_000_000) == to_ns(ny(2024, 1, 3, 16, 0)) == clock.now_ns


def test_clock_without_calendar_is_plain_addition():
    """3.4 step 2 via the Clock object, and its zone is UTC."""
    clock = Clock(to_ns(T0), to_ns(T0 + timedelta(days=1)))
    assert clock.tz == UTC
    assert clock.next_time(clock.now_ns, 7 * 1_000_000_000) == to_ns(T0) + 7 * 1_000_000_000
    assert clock.normalize(to_ns(datetime(2024, 1, 6, 3, 0, tzinfo=UTC))) == to_ns(datetime(2024, 1, 6, 3, 0, tzinfo=UTC))


def test_clock_start_is_normalized_by_d17():
    """D17 via the Clock object: a Saturday start moves to Monday's open, in New York time."""
    clock = nyse_clock(start=ny(2024, 1, 6, 12, 0))
    assert clock.now_ns == to_ns(ny(2024, 1, 8, 9, 30))
    assert str(from_ns(clock.now_ns, clock.tz).tzinfo) == "America/New_York"


def test_clock_expiry_is_at_or_after_end():
    """3.5: IsTimeExpired(x) <=> x >= EndTime."""
    clock = Clock(to_ns(T0), to_ns(T0 + MINUTE))
    end = to_ns(T0 + MINUTE)
    assert not clock.is_expired(end - 1)
    assert clock.is_expired(end)
    assert clock.is_expired(end + 1)
    assert not clock.is_expired()


# --- the end of the backtest (D6, 3.5, 5.3) ---------------------------------------------------

def test_step_beyond_end_completes_the_backtest_with_time_clamped_to_end():
    """D6 + docs/engine.md: the tick reaching the end completes the backtest and the clock never
    passes the end."""
    end = T0 + 5 * MINUTE
    pg = pg_247(end=end)
    delta = pg.tick(600)
    assert delta.is_backtest_complete is True
    assert delta.current_time == end
    assert pg.current_time == end
    assert pg.is_backtest_complete


def test_step_reaching_end_exactly_completes_the_backtest():
    """3.5: expired when time >= end."""
    end = T0 + 5 * MINUTE
    pg = pg_247(end=end)
    for _ in range(4):
        assert pg.tick(60).is_backtest_complete is False
    delta = pg.tick(60)
    assert delta.is_backtest_complete and delta.current_time == end


def test_tick_after_completion_raises_backtest_complete():
    """5.3 / D6: later ticks error `backtest complete: clock expired`."""
    pg = pg_247(end=T0 + MINUTE)
    pg.tick(3600)
    with pytest.raises(BacktestCompleteError, match="^backtest complete: clock expired$"):
        pg.tick(60)
    with pytest.raises(BacktestCompleteError):
        pg.tick(0)
    assert pg.current_time == T0 + MINUTE


def test_completion_tick_records_its_equity_point_at_the_end():
    """D6: the completion tick records its equity point (at the clamped end time)."""
    end = T0 + 3 * MINUTE
    pg = pg_247(end=end)
    pg.tick(3600)
    assert [t for t, _ in pg.equity_plot()] == [end]


def test_calendar_step_beyond_end_is_clamped_to_end_in_new_york_time():
    """D6 + 3.4: past the last session the next open lies beyond the end; the clock stops at the end."""
    end = ny(2024, 1, 3, 16, 0)
    pg = pg_nyse(ny(2024, 1, 3, 15, 0), end=end)
    delta = pg.tick(2 * 3600)
    assert delta.is_backtest_complete
    same_instant_in_ny(delta.current_time, end)
    same_instant_in_ny(pg.current_time, end)


def test_calendar_step_over_the_close_into_next_day_beyond_end_completes():
    """3.4 consequences: past the last calendar day the clock ends at/after the end -> complete."""
    end = ny(2024, 1, 3, 18, 0)
    pg = pg_nyse(ny(2024, 1, 3, 16, 0), end=end)
    delta = pg.tick(60)  # next open 2024-01-04 09:30 is after the end
    assert delta.is_backtest_complete
    same_instant_in_ny(pg.current_time, end)


def test_running_out_of_candles_does_not_complete_the_backtest():
    """5.3: completion is triggered only by the clock, never by running out of candles."""
    pg = pg_247(end=T0 + timedelta(days=1))
    delta = pg.tick(3600)  # far past the 5 candles
    assert not delta.is_backtest_complete and not pg.is_backtest_complete
    assert pg.tick(60).is_backtest_complete is False


def test_preview_beyond_end_reports_completion_without_completing():
    """5.4: a preview returns the next time and whether it completes; nothing changes."""
    end = T0 + 2 * MINUTE
    pg = pg_247(end=end)
    delta = pg.tick(600, preview=True)
    assert delta.is_backtest_complete is True
    assert delta.current_time == end
    assert pg.current_time == T0 and not pg.is_backtest_complete
    assert pg.tick(60).current_time == T0 + MINUTE


def test_calendar_preview_applies_the_calendar_but_does_not_move_the_clock():
    """5.4: next = GetNext(now, d) under the calendar; the clock is not mutated."""
    pg = pg_nyse(ny(2024, 1, 3, 16, 0))
    delta = pg.tick(60, preview=True)
    same_instant_in_ny(delta.current_time, ny(2024, 1, 4, 9, 30))
    assert delta.is_backtest_complete is False
    same_instant_in_ny(pg.current_time, ny(2024, 1, 3, 16, 0))


def test_day_end_is_the_first_close_after_the_time_inside_and_outside_the_session_last_found():
    # day_end answers from the session the clock last normalized into when the time is inside it:
    # the answer must be the calendar's first close strictly after the time, wherever the clock is.
    clock = Clock(to_ns(ny(2024, 1, 2, 9, 30)), to_ns(ny(2024, 1, 31)), "XNYS")
    close_2nd, close_3rd, close_5th = (to_ns(ny(2024, 1, d, 16)) for d in (2, 3, 5))
    cases = [(ny(2024, 1, 2, 9, 30), close_2nd), (ny(2024, 1, 2, 15, 59), close_2nd), (ny(2024, 1, 2, 16), close_3rd),
             (ny(2024, 1, 2, 20), close_3rd), (ny(2024, 1, 3, 12), close_3rd), (ny(2024, 1, 5, 16), to_ns(ny(2024, 1, 8, 16)))]
    for now in (ny(2024, 1, 2, 9, 30), ny(2024, 1, 3, 10), ny(2024, 1, 5, 10)):
        clock.normalize(to_ns(now))  # the session the clock last found moves
        for t, expected in cases:
            assert clock.day_end(to_ns(t)) == expected, (now, t)
    assert clock.day_end(to_ns(ny(2024, 1, 5, 11))) == close_5th


def test_from_ns_is_the_epoch_plus_whole_microseconds():
    for ns in (0, 1, 999, 1_000, -1, -1_001, 1_704_205_800_123_456_789, -86_400_000_000_123):
        expected = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=ns // 1000)
        assert from_ns(ns) == expected and from_ns(ns).tzinfo is UTC
    assert from_ns(1_704_205_800_000_000_000, NY) == ny(2024, 1, 2, 9, 30)
