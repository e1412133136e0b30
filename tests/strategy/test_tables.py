"""A backtest's trades, fills, orders and equity as Arrow tables, as pandas DataFrames through
Arrow, and exported to Parquet or CSV (from Python and from `backtestester backtest --export`)."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

from actors.cli import main
from backtestester.strategy import SmaCross, run_backtest
from backtestester.strategy.tables import TABLES
from tests.conftest import minute_repository


@pytest.fixture(scope="module")
def result():
    prices = list(np.round(100 + 10 * np.sin(np.arange(400) / 15), 2))
    out = run_backtest(SmaCross(fast=5, slow=20), [minute_repository(prices)], balance=10_000)
    assert len(out.round_trips) >= 3
    return out


def test_trades_table_is_the_round_trips(result):
    table = result.trades_table()
    assert table.num_rows == len(result.round_trips)
    assert table.schema.field("entry_time").type == pa.timestamp("ns", tz="UTC")
    assert table.schema.field("duration").type == pa.duration("ns")
    rows = table.to_pylist()
    for row, trip in zip(rows, result.round_trips):
        assert (row["symbol"], row["side"], row["quantity"], row["entry_price"], row["exit_price"], row["pnl"],
                row["commission"]) == (trip.symbol, trip.side, trip.quantity, trip.entry_price, trip.exit_price,
                                       trip.pnl, trip.commission)
        assert row["entry_time"] == trip.entry_time and row["exit_time"] == trip.exit_time
        assert row["return_pct"] == trip.return_pct and row["duration"] == trip.duration


def test_fills_orders_and_equity_tables(result):
    fills = result.fills_table()
    assert fills.column("id").to_pylist() == [t.id for t in result.trades]
    assert fills.column("quantity").to_pylist() == [t.quantity for t in result.trades]
    assert set(fills.column("symbol").to_pylist()) == {"AAPL"}
    orders = result.orders_table()
    assert orders.column("id").to_pylist() == [o.id for o in result.orders]
    assert orders.column("status").to_pylist() == [o.status for o in result.orders]
    assert orders.column("price").null_count == sum(o.price is None for o in result.orders)
    equity = result.equity_table()
    assert equity.column("equity").to_numpy().tolist() == result.equity.tolist()
    assert equity.column("time").cast(pa.int64()).to_numpy().tolist() == result.equity_times.astype(np.int64).tolist()
    drawdown = equity.column("drawdown").to_numpy()
    assert drawdown.max() == 0.0 and drawdown.min() == pytest.approx(result.statistics.max_drawdown)


def test_to_pandas_through_arrow(result):
    frame = result.trades_table().to_pandas()
    assert list(frame.columns)[:3] == ["symbol", "side", "quantity"]
    assert str(frame["entry_time"].dt.tz) == "UTC" and len(frame) == len(result.round_trips)
    assert result.equity_table().to_pandas()["equity"].iloc[-1] == result.final_equity


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_export_round_trips(result, tmp_path, fmt):
    paths = result.export(tmp_path / "out", fmt)
    assert list(paths) == list(TABLES)
    read = pq.read_table if fmt == "parquet" else pcsv.read_csv
    trades = read(paths["trades"])
    assert trades.num_rows == len(result.round_trips)
    assert trades.column("pnl").to_pylist() == [t.pnl for t in result.round_trips]
    duration = "duration" if fmt == "parquet" else "duration_ns"
    expected = [int(t.duration.total_seconds() * 10**9) for t in result.round_trips]
    assert trades.column(duration).cast(pa.int64()).to_pylist() == expected
    assert read(paths["equity"]).num_rows == len(result.equity)
    assert read(paths["orders"]).num_rows == len(result.orders)


def test_export_refuses_bad_format_and_file_as_directory(result, tmp_path):
    with pytest.raises(ValueError, match="accepted: parquet, csv"):
        result.export(tmp_path, "xlsx")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="not a directory"):
        result.export(tmp_path / "file")


def test_cli_backtest_export(tmp_path, capsys):
    out = tmp_path / "exp"
    assert main(["backtest", "--bars", "2000", "--calendar", "none", "--export", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{n}.parquet" for n in TABLES)
    assert pq.read_table(out / "equity.parquet").num_rows > 2000
    assert main(["backtest", "--bars", "500", "--calendar", "none", "--export", str(out / "csv"),
                 "--export-format", "csv"]) == 0
    assert sorted(p.name for p in (out / "csv").iterdir()) == sorted(f"{n}.csv" for n in TABLES)
    capsys.readouterr()
    assert main(["backtest", "--bars", "500", "--export-format", "csv"]) == 2
    assert "--export-format needs --export" in capsys.readouterr().err
