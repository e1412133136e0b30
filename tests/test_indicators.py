"""Tests for backtestester.data.indicators.

Every indicator is compared with an implementation that is *not* the one the
module uses (the module uses numpy everywhere and TA-Lib only for CDLHAMMER):

* pandas-ta-classic (pure pandas, its default ``talib=False`` path),
* TA-Lib (which pandas_ta 0.3.14b, the original's version, dispatched ``sma``,
  ``rsi`` and ``atr`` to whenever TA-Lib was installed),
* plain pandas transcriptions of the original pandas_ta 0.3.14b formulas
  where pandas-ta-classic changed the definition (doji) or to rebuild the
  original's exact pipeline (stochrsi, supertrend on TA-Lib's RSI/ATR/SMA).

Comparisons use ``assert_allclose(rtol=1e-9, atol=1e-9)`` and require NaN at
exactly the same positions (warm-up included).
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pandas as pd
import pandas_ta_classic as ta
import pytest
import talib

from backtestester.data import indicator_math
from backtestester.data import indicators as ind

RTOL = ATOL = 1e-9
N_BARS = 3000
EPS = float(np.finfo(np.float64).eps)


# --------------------------------------------------------------------------
# data and helpers
# --------------------------------------------------------------------------


def make_ohlcv(n: int = N_BARS, seed: int = 7):
    """Fixed-seed random walk OHLCV with high >= max(open, close) and low <= min(open, close)."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, n)))
    prev_close = np.r_[close[0], close[:-1]]
    open_ = prev_close * (1.0 + rng.normal(0.0, 0.002, n))
    open_[::97] = close[::97]  # some exactly flat bodies (close == open)
    high = np.maximum(open_, close) * (1.0 + rng.exponential(0.004, n))
    low = np.minimum(open_, close) * (1.0 - rng.exponential(0.004, n))
    volume = rng.integers(100, 10_000, n).astype(np.float64)
    return open_, high, low, close, volume


@pytest.fixture(scope="module")
def ohlcv():
    return make_ohlcv()


