"""Fills, positions, balance, margin and closes (spec sections 5, 8-11; D3, D8-D12)."""
from __future__ import annotations

import pytest

from backtestester.engine import BacktestCompleteError, Commission, Slippage
from backtestester.engine.margin import initial_margin, maintenance_margin

from ..conftest import MINUTE, T0, make_playground


def buy(pg, qty, sym="AAPL", side="buy", **kw):
    return pg.place_order(symbol=sym, side=side, quantity=qty, requested_price=100, **kw)


def test_market_order_fills_at_current_close_when_next_tick_starts():
    """5.1: the fill uses the current candle's close and the pre-advance clock time."""
    pg = make_playground({"AAPL": [100, 105, 110]})
    pg.tick(60)  # candle 0 (close 100) becomes available at T0 + 1 min
    order = buy(pg, 10)
    assert order.status == "pending" and order.id == 1
    delta = pg.tick(60)
    assert [(t.quantity, t.price, t.time) for t in delta.new_trades] == [(10, 100, T0 + MINUTE)]
    assert order.status == "filled" and order.trades == delta.new_trades
    assert delta.current_time == T0 + 2 * MINUTE


def test_tick_zero_fills_without_moving_time():
    """5.1: Tick(0) is the idiom for 'fill now without moving time'."""
    pg = make_playground({"AAPL": [100, 105]})
    pg.tick(60)
    buy(pg, 1)
    delta = pg.tick(0)
    assert len(delta.new_trades) == 1 and delta.current_time == T0 + MINUTE and delta.new_candles == []


def test_next_open_fill_model_fills_at_the_open_of_the_next_candle():
    """D3 next_open: the open of the next candle that becomes available, at its start."""
    pg = make_playground({"AAPL": [(100, 101, 99, 100.5), (102, 103, 101, 102.5)]}, fill_model="next_open")
    pg.tick(60)
    order = buy(pg, 10)
    delta = pg.tick(60)
    assert [(t.price, t.time) for t in delta.new_trades] == [(102, T0 + MINUTE)]
    assert order.avg_fill_price == 102


def test_order_waits_while_no_candle_is_available():
    """D2 + 5.1: without a current price the order stays pending (ErrCurrentPriceNotSet)."""
    pg = make_playground({"AAPL": [100, 101]})
    order = buy(pg, 1)
    assert pg.tick(0).new_trades == [] and order.status == "pending"
    pg.tick(60)
    assert pg.tick(0).new_trades[0].price == 100


def run_prices(pg, actions):
    """Apply [(side, qty) or None] one per tick and return the balance after each."""
    balances = []
    pg.tick(60)
    for action in actions:
        if action:
            side, qty = action
            pg.place_order(symbol="AAPL", side=side, quantity=qty, requested_price=100)
        pg.tick(60)
        balances.append(pg.account().balance)
    return balances


def test_worked_example_of_balance_after_profitable_and_unprofitable_trades():
    """11.3 worked example: 100 000; buy 10@100, buy 10@110 (cost 105); sell 20@90 -> 99 700;
    sell_short 10@100; buy_to_cover 10@90 -> 99 800."""
    pg = make_playground({"AAPL": [100, 110, 90, 100, 90, 90]})
    balances = run_prices(pg, [("buy", 10), ("buy", 10), ("sell", 20), ("sell_short", 10), ("buy_to_cover", 10)])
    assert balances[1] == 100_000 and pg.orders()[1].previous_position.cost_basis == 100
    assert pg.orders()[2].previous_position.cost_basis == 105
    assert balances[2] == 99_700
    assert balances[-1] == 99_800
    assert pg.account().positions == {}


def test_average_cost_position_pl_equity_and_free_margin():
    """10.1, 11.3: cost basis averages opening fills; reducing fills keep it; pl, equity, free margin."""
    pg = make_playground({"AAPL": [100, 110, 120, 130]})
    run_prices(pg, [("buy", 10), ("buy", 10), ("sell", 5)])
    acct = pg.account()
    pos = acct.positions["AAPL"]
    assert pos.quantity == 15 and pos.cost_basis == 105 and pos.current_price == 130
    assert pos.pl == (130 - 105) * 15
    assert acct.balance == 100_000 + (120 - 105) * 5
    assert acct.equity == acct.balance + pos.pl
    assert pos.maintenance_margin == maintenance_margin(15, 105)  # D11: current quantity
    assert acct.free_margin == acct.equity - maintenance_margin(15, 105)


