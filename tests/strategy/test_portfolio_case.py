"""The portfolio case of benchmarks/bench_portfolio.py on our engine (no peer, no timing): four
symbols, one-minute bars with a 15-minute trend filter, limit entries bracketed by a stop-loss and
a take-profit. It must trade all three kinds of orders, each at the prices the engine's fill
rules allow, and cancel entries that do not fill."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

CASE = Path(__file__).resolve().parents[2] / "benchmarks" / "portfolio_case.py"


@pytest.fixture(scope="module")
def case():
    spec = importlib.util.spec_from_file_location("portfolio_case", CASE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def result(case):
    return case.run_ours(case.make_data(3_000))


def test_the_case_runs_four_symbols_on_two_timeframes(case, result):
    periods = {(r.symbol, r.period) for r in result.repositories}
    assert periods == {(s, p) for s in case.SYMBOLS for p in (case.MINUTE, case.QUARTER)}
    assert {o.symbol for o in result.orders} == set(case.SYMBOLS)


def test_limit_entries_stop_losses_and_take_profits_all_fill_and_idle_entries_are_cancelled(case, result):
    mix = case.order_mix(result)
    assert all(mix[k] > 0 for k in ("limit entries", "stop exits", "take-profit exits", "entries canceled")), mix
    closed = mix["stop exits"] + mix["take-profit exits"]
    assert len(result.round_trips) == closed and mix["limit entries"] - closed in (0, 1, 2, 3, 4)
    assert result.rejections == 0


def test_every_fill_is_at_a_price_its_order_allows(result):
    filled = [o for o in result.orders if o.status == "filled"]
    for o in filled:
        price = o.avg_fill_price
        if o.side == "buy":
            assert o.order_type == "limit" and price <= o.price and o.sl < o.price < o.tp
        elif o.tag == "sl":
            assert o.order_type == "stop" and price <= o.stop_price
        else:
            assert o.tag == "tp" and o.order_type == "limit" and price >= o.price
        assert o.trades[0].time_ns >= o.created_ns  # a candle that started after it was placed