def assert_same(actual, expected, rtol=RTOL, atol=ATOL):
    """Same NaN positions and values within tolerance."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape
    nan_a, nan_e = np.isnan(actual), np.isnan(expected)
    mismatch = np.flatnonzero(nan_a != nan_e)
    assert mismatch.size == 0, f"NaN positions differ, first at index {mismatch[:5]}"
    np.testing.assert_allclose(actual[~nan_a], expected[~nan_e], rtol=rtol, atol=atol)


def S(a):  # noqa: N802 - short helper for pandas Series
    return pd.Series(np.asarray(a, dtype=np.float64))


def nz_range_0314b(a: pd.Series, b: pd.Series) -> pd.Series:
    """pandas_ta 0.3.14b utils.non_zero_range: adds eps to the WHOLE series if any element is 0."""
    diff = a - b
    if diff.eq(0).any().any():
        diff += EPS
    return diff


# --------------------------------------------------------------------------
# hand-written tiny cases
# --------------------------------------------------------------------------


def test_sma_tiny():
    assert_same(ind.sma([1, 2, 3, 4, 5], 3), [np.nan, np.nan, 2, 3, 4])
    assert_same(ind.sma([1, 2, 3], 1), [1, 2, 3])
    assert_same(ind.sma([1, 2], 3), [np.nan, np.nan])  # shorter than length: all NaN
    assert_same(ind.sma([np.nan, 1, 2, 3, np.nan, 5, 6, 7], 2), [np.nan, np.nan, 1.5, 2.5, np.nan, np.nan, 5.5, 6.5])
    assert ind.sma([], 3).shape == (0,)


@pytest.mark.parametrize("length", [16, 17, 60, 490, 4096, 4097, 9000])
def test_sma_long_windows_equal_direct_sums(length):
    """Long windows are summed by blocked prefix sums: equal to the direct sums (to rounding,
    not drifting with the series' length) with the same NaN windows, across block edges."""
    rng = np.random.default_rng(7)
    close = 100 + np.cumsum(rng.normal(0, 0.5, 20_000))
    close[[40, 5_000, 12_345, 19_999]] = np.nan
    direct = np.full(close.size, np.nan)
    direct[length - 1 :] = np.convolve(close, np.ones(length), mode="valid") / length
    assert_same(ind.sma(close, length), direct, rtol=1e-12, atol=1e-9)
    assert_same(ind.sma(close[:length], length)[-1:], [np.mean(close[:length])], rtol=1e-12, atol=1e-9)


def test_rma_tiny():
    assert_same(ind.rma([1, 2, 3, 4, 5], 3), [np.nan, np.nan, 2, 8 / 3, 31 / 9])
    # leading NaNs: seed on the first `length` valid values
    assert_same(ind.rma([np.nan, np.nan, 3, 6, 9, 3], 2), [np.nan, np.nan, np.nan, 4.5, 6.75, 4.875])
    assert_same(ind.rma([1, 2, 3], 1), [1, 2, 3])
    assert_same(ind.rma([np.nan, np.nan], 1), [np.nan, np.nan])


def test_true_range_and_atr_tiny():
    high = [10, 12, 11, 15]
    low = [8, 9, 7, 13]
    close = [9, 11, 8, 14]
    # tr: nan, max(12,9)-min(9,9)=3, max(11,11)-min(7,11)=4, max(15,8)-min(13,8)=7
    assert_same(ind.true_range(high, low, close), [np.nan, 3, 4, 7])
    assert_same(ind.atr(high, low, close, 2), [np.nan, np.nan, 3.5, (3.5 + 7) / 2])


def test_rsi_tiny():
    up = np.arange(1.0, 21.0)
    r = ind.rsi(up, 14)
    assert np.isnan(r[:14]).all() and (r[14:] == 100.0).all()
    assert (ind.rsi(up[::-1], 14)[14:] == 0.0).all()
    # flat prices: TA-Lib (the original's RSI) gives 0, not 0/0 = NaN
    flat = np.full(20, 5.0)
    assert_same(ind.rsi(flat, 14), talib.RSI(flat, 14))
    assert (ind.rsi(flat, 14)[14:] == 0.0).all()
    # one gain of 2 then one loss of 1 with length 2: G = 1, L = 0.5 -> 66.67
    assert_same(ind.rsi([1.0, 3.0, 2.0], 2), [np.nan, np.nan, 100 * 1 / 1.5])


def test_close_lags_tiny():
    lags = ind.close_lags([1.0, 2.0, 3.0], 4)
    assert list(lags) == ["close_lag_1", "close_lag_2", "close_lag_3", "close_lag_4"]
    assert_same(lags["close_lag_1"], [np.nan, 1, 2])
    assert_same(lags["close_lag_2"], [np.nan, np.nan, 1])
    assert_same(lags["close_lag_4"], [np.nan, np.nan, np.nan])


def test_cross_tiny():
    k = np.array([10.0, 10.0, 15.0, 12.0, 30.0, np.nan, 20.0])
    d = np.array([12.0, 10.0, 11.0, 13.0, 25.0, 10.0, 10.0])
    # t=1: D<20, K0<=D0 (10<=12), K1>D1? 10>10 no
    # t=2: D<20, K1<=D1 (10<=10), K2>D2 (15>11) -> True
    # t=3: K3>D3? no. t=4: D=25 not < 20. t=5: K NaN. t=6: K5 NaN -> False
    np.testing.assert_array_equal(ind.cross_above(k, d, 20), [False, False, True, False, False, False, False])
    kb = np.array([90.0, 85.0, 84.0, 90.0, 70.0])
    db = np.array([85.0, 85.0, 86.0, 85.0, 86.0])
    # t=1: D>80, K0>=D0 (90>=85), K1<D1? 85<85 no. t=2: K1>=D1 (85>=85), K2<D2 -> True
    # t=4: K3>=D3 (90>=85), K4<D4 (70<86), D4>80 -> True
    np.testing.assert_array_equal(ind.cross_below(kb, db, 80), [False, False, True, False, True])
    assert ind.cross_above([], [], 20).dtype == bool


def test_doji_tiny():
    # ranges 2, 2, 2, 2 -> SMA(2) = 2; threshold 0.1 * 2 = 0.2
    open_ = [10.0, 10.0, 10.0, 10.0]
    close = [10.1, 10.1, 10.3, 10.19]
    high = [11.0, 11.0, 11.0, 11.0]
    low = [9.0, 9.0, 9.0, 9.0]
    np.testing.assert_array_equal(ind.doji(open_, high, low, close, length=2), [0.0, 100.0, 0.0, 100.0])
    # exact tie (all dyadic): range 2.5, threshold 0.1 * 2.5 == 0.25 == body -> not a doji (strict <)
    tie = ind.doji([10.0, 10.0, 10.0], [11.25] * 3, [8.75] * 3, [10.0, 10.25, 10.125], length=2)
    np.testing.assert_array_equal(tie, [0.0, 0.0, 100.0])


def test_hammer_tiny():
    n = 13
    open_ = np.full(n, 100.0)
    close = np.full(n, 101.0)
    high = np.full(n, 101.5)
    low = np.full(n, 99.5)
    # bar 12: body 0.3 < avg body 1; lower shadow 1.1 > body; upper shadow 0.05 <
    # 0.1 * avg range 2; body low 99.6 <= low[11] + 0.2 * avg range = 99.9
    open_[-1], close[-1], high[-1], low[-1] = 99.6, 99.9, 99.95, 98.5
    out = ind.hammer(open_, high, low, close)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, [0.0] * 12 + [100.0])
    close[-1] = 101.0  # body 1.4: no longer a small body
    assert ind.hammer(open_, high, low, close)[-1] == 0.0


