"""Candles and repositories: construction and validation, and spec section 4.5 adapted by D2
(availability), D15/D16 (symbols) and D18 (empty data), with docs/engine.md "Candles"."""
from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import pytest

from backtestester.engine import Candle, NotFoundError, Playground, PlaygroundError, Repository

from .conftest import H1, M1, M5, T0, UTC, candles, repo


def playground(repos, start=T0, end=None, **kw):
    return Playground(balance=100_000, start=start, end=end or start + timedelta(days=2), repositories=repos, **kw)


def reported(delta):
    """(symbol, period, candle start) of each new candle of a tick, sorted."""
    return sorted((nc.symbol, nc.period, nc.candle.start) for nc in delta.new_candles)


# --- Candle ---------------------------------------------------------------------------------

def test_candle_keeps_its_fields():
    """2 / 4.1: a candle is start + OHLCV; availability unset until a repository fills it in."""
    c = Candle(T0, 1.0, 2.0, 0.5, 1.5, 42)
    assert (c.start, c.open, c.high, c.low, c.close, c.volume) == (T0, 1.0, 2.0, 0.5, 1.5, 42.0)
    assert c.available_at is None


def test_candle_refuses_a_naive_start():
    """docs/engine.md Time: times are timezone-aware at the API; naive datetimes are refused."""
    with pytest.raises(ValueError, match="timezone-aware"):
        Candle(datetime(2024, 1, 2, 14, 30), 1, 1, 1, 1)


def test_candle_refuses_a_naive_available_at():
    """docs/engine.md Time: every time at the API is timezone-aware, availability included."""
    with pytest.raises(ValueError, match="timezone-aware"):
        Candle(T0, 1, 1, 1, 1, available_at=datetime(2024, 1, 2, 14, 31))


def test_candle_start_in_another_zone_is_the_same_instant():
    """docs/engine.md Time: aware datetimes in any zone are instants."""
    est = timezone(timedelta(hours=-5))
    assert Candle(datetime(2024, 1, 2, 9, 30, tzinfo=est), 1, 1, 1, 1).start == T0


# --- Repository construction -----------------------------------------------------------------

def test_repository_default_availability_is_start_plus_period():
    """D2: loaders of start-stamped data set availability = start + period."""
    r = repo(period=M5, n=3)
    assert [r.candle(i).available_at for i in range(3)] == [T0 + M5, T0 + 2 * M5, T0 + 3 * M5]
    assert [r.candle(i).start for i in range(3)] == [T0, T0 + M5, T0 + 2 * M5]


def test_repository_keeps_explicit_availability():
    """D2: candles fed with explicit availability times are taken as given."""
    r = repo(n=3, available_after=timedelta(0))
    assert [r.candle(i).available_at for i in range(3)] == [T0, T0 + M1, T0 + 2 * M1]


def test_repository_refuses_unsorted_candles():
    """4.1 (the original assumed sorted candles): unsorted input is refused, naming the candle."""
    cs = candles(3)
    with pytest.raises(ValueError, match="unsorted"):
        Repository("AAPL", M1, [cs[0], cs[2], cs[1]])


def test_repository_refuses_duplicate_starts():
    """4.1: one candle per start."""
    cs = candles(3)
    with pytest.raises(ValueError, match="duplicate"):
        Repository("AAPL", M1, [cs[0], cs[1], cs[1], cs[2]])


@pytest.mark.parametrize("ohlc", [
    (100, 99, 98, 100),    # high below close
    (100, 99, 98, 98.5),   # high below open
    (100, 101, 100.5, 100.8),  # low above open
    (100, 101, 99, 98),    # low above close
    (100, 99, 101, 100),   # high below low
])
def test_repository_refuses_inconsistent_high_low(ohlc):
    """Candles must be consistent: high >= max(open, close) and low <= min(open, close)."""
    o, h, l, c = ohlc
    with pytest.raises(ValueError, match="inconsistent"):
        Repository("AAPL", M1, [Candle(T0, o, h, l, c)])


@pytest.mark.parametrize("field", ["open", "high", "low", "close", "volume"])
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_repository_refuses_non_finite_values(field, bad):
    """Prices and volumes must be finite numbers."""
    values = dict(open=100.0, high=101.0, low=99.0, close=100.0, volume=10.0)
    values[field] = bad
    good = Candle(T0 - M1, 100, 101, 99, 100, 10)
    with pytest.raises(ValueError, match="not finite"):
        Repository("AAPL", M1, [good, Candle(T0, **values)])