def test_margin_basis_market_uses_current_price():
    """D12: margin_basis='market' computes maintenance on the current price."""
    pg = make_playground({"AAPL": [100, 100, 200]}, margin_basis="market")
    run_prices(pg, [("buy", 10), None])
    assert pg.account().positions["AAPL"].maintenance_margin == maintenance_margin(10, 200)


@pytest.mark.parametrize("q,p,expected", [
    (10, 100, 500), (0, 100, 0), (-10, 100, 1500), (-10, 4, 40), (-10, 2, 25), (-10, 5, 75), (-1, 3, 3),
])
def test_maintenance_margin_formula(q, p, expected):
    """11.2: long q*p*0.5; short |q|*(p>=5 ? max(1.5p, 5) : max(p, 2.5))."""
    assert maintenance_margin(q, p) == expected


@pytest.mark.parametrize("q,p,expected", [(10, 100, 500), (-10, 100, 1500), (-10, 2, 25), (0, 50, 0)])
def test_initial_margin_formula(q, p, expected):
    """11.2: initial margin on the fill price."""
    assert initial_margin(q, p) == expected


def test_insufficient_free_margin_rejects_with_specific_reason():
    """8.2 + D10: free_margin <= initial_margin rejects; the order is data, reported in invalid_orders."""
    pg = make_playground({"AAPL": [100, 100]}, balance=1000)
    pg.tick(60)
    order = buy(pg, 20)  # initial margin 20*100*0.5 = 1000, not < free margin 1000
    delta = pg.tick(60)
    assert delta.invalid_orders == [order] and delta.new_trades == []
    assert order.status == "rejected"
    assert order.reject_reason == "insufficient free margin: free_margin (1000.00) <= initial_margin (1000.00)"
    assert pg.account().balance == 1000 and pg.pending_orders() == []


def test_reducing_orders_need_no_margin():
    """8.2: the margin check is skipped for reducing orders."""
    pg = make_playground({"AAPL": [100, 100, 10, 10]}, balance=1000)
    run_prices(pg, [("buy", 19), None, ("sell", 19)])
    assert pg.orders()[1].status == "filled"


def test_fifo_closes_and_closed_by():
    """9.3: FIFO allocation; closed_by holds the trade or a child trade with the allocated quantity."""
    pg = make_playground({"AAPL": [100, 101, 102, 103, 104]})
    run_prices(pg, [("buy", 10), ("buy", 5), ("sell", 12)])
    first, second, close = pg.orders()
    assert close.closes == [1, 2]
    assert [t.quantity for t in first.closed_by] == [-10] and [t.quantity for t in second.closed_by] == [-2]
    assert first.closed_by[0].id == close.trades[0].id and first.closed_by[0].price == 102
    assert [o.id for o in pg.open_orders("AAPL")] == [2]
    assert second.remaining_open_quantity == 3


def test_close_order_id_closes_only_that_order_and_lists_it_once():
    """9.3 with close_order_id; D9: each closed order appears once in closes."""
    pg = make_playground({"AAPL": [100, 101, 102, 103, 104]})
    run_prices(pg, [("buy", 10), ("buy", 5)])
    close = pg.place_order(symbol="AAPL", side="sell", quantity=5, requested_price=100, close_order_id=2)
    pg.tick(60)
    assert close.closes == [2]
    assert [o.id for o in pg.open_orders("AAPL")] == [1]
    assert pg.get_order(1).closed_by == []
    assert pg.get_order(2).closed_by == close.trades  # whole trade allocated: the trade itself


def test_closing_a_middle_lot_keeps_the_others_in_fill_order():
    """9.1: a close drops exactly the lots it closed; the open lots keep their fill order, so a
    later FIFO close starts from the oldest remaining one."""
    pg = make_playground({"AAPL": [100, 101, 102, 103, 104, 105, 106]})
    run_prices(pg, [("buy", 10), ("buy", 5), ("buy", 7)])
    pg.place_order(symbol="AAPL", side="sell", quantity=5, requested_price=100, close_order_id=2)
    pg.tick(60)
    assert [o.id for o in pg.open_orders("AAPL")] == [1, 3]
    fifo = pg.place_order(symbol="AAPL", side="sell", quantity=12, requested_price=100)
    pg.tick(60)
    assert fifo.closes == [1, 3] and [o.id for o in pg.open_orders("AAPL")] == [3]
    assert pg.get_order(3).remaining_open_quantity == 5