def test_supertrend_tiny_warmup():
    o, h, lo, c, _ = make_ohlcv(60)
    trend, direction, long_, short = ind.supertrend(h, lo, c, length=5, multiplier=2.0)
    assert trend[0] == 0.0  # pandas_ta quirk: bar 0 is 0, not NaN
    assert np.isnan(trend[1:5]).all() and not np.isnan(trend[5:]).any()
    assert (direction[:6] == 1.0).all() and set(np.unique(direction)) <= {-1.0, 1.0}
    assert np.isnan(long_[0]) and np.isnan(short[0])
    up = direction > 0
    assert_same(np.where(up, long_, short)[5:], trend[5:])
    assert np.isnan(short[up]).all() and np.isnan(long_[~up]).all()
    assert all(a.size == 0 for a in ind.supertrend([], [], []))


# --------------------------------------------------------------------------
# comparison with independent implementations
# --------------------------------------------------------------------------


@pytest.mark.parametrize("length", [1, 3, 7, 50, 100, 200])
def test_sma_matches_pandas_ta_and_talib(ohlcv, length):
    close = ohlcv[3]
    ours = ind.sma(close, length)
    assert_same(ours, ta.sma(S(close), length))
    assert_same(ours, talib.SMA(close, length))  # what pandas_ta 0.3.14b used with TA-Lib installed
    assert_same(ours, S(close).rolling(length).mean())


@pytest.mark.parametrize("length", [1, 2, 14, 50])
def test_rma_matches_pandas_ta_classic(ohlcv, length):
    close = ohlcv[3]
    assert_same(ind.rma(close, length), ta.rma(S(close), length))
    with_warmup = np.r_[np.full(17, np.nan), close[:500]]
    assert_same(ind.rma(with_warmup, length), ta.rma(S(with_warmup), length))


def test_true_range_matches_talib(ohlcv):
    _, h, lo, c, _ = ohlcv
    assert_same(ind.true_range(h, lo, c), talib.TRANGE(h, lo, c))


@pytest.mark.parametrize("length", [1, 14, 50])
def test_atr_matches_pandas_ta_and_talib(ohlcv, length):
    _, h, lo, c, _ = ohlcv
    ours = ind.atr(h, lo, c, length)
    assert_same(ours, ta.atr(S(h), S(lo), S(c), length))  # pandas: true_range + rma
    assert_same(ours, talib.ATR(h, lo, c, length))  # the original's path


@pytest.mark.parametrize("length", [2, 14, 30])
def test_rsi_matches_pandas_ta_and_talib(ohlcv, length):
    close = ohlcv[3]
    ours = ind.rsi(close, length)
    assert_same(ours, ta.rsi(S(close), length))
    assert_same(ours, talib.RSI(close, length))