def test_repository_refuses_things_that_are_not_candles():
    """4.1: a repository holds Candle objects."""
    with pytest.raises(TypeError):
        Repository("AAPL", M1, [(T0, 1, 1, 1, 1)])


def test_repository_refuses_a_non_positive_period():
    """4.1: a period is a positive duration."""
    with pytest.raises(ValueError):
        Repository("AAPL", timedelta(0), candles(2))


def test_empty_repository_is_refused_at_playground_creation():
    """D18 (fixes 20.20): an empty repository is a clear error at creation, never a crash later."""
    empty = Repository("AAPL", M1, [])
    with pytest.raises(PlaygroundError, match="empty"):
        playground([repo("MSFT"), empty])


def test_empty_repository_error_is_a_value_error_naming_the_repository():
    """D18: a clear error naming what is missing."""
    with pytest.raises(ValueError, match="AAPL"):
        playground([Repository("aapl", M1, [])])


@pytest.mark.parametrize("repos", [[], None])
def test_missing_repositories_are_refused_at_playground_creation(repos):
    """D18 / 14 CreatePlayground: `missing repositories`."""
    with pytest.raises(PlaygroundError, match="missing repositories"):
        Playground(balance=1000, start=T0, end=T0 + H1, repositories=repos)


def test_duplicate_repositories_are_refused():
    """2.1 repos[symbol][period]: one repository per (symbol, period)."""
    with pytest.raises(PlaygroundError, match="duplicate repository"):
        playground([repo("AAPL"), repo("AAPL", base=200)])


def test_duplicate_repositories_differing_only_in_symbol_case_are_refused():
    """D16: tickers are case-insensitive, so `aapl` and `AAPL` name the same repository."""
    with pytest.raises(PlaygroundError, match="duplicate repository"):
        playground([repo("AAPL"), repo("aapl")])


def test_same_symbol_on_two_timeframes_is_allowed():
    """2.1: repos[symbol][period] may hold several periods per symbol."""
    pg = playground([repo("AAPL", period=M1), repo("AAPL", period=M5)])
    assert pg.symbols == ["AAPL"] and len(pg.repositories) == 2


# --- lookups --------------------------------------------------------------------------------

def test_unknown_symbol_in_current_candle_raises_not_found():
    """4.6 / 4.7: `symbol %s not found in repos`."""
    pg = playground([repo("AAPL")])
    with pytest.raises(NotFoundError, match=r"^symbol MSFT not found in repos$"):
        pg.current_candle("MSFT", M1)


def test_unknown_symbol_in_candles_raises_not_found():
    """4.7 GetCandles: `symbol %s not found in repos`."""
    pg = playground([repo("AAPL")])
    with pytest.raises(NotFoundError, match=r"^symbol MSFT not found in repos$"):
        pg.candles("MSFT", M1, T0)


def test_unknown_symbol_error_names_it_upper_case():
    """D16: tickers are reported upper-case, in errors too."""
    pg = playground([repo("AAPL")])
    with pytest.raises(NotFoundError, match=r"^symbol MSFT not found in repos$"):
        pg.current_candle("msft", M1)


def test_unknown_period_in_current_candle_and_candles_raises_not_found():
    """4.7 GetCandles: `period %s not found in repos`."""
    pg = playground([repo("AAPL", period=M1)])
    with pytest.raises(NotFoundError, match="period .* not found in repos"):
        pg.current_candle("AAPL", M5)
    with pytest.raises(NotFoundError, match="period .* not found in repos"):
        pg.candles("AAPL", 300, T0)


def test_not_found_error_is_a_lookup_and_playground_error():
    """The engine's error types: a NotFoundError is a PlaygroundError (a ValueError) and a LookupError."""
    assert issubclass(NotFoundError, PlaygroundError)
    assert issubclass(NotFoundError, ValueError)
    assert issubclass(NotFoundError, LookupError)


def test_period_may_be_given_in_seconds():
    """14 GetCandles(period_in_seconds): a period is a timedelta or a number of seconds."""
    pg = playground([repo("AAPL", period=M5)], start=T0 + 2 * M5)
    assert pg.current_candle("AAPL", 300) == pg.current_candle("AAPL", M5)
    assert pg.candles("AAPL", 300, T0) == pg.candles("AAPL", M5, T0)


# --- the current candle (4.4 / 4.5 with D2) -------------------------------------------------

def test_no_current_candle_before_the_first_is_available():
    """D2: at T0 the candle starting at T0 is not complete yet, so there is no current candle."""
    pg = playground([repo("AAPL")])
    assert pg.current_candle("AAPL", M1) is None


