"""The computations behind :mod:`.indicators`, on validated float64 arrays (no checks here).

Each function is the formula of the indicator of the same name in :mod:`.indicators` (see its
module docstring for the definitions and the deviations from pandas_ta); the public functions
there validate their inputs and call these.

Part of the pure core: numpy, and TA-Lib for the hammer pattern only.
"""

from __future__ import annotations

import itertools

import numpy as np

_EPS = float(np.finfo(np.float64).eps)


def sma(x: np.ndarray, n: int) -> np.ndarray:
    if n > x.size:
        return np.full(x.size, np.nan)
    if n <= _DIRECT_SUM_MAX:
        out = np.full(x.size, np.nan)
        out[n - 1 :] = np.convolve(x, np.ones(n), mode="valid") / n
        return out
    return _blocked_sma(x, n)


# Windows up to this long are summed directly (np.convolve: O(n) per output); longer ones by
# prefix sums restarted every _SUM_BLOCK outputs, O(1) per output whatever the window.
_DIRECT_SUM_MAX = 16
_SUM_BLOCK = 4096


def sma_recompute_start(n: int, known: int) -> int:
    """The input index ``s`` from which ``sma(x[s:], n)`` gives exactly ``sma(x, n)[known:]`` (its
    outputs ``known - s`` onward): the first input of the window of output ``known`` for direct
    sums, the first input of its block of prefix sums for long windows (the same additions in the
    same order, whatever ``x`` holds after ``known``)."""
    if known < n:
        return 0
    if n <= _DIRECT_SUM_MAX:
        return known - n + 1
    return (known - n + 1) // _SUM_BLOCK * _SUM_BLOCK


