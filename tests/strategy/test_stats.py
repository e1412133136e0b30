"""Tests of backtestester.stats: hand-computed examples and an independent pandas computation."""

from __future__ import annotations

import dataclasses
import math
import statistics
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from backtestester.stats import RoundTrip, Statistics, benchmark_curve, compute_statistics

# Undefined statistics must be nan, never a RuntimeWarning (division by zero, ...).
pytestmark = pytest.mark.filterwarnings("error")

UTC = timezone.utc
T0 = datetime(2021, 3, 1, tzinfo=UTC)  # a Monday
SQRT252 = math.sqrt(252)


def days(n: int, start: datetime = T0) -> list[datetime]:
    return [start + timedelta(days=i) for i in range(n)]


def trip(pnl: float, *, entry_price: float = 100.0, quantity: float = 2.0, hours: float = 1.0,
         commission: float = 0.0, side: str = "long") -> RoundTrip:
    return RoundTrip(
        symbol="X", side=side, quantity=quantity, entry_time=T0, exit_time=T0 + timedelta(hours=hours),
        entry_price=entry_price, exit_price=entry_price + pnl / quantity, pnl=pnl, commission=commission,
    )


def is_nan(x: float) -> bool:
    return isinstance(x, float) and math.isnan(x)


# --------------------------------------------------------------------------- #
# Hand-computed examples
# --------------------------------------------------------------------------- #


def test_small_daily_curve_by_hand():
    s = compute_statistics(days(4), [100.0, 110.0, 99.0, 120.0], [])
    r = [110 / 100 - 1, 99 / 110 - 1, 120 / 99 - 1]  # 0.1, -0.1, 0.2121...
    mean, sd = statistics.fmean(r), statistics.stdev(r)
    assert s.start == T0 and s.end == T0 + timedelta(days=3)
    assert s.duration == timedelta(days=3)
    assert s.initial_equity == 100.0 and s.final_equity == 120.0 and s.peak_equity == 120.0
    assert s.total_return == pytest.approx(0.2)
    assert s.annualized_return == pytest.approx(1.2 ** (365.25 / 3) - 1, rel=1e-9)
    assert s.volatility == pytest.approx(sd * SQRT252)
    assert s.sharpe == pytest.approx(mean / sd * SQRT252)
    downside = math.sqrt((0.1**2) / 3)  # only the -10% day is below zero, averaged over all 3 days
    assert s.sortino == pytest.approx(mean / downside * SQRT252)
    assert s.max_drawdown == pytest.approx(-0.1)  # 99 / 110 - 1
    assert s.max_drawdown_duration == timedelta(days=2)  # peak 110 on day 1, recovered on day 3
    assert s.calmar == pytest.approx(s.annualized_return / 0.1)
    # No trades, no in_market:
    assert s.trade_count == 0
    for name in ("win_rate", "profit_factor", "expectancy", "avg_trade_return", "best_trade",
                 "worst_trade", "exposure"):
        assert is_nan(getattr(s, name)), name
    assert s.avg_trade_duration is None
    assert s.total_commission == 0.0


def test_annualized_return_uses_calendar_time():
    # One year (365.25 days) from 100 to 110: CAGR is exactly the total return.
    times = [T0, T0 + timedelta(days=365.25)]
    s = compute_statistics(times, [100.0, 110.0], None)
    assert s.annualized_return == pytest.approx(0.10)
    # Two years doubling: sqrt(2) - 1 a year.
    s = compute_statistics([T0, T0 + timedelta(days=730.5)], [100.0, 200.0], None)
    assert s.annualized_return == pytest.approx(math.sqrt(2) - 1)
    assert is_nan(s.volatility) and is_nan(s.sharpe) and is_nan(s.sortino)  # a single daily return


