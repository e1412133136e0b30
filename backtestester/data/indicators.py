"""Candle indicators of the original system, vectorised over numpy arrays.

The original Go service computed its candle features with pandas_ta 0.3.14b
(TA-Lib installed) through a Python script.  This module reproduces those
features on ``numpy.float64`` arrays: arrays in, arrays out, NaN during the
warm-up exactly where pandas_ta has NaN, and causal (the value at bar ``t``
depends only on bars ``0..t``, so computing on a prefix of a series gives the
same values as the full series on that prefix).  The module does not import
pandas; numpy everywhere, TA-Lib for the one candlestick pattern (CDLHAMMER).
The functions here validate their inputs; the formulas are in :mod:`.indicator_math`.

Definitions (``x[t]`` is bar ``t``; ``n`` a length; ``NaN`` marks warm-up)
--------------------------------------------------------------------------
SMA     ``sma[t] = (x[t-n+1] + ... + x[t]) / n``; NaN while the window is not
        full or contains a NaN.
RMA     Wilder's moving average (TA-Lib's smoothing): with ``f`` the first
        non-NaN index, ``rma[f+n-1] = mean(x[f..f+n-1])`` and then
        ``rma[t] = (rma[t-1] * (n-1) + x[t]) / n``; NaN before ``f+n-1``.
TR      ``tr[0] = NaN``; ``tr[t] = max(high[t], close[t-1]) - min(low[t], close[t-1])``.
ATR     ``atr = RMA(tr, n)``: first value at ``t = n`` (mean of ``tr[1..n]``).
RSI     ``diff[t] = close[t] - close[t-1]``, ``gain = max(diff, 0)``,
        ``loss = max(-diff, 0)``; ``rsi = 100 * (G / (G + L))`` with
        ``G = RMA(gain, n)``, ``L = RMA(loss, n)``; ``rsi = 0`` where
        ``G + L == 0`` (flat prices, as TA-Lib).  First value at ``t = n``.
StochRSI ``r = RSI(close, rsi_length)``; ``lo``/``hi`` = rolling min/max of
        ``r`` over ``length`` bars; ``stoch = 100 * (r - lo) / (hi - lo)``
        (a zero range is replaced by machine epsilon, so ``stoch = 0`` there);
        ``K = SMA(stoch, k)``, ``D = SMA(K, d)``.
SuperTrend  ``hl2 = (high + low) / 2``, ``up = hl2 + m * ATR(n)``,
        ``dn = hl2 - m * ATR(n)``; direction starts at +1; for ``t >= 1``:
        ``dir = +1`` if ``close[t] > up[t-1]``, ``-1`` if ``close[t] < dn[t-1]``,
        else ``dir[t-1]`` and the band on the trend side ratchets
        (``dn[t] = max(dn[t], dn[t-1])`` in an up-trend,
        ``up[t] = min(up[t], up[t-1])`` in a down-trend).  ``trend = dn`` and
        ``long = dn`` when ``dir > 0``, else ``trend = up`` and ``short = up``.
        ``trend[0] = 0`` (not NaN), as in pandas_ta.
Lags    ``close_lag_i[t] = close[t-i]`` (NaN for ``t < i``).
Crosses ``above[t] = D[t] < level and K[t-1] <= D[t-1] and K[t] > D[t]``;
        ``below[t] = D[t] > level and K[t-1] >= D[t-1] and K[t] < D[t]``;
        ``False`` at ``t = 0`` and wherever an operand is NaN.
Doji    pandas_ta 0.3.14b ``cdl_doji``: ``100`` where
        ``|close - open| < (0.01 * factor) * SMA(|high - low|, length)``
        (SMA includes the current bar), else ``0`` (also ``0`` during warm-up).
Hammer  TA-Lib ``CDLHAMMER`` (values 0 or 100), as pandas_ta's
        ``cdl_pattern(name="hammer")`` returns it: a float64 series.

Where the original depended on TA-Lib
-------------------------------------
pandas_ta 0.3.14b dispatches ``sma``, ``rsi`` and ``atr`` to TA-Lib whenever
TA-Lib is installed (``talib=True`` is its default), and the original had
TA-Lib (its ``cdl_pattern(name="hammer")`` needs it).  So the original's SMA,
RSI (inside StochRSI too) and ATR (inside SuperTrend too) are TA-Lib's, whose
Wilder smoothing is SMA-seeded; that is the RMA defined above.  (0.3.14b
*without* TA-Lib would have used ``ewm(alpha=1/n, min_periods=n).mean()``,
adjust=True and no seed, which gives different values for a long time.)
pandas-ta-classic's own ``rma`` is SMA-seeded too and matches these values.

Deliberate deviations from the original (documented, all tiny)
--------------------------------------------------------------
* pandas_ta 0.3.14b's ``non_zero_range(a, b)`` adds machine epsilon to the
  *whole* series ``a - b`` as soon as one element of it is zero anywhere in
  the series, which makes a bar depend on future bars.  Here a zero range is
  replaced by epsilon at that bar only (as pandas-ta-classic now does) in
  StochRSI, and Doji uses plain ``|close - open|`` and ``|high - low|``.  The
  results differ only when a value sits within ~1e-16 of a threshold.
* TA-Lib 0.4.0 (the C library of that era) treats ``|G + L| < 1e-8`` as zero
  in RSI and returns 0 there; this module (like the TA-Lib C library bundled
  with the ta-lib 0.8 wheel) returns 0 only for an exact zero.  That matters only for
  instruments whose average absolute move is below ~1e-8.
* A NaN *inside* a series (after its first valid value): SMA gives NaN for
  the windows containing it (pandas rolling semantics; TA-Lib's SMA would
  turn every later value into NaN); RMA-based indicators (RSI, ATR,
  StochRSI, SuperTrend) propagate it to every later bar, as TA-Lib does.
* pandas_ta returns ``None`` (no column) when the series is shorter than the
  length; here the outputs are all-NaN instead (0 after ``add_indicators``'
  NaN -> 0 step, which is what the original's ``fillna(0)`` gave a missing
  column).  Invalid parameters raise ``ValueError`` instead of being
  silently replaced by pandas_ta's defaults.

``add_indicators`` reproduces the original's order of operations: the base
indicators (supertrend, stochrsi, moving_averages, lag_features, atr) in
request order, then every NaN in those columns -> 0, then the two StochRSI
cross flags computed on the zero-filled K and D, then the candlestick
patterns.
"""

