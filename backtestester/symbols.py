"""The symbol rule every layer shares: tickers are case-insensitive and reported upper-case (D16).

A bottom module (standard library only), so that the engine and the data layer, which never
import each other, apply the same rule; the catalog adds its character rule on top
(:func:`backtestester.data.schema.catalog_symbol`).
"""
from __future__ import annotations


def normalize_symbol(symbol) -> str:
    """Tickers are case-insensitive and reported upper-case (D16)."""
    if not isinstance(symbol, str) or not symbol.strip():
        raise ValueError(f"symbol must be a non-empty string, got {symbol!r}")
    return symbol.strip().upper()
