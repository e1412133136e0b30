"""The simulated broker: the engine's fill rules on live bars, scripts, mock fills, persistence."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from backtestester.live.port import Ack, Bar, Broker, BrokerConfig, BrokerError, OrderIntent, Rejected
from backtestester.live.simbroker import SimBrokerError, SimulatedBroker

from .deskkit import Clock

T0 = 1_796_000_000 * 10**9  # a fixed instant (UTC ns)
MIN = 60 * 10**9



def bar(i, o, h, l, c, symbol="SPY", period=60):
    return Bar(symbol, period, T0 + i * MIN, o, h, l, c, 1000.0)


def intent(key, side="buy", qty=10, **kw):
    return OrderIntent(key=key, symbol=kw.pop("symbol", "SPY"), side=side, quantity=qty, **kw)


def sim(**options):
    return SimulatedBroker(BrokerConfig("sim", options=options), now=Clock(T0))


def test_it_is_a_broker_named_sim_with_the_configured_account():
    assert isinstance(sim(), Broker)
    assert (sim().name, sim().account_id) == ("sim", "sim")
    assert SimulatedBroker(BrokerConfig("sim", account_id="A1")).account_id == "A1"


def test_market_order_fills_at_the_close_current_when_placed_at_the_next_match():
    """The engine's close model: a bar arriving between the placement and the match does not
    change the price (a live client placing on bar N gets bar N's close, as in a backtest)."""
    b = sim()
    b.on_bar(bar(0, 100, 101, 99, 100.5))
    ack = b.place(intent("k1"))
    assert ack == Ack("1")
    assert b.get_order("1").status == "pending"
    b.on_bar(bar(1, 100.5, 102, 100, 101.0))
    b.match()
    order = b.get_order("1")
    assert (order.status, order.exec_quantity, order.avg_fill_price) == ("filled", 10, 100.5)
    assert order.tag == intent("k1").tag
    [pos] = b.positions()
    assert (pos.symbol, pos.quantity, pos.cost_basis) == ("SPY", 10, 1005.0)
    assert b.balances().cash == pytest.approx(10_000_000 - 1005.0)


def test_market_order_without_a_bar_of_its_symbol_stays_pending_until_one_arrives():
    b = sim()
    b.on_bar(bar(0, 50, 51, 49, 50, symbol="QQQ"))
    b.place(intent("k1"))
    b.match()
    assert b.get_order("1").status == "open" and b.get_order("1").exec_quantity == 0
    b.on_bar(bar(1, 10, 11, 9, 10.5))
    b.match()
    assert (b.get_order("1").status, b.get_order("1").avg_fill_price) == ("filled", 10.5)


def test_next_open_fill_model_fills_at_the_open_of_the_next_bar():
    b = sim(fill_model="next_open")
    b.on_bar(bar(0, 100, 101, 99, 100.5))
    b.place(intent("k1"))
    b.match()
    assert b.get_order("1").status == "open"
    b.on_bar(bar(1, 103, 104, 102, 103.5))
    b.match()
    assert (b.get_order("1").status, b.get_order("1").avg_fill_price) == ("filled", 103)


def test_positions_are_signed_and_cash_moves_by_every_fill():
    b = sim(cash=1000.0)
    b.on_bar(bar(0, 10, 10, 10, 10))
    b.place(intent("a", side="buy", qty=5))
    b.match()
    b.on_bar(bar(1, 12, 12, 12, 12))
    b.place(intent("b", side="sell", qty=5))
    b.place(intent("c", side="sell_short", qty=3))
    b.match()
    [pos] = b.positions()
    assert (pos.quantity, pos.cost_basis) == (-3, -36.0)
    assert b.balances().cash == pytest.approx(1000 - 50 + 60 + 36)
    assert b.balances().equity == pytest.approx(1000 + 10)  # +10 on the long, flat on the short


def test_list_orders_returns_every_order_by_increasing_integer_id():
    b = sim()
    for k in ("a", "b", "c"):
        b.place(intent(k))
    assert [o.id for o in b.list_orders()] == ["1", "2", "3"]
    assert [o.tag for o in b.list_orders()] == [intent(k).tag for k in "abc"]
    first = SimulatedBroker(BrokerConfig("sim", options={"first_order_id": 100}))
    assert first.place(intent("x")) == Ack("100")


def test_unknown_order_is_a_broker_error():
    with pytest.raises(BrokerError, match="order not found: 7"):
        sim().get_order("7")


@pytest.mark.parametrize("status", ["filled", "rejected", "canceled"])
def test_mock_fill_sets_the_outcome_in_manual_mode(status):
    b = sim(fill="manual")
    b.on_bar(bar(0, 100, 101, 99, 100))
    b.place(intent("k1", qty=4))
    b.match()
    assert b.get_order("1").status == "open"  # manual: matching never fills
    order = b.mock_fill("1", 99.5, status)
    assert order.status == status
    if status == "filled":
        assert (order.exec_quantity, order.avg_fill_price) == (4, 99.5)
        assert b.positions()[0].quantity == 4
    else:
        assert order.exec_quantity == 0 and b.positions() == []


def test_mock_fill_refusals_carry_the_specs_texts():
    b = sim(fill="manual")
    b.place(intent("k1"))
    with pytest.raises(SimBrokerError, match="^invalid status: done$"):
        b.mock_fill("1", 10.0, "done")
    with pytest.raises(SimBrokerError, match=r"^invalid price: -1\.000000$"):
        b.mock_fill("1", -1.0, "filled")
    with pytest.raises(SimBrokerError, match="^order not found$"):
        b.mock_fill("9", 10.0, "filled")
    b.mock_fill("1", 10.0, "filled")
    with pytest.raises(SimBrokerError, match="already filled"):
        b.mock_fill("1", 10.0, "canceled")


def test_bad_options_name_the_accepted_values():
    with pytest.raises(SimBrokerError, match="fill must be one of auto, manual"):
        sim(fill="sometimes")
    with pytest.raises(SimBrokerError, match="fill_model must be one of close, next_open"):
        sim(fill_model="vwap")


def test_a_new_instance_on_the_same_file_sees_everything(tmp_path):
    path = str(tmp_path / "sim.sqlite3")
    b = SimulatedBroker(path=path, now=Clock(T0))
    b.on_bar(bar(0, 10, 10, 10, 10))
    b.place(intent("a", qty=5))
    b.match()
    b.place(intent("b", side="sell", qty=2, order_type="limit", price=50.0))
    b.script_reject("no shorting today")
    before = (b.list_orders(), b.positions(), b.balances(), b.quotes(["SPY"]))
    b.close()
    again = SimulatedBroker(path=path, now=Clock(T0))
    assert (again.list_orders(), again.positions(), again.balances(), again.quotes(["SPY"])) == before
    assert again.place(intent("c")) == Rejected("no shorting today")
    assert again.place(intent("d")) == Ack("3")


_CHILD = textwrap.dedent("""
    import os, sys
    from backtestester.live.port import Bar, OrderIntent
    from backtestester.live.simbroker import SimulatedBroker
    b = SimulatedBroker(path=sys.argv[1], now=lambda: 1)
    b.on_bar(Bar("SPY", 60, 0, 10, 11, 9, 10.5))
    b.place(OrderIntent(key="a", symbol="SPY", side="buy", quantity=7))
    b.match()
    b.place(OrderIntent(key="b", symbol="SPY", side="sell", quantity=3, order_type="limit", price=99.0))
    print("ready", flush=True)
    sys.stdin.readline()  # wait to be killed
""")


def test_state_survives_a_sigkill_of_the_process(tmp_path):
    path = str(tmp_path / "sim.sqlite3")
    child = subprocess.Popen([sys.executable, "-c", _CHILD, path], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    b = SimulatedBroker(path=path, now=Clock(T0))
    orders = b.list_orders()
    assert [(o.id, o.status, o.exec_quantity) for o in orders] == [("1", "filled", 7), ("2", "pending", 0)]
    assert [(p.symbol, p.quantity, p.cost_basis) for p in b.positions()] == [("SPY", 7, 73.5)]
    assert b.balances().cash == pytest.approx(10_000_000 - 73.5)
    assert b.place(intent("c")) == Ack("3")


def test_limit_and_stop_orders_match_each_new_bar_as_the_engine_does():
    b = sim()
    b.on_bar(bar(0, 100, 100, 90, 100))  # visible when placed: never matched
    b.place(intent("lim", qty=1, order_type="limit", price=95.0))
    b.place(intent("gap", qty=1, order_type="limit", price=99.0))
    b.place(intent("stop", side="sell", qty=1, order_type="stop", stop=97.0))
    b.place(intent("sl", qty=1, order_type="stop_limit", stop=101.0, price=100.5))
    b.match()
    assert [o.status for o in b.list_orders()] == ["open"] * 4
    b.on_bar(bar(1, 98, 102, 96, 97))  # gap below 99: the open; stop 97 touched; stop-limit triggers at 101 > 100.5
    b.on_bar(bar(2, 97, 100.2, 94, 99))  # limit 95 touched; the triggered stop-limit now rests as a limit at 100.5
    b.match()
    got = {o.tag: (o.status, o.avg_fill_price) for o in b.list_orders()}
    assert got == {intent("lim").tag: ("filled", 95.0), intent("gap").tag: ("filled", 98.0),
                   intent("stop").tag: ("filled", 97.0), intent("sl").tag: ("filled", 97.0)}


def test_a_stop_limit_whose_trigger_misses_its_limit_rests_until_a_later_bar():
    b = sim()
    b.on_bar(bar(0, 100, 100, 100, 100))
    b.place(intent("sl", qty=1, order_type="stop_limit", stop=101.0, price=100.5))
    b.on_bar(bar(1, 100, 102, 100.8, 101.5))  # triggers at 101 > 100.5: no fill, rests as a limit
    b.match()
    assert b.get_order("1").status == "open"
    b.on_bar(bar(2, 101, 101, 100.9, 101))  # low above the limit
    b.match()
    assert b.get_order("1").status == "open"
    b.on_bar(bar(3, 100.7, 101, 100.2, 100.4))
    b.match()
    assert (b.get_order("1").status, b.get_order("1").avg_fill_price) == ("filled", 100.5)


def test_scripted_partial_fills_grow_exec_quantity_across_matches():
    b = sim()
    b.on_bar(bar(0, 10, 10, 10, 10))
    b.script_partial("next", [0.4, 0.6])
    b.place(intent("k", qty=10))
    b.match()
    first = b.get_order("1")
    assert (first.status, first.exec_quantity, first.avg_fill_price) == ("partially_filled", 4, 10.0)
    b.on_bar(bar(1, 12, 12, 12, 12))
    b.match()
    done = b.get_order("1")
    assert (done.status, done.exec_quantity, done.avg_fill_price) == ("filled", 10, pytest.approx(11.2))
    assert [(p.quantity, p.cost_basis) for p in b.positions()] == [(10, pytest.approx(112.0))]


def test_a_partial_script_by_tag_waits_for_that_order():
    b = sim()
    b.on_bar(bar(0, 10, 10, 10, 10))
    b.script_partial(intent("second").tag, [0.5, 0.5])
    b.place(intent("first", qty=2))
    b.place(intent("second", qty=2))
    b.match()
    assert [(o.status, o.exec_quantity) for o in b.list_orders()] == [("filled", 2), ("partially_filled", 1)]


def test_scripted_reject_at_place_refuses_and_at_match_rejects_with_the_reason():
    b = sim()
    b.on_bar(bar(0, 10, 10, 10, 10))
    b.script_reject("insufficient buying power")
    assert b.place(intent("a")) == Rejected("insufficient buying power")
    b.script_reject("symbol halted", at="match")
    assert b.place(intent("b")) == Ack("1")
    b.match()
    order = b.get_order("1")
    assert (order.status, order.reason, order.exec_quantity) == ("rejected", "symbol halted", 0)
    assert b.place(intent("c")) == Ack("2")  # the script was for one order only
    b.match()
    assert b.get_order("2").status == "filled"


def test_cancel_of_a_working_order_cancels_it_at_the_next_match_even_if_it_could_fill():
    b = sim()
    b.place(intent("a"))
    b.cancel("1")
    assert b.get_order("1").status == "pending"
    b.on_bar(bar(0, 10, 10, 10, 10))
    b.match()
    assert (b.get_order("1").status, b.get_order("1").exec_quantity) == ("canceled", 0)
    assert b.positions() == []


def test_a_cancel_after_the_fill_is_a_no_op_and_a_partial_fill_is_kept():
    b = sim()
    b.on_bar(bar(0, 10, 10, 10, 10))
    b.place(intent("a", qty=2))
    b.match()
    b.cancel("1")
    b.match()
    assert b.get_order("1").status == "filled"
    b.script_partial("next", [0.5, 0.5])
    b.place(intent("b", qty=4))
    b.match()
    b.cancel("2")
    b.match()
    assert (b.get_order("2").status, b.get_order("2").exec_quantity) == ("canceled", 2)
    assert b.positions()[0].quantity == 4
    with pytest.raises(BrokerError, match="order not found"):
        b.cancel("99")


def test_set_position_adds_a_position_the_desk_did_not_make():
    b = sim()
    b.set_position("aapl", -5, -900.0)
    assert [(p.symbol, p.quantity, p.cost_basis) for p in b.positions()] == [("AAPL", -5, -900.0)]
    b.set_position("AAPL", 0, 0)
    assert b.positions() == []


def test_quotes_are_the_newest_close_and_bars_are_the_received_ones():
    b = sim()
    b.on_bar(bar(0, 10, 11, 9, 10.5))
    b.on_bar(bar(1, 10.5, 12, 10, 11.5))
    [q] = b.quotes(["spy", "QQQ"])
    assert (q.symbol, q.last, q.time_ns) == ("SPY", 11.5, T0 + 2 * MIN)
    assert b.bars("SPY", 60, T0 + MIN, T0 + 10 * MIN) == [bar(1, 10.5, 12, 10, 11.5)]


def _script(b):
    b.on_bar(bar(0, 100, 101, 99, 100))
    b.script_partial("next", [0.3, 0.7])
    for key, kw in (("a", {}), ("b", {"order_type": "limit", "price": 99.5}), ("c", {"side": "sell_short"})):
        b.place(intent(key, qty=7, **kw))
    for i in range(1, 4):
        b.on_bar(bar(i, 100 - i, 101 - i, 98 - i, 100 - i))
        b.match()
    return b.list_orders(), b.positions(), b.balances()


def test_same_inputs_give_the_same_ids_and_fills():
    assert _script(sim()) == _script(sim())


def test_a_repeated_or_older_bar_is_ignored():
    b = sim()
    b.on_bar(bar(1, 10, 10, 10, 10))
    b.on_bar(bar(1, 20, 20, 20, 20))
    b.on_bar(bar(0, 30, 30, 30, 30))
    b.on_bar(bar(0, 40, 40, 40, 40, period=300))
    assert [q.last for q in b.quotes(["SPY"])] == [10]
    assert len(b.bars("SPY", 60, 0, T0 + 10 * MIN)) == 1


def test_strict_sides_refuse_a_side_that_does_not_fit_the_position():
    b = sim(strict_sides=True)
    b.on_bar(bar(0, 10, 10, 10, 10))
    assert b.place(intent("s", side="sell", qty=1)) == Rejected("side sell of 1 shares does not fit the position of 0 shares")
    b.place(intent("b", qty=3))
    b.match()
    assert b.place(intent("ss", side="sell_short", qty=1)) == Rejected(
        "side sell_short of 1 shares does not fit the position of 3 shares")
    assert b.place(intent("s3", side="sell", qty=3)) == Ack("2")
    assert isinstance(sim().place(intent("loose", side="sell", qty=1)), Ack)  # off by default