from __future__ import annotations

import math
import numbers
from typing import Iterable

import numpy as np

from ..arrays import float_array, same_length
from . import indicator_math as unchecked

__all__ = [
    "SUPPORTED_INDICATORS",
    "add_indicators",
    "atr",
    "close_lags",
    "cross_above",
    "cross_below",
    "doji",
    "hammer",
    "recompute_start",
    "rma",
    "rolling_max",
    "rolling_min",
    "rsi",
    "sma",
    "stochrsi",
    "supertrend",
    "true_range",
]

#: Names accepted by :func:`add_indicators`, in the order of the spec table.
SUPPORTED_INDICATORS: tuple[str, ...] = (
    "supertrend",
    "stochrsi",
    "moving_averages",
    "lag_features",
    "atr",
    "stochrsi_cross_above_20",
    "stochrsi_cross_below_80",
    "doji",
    "hammer",
)

_BASE_INDICATORS = ("supertrend", "stochrsi", "moving_averages", "lag_features", "atr")
_CROSS_FLAGS = ("stochrsi_cross_above_20", "stochrsi_cross_below_80")
_PATTERNS = ("doji", "hammer")

# Parameters of the original feature set (the column names encode them).
_SUPERTREND_LENGTH, _SUPERTREND_MULTIPLIER = 50, 3.0
_STOCHRSI_PARAMS = (14, 14, 3, 3)  # length, rsi_length, k, d
_SMA_LENGTHS = (50, 100, 200)
_LAGS = 20
_ATR_LENGTH = 14
_DOJI_LENGTH, _DOJI_FACTOR = 10, 10.0

# --------------------------------------------------------------------------
# validation helpers
# --------------------------------------------------------------------------


def _as_array(values, name: str) -> np.ndarray:
    """Return ``values`` as a 1-D float64 array without infinities, or raise ``ValueError``."""
    arr = float_array(values, name)
    if np.isinf(arr).any():
        raise ValueError(f"{name} contains infinite values")
    return arr


def _as_arrays(**named) -> list[np.ndarray]:
    """Validate several inputs and check that they all have the same length."""
    arrays = {k: _as_array(v, k) for k, v in named.items()}
    same_length(**arrays)
    return list(arrays.values())