def test_no_price_before_the_first_candle_is_available():
    """4.6 / D2: no current candle -> `current price is not set`."""
    pg = playground([repo("AAPL")])
    with pytest.raises(PlaygroundError, match="current price is not set"):
        pg.price("AAPL")


def test_current_candle_at_creation_is_the_latest_available_at_the_start():
    """D2: the current candle is the latest one available at or before the clock."""
    pg = playground([repo("AAPL")], start=T0 + 150 * timedelta(seconds=1))  # T0 + 2.5 min
    c = pg.current_candle("AAPL", M1)
    assert c.start == T0 + M1 and c.close == 101  # available at T0 + 2 min; the next at T0 + 3 min
    assert pg.price("AAPL") == 101


def test_current_candle_becomes_available_exactly_at_start_plus_period():
    """D2: a candle is visible when it is complete (available_at <= clock)."""
    pg = playground([repo("AAPL")])
    pg.tick(59)
    assert pg.current_candle("AAPL", M1) is None
    pg.tick(1)
    assert pg.current_candle("AAPL", M1).start == T0


def test_current_candle_stays_until_the_next_one_is_available():
    """4.5 (Returns previous candle until new candle is available) with D2."""
    pg = playground([repo("AAPL")], start=T0 + M1)
    first = pg.current_candle("AAPL", M1)
    assert first.start == T0
    pg.tick(30)
    assert pg.current_candle("AAPL", M1) == first
    pg.tick(30)
    assert pg.current_candle("AAPL", M1).start == T0 + M1


def test_bar_start_is_kept_while_availability_is_start_plus_period():
    """D2: `Bar.datetime` stays the bar's start."""
    pg = playground([repo("AAPL", period=M5)], start=T0 + M5)
    c = pg.current_candle("AAPL", M5)
    assert c.start == T0 and c.available_at == T0 + M5


def test_after_the_last_candle_the_repository_stays_on_it_and_reports_nothing():
    """4.5 / 5.3: after the data runs out the current candle stays the last one; nothing new is reported."""
    pg = playground([repo("AAPL", n=3)], start=T0 + M1)
    pg.tick(0)
    pg.tick(3600)
    last = pg.current_candle("AAPL", M1)
    assert last.start == T0 + 2 * M1
    assert pg.tick(60).new_candles == []
    assert pg.current_candle("AAPL", M1) == last


# --- what a tick reports (4.5 with D2) ------------------------------------------------------

def test_one_candle_per_repository_per_tick_one_minute_steps():
    """4.5: every one-minute step over one-minute candles reports that minute's new candle once."""
    pg = playground([repo("AAPL", n=5)])
    starts = []
    for _ in range(5):
        delta = pg.tick(60)
        assert len(delta.new_candles) == 1
        starts.append(delta.new_candles[0].candle.start)
    assert starts == [T0 + i * M1 for i in range(5)]


def test_long_tick_reports_only_the_newest_candle_and_skips_the_others():
    """4.5 (Skip a candle): a 20-minute tick over 5-minute candles reports only the newest."""
    r = repo("AAPL", n=12, period=M5)
    pg = playground([r], start=T0 + M5)
    assert reported(pg.tick(0)) == [("AAPL", M5, T0)]
    delta = pg.tick(20 * 60)  # clock T0 + 25 min: candles starting T0+5..T0+20 became available
    assert len(delta.new_candles) == 1
    nc = delta.new_candles[0]
    assert nc.candle.start == T0 + 20 * timedelta(minutes=1)
    assert nc.candle == pg.current_candle("AAPL", M5)
    assert nc.close == nc.candle.close == 104


def test_first_tick_zero_reports_the_current_candles():
    """4.5 initial-candle rule / 5.2: the first Tick(0) reports every repository's current candle."""
    pg = playground([repo("AAPL", period=M1), repo("MSFT", period=M5)], start=T0 + M5)
    delta = pg.tick(0)
    assert reported(delta) == [("AAPL", M1, T0 + 4 * M1), ("MSFT", M5, T0)]
    assert delta.current_time == T0 + M5


def test_second_tick_zero_reports_nothing():
    """4.5: the initial candle is reported only by the very first tick."""
    pg = playground([repo("AAPL")], start=T0 + M1)
    assert len(pg.tick(0).new_candles) == 1
    assert pg.tick(0).new_candles == []


def test_first_tick_reports_nothing_for_a_repository_without_an_available_candle():
    """D2 + 4.5: a repository with no current candle has nothing to report."""
    pg = playground([repo("AAPL")])
    assert pg.tick(0).new_candles == []
    assert reported(pg.tick(60)) == [("AAPL", M1, T0)]