def original_stochrsi(close, length=14, rsi_length=14, k=3, d=3):
    """pandas_ta 0.3.14b stochrsi with TA-Lib installed: talib RSI, pandas rolling, talib SMA."""
    rsi_ = S(talib.RSI(close, rsi_length))
    lowest = rsi_.rolling(length).min()
    highest = rsi_.rolling(length).max()
    stoch = 100 * (rsi_ - lowest)
    stoch /= nz_range_0314b(highest, lowest)
    k_line = talib.SMA(stoch.to_numpy(), k)
    d_line = talib.SMA(k_line, d)
    return k_line, d_line


@pytest.mark.parametrize("params", [(14, 14, 3, 3), (10, 7, 5, 2)])
def test_stochrsi_matches_pandas_ta_and_original_pipeline(ohlcv, params):
    close = ohlcv[3]
    k_line, d_line = ind.stochrsi(close, *params)
    ref = ta.stochrsi(S(close), *params)
    assert_same(k_line, ref.iloc[:, 0])
    assert_same(d_line, ref.iloc[:, 1])
    k_orig, d_orig = original_stochrsi(close, *params)
    assert_same(k_line, k_orig)
    assert_same(d_line, d_orig)
    if params == (14, 14, 3, 3):
        assert np.isnan(k_line[:29]).all() and not np.isnan(k_line[29:]).any()
        assert np.isnan(d_line[:31]).all() and not np.isnan(d_line[31:]).any()


def original_supertrend(high, low, close, length, multiplier):
    """pandas_ta 0.3.14b supertrend loop, transcribed, on TA-Lib's ATR (the original's path)."""
    high, low, close = S(high), S(low), S(close)
    m = close.size
    dir_, trend = [1] * m, [0] * m
    long, short = [np.nan] * m, [np.nan] * m
    hl2_ = 0.5 * (high + low)
    matr = multiplier * S(talib.ATR(high.to_numpy(), low.to_numpy(), close.to_numpy(), length))
    upperband = hl2_ + matr
    lowerband = hl2_ - matr
    ub, lb, c = upperband.to_numpy().copy(), lowerband.to_numpy().copy(), close.to_numpy()
    for i in range(1, m):
        if c[i] > ub[i - 1]:
            dir_[i] = 1
        elif c[i] < lb[i - 1]:
            dir_[i] = -1
        else:
            dir_[i] = dir_[i - 1]
            if dir_[i] > 0 and lb[i] < lb[i - 1]:
                lb[i] = lb[i - 1]
            if dir_[i] < 0 and ub[i] > ub[i - 1]:
                ub[i] = ub[i - 1]
        if dir_[i] > 0:
            trend[i] = long[i] = lb[i]
        else:
            trend[i] = short[i] = ub[i]
    return trend, dir_, long, short


@pytest.mark.parametrize("length,multiplier", [(50, 3.0), (10, 1.5)])
def test_supertrend_matches_pandas_ta_and_original(ohlcv, length, multiplier):
    _, h, lo, c, _ = ohlcv
    ours = ind.supertrend(h, lo, c, length, multiplier)
    ref = ta.supertrend(S(h), S(lo), S(c), length, multiplier)
    for got, col in zip(ours, ref.columns):
        assert_same(got, ref[col])
    for got, expected in zip(ours, original_supertrend(h, lo, c, length, multiplier)):
        assert_same(got, expected)
    direction = ours[1]
    assert (direction == 1).any() and (direction == -1).any()  # the data exercises both trends


def test_close_lags_match_pandas_shift(ohlcv):
    close = ohlcv[3]
    lags = ind.close_lags(close, 20)
    assert list(lags) == [f"close_lag_{i}" for i in range(1, 21)]
    for i in range(1, 21):
        assert_same(lags[f"close_lag_{i}"], S(close).shift(i))


