"""Resampling: against pandas on a 24/7 series, against the generator's grids on exchange
calendars, and by hand on session boundaries (XNYS early close, holidays, pre-market)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from backtestester.data.resample import (
    MisalignedBarsError,
    bucket_starts,
    can_resample,
    resample,
    session_mask,
    sources_for,
    stamp_dates,
)
from backtestester.data.schema import BAR_SCHEMA
from backtestester.data.synthetic import generate_bars

from .conftest import ns, starts

MIN = 60 * 10**9
HOUR = 60 * MIN
DAY = 24 * HOUR


def col(table: pa.Table, name: str) -> np.ndarray:
    return table.column(name).to_numpy()


def bars(start_ns, o, h, l, c, v) -> pa.Table:
    arrays = [pa.array(np.asarray(start_ns, dtype=np.int64)).view(BAR_SCHEMA.field("start").type)]
    arrays += [pa.array(np.asarray(x, dtype=np.float64)) for x in (o, h, l, c, v)]
    return pa.Table.from_arrays(arrays, schema=BAR_SCHEMA)


# --------------------------------------------------------------------------- #
# 24/7 against pandas
# --------------------------------------------------------------------------- #


@pytest.fixture(scope="module")
def minutes_247():
    """Three weeks of 24/7 minute bars with 30% of them missing (gaps everywhere)."""
    full = generate_bars("P", timeframe="1m", start="2021-03-03", end="2021-03-24", calendar=None, seed=5)
    keep = np.random.default_rng(0).random(full.num_rows) > 0.3
    return full.filter(pa.array(keep))


PANDAS_RULES = {
    "5m": dict(rule="5min", origin="epoch"),
    "15m": dict(rule="15min", origin="epoch"),
    "30m": dict(rule="30min", origin="epoch"),
    "1h": dict(rule="1h", origin="epoch"),
    "4h": dict(rule="4h", origin="epoch"),
    "1d": dict(rule="24h", origin="epoch"),
    "1w": dict(rule="168h", origin=pd.Timestamp("1970-01-05")),  # Monday-aligned weeks
}


@pytest.mark.parametrize("target", list(PANDAS_RULES))
def test_247_matches_pandas_resample(minutes_247, target):
    got = resample(minutes_247, "1m", target, calendar=None)
    df = pd.DataFrame({c: col(minutes_247, c) for c in ("open", "high", "low", "close", "volume")},
                      index=pd.to_datetime(starts(minutes_247)))  # naive UTC: origin applies to every rule
    spec = PANDAS_RULES[target]
    grouped = df.resample(spec["rule"], origin=spec["origin"], closed="left", label="left")
    want = grouped.agg({"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"})
    want = want[grouped["open"].count() > 0]  # pandas keeps empty buckets, we do not
    assert np.array_equal(starts(got), want.index.as_unit("ns").asi8)
    for c in ("open", "high", "low", "close", "volume"):
        np.testing.assert_array_equal(col(got, c), want[c].to_numpy(), err_msg=c)
    assert got.schema.metadata[b"calendar"] == b"24/7"


def test_247_coarser_source(minutes_247):
    """Resampling via an intermediate timeframe gives the same bars as from 1m."""
    fifteen = resample(minutes_247, "1m", "15m", calendar=None)
    assert resample(fifteen, "15m", "4h", calendar=None).equals(resample(minutes_247, "1m", "4h", calendar=None),
                                                                   check_metadata=False)


# --------------------------------------------------------------------------- #
# Exchange calendars: the generator's grid
# --------------------------------------------------------------------------- #


@pytest.fixture(scope="module")
def xnys_minutes():
    """XNYS minute bars 2020-11-16 (Mon) to 2020-12-07 (Mon): Thanksgiving holiday and the
    early close of Friday 2020-11-27 (13:00 New York = 18:00 UTC)."""
    return generate_bars("X", timeframe="1m", start="2020-11-16", end="2020-12-07", seed=2)


@pytest.mark.parametrize("target", ["5m", "15m", "30m", "1h", "4h", "1d", "1w"])
def test_xnys_buckets_are_the_generator_grid(xnys_minutes, target):
    got = resample(xnys_minutes, "1m", target, calendar="XNYS")
    grid = generate_bars("X", timeframe=target, start="2020-11-16", end="2020-12-07", seed=2)
    assert np.array_equal(starts(got), starts(grid))
    assert got.schema.metadata[b"dropped_outside_sessions"] == b"0"


@pytest.mark.parametrize("target", ["30m", "1h", "4h", "1d"])
def test_lunch_break_calendar_grid(target):
    """XHKG sessions have a lunch break: intraday bars never span it."""
    m = generate_bars("H", timeframe="1m", start="2021-06-07", end="2021-06-12", calendar="XHKG", seed=1)
    got = resample(m, "1m", target, calendar="XHKG")
    grid = generate_bars("H", timeframe=target, start="2021-06-07", end="2021-06-12", calendar="XHKG", seed=1)
    assert np.array_equal(starts(got), starts(grid))


def test_early_close_by_hand(xnys_minutes):
    t = starts(xnys_minutes)
    day = (t >= ns("2020-11-27T14:30")) & (t < ns("2020-11-28T00:00"))
    assert day.sum() == 210  # 09:30-13:00 New York
    # 1h: 09:30, 10:30, 11:30 and a 30-minute 12:30 bar; nothing after the 13:00 close
    h = resample(xnys_minutes, "1m", "1h")
    hs = starts(h)
    on_day = (hs >= ns("2020-11-27T00:00")) & (hs < ns("2020-11-28T00:00"))
    assert list(hs[on_day]) == [ns("2020-11-27T14:30"), ns("2020-11-27T15:30"), ns("2020-11-27T16:30"),
                                ns("2020-11-27T17:30")]
    last = int(np.flatnonzero(hs == ns("2020-11-27T17:30"))[0])
    m = np.flatnonzero((t >= ns("2020-11-27T17:30")) & (t < ns("2020-11-27T18:00")))
    assert m.size == 30
    assert col(h, "open")[last] == col(xnys_minutes, "open")[m[0]]
    assert col(h, "close")[last] == col(xnys_minutes, "close")[m[-1]]
    assert col(h, "high")[last] == col(xnys_minutes, "high")[m].max()
    assert col(h, "low")[last] == col(xnys_minutes, "low")[m].min()
    assert col(h, "volume")[last] == col(xnys_minutes, "volume")[m].sum()
    # 4h: a single 09:30-13:00 bar that day
    four = resample(xnys_minutes, "1m", "4h")
    fs = starts(four)
    assert list(fs[(fs >= ns("2020-11-27T00:00")) & (fs < ns("2020-11-28T00:00"))]) == [ns("2020-11-27T14:30")]
    # 1d: one bar per session, at the open; Thanksgiving (11-26) has none
    d = resample(xnys_minutes, "1m", "1d")
    ds = starts(d)
    assert ns("2020-11-26T14:30") not in ds
    k = int(np.flatnonzero(ds == ns("2020-11-27T14:30"))[0])
    idx = np.flatnonzero(day)
    assert col(d, "open")[k] == col(xnys_minutes, "open")[idx[0]]
    assert col(d, "close")[k] == col(xnys_minutes, "close")[idx[-1]]
    assert col(d, "volume")[k] == col(xnys_minutes, "volume")[idx].sum()
    # 1w: the Thanksgiving week (4 sessions) at Monday's open
    w = resample(xnys_minutes, "1m", "1w")
    ws = starts(w)
    assert list(ws) == [ns("2020-11-16T14:30"), ns("2020-11-23T14:30"), ns("2020-11-30T14:30")]
    week = (t >= ns("2020-11-23T00:00")) & (t < ns("2020-11-30T00:00"))
    assert col(w, "volume")[1] == col(xnys_minutes, "volume")[week].sum()
    assert week.sum() == 3 * 390 + 210


def test_dst_change_moves_the_session_open():
    m = generate_bars("D", timeframe="1m", start="2021-03-12", end="2021-03-16", seed=3)
    d = resample(m, "1m", "1d")
    # 09:30 New York is 14:30 UTC before the change (Sunday 2021-03-14) and 13:30 after
    assert list(starts(d)) == [ns("2021-03-12T14:30"), ns("2021-03-15T13:30")]


def test_bars_outside_sessions_are_left_out_and_counted():
    """24/7 minute bars of one day resampled on XNYS: only the 390 session minutes count."""
    m = generate_bars("E", timeframe="1m", start="2021-06-01", n_bars=1440, calendar=None, seed=4)
    h = resample(m, "1m", "1h", calendar="XNYS")
    assert h.num_rows == 7
    assert starts(h)[0] == ns("2021-06-01T13:30")
    assert h.schema.metadata[b"dropped_outside_sessions"] == str(1440 - 390).encode()
    assert col(h, "volume").sum() == col(m, "volume")[(starts(m) >= ns("2021-06-01T13:30")) &
                                                      (starts(m) < ns("2021-06-01T20:00"))].sum()
    mask = session_mask(starts(m), "XNYS")
    assert mask.sum() == 390


def test_daily_to_weekly_with_open_or_midnight_stamps():
    days = np.array([ns("2021-06-01"), ns("2021-06-02"), ns("2021-06-04"), ns("2021-06-07"), ns("2021-06-08")]) // DAY
    at_open, ok = stamp_dates(days, "1d", "XNYS")
    assert ok.all() and at_open[0] == ns("2021-06-01T13:30")
    one = np.ones(5)
    for stamps in (at_open, days * DAY):  # session opens, or 00:00 UTC of the session date
        w = resample(bars(stamps, one, one * 2, one * 0.5, one, one * 10), "1d", "1w", calendar="XNYS")
        assert list(starts(w)) == [ns("2021-06-01T13:30"), ns("2021-06-07T13:30")]  # Monday 05-31 is a holiday
        assert list(col(w, "volume")) == [30.0, 20.0]


def test_stamp_dates_rejects_non_sessions_and_handles_weeks():
    days = np.array([ns("2021-06-05"), ns("2021-06-07"), ns("2021-05-31")]) // DAY  # Sat, Mon, Memorial Day
    _, ok = stamp_dates(days, "1d", "XNYS")
    assert list(ok) == [False, True, False]
    wk, ok = stamp_dates(days, "1w", "XNYS")
    assert ok.all()
    assert list(wk) == [ns("2021-06-01T13:30"), ns("2021-06-07T13:30"), ns("2021-06-01T13:30")]
    wk, _ = stamp_dates(days, "1w", None)
    assert list(wk) == [ns("2021-05-31"), ns("2021-06-07"), ns("2021-05-31")]
    with pytest.raises(ValueError, match="1d or 1w"):
        stamp_dates(days, "1h", "XNYS")


def test_misaligned_source_is_an_error():
    """Hourly bars stamped on the hour do not fit XNYS 4h buckets starting at 09:30."""
    t = np.array([ns("2021-06-01T15:00"), ns("2021-06-01T16:00"), ns("2021-06-01T17:00")])
    one = np.ones(3)
    with pytest.raises(MisalignedBarsError, match="spans two XNYS 4h buckets"):
        resample(bars(t, one, one, one, one, one), "1h", "4h")
    # the same bars are fine 24/7 (4h buckets from midnight UTC: 12:00-16:00, 16:00-20:00)
    out = resample(bars(t, one, one, one, one, one), "1h", "4h", calendar=None)
    assert list(starts(out)) == [ns("2021-06-01T12:00"), ns("2021-06-01T16:00")]


def test_which_timeframes_serve_which():
    assert can_resample("1m", "1w") and can_resample("5m", "15m") and can_resample("1h", "4h")
    assert can_resample("4h", "1d") and can_resample("1d", "1w")
    assert can_resample("15m", "1h") and not can_resample("1h", "1h")
    assert not can_resample("1h", "30m") and not can_resample("1d", "4h") and not can_resample("1w", "1d")
    assert not can_resample("1m", "1m")
    assert sources_for("1h") == ["1m", "5m", "15m", "30m"]
    with pytest.raises(ValueError, match="cannot resample 1d bars to 1h"):
        bucket_starts(np.zeros(1, np.int64), "1d", "1h")


def test_empty_and_unsorted_input():
    empty = generate_bars("E", timeframe="1m", n_bars=1, seed=0).slice(0, 0)
    out = resample(empty, "1m", "1h")
    assert out.num_rows == 0 and out.schema.remove_metadata() == BAR_SCHEMA
    t = np.array([ns("2021-06-01T14:31"), ns("2021-06-01T14:30")])
    one = np.ones(2)
    with pytest.raises(ValueError, match="sorted"):
        resample(bars(t, one, one, one, one, one), "1m", "5m")
    with pytest.raises(ValueError, match="calendar"):
        resample(bars(t[::-1], one, one, one, one, one), "1m", "5m", calendar="NOPE")
