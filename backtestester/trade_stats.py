"""Trade statistics: the closed round trips (:class:`RoundTrip`) and what
:class:`backtestester.stats.Statistics` reports about them.

The definitions (formulas, units, ``nan`` cases) are written once, in the
docstring of :mod:`backtestester.stats`; this module computes the trade half of
them.  :func:`trade_metrics` is the one computation behind both
:func:`backtestester.stats.compute_statistics` and the fast path's batch
statistics, which must agree to the last bit.

Pure core: the standard library and numpy only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Sequence

import numpy as np

__all__ = ["RoundTrip", "round_trip_stats", "trade_metrics"]

_NAN = float("nan")
# A standard deviation of per-trade P&L below this fraction of the mean absolute P&L is
# floating-point noise: SQN is then undefined.
_ZERO_DISPERSION = 1e-14


@dataclass(frozen=True)
class RoundTrip:
    """One closed position lot: an opening fill and the fill(s) that closed it.

    Attributes:
        symbol: Instrument symbol.
        side: ``"long"`` or ``"short"``.
        quantity: Unsigned quantity (> 0).
        entry_time: Time of the opening fill (timezone-aware).
        exit_time: Time of the (last) closing fill (timezone-aware, >= entry).
        entry_price: Average opening price.
        exit_price: Average closing price.
        pnl: Realised money profit/loss, after commission.
        commission: Total commission paid on the round trip (already included
            in ``pnl``).
    """

    symbol: str
    side: str
    quantity: float
    entry_time: datetime
    exit_time: datetime
    entry_price: float
    exit_price: float
    pnl: float
    commission: float = 0.0

    def __post_init__(self) -> None:
        if self.side not in ("long", "short"):
            raise ValueError(f"RoundTrip.side must be 'long' or 'short', got {self.side!r}")
        if not (math.isfinite(self.quantity) and self.quantity > 0):
            raise ValueError(f"RoundTrip.quantity must be a finite number > 0, got {self.quantity!r}")
        for name in ("entry_time", "exit_time"):
            value = getattr(self, name)
            if not isinstance(value, datetime) or value.utcoffset() is None:
                raise ValueError(f"RoundTrip.{name} must be a timezone-aware datetime, got {value!r}")
        if self.exit_time < self.entry_time:
            raise ValueError(
                f"RoundTrip.exit_time ({self.exit_time}) is before entry_time ({self.entry_time})"
            )

    @classmethod
    def trusted(cls, symbol: str, side: str, quantity: float, entry_time: datetime, exit_time: datetime,
                entry_price: float, exit_price: float, pnl: float, commission: float = 0.0) -> "RoundTrip":
        """A round trip from values its maker already knows valid (the engine's own closes, one per
        closing allocation): the same object as the constructor's, without the checks of
        ``__post_init__``, which cost more than the rest of a round trip's assembly."""
        trip = object.__new__(cls)
        trip.__dict__.update(symbol=symbol, side=side, quantity=quantity, entry_time=entry_time,
                             exit_time=exit_time, entry_price=entry_price, exit_price=exit_price, pnl=pnl,
                             commission=commission)
        return trip

    @property
    def return_pct(self) -> float:
        """``pnl / (entry_price * quantity)`` as a fraction (``nan`` if the notional is 0)."""
        notional = self.entry_price * self.quantity
        if notional == 0:
            return _NAN
        return self.pnl / abs(notional)

    @property
    def duration(self) -> timedelta:
        """``exit_time - entry_time``."""
        return self.exit_time - self.entry_time


def _factor(values: np.ndarray) -> float:
    """``sum(values > 0) / abs(sum(values < 0))``; ``inf`` with gains and no losses, ``nan``
    with neither."""
    gains = float(values[values > 0].sum())
    losses = float(-values[values < 0].sum())
    if losses > 0:
        return gains / losses
    return math.inf if gains > 0 else _NAN


def _sqn(pnl: np.ndarray) -> float:
    if len(pnl) < 2:
        return _NAN
    std = float(np.std(pnl, ddof=1))
    if not std > _ZERO_DISPERSION * float(np.mean(np.abs(pnl))):
        return _NAN
    return math.sqrt(len(pnl)) * float(pnl.mean()) / std


def _kelly(pnl: np.ndarray, win_rate: float) -> float:
    wins, losses = pnl[pnl > 0], pnl[pnl < 0]
    if not (wins.size and losses.size):
        return _NAN
    return win_rate - (1.0 - win_rate) / (float(wins.mean()) / -float(losses.mean()))


def _geometric_mean(ret: np.ndarray) -> float:
    if not ret.size or (ret <= -1.0).any():
        return _NAN
    return math.expm1(float(np.log1p(ret).sum()) / ret.size)


def _pnl_metrics(pnl: np.ndarray, ret: np.ndarray) -> dict[str, Any]:
    """The trade statistics of non-empty per-trade P&L and return arrays."""
    finite_ret = ret[np.isfinite(ret)]
    win_rate = float(np.count_nonzero(pnl > 0)) / len(pnl)
    return dict(
        trade_count=len(pnl),
        win_rate=win_rate,
        profit_factor=_factor(pnl),
        profit_factor_return=_factor(finite_ret),
        expectancy=float(pnl.mean()),
        avg_trade_return=float(finite_ret.mean()) if finite_ret.size else _NAN,
        geometric_trade_return=_geometric_mean(finite_ret),
        best_trade=float(finite_ret.max()) if finite_ret.size else _NAN,
        worst_trade=float(finite_ret.min()) if finite_ret.size else _NAN,
        sqn=_sqn(pnl),
        kelly=_kelly(pnl, win_rate),
    )


_NO_TRADES = dict(trade_count=0, win_rate=_NAN, profit_factor=_NAN, profit_factor_return=_NAN, expectancy=_NAN,
                  avg_trade_return=_NAN, geometric_trade_return=_NAN, best_trade=_NAN, worst_trade=_NAN,
                  sqn=_NAN, kelly=_NAN)


def trade_metrics(pnl: np.ndarray, ret: np.ndarray, commissions: list[float]) -> dict[str, Any]:
    """The trade statistics of round trips given as per-trade P&L, return and commission (all
    but the durations): the one computation behind :func:`~backtestester.stats.compute_statistics`
    and the fast path's batch statistics, which must agree to the last bit."""
    if len(pnl) == 0:
        return dict(_NO_TRADES, total_commission=0.0)
    return dict(_pnl_metrics(pnl, ret), total_commission=float(sum(commissions)))


def round_trip_stats(round_trips: Sequence[RoundTrip]) -> dict[str, Any]:
    """Every trade statistic of ``round_trips``: :func:`trade_metrics` and the durations."""
    n = len(round_trips)
    pnl = np.array([t.pnl for t in round_trips], dtype=np.float64)
    ret = np.array([t.return_pct for t in round_trips], dtype=np.float64)
    durations = [t.duration for t in round_trips]
    return dict(
        trade_metrics(pnl, ret, [t.commission for t in round_trips]),
        avg_trade_duration=sum(durations, timedelta(0)) / n if n else None,
        max_trade_duration=max(durations) if n else None,
    )