def test_cross_flags_match_pandas_expression(ohlcv):
    k_line, d_line = ind.stochrsi(ohlcv[3])
    for k_, d_ in ((k_line, d_line), (np.nan_to_num(k_line), np.nan_to_num(d_line))):
        K, D = S(k_), S(d_)
        above = (D < 20) & (K.shift(1) <= D.shift(1)) & (K > D)
        below = (D > 80) & (K.shift(1) >= D.shift(1)) & (K < D)
        got_above, got_below = ind.cross_above(k_, d_, 20), ind.cross_below(k_, d_, 80)
        assert got_above.dtype == bool and got_below.dtype == bool
        np.testing.assert_array_equal(got_above, above.to_numpy())
        np.testing.assert_array_equal(got_below, below.to_numpy())
        assert got_above.sum() > 10 and got_below.sum() > 10


def original_doji(open_, high, low, close, length=10, factor=10):
    """pandas_ta 0.3.14b cdl_doji (sma dispatched to TA-Lib's SMA, as with TA-Lib installed)."""
    body = nz_range_0314b(S(close), S(open_)).abs()
    hl_range = nz_range_0314b(S(high), S(low)).abs()
    hl_range_avg = S(talib.SMA(hl_range.to_numpy(), length))
    doji = body < 0.01 * factor * hl_range_avg
    return 100.0 * doji.astype(int)


@pytest.mark.parametrize("length,factor", [(10, 10.0), (5, 30.0)])
def test_doji_matches_pandas_ta_0314b_formula(ohlcv, length, factor):
    o, h, lo, c, _ = ohlcv
    ours = ind.doji(o, h, lo, c, length, factor)
    expected = original_doji(o, h, lo, c, length, factor)
    assert ours.dtype == np.float64 and expected.dtype == np.float64
    np.testing.assert_array_equal(ours, expected.to_numpy())
    assert 50 < (ours == 100.0).sum() < len(ours) / 2
    assert (ours[: length - 1] == 0.0).all()


def test_doji_differs_from_pandas_ta_classic_definition(ohlcv):
    """pandas-ta-classic changed cdl_doji (<= and the SMA of the previous bars); we keep 0.3.14b's."""
    o, h, lo, c, _ = ohlcv
    ours = ind.doji(o, h, lo, c)
    fork = ta.cdl_doji(S(o), S(h), S(lo), S(c), length=10, factor=10)
    assert fork.name == "CDL_DOJI_10_0.1"  # the original column name behind cdl_doji_10_0_1
    body = np.abs(c - o)
    fork_formula = np.where(body <= 0.1 * S(np.abs(h - lo)).rolling(10).mean().shift(1).to_numpy(), 100.0, 0.0)
    np.testing.assert_array_equal(fork.to_numpy(), fork_formula)
    assert (fork.to_numpy() != ours).any()


def test_hammer_matches_pandas_ta_classic_native(ohlcv):
    o, h, lo, c, _ = ohlcv
    ours = ind.hammer(o, h, lo, c)
    # pandas-ta-classic's own port of CDLHAMMER (numpy/numba, not TA-Lib)
    ref = ta.cdl_pattern(S(o), S(h), S(lo), S(c), name="hammer")["CDL_HAMMER"]
    assert ours.dtype == np.float64
    np.testing.assert_array_equal(ours, ref.to_numpy())
    assert set(np.unique(ours)) == {0.0, 100.0}
    assert (ours == 100.0).sum() > 20


# --------------------------------------------------------------------------
# causality: values on a prefix == values of the full series on that prefix
# --------------------------------------------------------------------------

PREFIXES = [1, 2, 15, 30, 32, 51, 201, 1234, N_BARS - 1]


def _outputs(name, o, h, lo, c):
    """Every indicator as a flat dict of arrays."""
    if name == "sma":
        return {f"sma_{n}": ind.sma(c, n) for n in (3, 50, 200)}
    if name == "rma":
        return {"rma": ind.rma(c, 14)}
    if name == "atr":
        return {"atr": ind.atr(h, lo, c, 14)}
    if name == "rsi":
        return {"rsi": ind.rsi(c, 14)}
    if name == "stochrsi":
        return dict(zip("kd", ind.stochrsi(c)))
    if name == "supertrend":
        return dict(zip(("t", "d", "l", "s"), ind.supertrend(h, lo, c, 50, 3.0)))
    if name == "close_lags":
        return ind.close_lags(c, 20)
    if name == "cross":
        k_line, d_line = (np.nan_to_num(v) for v in ind.stochrsi(c))
        return {"above": ind.cross_above(k_line, d_line, 20), "below": ind.cross_below(k_line, d_line, 80)}
    if name == "doji":
        return {"doji": ind.doji(o, h, lo, c)}
    if name == "hammer":
        return {"hammer": ind.hammer(o, h, lo, c)}
    if name == "add_indicators":
        return ind.add_indicators(o, h, lo, c, None, ind.SUPPORTED_INDICATORS)
    raise AssertionError(name)