def test_short_lots_are_closed_by_positive_quantities():
    """9.3: closed_by sign is positive when the open order is a sell_short."""
    pg = make_playground({"AAPL": [100, 90, 80, 80]})
    run_prices(pg, [("sell_short", 10), ("buy_to_cover", 4)])
    assert [t.quantity for t in pg.get_order(1).closed_by] == [4]
    assert pg.account().balance == 100_000 + (100 - 90) * 4
    assert pg.account().positions["AAPL"].quantity == -6


def test_previous_position_is_the_snapshot_before_the_first_fill():
    """10.5."""
    pg = make_playground({"AAPL": [100, 110, 120]})
    run_prices(pg, [("buy", 10), ("buy", 5)])
    assert pg.get_order(1).previous_position.quantity == 0
    prev = pg.get_order(2).previous_position
    assert (prev.quantity, prev.cost_basis, prev.current_price) == (10, 100, 110)


def test_liquidation_example_with_two_orders():
    """12 example: GOOG jumps to 500 -> buy_to_cover GOOG first (largest), then sell AAPL."""
    pg = make_playground({"AAPL": [10, 10, 10, 10], "GOOG": [100, 500, 500, 500]}, balance=1000)
    pg.tick(60)
    pg.place_order(symbol="AAPL", side="buy", quantity=30, requested_price=10)
    pg.place_order(symbol="GOOG", side="sell_short", quantity=5, requested_price=100)
    pg.tick(60)  # fills at 10 and 100; GOOG's 500 candle becomes available
    delta = pg.tick(60)
    (event,) = delta.events
    assert event.type == "liquidation"
    assert [(o.symbol, o.side, o.quantity) for o in event.orders] == [("GOOG", "buy_to_cover", 5), ("AAPL", "sell", 30)]
    assert [o.id for o in event.orders] == [3, 4]  # D7/D8: ordinary unique ids
    assert event.orders[0].tag == "liquidation - equity of -1000.00 < 900.00 (maintenance margin)"
    assert delta.new_trades == []  # liquidation fills are reported only inside the event
    assert pg.account().positions == {} and pg.account().balance == -1000


def test_liquidation_tag_is_the_originals_text():
    """12: the tag is Go's ``liquidation - equity of %.2f < %.2f (maintenance margin)``, no angle
    brackets: long 39 @50 on a 990 balance (MM 975); the price falls to 40, equity 990 - 390 = 600."""
    pg = make_playground({"AAPL": [50, 40, 40]}, balance=990)
    pg.tick(60)
    pg.place_order(symbol="AAPL", side="buy", quantity=39, requested_price=50)
    pg.tick(60)  # fills at 50; the 40 candle becomes available
    (event,) = pg.tick(60).events
    assert [o.tag for o in event.orders] == ["liquidation - equity of 600.00 < 975.00 (maintenance margin)"]


def test_liquidation_recomputes_equity_after_each_order():
    """D7: with a 100 commission per order, closing GOOG leaves equity 100 < MM 150, so AAPL goes
    too (the original's stale equity 200 would have stopped)."""
    pg = make_playground({"AAPL": [10, 10, 10], "GOOG": [100, 260, 260]}, balance=1200,
                         commission=Commission(per_order=100))
    pg.tick(60)
    pg.place_order(symbol="AAPL", side="buy", quantity=30, requested_price=10)
    pg.place_order(symbol="GOOG", side="sell_short", quantity=5, requested_price=100)
    pg.tick(60)
    assert pg.account().balance == 1000
    (event,) = pg.tick(60).events
    assert [o.symbol for o in event.orders] == ["GOOG", "AAPL"]


def test_no_liquidation_while_equity_covers_maintenance():
    """12: the check runs every tick but acts only when equity < maintenance margin."""
    pg = make_playground({"AAPL": [100, 90, 80]}, balance=1000)
    run_prices(pg, [("buy", 10), None])
    assert pg.account().positions["AAPL"].quantity == 10


def test_completion_tick_reports_fills_and_records_equity_then_ticks_raise():
    """D6: the completion tick reports everything and records its equity point."""
    pg = make_playground({"AAPL": [100, 110]}, end=T0 + 2 * MINUTE)
    pg.tick(60)
    buy(pg, 1)
    delta = pg.tick(600)
    assert delta.is_backtest_complete and len(delta.new_trades) == 1
    assert delta.current_time == T0 + 2 * MINUTE
    assert pg.equity_plot()[-1] == (T0 + 2 * MINUTE, 100_000 + 10)
    with pytest.raises(BacktestCompleteError, match="backtest complete: clock expired"):
        pg.tick(60)


