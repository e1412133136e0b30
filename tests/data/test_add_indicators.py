"""backtestester.data.indicators.add_indicators: the original system's feature columns, their
order of operations (NaN -> 0 before the cross flags) and its errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from backtestester.data import indicators as ind

from .conftest import make_ohlcv

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


def test_one_million_bars_give_full_columns():
    """Every indicator over a million bars: one value per bar in every column (speed is measured
    by benchmarks, not asserted here)."""
    o, h, lo, c, v = make_ohlcv(1_000_000, seed=11)
    out = ind.add_indicators(o, h, lo, c, v, ind.SUPPORTED_INDICATORS)
    assert len(out) == sum(len(cols) for cols in EXPECTED_COLUMNS.values())
    assert all(len(col) == 1_000_000 for col in out.values())
