"""A backtest's trades, fills, orders and equity curve as Arrow tables, and their export to
Parquet or CSV files.

Arrow is the interchange: ``table.to_pandas()`` gives a pandas DataFrame (this module never
imports pandas; only Arrow's conversion needs it), ``pyarrow.parquet``/``pyarrow.csv`` write files. Times are UTC timestamps
(nanoseconds), durations Arrow durations (nanoseconds); ``NaN``/``None`` become nulls only where
a value is absent (an order without a limit price), never for a number that was computed.
"""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa

__all__ = ["EXPORT_FORMATS", "TABLES", "equity_table", "export_tables", "fills_table", "orders_table",
           "trades_table"]

_TIME = pa.timestamp("ns", tz="UTC")
_DURATION = pa.duration("ns")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
TABLES = ("trades", "fills", "orders", "equity")  # what export_tables writes, one file each
EXPORT_FORMATS = ("parquet", "csv")


def _ns(value: datetime) -> int:
    """Nanoseconds since the epoch of an aware datetime (exactly, at its microsecond resolution)."""
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 10**9 + delta.microseconds * 1000


def trades_table(result) -> pa.Table:
    """One row per closed round trip (``result.round_trips``, backtesting.py's ``_trades``):
    symbol, side, quantity, entry/exit time and price, pnl (money, after commission),
    return_pct (a fraction), commission and duration."""
    trips = result.round_trips
    entry = [_ns(t.entry_time) for t in trips]
    exit_ = [_ns(t.exit_time) for t in trips]
    return pa.table({
        "symbol": pa.array([t.symbol for t in trips], pa.string()),
        "side": pa.array([t.side for t in trips], pa.string()),
        "quantity": pa.array([t.quantity for t in trips], pa.float64()),
        "entry_time": pa.array(entry, pa.int64()).cast(_TIME),
        "exit_time": pa.array(exit_, pa.int64()).cast(_TIME),
        "entry_price": pa.array([t.entry_price for t in trips], pa.float64()),
        "exit_price": pa.array([t.exit_price for t in trips], pa.float64()),
        "pnl": pa.array([t.pnl for t in trips], pa.float64()),
        "return_pct": pa.array([t.return_pct for t in trips], pa.float64()),
        "commission": pa.array([t.commission for t in trips], pa.float64()),
        "duration": pa.array([b - a for a, b in zip(entry, exit_)], pa.int64()).cast(_DURATION),
    })


def fills_table(result) -> pa.Table:
    """One row per fill (``result.trades``): id, time, order_id, symbol, signed quantity (buys
    positive), price and commission."""
    symbol_of = {o.id: o.symbol for o in result.orders}
    fills = result.trades
    return pa.table({
        "id": pa.array([t.id for t in fills], pa.int64()),
        "time": pa.array([t.time_ns for t in fills], pa.int64()).cast(_TIME),
        "order_id": pa.array([t.order_id for t in fills], pa.int64()),
        "symbol": pa.array([symbol_of.get(t.order_id, "") for t in fills], pa.string()),
        "quantity": pa.array([t.quantity for t in fills], pa.float64()),
        "price": pa.array([t.price for t in fills], pa.float64()),
        "commission": pa.array([t.commission for t in fills], pa.float64()),
    })


def orders_table(result) -> pa.Table:
    """One row per order, every status (rejected orders included, with their reason): id,
    created_at, symbol, side, order_type, duration, quantity, price, stop_price, sl, tp, status,
    reject_reason, filled_quantity, avg_fill_price, commission, tag."""
    orders = result.orders

    def floats(name):
        return pa.array([getattr(o, name) for o in orders], pa.float64())

    return pa.table({
        "id": pa.array([o.id for o in orders], pa.int64()),
        "created_at": pa.array([o.created_ns for o in orders], pa.int64()).cast(_TIME),
        "symbol": pa.array([o.symbol for o in orders], pa.string()),
        "side": pa.array([o.side for o in orders], pa.string()),
        "order_type": pa.array([o.order_type for o in orders], pa.string()),
        "duration": pa.array([o.duration for o in orders], pa.string()),
        "quantity": floats("quantity"),
        "price": floats("price"),
        "stop_price": floats("stop_price"),
        "sl": floats("sl"),
        "tp": floats("tp"),
        "status": pa.array([o.status for o in orders], pa.string()),
        "reject_reason": pa.array([o.reject_reason for o in orders], pa.string()),
        "filled_quantity": floats("filled_quantity"),
        "avg_fill_price": pa.array([o.avg_fill_price if o.trades else None for o in orders], pa.float64()),
        "commission": floats("commission"),
        "tag": pa.array([o.tag or "" for o in orders], pa.string()),
    })


def equity_table(result) -> pa.Table:
    """The equity curve: time, equity and drawdown (``equity / running peak - 1``, a fraction
    <= 0), one row per point of ``result.equity``."""
    equity = np.asarray(result.equity, dtype=np.float64)
    peak = np.maximum.accumulate(equity) if equity.size else equity
    with np.errstate(divide="ignore", invalid="ignore"):
        drawdown = np.where(peak > 0, equity / peak - 1.0, np.nan)
    times = np.asarray(result.equity_times).astype("datetime64[ns]").astype(np.int64)
    return pa.table({"time": pa.array(times, pa.int64()).cast(_TIME), "equity": equity, "drawdown": drawdown})


_BUILDERS = {"trades": trades_table, "fills": fills_table, "orders": orders_table, "equity": equity_table}


def export_tables(result, directory, fmt: str = "parquet") -> dict[str, Path]:
    """Write :data:`TABLES` of ``result`` into ``directory`` (created if missing) as
    ``trades.parquet``, ``fills.parquet``, ... (``fmt="csv"``: ``trades.csv``, ...; durations in
    CSV are integer nanoseconds). Returns the paths by table name."""
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; accepted: {', '.join(EXPORT_FORMATS)}")
    out = Path(directory)
    if out.exists() and not out.is_dir():
        raise ValueError(f"export directory {str(out)!r} exists and is not a directory")
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name in TABLES:
        table = _BUILDERS[name](result)
        path = paths[name] = out / f"{name}.{fmt}"
        if fmt == "parquet":
            import pyarrow.parquet as pq  # noqa: PLC0415  (only when a file is written)

            pq.write_table(table, path)
        else:
            import pyarrow.csv as pcsv  # noqa: PLC0415  (only when a file is written)

            pcsv.write_csv(_csv_ready(table), path)
    return paths


def _csv_ready(table: pa.Table) -> pa.Table:
    """Durations as integer nanoseconds (CSV has no duration type)."""
    for i, f in enumerate(table.schema):
        if pa.types.is_duration(f.type):
            table = table.set_column(i, pa.field(f"{f.name}_ns", pa.int64()), table.column(i).cast(pa.int64()))
    return table