def test_first_tick_that_advances_reports_only_the_newest_candle():
    """4.5: if the first tick jumps past the next candle the initial candle is never reported."""
    pg = playground([repo("AAPL")], start=T0 + M1)
    delta = pg.tick(180)
    assert reported(delta) == [("AAPL", M1, T0 + 3 * M1)]


def test_tick_without_a_newly_available_candle_reports_nothing():
    """4.5: Update returns no candle when the cursor does not move."""
    pg = playground([repo("AAPL")], start=T0 + M1)
    pg.tick(0)
    assert pg.tick(30).new_candles == []


def test_new_candle_carries_symbol_period_and_prices():
    """5.5 new_candles: {symbol, period, bar}."""
    pg = playground([repo("AAPL", period=M5)], start=T0 + M5)
    nc = pg.tick(0).new_candles[0]
    assert nc.symbol == "AAPL" and nc.period == M5
    assert (nc.open, nc.high, nc.low, nc.close, nc.volume) == (99.5, 101.0, 99.0, 100.0, 1000.0)


def test_five_minute_and_hourly_repositories_both_report_on_the_tick_reaching_the_hour():
    """4.5 (multi-period alignment by time) with D2: the tick reaching 15:00 reports the 5-minute
    bar ending at 15:00 (start 14:55) and the hourly bar ending at 15:00 (start 14:00)."""
    h0 = datetime(2024, 1, 2, 14, 0, tzinfo=UTC)
    pg = playground([repo("AAPL", n=24, period=M5, start=h0), repo("AAPL", n=2, period=H1, start=h0)], start=h0)
    for k in range(1, 12):
        assert reported(pg.tick(300)) == [("AAPL", M5, h0 + (k - 1) * M5)]
    delta = pg.tick(300)
    assert delta.current_time == h0 + H1
    assert reported(delta) == [("AAPL", M5, h0 + 11 * M5), ("AAPL", H1, h0)]
    assert pg.current_candle("AAPL", H1).start == h0


