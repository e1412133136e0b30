"""Optional commission and slippage models (D3). Both default to none, as in the original."""
from __future__ import annotations

import math
from dataclasses import dataclass

from .errors import PlaygroundError


def _non_negative(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")


@dataclass(frozen=True)
class Commission:
    """Fee of one fill: ``max(minimum, per_order + per_share × |q| + rate × |q| × price)``.

    ``rate`` is a fraction of the traded value (0.001 = 10 bps). The fee is debited from the
    balance when the fill happens and recorded on the trade.
    """

    per_share: float = 0.0
    rate: float = 0.0
    per_order: float = 0.0
    minimum: float = 0.0

    def __post_init__(self):
        for name in ("per_share", "rate", "per_order", "minimum"):
            _non_negative(f"Commission.{name}", getattr(self, name))

    def fee(self, quantity: float, price: float) -> float:
        q = abs(quantity)
        return max(self.minimum, self.per_order + self.per_share * q + self.rate * q * price)


@dataclass(frozen=True)
class Slippage:
    """Adverse price move of market and stop fills: ``per_share + rate × price``, added to buys'
    prices and subtracted from sells' (never below one cent). Limit fills get their limit or better."""

    per_share: float = 0.0
    rate: float = 0.0

    def __post_init__(self):
        _non_negative("Slippage.per_share", self.per_share)
        _non_negative("Slippage.rate", self.rate)

    def adjust(self, price: float, buying: bool) -> float:
        move = self.per_share + self.rate * price
        return price + move if buying else max(price - move, 0.01)


def check_cost_model(value, cls, name):
    """``value`` if it is ``None`` or a ``cls``, else a :class:`PlaygroundError` naming ``name``."""
    if value is not None and not isinstance(value, cls):
        raise PlaygroundError(f"{name} must be None or a {cls.__name__}(...), got {value!r}")
    return value