def _check_length(value, name: str = "length") -> int:
    """Return ``value`` as an int >= 1, or raise ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}")
    return int(value)


def _check_real(value, name: str) -> float:
    """Return ``value`` as a finite float, or raise ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value)


# --------------------------------------------------------------------------
# public indicators
# --------------------------------------------------------------------------


def sma(close, length: int) -> np.ndarray:
    """Simple moving average (pandas_ta ``ta.sma``, TA-Lib ``SMA``).

    ``sma[t] = (x[t-length+1] + ... + x[t]) / length``.  The first
    ``length - 1`` values are NaN, and so is every window containing a NaN
    (e.g. the leading NaN run of a chained indicator is skipped the way
    TA-Lib skips it).  ``sma([1, 2, 3, 4, 5], 3) == [nan, nan, 2, 3, 4]``.
    """
    return unchecked.sma(_as_array(close, "close"), _check_length(length))


def recompute_start(fn, args: tuple, known: int) -> int | None:
    """For a series ``fn(x, *args)`` whose first ``known`` values are known and ``x`` has grown:
    the index ``s`` such that ``fn(x[s:], *args)[known - s:]`` are exactly the values from
    ``known`` on (the same numbers as ``fn(x, *args)``), or None when the whole input must be
    read again (any other function or arguments). Supports :func:`sma`; lets a growing series
    (the gateway adapter's) add a candle's value without re-reading every earlier candle."""
    if fn is sma and len(args) == 1 and isinstance(args[0], int) and not isinstance(args[0], bool) and args[0] >= 1:
        return unchecked.sma_recompute_start(args[0], known)
    return None


def rma(values, length: int) -> np.ndarray:
    """Wilder's moving average, SMA-seeded (TA-Lib's ATR/RSI smoothing).

    With ``f`` the index of the first non-NaN value and ``n = length``:
    ``rma[f+n-1] = mean(x[f], ..., x[f+n-1])`` and, for later bars,
    ``rma[t] = (rma[t-1] * (n-1) + x[t]) / n`` (i.e. an EMA with
    ``alpha = 1/n``).  Values before ``f+n-1`` are NaN; a NaN after ``f``
    propagates to every later value.  ``rma([1, 2, 3, 4, 5], 3) ==
    [nan, nan, 2, 8/3, 31/9]``.
    """
    return unchecked.rma(_as_array(values, "values"), _check_length(length))


def rolling_min(values, length: int) -> np.ndarray:
    """Rolling minimum ``min(x[t-length+1..t])``; NaN until the window is full
    and for windows containing a NaN (pandas ``rolling(length).min()``)."""
    return unchecked.rolling(_as_array(values, "values"), _check_length(length), np.min)


def rolling_max(values, length: int) -> np.ndarray:
    """Rolling maximum ``max(x[t-length+1..t])``; NaN until the window is full
    and for windows containing a NaN (pandas ``rolling(length).max()``)."""
    return unchecked.rolling(_as_array(values, "values"), _check_length(length), np.max)


def true_range(high, low, close) -> np.ndarray:
    """True range (TA-Lib ``TRANGE``).

    ``tr[0] = NaN`` and ``tr[t] = max(high[t], close[t-1]) - min(low[t], close[t-1])``,
    which equals ``max(high - low, |high - close[t-1]|, |low - close[t-1]|)``.
    """
    h, lo, c = _as_arrays(high=high, low=low, close=close)
    return unchecked.true_range(h, lo, c)


def atr(high, low, close, length: int = 14) -> np.ndarray:
    """Average true range (pandas_ta ``ta.atr`` = TA-Lib ``ATR``).

    ``atr = rma(true_range(high, low, close), length)``: the first value, at
    bar ``length``, is the mean of ``tr[1..length]``; afterwards
    ``atr[t] = (atr[t-1] * (length-1) + tr[t]) / length``.  Bars
    ``0..length-1`` are NaN.
    """
    h, lo, c = _as_arrays(high=high, low=low, close=close)
    return unchecked.rma(unchecked.true_range(h, lo, c), _check_length(length))


