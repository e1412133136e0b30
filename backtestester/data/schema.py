"""The shape of market data: bar schema, timeframes, column casts and the catalog's symbol rule.

* :data:`BAR_SCHEMA`: every bar table (generated, imported, stored, resampled) has these columns.
* :data:`TIMEFRAMES`: the one timeframe vocabulary (name -> nominal length); every other
  spelling of a timeframe (nanoseconds, the wire's ``(multiplier, unit)``, the CLI's minutes)
  is derived from it.
* :func:`int64_values` / :func:`float64_values`: an Arrow column as one numpy array, the casts
  the catalog and the resampler share; :func:`bar_table` builds a bar table from numpy columns.
* :func:`catalog_symbol`: the engine's :func:`~backtestester.symbols.normalize_symbol` plus the
  characters a catalog accepts (a symbol becomes a directory name).

Part of the pure core: standard library, numpy and pyarrow only.
"""
from __future__ import annotations

import re
from datetime import timedelta
from typing import Any, Mapping

import numpy as np
import pyarrow as pa

from ..symbols import normalize_symbol

__all__ = [
    "BAR_SCHEMA",
    "PRICE_COLUMNS",
    "TIMEFRAMES",
    "TIMEFRAME_NS",
    "bar_table",
    "catalog_symbol",
    "check_timeframe",
    "float64_values",
    "int64_values",
]

TIMEFRAMES: dict[str, timedelta] = {
    "1m": timedelta(minutes=1),
    "5m": timedelta(minutes=5),
    "15m": timedelta(minutes=15),
    "30m": timedelta(minutes=30),
    "1h": timedelta(hours=1),
    "4h": timedelta(hours=4),
    "1d": timedelta(days=1),
    "1w": timedelta(weeks=1),
}
"""Supported timeframes and their nominal length, finest first."""

TIMEFRAME_NS: dict[str, int] = {tf: int(td / timedelta(microseconds=1)) * 1000 for tf, td in TIMEFRAMES.items()}
"""Nominal length of each timeframe in nanoseconds."""

BAR_SCHEMA = pa.schema(
    [
        ("start", pa.timestamp("ns", tz="UTC")),
        ("open", pa.float64()),
        ("high", pa.float64()),
        ("low", pa.float64()),
        ("close", pa.float64()),
        ("volume", pa.float64()),
    ]
)
"""Schema of every bar table: ``start`` is the bar's start instant (sorted, unique)."""

PRICE_COLUMNS = ("open", "high", "low", "close")
_COLUMNS = ("start",) + PRICE_COLUMNS + ("volume",)
_START_TYPE = BAR_SCHEMA.field("start").type
_SYMBOL_RE = re.compile(r"^[A-Z0-9^][A-Z0-9._\-^=:]*$")


def check_timeframe(timeframe: Any) -> str:
    """``timeframe`` if it is one of :data:`TIMEFRAMES`, else ValueError naming them."""
    if timeframe not in TIMEFRAMES:
        raise ValueError(f"timeframe must be one of {' '.join(TIMEFRAMES)}, got {timeframe!r}")
    return timeframe


def catalog_symbol(symbol: Any) -> str:
    """Upper-cased symbol checked to be usable as a catalog directory name: letters, digits and
    ``. - _ ^ = :``, starting with a letter, digit or ``^``, no ``..``."""
    text = normalize_symbol(symbol)
    if not _SYMBOL_RE.match(text) or ".." in text:
        raise ValueError(
            f"invalid symbol {symbol!r}: use letters, digits and . - _ ^ = : "
            f"(e.g. AAPL, BRK.B, ^GSPC, EURUSD=X), starting with a letter, digit or ^"
        )
    return text


def int64_values(col: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """A column's values viewed as int64 (timestamps as ns), in one numpy array."""
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
    return col.view(pa.int64()).to_numpy(zero_copy_only=False)


def float64_values(col: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """A numeric column cast to float64, in one numpy array (nulls become NaN)."""
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
    if col.type != pa.float64():
        col = col.cast(pa.float64())
    # Nulls become NaN (and are then reported as missing).
    return col.to_numpy(zero_copy_only=False)


def bar_table(cols: Mapping[str, np.ndarray], metadata: Mapping[str, str] | None = None) -> pa.Table:
    """A :data:`BAR_SCHEMA` table from numpy columns (``start`` as int64 ns UTC)."""
    arrays = [pa.array(np.ascontiguousarray(cols["start"], dtype=np.int64)).view(_START_TYPE)]
    arrays += [pa.array(np.ascontiguousarray(cols[c], dtype=np.float64)) for c in _COLUMNS[1:]]
    schema = BAR_SCHEMA.with_metadata(dict(metadata)) if metadata else BAR_SCHEMA.remove_metadata()
    return pa.Table.from_arrays(arrays, schema=schema)
