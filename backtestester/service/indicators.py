"""Candle indicators of CreatePlayground's ``Repository.indicators`` (spec 4.8), for the service.

Computed once per repository when the playground is created, over the whole series (history and
range, as the original), by :func:`backtestester.data.indicators.add_indicators`: every
indicator is causal, so computing ahead leaks nothing, and a candle's values are only sent once
the candle is available (GetCandles, StreamCandlesArrow and TickDelta never go beyond the clock).
Fields of indicators that were not requested stay 0/false.

The columns of one repository are ``{Bar field name: numpy array}``, one value per candle (each
the name of a field of the wire's ``Bar``, checked by the gateway when it creates a playground);
the gateway copies them into ``Bar`` messages, :func:`arrow_batches` into Arrow columns.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from backtestester.data.indicators import add_indicators

ROW_BYTES_BUDGET = 1_000_000  # IPC bytes per StreamCandlesArrow message, under docs/wire.md's 1 MiB

# Bar field -> (numpy dtype, Arrow type name) by its proto type: double, int32 or bool.
_INT_FIELDS = {"superD_50_3"}
_BOOL_FIELDS = {"stochrsi_cross_above_20", "stochrsi_cross_below_80"}


def compute(repositories, specs) -> dict[tuple[str, int], dict[str, np.ndarray]]:
    """``{(symbol, period_ns): {Bar field: values}}`` for each repository that requested indicators
    (``specs``: the validated ``config["repositories"]``, in the repositories' order)."""
    out = {}
    for repo, spec in zip(repositories, specs):
        if not spec.get("indicators"):
            continue
        cols = add_indicators(np.asarray(repo.open), np.asarray(repo.high), np.asarray(repo.low),
                              np.asarray(repo.close), np.asarray(repo.volume), spec["indicators"])
        fields = {}
        for name, values in cols.items():
            if name in _INT_FIELDS:
                fields[name] = np.asarray(values).astype(np.int32)
            elif name in _BOOL_FIELDS:
                fields[name] = np.asarray(values, dtype=bool)
            else:
                fields[name] = np.asarray(values, dtype=np.float64)
        out[(repo.symbol, repo.period_ns)] = fields
    return out


def candle_schema(symbol: str, period_seconds: int, fields: dict | None = None) -> pa.Schema:
    """StreamCandlesArrow's schema: ``start`` (ns, UTC), ``open, high, low, close, volume``, then
    the indicator ``fields`` (``{Bar field: values}``), metadata ``symbol`` and ``period_in_seconds``."""
    arrow_type = {np.dtype(np.float64): pa.float64(), np.dtype(np.int32): pa.int32(), np.dtype(bool): pa.bool_()}
    return pa.schema([("start", pa.timestamp("ns", tz="UTC"))] +
                     [(c, pa.float64()) for c in ("open", "high", "low", "close", "volume")] +
                     [(name, arrow_type[np.asarray(values).dtype]) for name, values in (fields or {}).items()],
                     metadata={"symbol": symbol, "period_in_seconds": str(int(period_seconds))})


def arrow_batches(repo, lo: int, hi: int, period_seconds: int, fields: dict | None) -> list[bytes]:
    """StreamCandlesArrow's messages for rows ``lo:hi`` of ``repo``: complete Arrow IPC streams of
    at most ~1 MiB each, at least one (an empty selection still carries the schema). Columns
    ``start, open, high, low, close, volume``, then the indicator fields (``float64``, ``int32``
    for ``superD_50_3``, ``bool`` for the cross flags)."""
    fields = fields or {}
    schema = candle_schema(repo.symbol, period_seconds, fields)
    row_bytes = 48 + sum(values.dtype.itemsize for values in fields.values())
    rows = max(1, ROW_BYTES_BUDGET // row_bytes - 64)
    out = []
    for a in range(lo, max(hi, lo + 1), rows):
        b = min(hi, a + rows)
        cols = [pa.array(np.asarray(repo.start_ns[a:b], dtype=np.int64), pa.int64()).view(schema.field(0).type)]
        cols += [pa.array(np.asarray(getattr(repo, c)[a:b], dtype=np.float64))
                 for c in ("open", "high", "low", "close", "volume")]
        cols += [pa.array(values[a:b]) for values in fields.values()]
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, schema) as writer:
            writer.write_batch(pa.record_batch(cols, schema=schema))
        out.append(sink.getvalue().to_pybytes())
    return out