def _blocked_sma(x: np.ndarray, n: int) -> np.ndarray:
    """``sum(x[t-n+1..t]) / n`` from prefix sums restarted at every block of outputs (not one
    running sum over the whole series): the rounding error stays that of a sum of
    ``n + _SUM_BLOCK`` terms (relative ~1e-13) instead of growing with the series' length.
    Windows containing a NaN are NaN. Memory-bound, so it makes few passes over the data."""
    nan = np.isnan(x)
    has_nan = bool(nan.any())
    values = np.where(nan, 0.0, x) if has_nan else x
    size, block = x.size, _SUM_BLOCK
    outputs = size - n + 1
    blocks = -(-outputs // block)
    full = outputs // block  # blocks whose inputs all lie inside x: read in place
    # Room for whole blocks; the result is the first x.size values (a view).
    out = np.empty(n - 1 + blocks * block)
    out[: n - 1] = np.nan
    sums = out[n - 1 :].reshape(blocks, block)
    if full:
        values = np.ascontiguousarray(values)
        # Row k: the inputs of outputs k*B .. k*B+B-1 (rows overlap by n-1 inputs; a view).
        rows = np.lib.stride_tricks.as_strided(
            values, shape=(full, block + n - 1), strides=(block * values.itemsize, values.itemsize)
        )
        _block_sums(rows, n, sums[:full])
    if blocks > full:  # the last, partial block: its inputs padded with zeros
        tail = np.zeros((1, block + n - 1))
        rest = values[full * block :]
        tail[0, : rest.size] = rest
        _block_sums(tail, n, sums[full:])
    sums /= n
    out = out[:size]
    if has_nan:
        counts = np.concatenate(([0], np.cumsum(nan, dtype=np.int64)))
        out[n - 1 :][counts[n:] - counts[:outputs] > 0] = np.nan
    return out


def _block_sums(rows: np.ndarray, n: int, dest: np.ndarray) -> None:
    prefix = np.cumsum(rows, axis=1)
    dest[:, 0] = prefix[:, n - 1]
    np.subtract(prefix[:, n:], prefix[:, : dest.shape[1] - 1], out=dest[:, 1:])


def rma(x: np.ndarray, n: int) -> np.ndarray:
    out = np.full(x.size, np.nan)
    valid = np.flatnonzero(~np.isnan(x))
    if valid.size == 0:
        return out
    start = int(valid[0]) + n - 1  # first output index
    if start >= x.size:
        return out
    seed = float(np.sum(x[valid[0] : start + 1])) / n
    nm1, fn = float(n - 1), float(n)
    # Wilder's recursion exactly as TA-Lib writes it: (prev * (n-1) + x) / n.
    values = itertools.accumulate(
        x[start + 1 :].tolist(), lambda prev, v: (prev * nm1 + v) / fn, initial=seed
    )
    out[start:] = np.fromiter(values, dtype=np.float64, count=x.size - start)
    return out


def rolling(x: np.ndarray, n: int, reducer) -> np.ndarray:
    out = np.full(x.size, np.nan)
    if n <= x.size:
        out[n - 1 :] = reducer(np.lib.stride_tricks.sliding_window_view(x, n), axis=1)
    return out


def true_range(high: np.ndarray, low: np.ndarray, close: np.ndarray) -> np.ndarray:
    tr = np.full(close.size, np.nan)
    if close.size > 1:
        prev = close[:-1]
        tr[1:] = np.maximum(high[1:], prev) - np.minimum(low[1:], prev)
    return tr


def rsi(close: np.ndarray, n: int) -> np.ndarray:
    diff = np.full(close.size, np.nan)
    diff[1:] = close[1:] - close[:-1]
    gain = rma(np.maximum(diff, 0.0), n)  # np.maximum keeps the NaN warm-up
    loss = rma(np.maximum(-diff, 0.0), n)
    total = gain + loss
    ratio = np.divide(gain, total, out=np.zeros(close.size), where=total != 0.0)
    out = 100.0 * ratio
    out[np.isnan(total)] = np.nan
    return out


def stochrsi(close: np.ndarray, length: int, rsi_length: int, k: int, d: int):
    r = rsi(close, rsi_length)
    lowest = rolling(r, length, np.min)
    highest = rolling(r, length, np.max)
    rng = highest - lowest
    rng[rng == 0.0] = _EPS  # pointwise non_zero_range (see module docstring)
    stoch = 100.0 * (r - lowest)
    stoch /= rng
    k_line = sma(stoch, k)
    d_line = sma(k_line, d)
    return k_line, d_line


def supertrend(high, low, close, length: int, multiplier: float):
    if close.size == 0:
        return tuple(np.empty(0) for _ in range(4))
    matr = multiplier * rma(true_range(high, low, close), length)
    hl2 = 0.5 * (high + low)
    upper = (hl2 + matr).tolist()
    lower = (hl2 - matr).tolist()
    closes = close.tolist()

    # pandas_ta starts with direction +1 and trend 0 at bar 0 and loops from bar 1.
    directions = [1.0]
    trends = [0.0]
    add_direction, add_trend = directions.append, trends.append
    d = 1.0
    prev_up, prev_dn = upper[0], lower[0]
    for c, up, dn in zip(closes[1:], upper[1:], lower[1:]):
        # NaN comparisons are False, so the ATR warm-up keeps direction +1.
        if c > prev_up:
            d = 1.0
        elif c < prev_dn:
            d = -1.0
        elif d > 0.0:
            if dn < prev_dn:
                dn = prev_dn  # up-trend: the lower band only rises
        elif up > prev_up:
            up = prev_up  # down-trend: the upper band only falls
        add_direction(d)
        add_trend(dn if d > 0.0 else up)
        prev_up, prev_dn = up, dn

    direction = np.array(directions)
    trend = np.array(trends)
    long_ = np.where(direction > 0.0, trend, np.nan)
    short = np.where(direction < 0.0, trend, np.nan)
    long_[0] = np.nan  # bar 0 is outside pandas_ta's loop: long/short stay NaN
    return trend, direction, long_, short


def cross(k: np.ndarray, d: np.ndarray, level: float, above: bool) -> np.ndarray:
    out = np.zeros(k.size, dtype=bool)
    if k.size > 1:
        k0, d0, k1, d1 = k[:-1], d[:-1], k[1:], d[1:]
        if above:
            out[1:] = (d1 < level) & (k0 <= d0) & (k1 > d1)
        else:
            out[1:] = (d1 > level) & (k0 >= d0) & (k1 < d1)
    return out


def doji(open_, high, low, close, length: int, factor: float) -> np.ndarray:
    body = np.abs(close - open_)
    avg_range = sma(np.abs(high - low), length)
    with np.errstate(invalid="ignore"):
        is_doji = body < 0.01 * factor * avg_range  # NaN warm-up -> False
    return np.where(is_doji, 100.0, 0.0)


def hammer(open_, high, low, close) -> np.ndarray:
    import talib  # noqa: PLC0415  (here, not at the top: it imports pandas (0.5 s), which nothing else here needs)

    raw = talib.CDLHAMMER(
        np.ascontiguousarray(open_),
        np.ascontiguousarray(high),
        np.ascontiguousarray(low),
        np.ascontiguousarray(close),
    )
    # pandas_ta's cdl_pattern: Series(talib_result / 100 * scalar), scalar=100.
    return raw / 100 * 100.0


def zero_nan(x: np.ndarray) -> np.ndarray:
    return np.where(np.isnan(x), 0.0, x)
