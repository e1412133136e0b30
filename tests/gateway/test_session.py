"""The Session RPC (docs/wire.md): commands and answers on one bidirectional stream, each command
doing what its unary RPC does. Real gateways on OS-chosen ports inside the session's embedded Ray:
the answers equal the unary RPCs' on a twin playground, an advance runs ticks until a candle of a
stop period or activity, refused commands are error events with the unary texts and the stream
goes on, a client that goes away loses nothing of a saved playground (also across a gateway
restart), tokens, tenants and the rate limit apply to the stream and to each command, and a
strategy that breaks its decision_periods promise is stopped with a clear error. Parity of whole
runs (local == Session == unary == Twirp) is in test_parity.py and, live, in test_live.py."""
from __future__ import annotations

import grpc
import pytest

from actors.gateway.security import SecurityConfig
from backtestester.engine import PlaygroundError
from backtestester.remote.broker import run_on_gateway
from backtestester.remote.client import PlaygroundClient
from backtestester.remote.session import SessionClient
from backtestester.rpc import playground_pb2 as pb
from backtestester.rpc import playground_pb2_grpc as pb_grpc
from backtestester.strategy.base import Strategy

from .conftest import (
    ALICE,
    BOB,
    DEADLINE,
    call,
    create,
    error_of,
    order_req,
    repo,
    running_gateway,
    save,
    tick,
    write_catalog,
)


def cmd(rid: str = "", **command) -> pb.SessionCommand:
    return pb.SessionCommand(request_id=rid, **command)


def opening(pid: str) -> pb.SessionCommand:
    return cmd("open", open=pb.SessionOpen(playground_id=pid))


def advance(rid: str, max_ticks: int = 1, seconds: int = 60, **extra) -> pb.SessionCommand:
    return cmd(rid, advance=pb.SessionAdvance(seconds=seconds, max_ticks=max_ticks, **extra))


def events(stub, commands, metadata=None) -> list[pb.SessionEvent]:
    """Send ``commands`` on one Session (all at once: pipelined) and return its answers."""
    return list(stub.Session(iter(commands), timeout=DEADLINE, metadata=metadata))


def error(event: pb.SessionEvent) -> tuple[str, str]:
    assert event.WhichOneof("event") == "error", event
    return event.error.code, event.error.message


@pytest.fixture(scope="module")
def address(ray_cluster, catalog_dir):
    with running_gateway(ray_cluster, catalog_dir, "gateway-session") as (_, addr):
        yield addr


@pytest.fixture(scope="module")
def stub(address):
    with grpc.insecure_channel(address) as channel:
        yield pb_grpc.PlaygroundServiceStub(channel)


def test_the_session_is_a_bidirectional_addition_with_one_command_per_message():
    rpc = pb.DESCRIPTOR.services_by_name["PlaygroundService"].methods_by_name["Session"]
    assert rpc.client_streaming and rpc.server_streaming
    assert (rpc.input_type.full_name, rpc.output_type.full_name) == ("playground.SessionCommand",
                                                                     "playground.SessionEvent")
    assert [f.name for f in rpc.input_type.oneofs_by_name["command"].fields] == [
        "open", "advance", "place_order", "cancel_order", "get_account"]
    assert [f.name for f in rpc.output_type.oneofs_by_name["event"].fields] == [
        "opened", "ticks", "order", "account", "error"]


def test_commands_answer_as_their_unary_rpcs_on_a_twin_playground(stub):
    pid, twin = create(stub), create(stub)
    got = events(stub, [opening(pid), advance("a1", with_accounts=True), cmd("p", place_order=order_req("", "buy")),
                        advance("a2", max_ticks=50, with_accounts=True),
                        cmd("g", get_account=pb.GetAccountRequest(fetch_orders=True))])
    assert [e.request_id for e in got] == ["open", "a1", "p", "a2", "g"]  # one answer per command, in order
    assert got[0].opened.playground_id == pid and got[0].opened.clock.current_time
    first, placed, filled, account = got[1].ticks, got[2].order, got[3].ticks, got[4].account

    assert first.deltas[0] == tick(stub, twin, 60)
    assert placed == call(stub, "PlaceOrder", order_req(twin, "buy"))
    # the advance stops after the tick with the fill (the client must see it before the clock moves on)
    assert len(filled.deltas) == 1 and len(filled.deltas[0].new_trades) == 1
    assert filled.deltas[0] == tick(stub, twin, 60)
    unary = call(stub, "GetAccount", pb.GetAccountRequest(playground_id=twin, fetch_orders=True))
    unary.meta.playground_id = pid
    assert account == unary
    snapshot = filled.accounts[0]  # the account after the tick: GetAccount's numbers, no meta
    assert (snapshot.balance, snapshot.equity, dict(snapshot.positions)) == (unary.balance, unary.equity,
                                                                              dict(unary.positions))
    assert not snapshot.HasField("meta") and not snapshot.orders