@pytest.mark.parametrize(
    "name",
    ["sma", "rma", "atr", "rsi", "stochrsi", "supertrend", "close_lags", "cross", "doji", "hammer", "add_indicators"],
)
def test_causal_prefix(ohlcv, name):
    o, h, lo, c, _ = ohlcv
    full = _outputs(name, o, h, lo, c)
    for p in PREFIXES:
        part = _outputs(name, o[:p].copy(), h[:p].copy(), lo[:p].copy(), c[:p].copy())
        assert list(part) == list(full)
        for key in full:
            if full[key].dtype == bool:
                np.testing.assert_array_equal(part[key], full[key][:p], err_msg=f"{key} prefix {p}")
            else:
                assert_same(part[key], full[key][:p], rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------
# add_indicators
# --------------------------------------------------------------------------

EXPECTED_COLUMNS = {
    "supertrend": ["superT_50_3", "superD_50_3", "superL_50_3", "superS_50_3"],
    "stochrsi": ["stochrsi_k_14_14_3_3", "stochrsi_d_14_14_3_3"],
    "moving_averages": ["sma_50", "sma_100", "sma_200"],
    "lag_features": [f"close_lag_{i}" for i in range(1, 21)],
    "atr": ["atr_14"],
    "stochrsi_cross_above_20": ["stochrsi_cross_above_20"],
    "stochrsi_cross_below_80": ["stochrsi_cross_below_80"],
    "doji": ["cdl_doji_10_0_1"],
    "hammer": ["cdl_hammer"],
}


def test_supported_indicators():
    assert ind.SUPPORTED_INDICATORS == tuple(EXPECTED_COLUMNS)


def test_add_indicators_columns_order_and_values(ohlcv):
    o, h, lo, c, v = ohlcv
    names = list(reversed(ind.SUPPORTED_INDICATORS))  # hammer first: still computed last
    out = ind.add_indicators(o, h, lo, c, v, names)
    base = ["atr", "lag_features", "moving_averages", "stochrsi", "supertrend"]
    flags = ["stochrsi_cross_below_80", "stochrsi_cross_above_20"]
    patterns = ["hammer", "doji"]
    assert list(out) == [col for name in base + flags + patterns for col in EXPECTED_COLUMNS[name]]

    z = np.nan_to_num
    trend, direction, long_, short = ind.supertrend(h, lo, c, 50, 3.0)
    k_line, d_line = ind.stochrsi(c, 14, 14, 3, 3)
    expected = {
        "superT_50_3": z(trend),
        "superD_50_3": direction,
        "superL_50_3": z(long_),
        "superS_50_3": z(short),
        "stochrsi_k_14_14_3_3": z(k_line),
        "stochrsi_d_14_14_3_3": z(d_line),
        "sma_50": z(ind.sma(c, 50)),
        "sma_100": z(ind.sma(c, 100)),
        "sma_200": z(ind.sma(c, 200)),
        "atr_14": z(ind.atr(h, lo, c, 14)),
        "cdl_doji_10_0_1": ind.doji(o, h, lo, c, 10, 10.0),
        "cdl_hammer": ind.hammer(o, h, lo, c),
    }
    expected.update({k: z(a) for k, a in ind.close_lags(c, 20).items()})
    for key, arr in out.items():
        if key.startswith("stochrsi_cross"):
            assert arr.dtype == bool
            continue
        assert arr.dtype == np.float64 and arr.shape == c.shape, key
        assert not np.isnan(arr).any(), key
        np.testing.assert_array_equal(arr, expected[key], err_msg=key)
    assert set(np.unique(out["superD_50_3"])) == {-1.0, 1.0}
    assert out["superT_50_3"][0] == 0.0 and (out["superL_50_3"][:50] == 0.0).all()


def test_add_indicators_fills_nan_before_cross_flags(ohlcv):
    """The original zero-fills K and D first, so the warm-up zeros can trigger a cross."""
    o, h, lo, c, v = ohlcv
    k_line, d_line = ind.stochrsi(c)
    # precondition on the data: bar 29 is K's first value, D is still in warm-up
    assert np.isnan(k_line[28]) and k_line[29] > 0 and np.isnan(d_line[29])

    out = ind.add_indicators(o, h, lo, c, v, ["stochrsi", "stochrsi_cross_above_20", "stochrsi_cross_below_80"])
    kz, dz = out["stochrsi_k_14_14_3_3"], out["stochrsi_d_14_14_3_3"]
    assert (kz[:29] == 0).all() and (dz[:31] == 0).all()

    # pandas transcription of the original: fillna(0), then the flags
    df = pd.DataFrame({"K": k_line, "D": d_line}).fillna(0)
    above = (df.D < 20) & (df.K.shift(1) <= df.D.shift(1)) & (df.K > df.D)
    below = (df.D > 80) & (df.K.shift(1) >= df.D.shift(1)) & (df.K < df.D)
    np.testing.assert_array_equal(out["stochrsi_cross_above_20"], above.to_numpy())
    np.testing.assert_array_equal(out["stochrsi_cross_below_80"], below.to_numpy())

    # ... which differs from flags computed before the fill: bar 29 fires only after it
    assert out["stochrsi_cross_above_20"][29]
    assert not ind.cross_above(k_line, d_line, 20)[29]

    # the flags do not need "stochrsi" to be requested (same values, no K/D columns)
    flags_only = ind.add_indicators(o, h, lo, c, None, ["stochrsi_cross_below_80", "stochrsi_cross_above_20"])
    assert list(flags_only) == ["stochrsi_cross_below_80", "stochrsi_cross_above_20"]
    for key, arr in flags_only.items():
        np.testing.assert_array_equal(arr, out[key])


def test_add_indicators_nan_fill_only_touches_base_columns():
    o, h, lo, c, v = make_ohlcv(40)
    out = ind.add_indicators(o, h, lo, c, v, ["moving_averages", "atr", "doji"])
    assert (out["sma_50"] == 0).all() and (out["sma_200"] == 0).all()  # shorter than the length
    assert (out["atr_14"][:14] == 0).all() and (out["atr_14"][14:] > 0).all()
    np.testing.assert_array_equal(out["cdl_doji_10_0_1"], ind.doji(o, h, lo, c))


def test_add_indicators_single_name_string_and_duplicates(ohlcv):
    o, h, lo, c, v = ohlcv
    assert list(ind.add_indicators(o, h, lo, c, v, "atr")) == ["atr_14"]
    assert list(ind.add_indicators(o, h, lo, c, v, ["atr", "atr"])) == ["atr_14"]
    assert ind.add_indicators(o, h, lo, c, v, []) == {}


def test_add_indicators_unknown_name(ohlcv):
    o, h, lo, c, v = ohlcv
    with pytest.raises(ValueError, match=r"^Unsupported indicator: macd") as err:
        ind.add_indicators(o, h, lo, c, v, ["atr", "macd"])
    message = str(err.value)
    assert all(name in message for name in ind.SUPPORTED_INDICATORS)
    with pytest.raises(ValueError, match=r"^Unsupported indicator: SMA"):
        ind.add_indicators(o, h, lo, c, v, ["SMA"])


# --------------------------------------------------------------------------
# bad input
# --------------------------------------------------------------------------


def test_mismatched_lengths_raise(ohlcv):
    o, h, lo, c, v = ohlcv
    with pytest.raises(ValueError, match=r"lengths differ: open has length 3000 but close has length 2999"):
        ind.add_indicators(o, h, lo, c[:-1], v, ["atr"])
    with pytest.raises(ValueError, match=r"lengths differ: .*volume has length 10"):
        ind.add_indicators(o, h, lo, c, v[:10], ["atr"])
    with pytest.raises(ValueError, match=r"lengths differ: high .* low has length 5"):
        ind.atr(h, lo[:5], c)
    with pytest.raises(ValueError, match=r"lengths differ"):
        ind.supertrend(h, lo, c[:100])
    with pytest.raises(ValueError, match=r"lengths differ"):
        ind.true_range(h[:3], lo, c)
    with pytest.raises(ValueError, match=r"lengths differ"):
        ind.doji(o[:7], h, lo, c)
    with pytest.raises(ValueError, match=r"lengths differ"):
        ind.hammer(o, h, lo[:-2], c)
    with pytest.raises(ValueError, match=r"lengths differ: k has length 3 but d has length 2"):
        ind.cross_above([1, 2, 3], [1, 2], 20)


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda c: ind.sma(c, 0), r"length must be >= 1, got 0"),
        (lambda c: ind.rma(c, -3), r"length must be >= 1, got -3"),
        (lambda c: ind.rsi(c, 0), r"length must be >= 1"),
        (lambda c: ind.atr(c, c, c, 0), r"length must be >= 1"),
        (lambda c: ind.stochrsi(c, length=0), r"length must be >= 1"),
        (lambda c: ind.stochrsi(c, rsi_length=0), r"rsi_length must be >= 1"),
        (lambda c: ind.stochrsi(c, k=0), r"k must be >= 1"),
        (lambda c: ind.stochrsi(c, d=-1), r"d must be >= 1"),
        (lambda c: ind.supertrend(c, c, c, length=0), r"length must be >= 1"),
        (lambda c: ind.supertrend(c, c, c, multiplier=0), r"multiplier must be > 0"),
        (lambda c: ind.close_lags(c, 0), r"lags must be >= 1"),
        (lambda c: ind.doji(c, c, c, c, length=0), r"length must be >= 1"),
        (lambda c: ind.doji(c, c, c, c, factor=150), r"factor must be a percentage"),
        (lambda c: ind.sma(c, 2.5), r"length must be an integer >= 1, got 2.5"),
        (lambda c: ind.sma(c, True), r"length must be an integer >= 1"),
        (lambda c: ind.cross_above(c, c, float("nan")), r"level must be a finite number"),
    ],
)
def test_bad_parameters_raise(call, match):
    with pytest.raises(ValueError, match=match):
        call(np.arange(1.0, 40.0))