def test_risk_free_rate_is_annual_compounded():
    eq = [100.0, 101.0, 100.5, 102.0, 101.0, 103.0]
    r = [b / a - 1 for a, b in zip(eq, eq[1:])]
    rf = 1.05 ** (1 / 252) - 1
    x = [v - rf for v in r]
    s = compute_statistics(days(len(eq)), eq, [], risk_free_rate=0.05)
    assert s.sharpe == pytest.approx(statistics.fmean(x) / statistics.stdev(x) * SQRT252)
    dd = math.sqrt(statistics.fmean([min(v, 0.0) ** 2 for v in x]))
    assert s.sortino == pytest.approx(statistics.fmean(x) / dd * SQRT252)
    # Volatility does not depend on the risk-free rate.
    assert s.volatility == pytest.approx(compute_statistics(days(len(eq)), eq, []).volatility)


def test_periods_per_year_scales_annualisation():
    eq = [100.0, 101.0, 100.5, 102.0, 101.0, 103.0]
    a = compute_statistics(days(len(eq)), eq, [])
    b = compute_statistics(days(len(eq)), eq, [], periods_per_year=52)
    assert b.volatility == pytest.approx(a.volatility / SQRT252 * math.sqrt(52))
    assert b.sharpe == pytest.approx(a.sharpe / SQRT252 * math.sqrt(52))


def test_drawdown_never_recovered_runs_to_the_end():
    s = compute_statistics(days(4), [100.0, 120.0, 90.0, 100.0], [])
    assert s.max_drawdown == pytest.approx(-0.25)
    assert s.max_drawdown_duration == timedelta(days=2)  # from the 120 peak (day 1) to the end


def test_longest_drawdown_is_not_the_deepest():
    # Drawdown A: peak day 1 (105), deep (-10%), recovered day 3 -> 2 days.
    # Drawdown B: peak day 3 (106), shallow, recovered (equal to the peak) day 8 -> 5 days.
    eq = [100, 105, 94.5, 106, 105, 104, 105, 105.5, 106, 107]
    s = compute_statistics(days(len(eq)), eq, [])
    assert s.max_drawdown == pytest.approx(94.5 / 105 - 1)
    assert s.max_drawdown_duration == timedelta(days=5)


def test_drawdown_uses_every_point_of_an_intraday_curve():
    # The dip at 12:00 on day 0 is invisible in the daily closes.
    times = [T0 + timedelta(hours=h) for h in (9, 12, 16)] + [T0 + timedelta(days=1, hours=16)]
    s = compute_statistics(times, [100.0, 80.0, 100.0, 101.0], [])
    assert s.max_drawdown == pytest.approx(-0.2)
    assert s.max_drawdown_duration == timedelta(hours=7)


def test_no_drawdown():
    s = compute_statistics(days(3), [100.0, 101.0, 103.0], [])
    assert s.max_drawdown == 0.0
    assert s.max_drawdown_duration == timedelta(0)
    assert is_nan(s.calmar)
    assert is_nan(s.sortino)  # no losing day: downside deviation is zero
    assert not is_nan(s.sharpe)


def test_trade_statistics_by_hand():
    trips = [
        trip(10.0, hours=1, commission=1.0),          # +5% on 200 notional
        trip(-5.0, hours=3, commission=0.5),          # -2.5%
        trip(20.0, entry_price=50.0, quantity=4.0, hours=2, side="short"),  # +10%
        trip(0.0, hours=6),                           # 0%: not a winner
    ]
    s = compute_statistics(days(2), [1000.0, 1025.0], trips)
    assert s.trade_count == 4
    assert s.win_rate == pytest.approx(0.5)
    assert s.profit_factor == pytest.approx(30.0 / 5.0)
    assert s.expectancy == pytest.approx(25.0 / 4)
    assert s.avg_trade_return == pytest.approx((0.05 - 0.025 + 0.10 + 0.0) / 4)
    assert s.best_trade == pytest.approx(0.10)
    assert s.worst_trade == pytest.approx(-0.025)
    assert s.avg_trade_duration == timedelta(hours=3)
    assert s.total_commission == pytest.approx(1.5)


def test_profit_factor_edge_cases():
    eq = days(2), [100.0, 100.0]
    assert compute_statistics(*eq, [trip(5.0), trip(1.0)]).profit_factor == math.inf
    assert is_nan(compute_statistics(*eq, [trip(0.0)]).profit_factor)
    assert compute_statistics(*eq, [trip(-3.0)]).profit_factor == 0.0
    assert is_nan(compute_statistics(*eq, []).profit_factor)


