"""backtestester.data.indicators against independent implementations.

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

import numpy as np
import pandas as pd
import pandas_ta_classic as ta
import pytest
import talib

from backtestester.data import indicators as ind

from .conftest import assert_same

EPS = float(np.finfo(np.float64).eps)


def S(a):  # noqa: N802 - short helper for pandas Series
    return pd.Series(np.asarray(a, dtype=np.float64))


def nz_range_0314b(a: pd.Series, b: pd.Series) -> pd.Series:
    """pandas_ta 0.3.14b utils.non_zero_range: adds eps to the WHOLE series if any element is 0."""
    diff = a - b
    if diff.eq(0).any().any():
        diff += EPS
    return diff


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
