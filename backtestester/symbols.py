"""The symbol rule every layer shares: tickers are case-insensitive and reported upper-case (D16).

A bottom module (standard library only), so that the engine and the data layer, which never
import each other, apply the same rule; the catalog adds its character rule on top
(:func:`backtestester.data.schema.catalog_symbol`).
"""
from __future__ import annotations

from .texts import shown

#: Longest accepted ticker: room for option and crypto names (``O:SPY251219C00650000``), and a
#: catalog directory name far below any file system's limit.
MAX_SYMBOL_LENGTH = 32


def normalize_symbol(symbol) -> str:
    """Tickers are case-insensitive and reported upper-case (D16), at most
    :data:`MAX_SYMBOL_LENGTH` characters."""
    if not isinstance(symbol, str) or not symbol.strip():
        raise ValueError(f"symbol must be a non-empty string, got {shown(symbol)}")
    text = symbol.strip().upper()
    if len(text) > MAX_SYMBOL_LENGTH:
        raise ValueError(f"symbol {shown(text)} is too long: at most {MAX_SYMBOL_LENGTH} characters")
    return text