def test_exposure():
    s = compute_statistics(days(5), [100.0] * 5, [], in_market=[False, True, True, False, True])
    assert s.exposure == pytest.approx(0.6)
    s = compute_statistics(days(4), [100.0] * 4, [], in_market=np.array([0, 0, 0, 1]))
    assert s.exposure == pytest.approx(0.25)


def test_new_trade_statistics_by_hand():
    trips = [trip(10.0, hours=1), trip(-5.0, hours=3), trip(20.0, entry_price=50.0, quantity=4.0, hours=2),
             trip(0.0, hours=6)]  # returns +5%, -2.5%, +10%, 0%
    s = compute_statistics(days(2), [1000.0, 1025.0], trips)
    assert s.profit_factor_return == pytest.approx((0.05 + 0.10) / 0.025)
    assert s.geometric_trade_return == pytest.approx((1.05 * 0.975 * 1.10 * 1.0) ** 0.25 - 1)
    pnl = [10.0, -5.0, 20.0, 0.0]
    assert s.sqn == pytest.approx(2 * statistics.fmean(pnl) / statistics.stdev(pnl))
    assert s.kelly == pytest.approx(0.5 - 0.5 / (15.0 / 5.0))
    assert s.max_trade_duration == timedelta(hours=6)
    assert s.avg_trade_duration == timedelta(hours=3)


def test_new_trade_statistics_undefined():
    eq = days(2), [100.0, 100.0]
    none = compute_statistics(*eq, [])
    assert all(is_nan(getattr(none, f)) for f in ("sqn", "kelly", "profit_factor_return", "geometric_trade_return"))
    assert none.max_trade_duration is None and none.avg_trade_duration is None
    one = compute_statistics(*eq, [trip(5.0)])
    assert is_nan(one.sqn) and is_nan(one.kelly) and one.profit_factor_return == math.inf
    same = compute_statistics(*eq, [trip(5.0), trip(5.0)])
    assert is_nan(same.sqn)  # no dispersion
    wiped = compute_statistics(*eq, [trip(-200.0), trip(5.0)])  # a -100% trade
    assert is_nan(wiped.geometric_trade_return) and wiped.worst_trade == -1.0


def test_average_drawdown_duration():
    # Drawdowns: day 1 -> day 3 (2 days), day 3 -> day 8 (5 days), day 9 -> end day 11 (2 days, open).
    eq = [100, 105, 94.5, 106, 105, 104, 105, 105.5, 106, 107, 100, 101]
    s = compute_statistics(days(len(eq)), eq, [])
    assert s.max_drawdown_duration == timedelta(days=5)
    assert s.avg_drawdown_duration == timedelta(days=3)
    assert compute_statistics(days(3), [100.0, 101.0, 103.0], []).avg_drawdown_duration == timedelta(0)


def test_buy_and_hold_alpha_and_beta():
    bench = np.array([50.0, 55.0, 52.0, 60.0, 58.0])
    eq = 1000 * (1 + 0.5 * (bench / bench[0] - 1)) + np.array([0.0, 1.0, -2.0, 3.0, 0.0])
    s = compute_statistics(days(5), eq, [], benchmark=bench)
    assert s.buy_and_hold_return == pytest.approx(58.0 / 50.0 - 1)
    le, lb = np.diff(np.log(eq)), np.diff(np.log(bench))
    beta = statistics.covariance(le, lb) / statistics.variance(lb)
    assert s.beta == pytest.approx(beta)
    assert s.alpha == pytest.approx(eq[-1] / eq[0] - 1 - beta * (58.0 / 50.0 - 1))
    rf = compute_statistics(days(5), eq, [], benchmark=bench, risk_free_rate=0.02)
    assert rf.alpha == pytest.approx(eq[-1] / eq[0] - 1 - 0.02 - beta * (58.0 / 50.0 - 1 - 0.02))
    # Holding the benchmark itself: beta 1, alpha 0.
    held = compute_statistics(days(5), bench * 20, [], benchmark=bench)
    assert held.beta == pytest.approx(1.0) and held.alpha == pytest.approx(0.0, abs=1e-12)
    plain = compute_statistics(days(5), eq, [])
    assert is_nan(plain.buy_and_hold_return) and is_nan(plain.alpha) and is_nan(plain.beta)
    flat = compute_statistics(days(5), eq, [], benchmark=[5.0] * 5)
    assert flat.buy_and_hold_return == 0.0 and is_nan(flat.beta) and is_nan(flat.alpha)
    with pytest.raises(ValueError, match="same length"):
        compute_statistics(days(5), eq, [], benchmark=bench[:3])
    with pytest.raises(ValueError, match="finite and > 0"):
        compute_statistics(days(5), eq, [], benchmark=[1.0, 2.0, 0.0, 1.0, 1.0])