def rsi(close, length: int = 14) -> np.ndarray:
    """Relative strength index (pandas_ta ``ta.rsi`` = TA-Lib ``RSI``).

    ``diff[t] = close[t] - close[t-1]``; ``G = rma(max(diff, 0), length)``,
    ``L = rma(max(-diff, 0), length)``; ``rsi = 100 * (G / (G + L))``, and
    ``rsi = 0`` where ``G + L == 0`` (no movement at all, as TA-Lib).  Bars
    ``0..length-1`` are NaN.
    """
    return unchecked.rsi(_as_array(close, "close"), _check_length(length))


def stochrsi(close, length: int = 14, rsi_length: int = 14, k: int = 3, d: int = 3):
    """Stochastic RSI (pandas_ta ``ta.stochrsi``), returns ``(K, D)``.

    ``r = rsi(close, rsi_length)``; ``lo``, ``hi`` = rolling min / max of
    ``r`` over ``length`` bars; ``stoch = 100 * (r - lo) / (hi - lo)`` where a
    zero ``hi - lo`` is replaced by machine epsilon (so ``stoch = 0``);
    ``K = sma(stoch, k)``; ``D = sma(K, d)``.  With the defaults K is NaN on
    bars ``0..28`` and D on bars ``0..30``.
    """
    c = _as_array(close, "close")
    return unchecked.stochrsi(
        c,
        _check_length(length),
        _check_length(rsi_length, "rsi_length"),
        _check_length(k, "k"),
        _check_length(d, "d"),
    )


def supertrend(high, low, close, length: int = 50, multiplier: float = 3.0):
    """SuperTrend (pandas_ta ``ta.supertrend``), returns ``(trend, direction, long, short)``.

    ``hl2 = (high + low) / 2``; ``up = hl2 + multiplier * atr(length)``;
    ``dn = hl2 - multiplier * atr(length)``.  ``direction[0] = +1``; for
    ``t >= 1``: ``+1`` if ``close[t] > up[t-1]``, ``-1`` if
    ``close[t] < dn[t-1]``, otherwise the previous direction, and then in an
    up-trend ``dn[t] = max(dn[t], dn[t-1])``, in a down-trend
    ``up[t] = min(up[t], up[t-1])`` (``up``/``dn`` being these final bands).
    ``trend[t] = long[t] = dn[t]`` when ``direction[t] = +1``, otherwise
    ``trend[t] = short[t] = up[t]``; the other band output is NaN.
    pandas_ta quirk kept: ``trend[0] = 0.0`` (not NaN); ``trend`` is NaN on
    bars ``1..length-1`` (ATR warm-up) and ``direction`` is +1 there.
    ``direction`` is returned as float64 (+1.0 / -1.0).
    """
    h, lo, c = _as_arrays(high=high, low=low, close=close)
    n = _check_length(length)
    mult = _check_real(multiplier, "multiplier")
    if mult <= 0:
        raise ValueError(f"multiplier must be > 0, got {multiplier!r}")
    return unchecked.supertrend(h, lo, c, n, mult)


def close_lags(close, lags: int = 20) -> dict[str, np.ndarray]:
    """Lagged closes ``{"close_lag_i": close shifted by i}`` for ``i = 1..lags``.

    ``close_lag_i[t] = close[t-i]``; the first ``i`` values are NaN
    (pandas ``close.shift(i)``).
    """
    c = _as_array(close, "close")
    n = _check_length(lags, "lags")
    out = {}
    for i in range(1, n + 1):
        lagged = np.full(c.size, np.nan)
        if i < c.size:
            lagged[i:] = c[:-i]
        out[f"close_lag_{i}"] = lagged
    return out


def cross_above(k, d, level: float = 20.0) -> np.ndarray:
    """``K`` crosses above ``D`` while ``D`` is below ``level`` (bool array).

    ``out[t] = D[t] < level and K[t-1] <= D[t-1] and K[t] > D[t]``;
    ``out[0] = False``, and any comparison with NaN is False.
    """
    kk, dd = _as_arrays(k=k, d=d)
    return unchecked.cross(kk, dd, _check_real(level, "level"), above=True)


def cross_below(k, d, level: float = 80.0) -> np.ndarray:
    """``K`` crosses below ``D`` while ``D`` is above ``level`` (bool array).

    ``out[t] = D[t] > level and K[t-1] >= D[t-1] and K[t] < D[t]``;
    ``out[0] = False``, and any comparison with NaN is False.
    """
    kk, dd = _as_arrays(k=k, d=d)
    return unchecked.cross(kk, dd, _check_real(level, "level"), above=False)


