"""Shared helpers of the data tests: times as epoch nanoseconds, bar starts, fixed-seed OHLCV
arrays for the indicators and their comparison with tolerance."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

REPO = Path(__file__).resolve().parents[2]
RTOL = ATOL = 1e-9
N_BARS = 3000


def ns(text: str) -> int:
    """Nanoseconds since the epoch of an ISO time (UTC; a trailing ``Z`` is allowed)."""
    return int(np.datetime64(text.replace("Z", ""), "ns").astype(np.int64))


def starts(table: pa.Table) -> np.ndarray:
    """Bar starts of a table as int64 ns since the epoch."""
    return table.column("start").cast(pa.int64()).to_numpy()


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