def test_an_advance_runs_until_a_candle_of_a_stop_period(stub):
    req = pb.CreatePolygonPlaygroundRequest(balance=100_000, start_date="2024-01-03", stop_date="2024-01-04",
                                            environment="simulator", repositories=[repo(), repo(mult=15)])
    pid, twin = call(stub, "CreatePlayground", req).id, call(stub, "CreatePlayground", req).id
    got = events(stub, [opening(pid), advance("w"), advance("b", max_ticks=100, stop_periods=[900]),
                        advance("c", max_ticks=7, stop_periods=[900])])
    batch, capped = got[2].ticks.deltas, got[3].ticks.deltas
    assert 1 < len(batch) <= 15 and len(capped) == 7
    periods = [[c.period for c in d.new_candles] for d in batch]
    assert all(p == [60] for p in periods[:-1]) and 900 in periods[-1]  # 1m candles, then the 15m one
    assert not got[2].ticks.accounts  # only when asked for
    unary = [tick(stub, twin, 60) for _ in range(1 + len(batch) + len(capped))]
    assert [got[1].ticks.deltas[0], *batch, *capped] == unary  # exactly the NextTicks


def test_refused_commands_are_error_events_with_the_unary_texts_and_the_stream_goes_on(stub):
    pid, other = create(stub), create(stub)
    unknown = error_of(stub, "PlaceOrder", order_req(pid, "buy", symbol="ZZZ"))
    got = events(stub, [
        advance("early"),                                       # before open
        cmd("empty"),                                           # no command
        opening(pid),
        cmd("zzz", place_order=order_req("", "buy", symbol="ZZZ")),
        advance(""),                                            # no request id
        advance("big", max_ticks=5000),
        cmd("elsewhere", place_order=order_req(other, "buy")),
        opening(other),
        cmd("cancel0", cancel_order=pb.CancelOrderRequest(order_id=0)),
        advance("ok", max_ticks=3),                             # still usable
    ])
    assert error(got[0]) == ("FAILED_PRECONDITION", "the session is not open: send open (with a playground_id) "
                                                    "before advance")
    assert error(got[1])[0] == "INVALID_ARGUMENT" and "open, advance, place_order" in error(got[1])[1]
    assert got[2].opened.playground_id == pid
    assert error(got[3]) == (unknown.code().name, unknown.details())  # PlaceOrder's code and text
    assert error(got[4]) == ("INVALID_ARGUMENT", "request id is empty")  # NextTick's
    assert error(got[5])[0] == "INVALID_ARGUMENT" and "1 to 1024" in error(got[5])[1]
    assert error(got[6])[0] == "INVALID_ARGUMENT" and f"the session's playground {pid}" in error(got[6])[1]
    assert error(got[7])[0] == "FAILED_PRECONDITION" and "one playground per session" in error(got[7])[1]
    assert error(got[8]) == ("NOT_FOUND", "order 0 not found: order ids start at 1")
    assert len(got[9].ticks.deltas) == 3


def test_the_end_of_the_backtest_stops_an_advance_and_refuses_the_next_as_nexttick_does(stub):
    pid, twin = create(stub, stop="2024-01-03"), create(stub, stop="2024-01-03")
    got = events(stub, [opening(pid), advance("all", max_ticks=1024), advance("more")])
    deltas = got[1].ticks.deltas
    assert deltas[-1].is_backtest_complete and not any(d.is_backtest_complete for d in deltas[:-1])
    # the first ticks run on the gateway's event loop, the rest on the playground's thread: all NextTicks
    assert list(deltas) == [tick(stub, twin, 60) for _ in deltas]
    unary = error_of(stub, "NextTick", pb.NextTickRequest(playground_id=pid, seconds=60, request_id="after"))
    assert error(got[2]) == (unary.code().name, unary.details()) == ("FAILED_PRECONDITION",
                                                                   "backtest complete: clock expired")