def test_bad_arrays_raise():
    with pytest.raises(ValueError, match=r"close must be 1-D, got an array of shape \(2, 3\)"):
        ind.sma(np.ones((2, 3)), 2)
    with pytest.raises(ValueError, match=r"close contains infinite values"):
        ind.rsi([1.0, np.inf, 2.0], 2)
    with pytest.raises(ValueError, match=r"close must be a 1-D array of numbers"):
        ind.sma(["a", "b"], 1)


# --------------------------------------------------------------------------
# module constraints
# --------------------------------------------------------------------------


def test_module_does_not_import_pandas():
    imported = set()
    for module in (ind, indicator_math):
        imported |= _imported_roots(Path(module.__file__).read_text())
    assert "pandas" not in imported and "pandas_ta_classic" not in imported
    assert imported <= {"__future__", "itertools", "math", "numbers", "typing", "numpy", "talib", "arrays"}


def _imported_roots(source: str) -> set[str]:
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    return imported


def test_public_functions_have_docstrings():
    assert ind.__doc__ and len(ind.__doc__) > 500
    for name in ind.__all__:
        obj = getattr(ind, name)
        if callable(obj):
            assert obj.__doc__ and len(obj.__doc__.strip()) > 40, name


def test_one_million_bars_give_full_columns():
    """Every indicator over a million bars: one value per bar in every column (speed is measured
    by benchmarks, not asserted here)."""
    o, h, lo, c, v = make_ohlcv(1_000_000, seed=11)
    out = ind.add_indicators(o, h, lo, c, v, ind.SUPPORTED_INDICATORS)
    assert len(out) == sum(len(cols) for cols in EXPECTED_COLUMNS.values())
    assert all(len(col) == 1_000_000 for col in out.values())