def doji(open, high, low, close, length: int = 10, factor: float = 10.0) -> np.ndarray:  # noqa: A002
    """Doji, pandas_ta 0.3.14b ``cdl_doji`` (its own definition, not TA-Lib's).

    ``100.0`` where ``|close - open| < (0.01 * factor) * sma(|high - low|, length)``,
    else ``0.0``; the SMA includes the current bar and the first
    ``length - 1`` bars (NaN SMA) are ``0.0``.  ``factor`` is a percentage in
    ``[0, 100]`` (pandas_ta column ``CDL_DOJI_10_0.1`` for the defaults).

    pandas-ta-classic changed this definition (``<=`` and the SMA of the
    *previous* ``length`` bars); the original 0.3.14b formula is kept here.
    """
    o, h, lo, c = _as_arrays(open=open, high=high, low=low, close=close)
    n = _check_length(length)
    f = _check_real(factor, "factor")
    if not 0.0 <= f <= 100.0:
        raise ValueError(f"factor must be a percentage in [0, 100], got {factor!r}")
    return unchecked.doji(o, h, lo, c, n, f)


def hammer(open, high, low, close) -> np.ndarray:  # noqa: A002
    """Hammer, TA-Lib ``CDLHAMMER`` as pandas_ta ``cdl_pattern(name="hammer")`` gives it.

    ``100.0`` on a hammer bar, else ``0.0`` (float64).  TA-Lib's definition
    with its default candle settings (averages over the preceding bars, not
    the current one): ``body < mean(body, 10 bars)``,
    ``lower_shadow > body``, ``upper_shadow < 0.1 * mean(high - low, 10 bars)``
    and ``min(open, close) <= low[t-1] + 0.2 * mean(high - low, 5 bars before t-1)``.
    The first 11 bars are ``0.0``.
    """
    o, h, lo, c = _as_arrays(open=open, high=high, low=low, close=close)
    return unchecked.hammer(o, h, lo, c)


# --------------------------------------------------------------------------
# the original feature set
# --------------------------------------------------------------------------


def _stochrsi_names() -> tuple[str, str]:
    props = "_".join(str(p) for p in _STOCHRSI_PARAMS)
    return f"stochrsi_k_{props}", f"stochrsi_d_{props}"


def add_indicators(open, high, low, close, volume, names: Iterable[str]) -> dict[str, np.ndarray]:  # noqa: A002
    """Compute the original system's feature columns for ``names``.

    Columns (parameters fixed as in the original):

    * ``supertrend``: ``superT_50_3``, ``superD_50_3`` (+1/-1),
      ``superL_50_3``, ``superS_50_3`` = :func:`supertrend` (length 50, multiplier 3)
    * ``stochrsi``: ``stochrsi_k_14_14_3_3``, ``stochrsi_d_14_14_3_3`` = :func:`stochrsi`
    * ``moving_averages``: ``sma_50``, ``sma_100``, ``sma_200`` = :func:`sma` of close
    * ``lag_features``: ``close_lag_1`` ... ``close_lag_20`` = :func:`close_lags`
    * ``atr``: ``atr_14`` = :func:`atr` (length 14)
    * ``stochrsi_cross_above_20`` (bool) = :func:`cross_above` (K, D, 20)
    * ``stochrsi_cross_below_80`` (bool) = :func:`cross_below` (K, D, 80)
    * ``doji``: ``cdl_doji_10_0_1`` = :func:`doji` (length 10, factor 10): 0.0 / 100.0
    * ``hammer``: ``cdl_hammer`` = :func:`hammer`: 0.0 / 100.0

    Order of operations (as the original): the base indicators in request
    order; then NaN -> 0 in all their columns; then the cross flags, computed
    on the zero-filled K and D (so the warm-up zeros take part: a flag can
    fire on the bar where K becomes valid while D is still 0); then the
    candlestick patterns.  The flags need K and D: if ``stochrsi`` was not
    requested they are computed (and zero-filled) without being returned.
    Repeated names are computed once.  ``volume`` is not used by any of
    these indicators; it is only checked for length (it may be ``None``).

    Raises ``ValueError("Unsupported indicator: <name>; supported: ...")``
    for an unknown name (before computing anything), and ``ValueError`` for
    inputs of different lengths.
    """
    requested = _requested(names)
    arrays = {"open": open, "high": high, "low": low, "close": close}
    if volume is not None:
        arrays["volume"] = volume
    o, h, lo, c = _as_arrays(**arrays)[:4]

    out = _base_columns(requested, h, lo, c)  # 1. base indicators, in request order
    for key in out:  # 2. NaN -> 0 in every base column
        out[key] = unchecked.zero_nan(out[key])
    out.update(_cross_flag_columns(requested, out, c))  # 3. cross-over flags on the zero-filled K / D
    out.update(_pattern_columns(requested, o, h, lo, c))  # 4. candlestick patterns
    return out


