"""Read-only account snapshot (spec 11.3, 15.2)."""
from __future__ import annotations

from dataclasses import dataclass, field

from .orders import Position


@dataclass(frozen=True)
class Account:
    """``balance`` (realised cash), ``equity`` (balance + Σ pl), ``free_margin``
    (equity − Σ maintenance margin) and ``positions`` keyed by symbol."""

    balance: float
    equity: float
    free_margin: float
    positions: dict[str, Position] = field(default_factory=dict)