def test_benchmark_curve_is_the_last_known_close_equal_weighted():
    times = [T0 + timedelta(hours=h) for h in (0, 1, 2, 3)]
    t0 = int(T0.timestamp()) * 10**9
    hour = 3600 * 10**9
    a = (np.array([t0 + hour, t0 + 2 * hour, t0 + 3 * hour]), [10.0, 11.0, 12.0])   # closes known at 1h, 2h, 3h
    b = (np.array([t0 + 2 * hour]), [4.0])
    assert benchmark_curve(times, [a]).tolist() == pytest.approx([1.0, 1.0, 1.1, 1.2])
    assert benchmark_curve(times, [a, b]).tolist() == pytest.approx([1.0, 1.0, 1.05, 1.1])
    with pytest.raises(ValueError, match="at least one"):
        benchmark_curve(times, [])


def test_round_trip_properties_and_validation():
    t = trip(10.0, quantity=2.0, entry_price=100.0, hours=5)
    assert t.return_pct == pytest.approx(0.05)
    assert t.duration == timedelta(hours=5)
    with pytest.raises(ValueError, match="side"):
        trip(1.0, side="buy")
    with pytest.raises(ValueError, match="quantity"):
        RoundTrip("X", "long", 0.0, T0, T0, 1.0, 1.0, 0.0)
    with pytest.raises(ValueError, match="timezone-aware"):
        RoundTrip("X", "long", 1.0, datetime(2021, 1, 1), datetime(2021, 1, 2), 1.0, 1.0, 0.0)
    with pytest.raises(ValueError, match="before"):
        RoundTrip("X", "long", 1.0, T0, T0 - timedelta(1), 1.0, 1.0, 0.0)


def test_trusted_round_trip_is_the_checked_one():
    args = ("X", "short", 2.0, T0, T0 + timedelta(hours=1), 100.0, 90.0, 19.5, 0.5)
    fast, checked = RoundTrip.trusted(*args), RoundTrip(*args)
    assert fast == checked and hash(fast) == hash(checked) and repr(fast) == repr(checked)
    assert fast.return_pct == checked.return_pct and fast.duration == checked.duration
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.pnl = 0.0


def test_as_dict_order_and_labels():
    s = compute_statistics(days(4), [100.0, 110.0, 99.0, 120.0], [])
    d = s.as_dict()
    assert list(d)[:3] == ["start", "end", "duration"]
    assert d["sharpe"] == s.sharpe and d["max_drawdown"] == s.max_drawdown
    labelled = s.as_dict(labels=True)
    assert list(labelled.values()) == list(d.values())
    assert "Sharpe ratio" in labelled and "Max drawdown" in labelled
    assert isinstance(s, Statistics)


# --------------------------------------------------------------------------- #
# Daily resampling
# --------------------------------------------------------------------------- #


def test_intraday_curve_is_resampled_to_the_last_value_of_each_utc_day():
    # Day 0: 100 -> 104 -> 102; day 1: 101 -> 108; (no points on day 2); day 3: 99.
    times = [T0 + timedelta(hours=h) for h in (9, 12, 20)]
    times += [T0 + timedelta(days=1, hours=h) for h in (10, 23, 23.5)]
    times += [T0 + timedelta(days=3, hours=1)]
    eq = [100.0, 104.0, 102.0, 101.0, 109.0, 108.0, 99.0]
    s = compute_statistics(times, eq, [])
    r = [108 / 102 - 1, 99 / 108 - 1]  # closes of days 0, 1, 3
    assert s.volatility == pytest.approx(statistics.stdev(r) * SQRT252)
    assert s.sharpe == pytest.approx(statistics.fmean(r) / statistics.stdev(r) * SQRT252)
    assert s.total_return == pytest.approx(-0.01)  # total return uses the full curve


