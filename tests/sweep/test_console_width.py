"""The console's tables read at 80 columns: the sweep leaderboard and the backtest statistics
print every number whole (no '…'), whatever the metric, parameters and magnitudes."""
from __future__ import annotations

import io
import json
import math
from datetime import timedelta

import numpy as np
import pytest
from rich.console import Console

from actors.cli import print_result
from backtestester.strategy import SmaCross, run_backtest
from backtestester.sweep.execute import METRICS
from backtestester.sweep.report import fmt, leaderboard_table
from tests.conftest import minute_repository


def render(renderable, width=80) -> str:
    console = Console(width=width, file=io.StringIO(), color_system=None)
    console.print(renderable)
    return console.file.getvalue()


def records():
    out = []
    for i, (fast, slow) in enumerate([(5, 100), (10, 120), (15, 200), (20, 60), (50, 180)]):
        params = {"fast": fast, "slow": slow, "fraction": 0.95, "a_long_parameter_name": "some_value"}
        rec = {"status": "ok", "params": json.dumps(params)}
        for m in METRICS:
            rec[m] = (-1) ** i * 123_456.789 * 10 ** i
        rec.update(final_equity=113_812.34 * 10 ** i, trade_count=float(12_345 * i), win_rate=0.5123,
                   total_return=1.138 * 10 ** i, max_drawdown=-0.2531, profit_factor=math.inf if i == 2 else 1.8)
        out.append(rec)
    return out


@pytest.mark.parametrize("metric", METRICS)
def test_leaderboard_fits_80_columns(metric):
    text = render(leaderboard_table(records(), metric))
    assert "…" not in text
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "113,812" in text and "fast=5" in text  # a typical equity whole, the parameters shown


def test_short_params_stay_on_one_line():
    recs = [dict(records()[0], params=json.dumps({"fast": 10, "slow": 100}))]
    assert "fast=10 slow=100" in render(leaderboard_table(recs, "sharpe"))


def test_compact_numbers():
    assert fmt("final_equity", 113_812.34, compact=True) == "113,812"
    assert fmt("final_equity", 12_345_678.0, compact=True) == "12.3M"
    assert fmt("sharpe", 123_456.0, compact=True) == "123k"
    assert fmt("total_return", 1234.5, compact=True) == "123k%"
    assert fmt("total_return", 0.138, compact=True) == "13.8%"
    assert fmt("profit_factor", math.inf, compact=True) == "inf"
    assert fmt("avg_trade_duration", None) == "-"
    assert fmt("avg_trade_duration", timedelta(days=2, microseconds=400_000)) == "2 days, 0:00:00"


def test_backtest_statistics_fit_80_columns():
    prices = list(np.round(100 + 10 * np.sin(np.arange(600) / 15), 2))
    result = run_backtest(SmaCross(fast=5, slow=20, fraction=0.5), [minute_repository(prices)], balance=10_000_000)
    console = Console(width=80, file=io.StringIO(), color_system=None)
    print_result(result, console)
    text = console.file.getvalue()
    assert "…" not in text
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "Buy & hold return" in text and "Kelly criterion" in text


def test_astronomical_numbers_are_short():
    assert fmt("annualized_return", 3.16e46, digits=2) == "3.16e+48%"
    assert fmt("calmar", -3.9e40) == "-3.9e+40"
