"""Tests for backtestester.data.indicators: tiny hand-written cases, causality (values on a
prefix equal the full series' values there), bad input and the module's constraints.

The comparisons with independent implementations are in test_indicator_peers.py,
:func:`add_indicators` (the original's feature set) in test_add_indicators.py; the fixed-seed
OHLCV data and ``assert_same`` are in conftest.py.
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
import talib

from backtestester.data import indicator_math
from backtestester.data import indicators as ind

from .conftest import N_BARS, assert_same, make_ohlcv

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