def test_equity_plot_has_one_point_per_tick():
    """15.1 (+D6): one point per non-preview tick."""
    pg = make_playground({"AAPL": [100, 101, 102]})
    pg.tick(60)
    pg.tick(60, preview=True)
    pg.tick(60)
    assert [t for t, _ in pg.equity_plot()] == [T0 + MINUTE, T0 + 2 * MINUTE]


def test_commission_is_debited_and_recorded_on_the_trade():
    """D3 costs: commission per fill."""
    pg = make_playground({"AAPL": [100, 110, 110]}, commission=Commission(per_share=0.01, minimum=1.0))
    run_prices(pg, [("buy", 10), ("sell", 10)])
    t1, t2 = pg.get_order(1).trades[0], pg.get_order(2).trades[0]
    assert (t1.commission, t2.commission) == (1.0, 1.0)
    assert pg.account().balance == pytest.approx(100_000 + 100 - 2)


def test_slippage_moves_market_fills_against_the_trader():
    pg = make_playground({"AAPL": [100, 110, 110]}, slippage=Slippage(per_share=0.05))
    run_prices(pg, [("buy", 10), ("sell", 10)])
    assert pg.get_order(1).trades[0].price == 100.05 and pg.get_order(2).trades[0].price == 109.95


def test_equity_fraction_buys_whole_shares_of_uninvested_cash_at_fill():
    pg = make_playground({"AAPL": [(100, 100, 100, 100), (33, 33, 33, 33)]}, balance=1000, fill_model="next_open")
    pg.tick(60)
    order = pg.place_order(symbol="AAPL", side="buy", quantity=None, requested_price=100, equity_fraction=1.0)
    pg.tick(60)
    assert order.quantity == 30 and order.trades[0].price == 33


def test_cancel_order():
    pg = make_playground({"AAPL": [100, 100]})
    order = buy(pg, 1)
    assert pg.cancel_order(order.id).status == "canceled"
    pg.tick(60)
    assert pg.tick(0).new_trades == []
    with pytest.raises(ValueError, match="is not pending"):
        pg.cancel_order(order.id)


def test_rerunning_gives_identical_results():
    """Determinism: the same inputs give identical orders, trades and equity."""
    def run():
        pg = make_playground({"AAPL": [100, 110, 90, 100, 90, 90]})
        run_prices(pg, [("buy", 10), ("buy", 10), ("sell", 20), ("sell_short", 10), ("buy_to_cover", 10)])
        return [repr(o) for o in pg.orders()], [t for o in pg.orders() for t in o.trades], pg.equity_plot()
    assert run() == run()


def test_equity_arrays_mid_run_do_not_stop_the_clock():
    """Reading the equity curve while ticking keeps working (the arrays are copies)."""
    pg = make_playground({"AAPL": [100, 101, 102]})
    pg.tick(60)
    times, values = pg.equity_arrays()
    pg.tick(60)
    assert len(times) == 1 and len(pg.equity_arrays()[0]) == 2


def test_equity_points_are_the_scalar_formula_with_several_holdings():
    """The recorded equity (valued a column at a time) is, at every tick, the ledger's
    ``balance + Σ (close − cost) × qty`` in position order, with one and several holdings, long
    and short, symbols entering and leaving."""
    import numpy as np

    from backtestester.engine import Candle, Playground, Repository

    rng = np.random.default_rng(5)
    repos = []
    for s in ("AAA", "BBB", "CCC"):
        closes = 50 + np.cumsum(rng.normal(0, 0.5, 120))
        repos.append(Repository(s, MINUTE, [Candle(T0 + i * MINUTE, c, c + 1, c - 1, c, 10) for i, c in enumerate(closes)]))
    pg = Playground(balance=1_000_000, start=T0 + MINUTE, end=T0 + 121 * MINUTE, repositories=repos)
    expected = []
    for i in range(110):
        sym = ("AAA", "BBB", "CCC")[i % 3]
        q = pg.quantity(sym)
        if i % 7 == 0:
            pg.place_order(symbol=sym, side="buy" if q >= 0 else "buy_to_cover", quantity=abs(q) or 3, requested_price=50.0)
        elif i % 11 == 0 and q == 0:
            pg.place_order(symbol=sym, side="sell_short", quantity=2, requested_price=50.0)
        elif i % 5 == 0 and q > 0:
            pg.place_order(symbol=sym, side="sell", quantity=q, requested_price=50.0)
        pg.tick(60)
        expected.append(pg.account().equity)
    values = [v for _, v in pg.equity_plot()]
    assert values == expected
    assert max(len(seg[2]) for seg in pg._equity.segments) >= 2  # several holdings at once were valued
