"""Tests of backtestester.data.synthetic.generate_bars."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pytest

from backtestester.data.schema import BAR_SCHEMA, TIMEFRAMES
from backtestester.data.synthetic import generate_bars

from .conftest import REPO, starts

NY = ZoneInfo("America/New_York")
UTC = timezone.utc


def ny_times(table: pa.Table) -> list[datetime]:
    return [t.astimezone(NY) for t in table["start"].to_pylist()]


def columns(table: pa.Table) -> dict[str, np.ndarray]:
    return {name: table[name].to_numpy() for name in ("open", "high", "low", "close", "volume")}


def digest(table: pa.Table) -> str:
    h = hashlib.sha256()
    h.update(starts(table).tobytes())
    for values in columns(table).values():
        h.update(values.tobytes())
    return h.hexdigest()


def assert_ohlc_invariants(table: pa.Table, tick_size: float | None = 0.01) -> None:
    c = columns(table)
    o, h, lo, cl, v = c["open"], c["high"], c["low"], c["close"], c["volume"]
    assert np.isfinite(np.stack([o, h, lo, cl, v])).all()
    assert (h >= np.maximum(o, cl)).all()
    assert (lo <= np.minimum(o, cl)).all()
    assert (lo > 0).all()
    assert (v >= 1).all() and (v == np.rint(v)).all()
    if tick_size is not None:
        for p in (o, h, lo, cl):
            ticks = p / tick_size
            assert np.allclose(ticks, np.rint(ticks), rtol=0, atol=1e-6)
    s = starts(table)
    assert (np.diff(s) > 0).all()  # sorted and unique


# --------------------------------------------------------------------------- #
# Determinism and seeding
# --------------------------------------------------------------------------- #


def test_same_arguments_give_identical_output():
    a = generate_bars("AAA", n_bars=5000, seed=11)
    b = generate_bars("AAA", n_bars=5000, seed=11)
    assert a.equals(b)
    assert digest(a) == digest(b)


def test_output_does_not_depend_on_the_python_hash_seed():
    code = (
        "import hashlib, numpy as np;"
        "from backtestester.data.synthetic import generate_bars;"
        "t = generate_bars('AAA', n_bars=2000, seed=5, timeframe='5m');"
        "h = hashlib.sha256(t['start'].to_numpy().astype('datetime64[ns]').astype(np.int64).tobytes());"
        "[h.update(t[c].to_numpy().tobytes()) for c in ('open', 'high', 'low', 'close', 'volume')];"
        "print(h.hexdigest())"
    )
    env = dict(os.environ, PYTHONHASHSEED="12345")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == digest(generate_bars("AAA", n_bars=2000, seed=5, timeframe="5m"))


def test_seed_and_symbol_change_the_path():
    base = generate_bars("AAA", n_bars=500, seed=1)
    other_seed = generate_bars("AAA", n_bars=500, seed=2)
    other_symbol = generate_bars("BBB", n_bars=500, seed=1)
    assert base["start"].equals(other_seed["start"]) and base["start"].equals(other_symbol["start"])
    for other in (other_seed, other_symbol):
        assert not np.array_equal(columns(base)["close"], columns(other)["close"])


def test_prefix_does_not_depend_on_length_or_end():
    big = generate_bars(n_bars=3000, seed=4)
    small = generate_bars(n_bars=800, seed=4)
    assert big.slice(0, 800).equals(small)
    by_end = generate_bars(end=big["start"][800].as_py(), seed=4)
    assert by_end.equals(small)


# --------------------------------------------------------------------------- #
# Schema and invariants
# --------------------------------------------------------------------------- #


def test_schema():
    t = generate_bars(n_bars=10)
    assert t.schema.equals(BAR_SCHEMA)
    assert t.column_names == ["start", "open", "high", "low", "close", "volume"]
    assert t.schema.field("start").type == pa.timestamp("ns", tz="UTC")
    for name in ("open", "high", "low", "close", "volume"):
        assert t.schema.field(name).type == pa.float64()
    assert t.schema.metadata[b"symbol"] == b"SYNTH"
    first = t["start"][0].as_py()
    assert first.tzinfo is not None and first.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(n_bars=20_000),
        dict(n_bars=20_000, annual_volatility=3.0, annual_drift=-2.0, initial_price=1.0),
        dict(n_bars=3000, timeframe="1d", annual_volatility=1.5, initial_price=0.05),
        dict(n_bars=500, timeframe="1w", tick_size=0.25, initial_price=20.0),
        dict(n_bars=5000, calendar=None, timeframe="15m", tick_size=None),
        dict(n_bars=5000, calendar="XHKG", timeframe="5m", tick_size=0.05),
    ],
)
def test_ohlc_invariants(kwargs):
    t = generate_bars(**kwargs)
    assert t.num_rows == kwargs["n_bars"]
    assert_ohlc_invariants(t, kwargs.get("tick_size", 0.01))


def test_first_open_is_initial_price_and_opens_chain_within_a_session():
    t = generate_bars(n_bars=2000, initial_price=123.45)
    c = columns(t)
    assert c["open"][0] == 123.45
    s = starts(t)
    same_session = np.diff(s) == 60 * 10**9
    assert same_session.sum() > 1900
    assert np.array_equal(c["open"][1:][same_session], c["close"][:-1][same_session])
    # Prices are exact decimal ticks (no 100.01000000000001).
    assert all(len(repr(float(p)).split(".")[-1]) <= 2 for p in c["close"][:2000])


def test_annual_volatility_is_the_daily_close_to_close_volatility():
    t = generate_bars(timeframe="1d", n_bars=6000, seed=3, annual_volatility=0.3, tick_size=None)
    r = np.diff(np.log(columns(t)["close"]))
    assert np.std(r, ddof=1) * np.sqrt(252) == pytest.approx(0.3, rel=0.05)
    # Intraday: the variance splits between the 390 trading minutes and the overnight gap.
    m = generate_bars(timeframe="1m", n_bars=390 * 400, seed=3, annual_volatility=0.3, tick_size=None)
    close = columns(m)["close"]
    day = starts(m) // (86_400 * 10**9)
    last = np.flatnonzero(np.append(day[1:] != day[:-1], True))
    r = np.diff(np.log(close[last]))
    assert np.std(r, ddof=1) * np.sqrt(252) == pytest.approx(0.3, rel=0.1)


def test_volume_is_u_shaped_intraday():
    t = generate_bars(n_bars=390 * 60, seed=8)
    minute = np.array([(ts.hour * 60 + ts.minute) - (9 * 60 + 30) for ts in ny_times(t)])
    v = columns(t)["volume"]
    edges = v[(minute < 30) | (minute >= 360)].mean()
    midday = v[(minute >= 165) & (minute < 225)].mean()
    assert edges > 2 * midday


# --------------------------------------------------------------------------- #
# Exchange sessions
# --------------------------------------------------------------------------- #


def test_xnys_sessions():
    t = generate_bars(start="2020-11-20", end="2021-01-05")
    local = ny_times(t)
    dates = {ts.date() for ts in local}
    assert all(d.weekday() < 5 for d in dates)
    assert date(2020, 12, 25) not in dates and date(2020, 11, 26) not in dates  # holidays
    early = [ts for ts in local if ts.date() == date(2020, 11, 27)]  # early close 13:00
    assert early[0].time().isoformat() == "09:30:00"
    assert max(ts.time() for ts in early).isoformat() == "12:59:00"
    assert len(early) == 210
    normal = [ts for ts in local if ts.date() == date(2020, 11, 30)]
    assert normal[0].time().isoformat() == "09:30:00" and len(normal) == 390
    assert normal[-1].time().isoformat() == "15:59:00"
    assert all(ts.time() >= ts.time().replace(hour=9, minute=30) for ts in local)


def test_xnys_open_is_0930_new_york_across_dst():
    for day in ("2021-01-05", "2021-07-06"):
        t = generate_bars(start=day, n_bars=1)
        assert ny_times(t)[0] == datetime.fromisoformat(day + "T09:30").replace(tzinfo=NY)


def test_lunch_break_has_no_bars():
    t = generate_bars(calendar="XHKG", timeframe="30m", start="2021-03-01", n_bars=11)
    hk = [ts.astimezone(ZoneInfo("Asia/Hong_Kong")).strftime("%H:%M") for ts in t["start"].to_pylist()]
    assert hk == ["09:30", "10:00", "10:30", "11:00", "11:30", "13:00", "13:30", "14:00", "14:30",
                  "15:00", "15:30"]


def test_start_date_is_a_session_date():
    # The ASX session of 2021-03-01 opens at 10:00 Sydney = 23:00 UTC on 2021-02-28.
    t = generate_bars(calendar="XASX", timeframe="1d", start="2021-03-01", n_bars=1)
    assert t["start"][0].as_py() == datetime(2021, 2, 28, 23, tzinfo=UTC)


def test_datetime_start_is_an_instant():
    t = generate_bars(start=datetime(2021, 3, 2, 10, 0, tzinfo=NY), n_bars=3)
    assert [ts.strftime("%H:%M") for ts in ny_times(t)] == ["10:00", "10:01", "10:02"]
    naive = generate_bars(start="2021-03-02T15:00:00", n_bars=1)  # naive = UTC
    assert naive["start"][0].as_py() == datetime(2021, 3, 2, 15, tzinfo=UTC)


def test_end_is_exclusive():
    t = generate_bars(start="2021-03-01", end="2021-03-03")
    assert {ts.date() for ts in ny_times(t)} == {date(2021, 3, 1), date(2021, 3, 2)}
    assert t.num_rows == 780
    cut = generate_bars(start="2021-03-01", end=datetime(2021, 3, 1, 9, 35, tzinfo=NY))
    assert cut.num_rows == 5


def test_empty_range_gives_an_empty_table():
    t = generate_bars(start="2021-03-06", end="2021-03-08")  # a weekend
    assert t.num_rows == 0 and t.schema.equals(BAR_SCHEMA)


# --------------------------------------------------------------------------- #
# Timeframes
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("timeframe", list(TIMEFRAMES))
@pytest.mark.parametrize("calendar", ["XNYS", None])
def test_each_timeframe_gives_exactly_n_bars(timeframe, calendar):
    t = generate_bars(timeframe=timeframe, calendar=calendar, n_bars=37, seed=2)
    assert t.num_rows == 37
    assert_ohlc_invariants(t)


@pytest.mark.parametrize(
    ("timeframe", "expected"),
    [
        ("5m", ["09:30", "09:35", "09:40"]),
        ("15m", ["09:30", "09:45", "10:00"]),
        ("30m", ["09:30", "10:00", "10:30"]),
        ("1h", ["09:30", "10:30", "11:30", "12:30", "13:30", "14:30", "15:30"]),
        ("4h", ["09:30", "13:30"]),
    ],
)
def test_intraday_timeframes_step_from_the_session_open(timeframe, expected):
    t = generate_bars(timeframe=timeframe, start="2021-03-01", end="2021-03-02")
    hhmm = [ts.strftime("%H:%M") for ts in ny_times(t)]
    assert hhmm[: len(expected)] == expected
    if timeframe in ("1h", "4h"):
        assert hhmm == expected  # the last bar is cut by the 16:00 close
    assert hhmm[-1] < "16:00"


def test_daily_bars_are_stamped_at_the_session_open():
    t = generate_bars(timeframe="1d", start="2020-11-23", end="2020-12-01")
    local = ny_times(t)
    assert [ts.date().day for ts in local] == [23, 24, 25, 27, 30]  # no Thanksgiving (26th)
    assert all(ts.strftime("%H:%M") == "09:30" for ts in local)


def test_weekly_bars_are_stamped_at_the_first_session_of_the_week():
    t = generate_bars(timeframe="1w", start="2020-01-13", n_bars=3)
    local = ny_times(t)
    # 2020-01-20 was Martin Luther King Day: that week starts on Tuesday.
    assert [ts.date() for ts in local] == [date(2020, 1, 13), date(2020, 1, 21), date(2020, 1, 27)]
    assert all(ts.strftime("%H:%M") == "09:30" for ts in local)
    # A mid-week start: the first bar is the next full week.
    mid = generate_bars(timeframe="1w", start="2020-01-15", n_bars=1)
    assert ny_times(mid)[0].date() == date(2020, 1, 21)


@pytest.mark.parametrize("timeframe", list(TIMEFRAMES))
def test_24_7_is_contiguous_and_aligned(timeframe):
    step = int(TIMEFRAMES[timeframe] / timedelta(microseconds=1)) * 1000
    t = generate_bars(timeframe=timeframe, calendar=None, start="2021-03-03", n_bars=500)
    s = starts(t)
    assert (np.diff(s) == step).all()
    first = t["start"][0].as_py()
    if timeframe == "1w":
        assert first == datetime(2021, 3, 8, tzinfo=UTC)  # the next Monday
    else:
        assert first == datetime(2021, 3, 3, tzinfo=UTC)


def test_24_7_end_and_unaligned_start():
    t = generate_bars(timeframe="1h", calendar=None, start="2021-03-03T10:17:00+00:00",
                      end="2021-03-04T00:00:00+00:00")
    assert t["start"][0].as_py() == datetime(2021, 3, 3, 11, tzinfo=UTC)
    assert t.num_rows == 13


def test_one_million_minute_bars():
    t = generate_bars(n_bars=1_000_000)
    assert t.num_rows == 1_000_000
    assert t.column("start").to_numpy()[-1] > t.column("start").to_numpy()[0]


# --------------------------------------------------------------------------- #
# Bad arguments
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(n_bars=10, timeframe="2m"), "timeframe must be one of"),
        (dict(n_bars=10, calendar="NOPE"), "calendar must be None"),
        (dict(), "exactly one of end and n_bars"),
        (dict(n_bars=10, end="2021-01-01"), "exactly one of end and n_bars"),
        (dict(n_bars=0), "n_bars must be an integer >= 1"),
        (dict(n_bars=-5), "n_bars must be an integer >= 1"),
        (dict(n_bars=2.5), "n_bars must be an integer >= 1"),
        (dict(n_bars=10, initial_price=0.0), "initial_price"),
        (dict(n_bars=10, initial_price=-1.0), "initial_price"),
        (dict(n_bars=10, annual_volatility=0.0), "annual_volatility"),
        (dict(n_bars=10, annual_volatility=float("nan")), "annual_volatility"),
        (dict(n_bars=10, annual_drift=float("inf")), "annual_drift"),
        (dict(n_bars=10, tick_size=0.0), "tick_size"),
        (dict(n_bars=10, initial_price=0.001), "tick_size"),
        (dict(n_bars=10, seed=-1), "seed"),
        (dict(start="2021-02-01", end="2021-01-01"), "end .* must be after start"),
        (dict(start="2021-02-01", end="2021-02-01"), "end .* must be after start"),
        (dict(start="yesterday", n_bars=5), "start must be an ISO date"),
        (dict(start=20210101, n_bars=5), "start must be a date"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        generate_bars(**kwargs)


def test_bad_symbol():
    with pytest.raises(ValueError, match="symbol"):
        generate_bars("", n_bars=1)