def test_daily_boundaries_are_utc_not_local():
    ny = ZoneInfo("America/New_York")
    # 20:00 New York = 01:00 UTC the next day: each point is its own UTC day.
    local = [datetime(2021, 3, 1, 10, tzinfo=ny), datetime(2021, 3, 1, 20, tzinfo=ny),
             datetime(2021, 3, 2, 20, tzinfo=ny)]
    eq = [100.0, 110.0, 99.0]
    s = compute_statistics(local, eq, [])
    r = [110 / 100 - 1, 99 / 110 - 1]
    assert s.sharpe == pytest.approx(statistics.fmean(r) / statistics.stdev(r) * SQRT252)
    assert s.start == datetime(2021, 3, 1, 15, tzinfo=UTC)


def test_intraday_random_curve_against_pandas_resample():
    rng = np.random.default_rng(7)
    idx = pd.date_range("2021-01-01", periods=3000, freq="37min", tz="UTC")
    idx = idx[idx.day_of_week < 5]  # leave weekends empty
    eq = 1e4 * np.exp(np.cumsum(rng.normal(0, 0.002, idx.size)))
    s = compute_statistics(idx.to_numpy(), eq, [])
    r = pd.Series(eq, idx).resample("D").last().dropna().pct_change().dropna()
    assert s.volatility == pytest.approx(r.std(ddof=1) * SQRT252, rel=1e-10)
    assert s.sharpe == pytest.approx(r.mean() / r.std(ddof=1) * SQRT252, rel=1e-10)


# --------------------------------------------------------------------------- #
# Independent pandas computation on a random daily curve
# --------------------------------------------------------------------------- #


def pandas_drawdown_duration(eq: pd.Series) -> pd.Timedelta:
    longest = pd.Timedelta(0)
    peak_value, peak_time, under = eq.iloc[0], eq.index[0], False
    for t, v in eq.items():
        if v >= peak_value:
            if under:
                longest = max(longest, t - peak_time)
            peak_value, peak_time, under = v, t, False
        else:
            under = True
    if under:
        longest = max(longest, eq.index[-1] - peak_time)
    return longest


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_daily_curve_against_pandas(seed):
    rng = np.random.default_rng(seed)
    idx = pd.bdate_range("2018-01-01", periods=600, tz="UTC")
    eq = pd.Series(1e5 * np.exp(np.cumsum(rng.normal(0.0003, 0.012, idx.size))), idx)
    s = compute_statistics(list(idx.to_pydatetime()), eq.to_numpy(), [], risk_free_rate=0.02)

    r = eq.pct_change().dropna()
    x = r - (1.02 ** (1 / 252) - 1)
    assert s.volatility == pytest.approx(r.std(ddof=1) * SQRT252, rel=1e-10)
    assert s.sharpe == pytest.approx(x.mean() / x.std(ddof=1) * SQRT252, rel=1e-10)
    downside = np.sqrt((x.clip(upper=0) ** 2).mean())
    assert s.sortino == pytest.approx(x.mean() / downside * SQRT252, rel=1e-10)
    dd = eq / eq.cummax() - 1
    assert s.max_drawdown == pytest.approx(dd.min(), rel=1e-12)
    assert s.max_drawdown_duration == pandas_drawdown_duration(eq).to_pytimedelta()
    years = (idx[-1] - idx[0]) / pd.Timedelta(days=365.25)
    cagr = (eq.iloc[-1] / eq.iloc[0]) ** (1 / years) - 1
    assert s.annualized_return == pytest.approx(cagr, rel=1e-10)
    assert s.calmar == pytest.approx(cagr / abs(dd.min()), rel=1e-10)
    assert s.peak_equity == pytest.approx(eq.max())