def test_a_repeated_advance_replays_its_ticks_instead_of_ticking_again(stub):
    pid = create(stub)
    first = events(stub, [opening(pid), advance("once", max_ticks=5)])[1].ticks
    again = events(stub, [opening(pid), advance("once", max_ticks=5)])[1].ticks  # a new stream, the same id
    assert again == first
    assert events(stub, [opening(pid)])[0].opened.clock.current_time == first.deltas[-1].current_time


def test_a_client_that_goes_away_loses_nothing_of_a_saved_playground(ray_cluster, tmp_path):
    """Commands answered before the client vanished are applied and written through; a restarted
    gateway restores the playground exactly there."""
    data = write_catalog(tmp_path / "data")
    with running_gateway(ray_cluster, data, "gateway-session-a") as (_, address):
        with PlaygroundClient(address, timeout=DEADLINE) as client:
            pid = create(client.stub)
            save(client.stub, pid)
            session = SessionClient(client, pid)
            session.advance(60, max_ticks=3)
            order = session.place_order(pid, "AAA", "buy", 10, requested_price=100.0)
            filled = session.advance(60, max_ticks=10)
            session.close()  # the stream ends; nothing is pending
            before = client.get_account(pid, fetch_orders=True)
            clock = [s for s in client.get_playgrounds() if s.playground_id == pid][0].clock.current_time
    assert filled.deltas[-1].new_trades and before.positions["AAA"].quantity == 10
    assert clock == filled.deltas[-1].current_time
    with running_gateway(ray_cluster, data, "gateway-session-b") as (_, address):
        with PlaygroundClient(address, timeout=DEADLINE) as client:
            assert client.get_account(pid, fetch_orders=True) == before
            assert [s for s in client.get_playgrounds() if s.playground_id == pid][0].clock.current_time == clock
            assert SessionClient(client, pid).get_order(order.id).status == "filled"


def test_tokens_tenants_and_the_rate_limit_apply_to_the_stream_and_each_command(ray_cluster, tmp_path):
    """A tiny rate (one request per 1000 s), a burst of 13: CreatePlayground (10), the Session
    call (1), two advances (1 each, as NextTick); the third advance is refused, as an event."""
    data = write_catalog(tmp_path / "data")
    config = SecurityConfig(tokens=(ALICE, BOB), rate_limit=0.001, rate_burst=13)
    with running_gateway(ray_cluster, data, "gateway-session-sec", security=config) as (_, address):
        with grpc.insecure_channel(address) as channel:
            stub = pb_grpc.PlaygroundServiceStub(channel)
            alice, bob = [("authorization", f"Bearer {ALICE}")], [("authorization", f"Bearer {BOB}")]
            pid = stub.CreatePlayground(pb.CreatePolygonPlaygroundRequest(
                balance=10_000, start_date="2024-01-03", stop_date="2024-01-04", environment="simulator",
                repositories=[repo()]), timeout=DEADLINE, metadata=alice).id
            got = events(stub, [opening(pid), advance("1"), advance("2"), advance("3")], metadata=alice)
            assert got[0].opened.playground_id == pid and len(got[1].ticks.deltas) == len(got[2].ticks.deltas) == 1
            code, text = error(got[3])
            assert code == "RESOURCE_EXHAUSTED" and "at most 0.001 requests/s per client (burst 13)" in text
            # another tenant: the playground does not exist for it (as for every unary call)
            assert error(events(stub, [opening(pid)], metadata=bob)[0]) == ("NOT_FOUND", "playground not found")
            with pytest.raises(grpc.RpcError) as info:  # no token: the stream itself is refused
                events(stub, [opening(pid)])
            assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED


class BuysOnEveryCandle(Strategy):
    """Promises to act on 15-minute candles only, then buys on a 1-minute one."""

    def decision_periods(self):
        return (900,)

    def on_candle(self, ctx, bar):
        if bar.period.total_seconds() == 60 and ctx.position(bar.symbol).quantity == 0:
            ctx.buy(bar.symbol, 1)


def test_a_strategy_acting_outside_its_decision_periods_is_stopped_with_a_clear_error(address):
    """The promise is kept by the one strategy loop: the Session, the unary calls and a local run
    refuse alike (the Session could not have shown the candle in time)."""
    with PlaygroundClient(address, timeout=DEADLINE) as client:
        for transport in ("session", "unary"):
            with pytest.raises(PlaygroundError) as info:
                run_on_gateway(BuysOnEveryCandle(), client, [("AAA", "1m"), ("AAA", "15m")], transport=transport,
                               start_date="2024-01-03", stop_date="2024-01-03")
            assert "tried to place an order on a candle outside its decision_periods [900] s" in str(info.value)