def _requested(names: Iterable[str]) -> list[str]:
    """The names asked for, each once, in order; an unknown one raises before anything is computed."""
    if isinstance(names, str):
        names = [names]
    requested: list[str] = []
    for name in names:
        if name not in SUPPORTED_INDICATORS:
            raise ValueError(
                f"Unsupported indicator: {name}; supported: {', '.join(SUPPORTED_INDICATORS)}"
            )
        if name not in requested:
            requested.append(name)
    return requested


def _base_columns(requested: list[str], h: np.ndarray, lo: np.ndarray, c: np.ndarray) -> dict[str, np.ndarray]:
    """The columns of the base indicators among ``requested``, in request order (NaN warm-ups kept)."""
    k_name, d_name = _stochrsi_names()
    out: dict[str, np.ndarray] = {}
    for name in requested:
        if name == "supertrend":
            props = f"{_SUPERTREND_LENGTH}_{int(_SUPERTREND_MULTIPLIER)}"
            trend, direction, long_, short = unchecked.supertrend(
                h, lo, c, _SUPERTREND_LENGTH, _SUPERTREND_MULTIPLIER
            )
            out[f"superT_{props}"] = trend
            out[f"superD_{props}"] = direction
            out[f"superL_{props}"] = long_
            out[f"superS_{props}"] = short
        elif name == "stochrsi":
            out[k_name], out[d_name] = unchecked.stochrsi(c, *_STOCHRSI_PARAMS)
        elif name == "moving_averages":
            for n in _SMA_LENGTHS:
                out[f"sma_{n}"] = unchecked.sma(c, n)
        elif name == "lag_features":
            for i in range(1, _LAGS + 1):
                lagged = np.full(c.size, np.nan)
                if i < c.size:
                    lagged[i:] = c[:-i]
                out[f"close_lag_{i}"] = lagged
        elif name == "atr":
            out[f"atr_{_ATR_LENGTH}"] = unchecked.rma(unchecked.true_range(h, lo, c), _ATR_LENGTH)
    return out


def _cross_flag_columns(requested: list[str], base: dict[str, np.ndarray], c: np.ndarray) -> dict[str, np.ndarray]:
    """The requested StochRSI cross flags, on the zero-filled K and D (computed here if not in ``base``)."""
    flags = [name for name in requested if name in _CROSS_FLAGS]
    if not flags:
        return {}
    k_name, d_name = _stochrsi_names()
    if k_name in base:
        k_line, d_line = base[k_name], base[d_name]
    else:
        k_line, d_line = (unchecked.zero_nan(v) for v in unchecked.stochrsi(c, *_STOCHRSI_PARAMS))
    out = {}
    for name in flags:
        if name == "stochrsi_cross_above_20":
            out[name] = unchecked.cross(k_line, d_line, 20.0, above=True)
        else:
            out[name] = unchecked.cross(k_line, d_line, 80.0, above=False)
    return out


def _pattern_columns(requested: list[str], o: np.ndarray, h: np.ndarray, lo: np.ndarray,
                     c: np.ndarray) -> dict[str, np.ndarray]:
    """The requested candlestick pattern columns (0.0 / 100.0)."""
    out = {}
    for name in requested:
        if name == "doji":
            factor_tag = str(0.01 * _DOJI_FACTOR).replace(".", "_")  # 0.1 -> "0_1"
            out[f"cdl_doji_{_DOJI_LENGTH}_{factor_tag}"] = unchecked.doji(
                o, h, lo, c, _DOJI_LENGTH, _DOJI_FACTOR
            )
        elif name == "hammer":
            out["cdl_hammer"] = unchecked.hammer(o, h, lo, c)
    return out
