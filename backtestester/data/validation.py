"""The invariants of a bar series, checked vectorised: :func:`find_problem` finds the first bad row.

The catalog checks every table before it writes it, and the importers check every file before
anything reaches the catalog, with the same rules and the same words.

Part of the pure core: numpy only.
"""
from __future__ import annotations

from datetime import timedelta

import numpy as np

from .dates import NS_PER_DAY, format_ns
from .schema import TIMEFRAME_NS

__all__ = ["find_problem"]

# Minimum spacing of consecutive bar starts: the timeframe for intraday bars; for daily and
# weekly bars less (sessions are stamped at their open, which moves with DST and early opens).
_MIN_SPACING_NS = dict(TIMEFRAME_NS)
_MIN_SPACING_NS["1d"] = 12 * 3600 * 10**9
_MIN_SPACING_NS["1w"] = 2 * NS_PER_DAY


def _first(mask: np.ndarray, order_key: np.ndarray | None) -> int | None:
    hits = np.flatnonzero(mask)
    if hits.size == 0:
        return None
    if order_key is None:
        return int(hits[0])
    return int(hits[np.argmin(order_key[hits])])


def find_problem(
    start_ns: np.ndarray,
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    volume: np.ndarray,
    timeframe: str,
    *,
    new_group: np.ndarray | None = None,
    order_key: np.ndarray | None = None,
    extra_bad: np.ndarray | None = None,
    sort_hint: str = "sort=True",
) -> tuple[int, str] | None:
    """The first row breaking a bar invariant, as ``(index, reason)``, or ``None``.

    Invariants: finite prices (no NaN), ``high >= max(open, close)``, ``low <= min(open,
    close)``, finite ``volume >= 0``, starts strictly increasing and at least the timeframe
    apart (12 hours for ``1d``, 2 days for ``1w``).  ``new_group`` marks rows that start a new
    series (the ordering checks skip them: several tickers in one array); ``order_key`` (e.g.
    the rows' line numbers in a file) decides which bad row is "first" (default: the index);
    ``extra_bad`` marks rows the caller already found bad (reported with an empty reason, for
    the caller to fill in).  All checks are vectorised.
    """
    n = start_ns.size
    if n == 0:
        return None
    bad = np.zeros(n, dtype=bool)
    prices = {"open": open_, "high": high, "low": low, "close": close}
    nonfinite = {k: ~np.isfinite(v) for k, v in prices.items()}
    for m in nonfinite.values():
        bad |= m
    vol_bad = ~np.isfinite(volume) | (volume < 0)
    bad |= vol_bad
    with np.errstate(invalid="ignore"):
        hi_bad = high < np.maximum(open_, close)
        lo_bad = low > np.minimum(open_, close)
    bad |= hi_bad | lo_bad
    diff = np.empty(n, dtype=np.int64)
    diff[0] = np.iinfo(np.int64).max
    diff[1:] = start_ns[1:] - start_ns[:-1]
    if new_group is not None:
        diff[new_group] = np.iinfo(np.int64).max
    order_bad = diff <= 0
    spacing_bad = (diff > 0) & (diff < _MIN_SPACING_NS[timeframe])
    bad |= order_bad | spacing_bad
    if extra_bad is not None:
        bad |= extra_bad
    i = _first(bad, order_key)
    if i is None:
        return None
    if extra_bad is not None and extra_bad[i]:
        return i, ""
    for name, m in nonfinite.items():
        if m[i]:
            what = "missing (empty, null or NaN)" if np.isnan(prices[name][i]) else f"not finite ({prices[name][i]})"
            return i, f"{name} is {what}; prices must be numbers"
    if hi_bad[i]:
        return i, (f"high {high[i]:g} is below max(open {open_[i]:g}, close {close[i]:g}); "
                   f"bars need high >= max(open, close)")
    if lo_bad[i]:
        return i, (f"low {low[i]:g} is above min(open {open_[i]:g}, close {close[i]:g}); "
                   f"bars need low <= min(open, close)")
    if vol_bad[i]:
        v = volume[i]
        what = "missing (empty, null or NaN)" if np.isnan(v) else f"{v:g}"
        return i, f"volume is {what}; volume must be a number >= 0"
    t, prev = format_ns(start_ns[i]), format_ns(start_ns[i - 1])
    if order_bad[i]:
        if diff[i] == 0:
            return i, (f"duplicate timestamp {t} (same as the previous row); timestamps must be unique "
                       f"(pass {sort_hint} to sort and keep the last of duplicates)")
        return i, (f"timestamp {t} is before the previous row's {prev}; timestamps must be sorted "
                   f"ascending (pass {sort_hint} to sort them)")
    gap = timedelta(microseconds=int(diff[i]) // 1000)
    return i, (f"timestamp {t} is only {gap} after the previous bar ({prev}); {timeframe} bars must be "
               f"at least {timedelta(microseconds=_MIN_SPACING_NS[timeframe] // 1000)} apart "
               f"(is the timeframe right?)")
