"""The gateway adapter's indicator series grow with the revealed candles: a series read after new
candles holds exactly the values of the same function computed once over the whole history (sma
re-reads only a suffix of the candles, any other function all of them), and the mirror's columns
are views of the revealed candles only (D2: no unrevealed candle is readable)."""
from __future__ import annotations

import numpy as np
import pytest

from backtestester.data.indicators import recompute_start, rsi, sma
from backtestester.remote.broker import MirrorRepository
from backtestester.strategy.series import GrowingSeries

NS = 1_000_000_000


def grown(closes: np.ndarray, fn, args: tuple, seed: int):
    """Reveal ``closes`` into a mirror in random steps of 1 to 3 candles, reading the series'
    current value after each step; returns the series and the values read."""
    repo = MirrorRepository("X", 60)
    rng = np.random.default_rng(seed)
    repo.append(0, closes[0], closes[0], closes[0], closes[0], 1.0)
    series = GrowingSeries(lambda column: fn(column, *args), repo, "close", fn.__name__,  # as the broker builds it
                           recompute_start=lambda known: recompute_start(fn, args, known))
    read = [series[-1]]
    while len(repo) < len(closes):
        for _ in range(int(rng.integers(1, 4))):
            i = len(repo)
            if i < len(closes):
                repo.append(i * 60 * NS, closes[i], closes[i], closes[i], closes[i], 1.0)
        read.append((len(repo) - 1, series[-1]))
    return series, read


@pytest.mark.parametrize("length", [1, 2, 10, 16, 17, 30, 200])
def test_sma_grown_candle_by_candle_equals_one_computation(length):
    """Short windows (direct sums) and long ones (prefix sums in blocks of 4,096 outputs, crossed
    here) give bit for bit the values of sma over the whole history, NaN windows included."""
    closes = 100 + np.cumsum(np.random.default_rng(length).normal(0, 1, 4096 + length + 300))
    closes[[50, 2000, 4200]] = np.nan
    whole = sma(closes, length)
    series, read = grown(closes, sma, (length,), seed=length)
    np.testing.assert_array_equal(np.asarray(series.values), whole)
    for i, value in read[1:]:
        np.testing.assert_array_equal(value, whole[i])


def test_other_functions_reread_every_candle():
    closes = 100 + np.cumsum(np.random.default_rng(3).normal(0, 1, 600))
    assert recompute_start(rsi, (14,), 100) is None
    series, read = grown(closes, rsi, (14,), seed=3)
    whole = rsi(closes, 14)
    np.testing.assert_array_equal(np.asarray(series.values), whole)
    for i, value in read[1:]:
        np.testing.assert_array_equal(value, whole[i])


@pytest.mark.parametrize("args", [(), (0,), (True,), (2.5,), (10, 1)])
def test_recompute_start_needs_one_valid_length(args):
    """Arguments sma would refuse (or not take) get no shortcut: the whole computation raises as before."""
    assert recompute_start(sma, args, 500) is None


def test_mirror_columns_are_read_only_views_of_revealed_candles():
    repo = MirrorRepository("X", 60)
    for i in range(100):  # past the first buffer's 64 rows
        repo.append(i * 60 * NS, i, i + 2.0, i - 1.0, i + 1.0, 10.0 * i)
    for name, expected in (("open", np.arange(100.0)), ("close", np.arange(100.0) + 1), ("volume", 10.0 * np.arange(100))):
        column = repo.column(name)
        np.testing.assert_array_equal(column, expected)
        with pytest.raises(ValueError, match="read-only"):
            column[0] = 0.0
    before = repo.column("close")
    repo.append(100 * 60 * NS, 1.0, 1.0, 1.0, 7.0, 1.0)
    assert len(before) == 100 and len(repo.column("close")) == 101 and repo.column("close")[-1] == 7.0