def test_repositories_of_several_symbols_advance_independently():
    """4.5: repositories are independent; each advances to its own latest available candle."""
    pg = playground([repo("AAPL", n=20, period=M1), repo("MSFT", n=4, period=M5)])
    seen = []
    for _ in range(10):
        seen.append(reported(pg.tick(60)))
    for k, rows in enumerate(seen, start=1):
        aapl = [r for r in rows if r[0] == "AAPL"]
        msft = [r for r in rows if r[0] == "MSFT"]
        assert aapl == [("AAPL", M1, T0 + (k - 1) * M1)]
        assert msft == ([("MSFT", M5, T0 + (k // 5 - 1) * M5)] if k % 5 == 0 else [])


def test_repository_with_later_data_reports_nothing_until_its_first_candle_is_available():
    """4.5: each repository moves by its own timestamps; a later-starting one joins when ready."""
    pg = playground([repo("AAPL", n=10), repo("MSFT", n=5, start=T0 + 3 * M1)])
    names = [[r[0] for r in reported(pg.tick(60))] for _ in range(5)]
    assert names == [["AAPL"], ["AAPL"], ["AAPL"], ["AAPL", "MSFT"], ["AAPL", "MSFT"]]


# --- explicit availability (D2) --------------------------------------------------------------

def test_explicit_available_at_equal_to_start_is_current_immediately():
    """D2: candles fed with explicit availability (as the original tests do) are taken as given."""
    pg = playground([repo("AAPL", available_after=timedelta(0))])
    assert pg.current_candle("AAPL", M1).start == T0
    assert reported(pg.tick(0)) == [("AAPL", M1, T0)]
    assert reported(pg.tick(60)) == [("AAPL", M1, T0 + M1)]


def test_explicit_late_availability_is_respected():
    """D2: a candle available later than start + period is hidden until then."""
    pg = playground([repo("AAPL", available_after=3 * M1)])
    pg.tick(120)
    assert pg.current_candle("AAPL", M1) is None
    assert pg.candles("AAPL", M1, T0) == []
    delta = pg.tick(60)
    assert reported(delta) == [("AAPL", M1, T0)]
    assert pg.current_candle("AAPL", M1).start == T0


# --- candles() (4.7 with D2) ----------------------------------------------------------------

def test_candles_never_returns_candles_beyond_the_clock():
    """D2 (fixes 20.18): GetCandles never returns candles not yet available."""
    pg = playground([repo("AAPL", n=10)], start=T0 + 3 * M1)
    got = pg.candles("AAPL", M1, T0)
    assert [c.start for c in got] == [T0, T0 + M1, T0 + 2 * M1]
    assert all(c.available_at <= pg.current_time for c in got)
    assert len(pg.candles("AAPL", M1, T0, T0 + timedelta(days=1))) == 3


def test_candles_is_empty_before_any_candle_is_available():
    """D2: nothing is visible before the first candle completes."""
    pg = playground([repo("AAPL", n=10)])
    assert pg.candles("AAPL", M1, T0 - timedelta(days=1)) == []


def test_candles_grows_as_the_clock_advances():
    """D2: each tick makes the newly available candles readable."""
    pg = playground([repo("AAPL", n=10)], start=T0 + M1)
    assert len(pg.candles("AAPL", M1, T0)) == 1
    pg.tick(120)
    assert len(pg.candles("AAPL", M1, T0)) == 3


def test_candles_range_is_from_inclusive_to_exclusive():
    """4.7 FetchCandles(from, to): from <= start < to."""
    pg = playground([repo("AAPL", n=10)], start=T0 + 10 * M1)
    got = pg.candles("AAPL", M1, T0 + 2 * M1, T0 + 5 * M1)
    assert [c.start for c in got] == [T0 + 2 * M1, T0 + 3 * M1, T0 + 4 * M1]
    assert [c.close for c in got] == [102, 103, 104]


def test_candles_with_explicit_availability_are_filtered_by_availability():
    """D2: with explicit availability the clock limit uses available_at, not start + period."""
    pg = playground([repo("AAPL", n=10, available_after=timedelta(0))], start=T0 + 2 * M1)
    assert [c.start for c in pg.candles("AAPL", M1, T0)] == [T0, T0 + M1, T0 + 2 * M1]


# --- preview (5.4 with D2 and docs/engine.md) -------------------------------------------------

def test_preview_tick_returns_the_next_time_and_no_candles_and_changes_nothing():
    """5.4 + docs/engine.md preview decision: the next time, no candles, no state change."""
    pg = playground([repo("AAPL", n=10)], start=T0 + M1)
    order = pg.place_order(symbol="AAPL", side="buy", quantity=1, requested_price=100)
    current = pg.current_candle("AAPL", M1)
    delta = pg.tick(300, preview=True)
    assert delta.current_time == T0 + 6 * M1
    assert delta.is_backtest_complete is False
    assert delta.new_candles == [] and delta.new_trades == [] and delta.invalid_orders == [] and delta.events == []
    assert pg.current_time == T0 + M1
    assert pg.current_candle("AAPL", M1) == current
    assert len(pg.candles("AAPL", M1, T0)) == 1
    assert order.status == "pending" and order.trades == []
    assert pg.equity_plot() == []


def test_preview_does_not_consume_the_first_tick_report():
    """5.4 + 4.5: a preview does not change state, so the first real Tick(0) still reports the current candles."""
    pg = playground([repo("AAPL", n=10)], start=T0 + M1)
    pg.tick(60, preview=True)
    assert reported(pg.tick(0)) == [("AAPL", M1, T0)]


# --- symbols (D16) --------------------------------------------------------------------------

def test_lowercase_symbol_is_reported_upper_case():
    """D16: tickers are case-insensitive and reported upper-case."""
    r = repo("aapl")
    assert r.symbol == "AAPL"
    pg = playground([r], start=T0 + M1)
    assert pg.symbols == ["AAPL"]
    assert [nc.symbol for nc in pg.tick(0).new_candles] == ["AAPL"]


def test_lookups_are_case_insensitive():
    """D16: `aapl`, `Aapl` and `AAPL` name the same repository."""
    pg = playground([repo("AAPL")], start=T0 + M1)
    assert pg.current_candle("aapl", M1) == pg.current_candle("AAPL", M1) == pg.current_candle("Aapl", M1)
    assert pg.candles("aapl", M1, T0) == pg.candles("AAPL", M1, T0)
    assert pg.price("aapl") == 100


def test_order_for_lowercase_symbol_finds_the_upper_case_repository():
    """D16 (fixes 20.31): an order for `aapl` finds the repository created for `AAPL`."""
    pg = playground([repo("AAPL")], start=T0 + M1)
    order = pg.place_order(symbol="aapl", side="buy", quantity=2, requested_price=100)
    assert order.symbol == "AAPL"
    delta = pg.tick(0)
    assert [t.quantity for t in delta.new_trades] == [2] and order.status == "filled"
    assert pg.position("aapl").quantity == 2 and pg.position("AAPL").quantity == 2
    assert set(pg.account().positions) == {"AAPL"}