def test_time_input_forms_agree():
    eq = [100.0, 101.0, 99.0, 103.0, 102.0]
    times = days(5)
    as_np = np.array([t.replace(tzinfo=None) for t in times], dtype="datetime64[ns]")
    as_pa = pa.array(as_np, type=pa.timestamp("ns", tz="UTC"))
    as_pd = pd.DatetimeIndex(times)
    ref = compute_statistics(times, eq, []).as_dict()
    for form in (as_np, as_np.astype("datetime64[s]"), as_pa, pa.chunked_array([as_pa]), as_pd):
        got = compute_statistics(form, eq, []).as_dict()
        assert got.keys() == ref.keys()
        for k in ref:
            assert got[k] == ref[k] or (is_nan(got[k]) and is_nan(ref[k])), k


# --------------------------------------------------------------------------- #
# Undefined values
# --------------------------------------------------------------------------- #


def test_single_point():
    s = compute_statistics([T0], [100.0], [])
    assert s.duration == timedelta(0) and s.total_return == 0.0
    assert is_nan(s.annualized_return)
    assert is_nan(s.volatility) and is_nan(s.sharpe) and is_nan(s.sortino) and is_nan(s.calmar)
    assert s.max_drawdown == 0.0 and s.max_drawdown_duration == timedelta(0)


def test_flat_curve_has_undefined_ratios():
    s = compute_statistics(days(10), [100.0] * 10, [])
    assert s.volatility == 0.0
    assert is_nan(s.sharpe) and is_nan(s.sortino) and is_nan(s.calmar)
    assert s.annualized_return == 0.0


def test_constant_growth_has_undefined_sharpe():
    # Returns are all 1% (up to floating-point noise): zero dispersion -> nan, not 1e16.
    eq = 100.0 * 1.01 ** np.arange(30)
    s = compute_statistics(days(30), eq, [])
    assert is_nan(s.sharpe) and is_nan(s.sortino)


def test_intraday_curve_within_one_day():
    times = [T0 + timedelta(hours=h) for h in range(5)]
    s = compute_statistics(times, [100.0, 99.0, 101.0, 98.0, 102.0], [])
    assert is_nan(s.volatility) and is_nan(s.sharpe)  # no daily return at all
    assert s.max_drawdown == pytest.approx(-0.0297029702970297)


def test_equity_wiped_out():
    s = compute_statistics(days(3), [100.0, 50.0, 0.0], [])
    assert s.annualized_return == -1.0
    assert s.max_drawdown == -1.0
    assert s.total_return == -1.0


# --------------------------------------------------------------------------- #
# Bad input
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize(
    ("times", "equity", "message"),
    [
        (days(3), [100.0, 101.0], "same length"),
        ([], [], "empty"),
        (days(3), [100.0, float("nan"), 101.0], "finite"),
        (days(3), [100.0, float("inf"), 101.0], "finite"),
        (days(2), [0.0, 1.0], "initial equity"),
        ([T0, T0, T0 + timedelta(1)], [100.0, 101.0, 102.0], "strictly increasing"),
        ([T0 + timedelta(1), T0], [100.0, 101.0], "strictly increasing"),
        ([datetime(2021, 1, 1), datetime(2021, 1, 2)], [100.0, 101.0], "timezone-aware"),
        (days(2), ["a", "b"], "array of numbers"),
        ([1, 2], [100.0, 101.0], "datetime"),
    ],
)
def test_bad_input_raises_value_error(times, equity, message):
    with pytest.raises(ValueError, match=message):
        compute_statistics(times, equity, [])


def test_bad_keyword_arguments():
    with pytest.raises(ValueError, match="in_market"):
        compute_statistics(days(3), [1.0, 2.0, 3.0], [], in_market=[True, False])
    with pytest.raises(ValueError, match="in_market"):
        compute_statistics(days(3), [1.0, 2.0, 3.0], [], in_market=[0, 2, 1])
    with pytest.raises(ValueError, match="periods_per_year"):
        compute_statistics(days(3), [1.0, 2.0, 3.0], [], periods_per_year=0)
    with pytest.raises(ValueError, match="risk_free_rate"):
        compute_statistics(days(3), [1.0, 2.0, 3.0], [], risk_free_rate=float("nan"))
