"""Compact Session advances (SessionAdvance.compact, SessionQuietTicks; docs/wire.md): the quiet
ticks of an advance come as columns, and they carry exactly what the full answer of a twin
playground carries (clock, candles, the account after each tick); the NextTick answers of those
ticks are cached unrendered and rendered when asked for again, so a repeated advance, a NextTick
of one of its request ids, a full advance with its id and a gateway restored from its journal all
answer as the first time (the restored one in full form). Whole runs through the broker (local ==
Session == unary) are in test_parity.py."""
from __future__ import annotations

import shutil

import grpc
import pytest

from actors.gateway.session import INLINE_COMPACT_TICKS
from backtestester.engine.timeutil import NS_PER_SECOND as NS
from backtestester.rpc import playground_pb2 as pb
from backtestester.rpc import playground_pb2_grpc as pb_grpc
from backtestester.wire.times import rfc3339_from_ns, rfc3339_ns

from .conftest import DEADLINE, call, order_req, repo, running_gateway, save, tick

EPOCH = "1970-01-01T00:00:00Z"


def create(stub) -> str:
    """A playground of AAA on 1-minute and 15-minute candles."""
    req = pb.CreatePolygonPlaygroundRequest(balance=100_000, start_date="2024-01-03", stop_date="2024-01-04",
                                            environment="simulator", repositories=[repo(), repo(mult=15)])
    return call(stub, "CreatePlayground", req).id


def advance(rid: str, max_ticks: int, compact: bool, stops=()) -> pb.SessionCommand:
    return pb.SessionCommand(request_id=rid, advance=pb.SessionAdvance(
        seconds=60, max_ticks=max_ticks, stop_periods=list(stops), with_accounts=True, compact=compact))


def place(rid: str, side: str) -> pb.SessionCommand:
    return pb.SessionCommand(request_id=rid, place_order=order_req("", side, client_request_id=rid))


def session(stub, pid: str, commands) -> list[pb.SessionEvent]:
    """The answers to ``commands`` on one Session of ``pid``, after its ``opened``."""
    opening = pb.SessionCommand(request_id="open", open=pb.SessionOpen(playground_id=pid))
    got = list(stub.Session(iter([opening, *commands]), timeout=DEADLINE))
    assert got[0].WhichOneof("event") == "opened", got[0]
    return got[1:]


def ticks_of(answer: pb.SessionTicks) -> list[tuple]:
    """Each tick of an advance's answer, compact or full, as ``(clock ns, candles, account)``:
    candles as ``(symbol, period s, start ns, open, high, low, close, volume)``; a compact tick
    without an account has the one of the tick before it (SessionQuietTicks)."""
    q, out, account = answer.quiet, [], None
    listed = dict(zip(q.account_ticks, q.accounts))
    for i, t in enumerate(q.times):
        account = listed.get(i, account)
        candles = [(q.candle_symbols[j], q.candle_periods[j], q.candle_starts[j] * NS, q.open[j], q.high[j], q.low[j],
                    q.close[j], q.volume[j]) for j, at in enumerate(q.candle_ticks) if at == i]
        out.append((t * NS, candles, account))
    for k, d in enumerate(answer.deltas):
        candles = [(c.symbol, c.period, rfc3339_ns(c.bar.datetime), c.bar.open, c.bar.high, c.bar.low, c.bar.close,
                    c.bar.volume) for c in d.new_candles]
        out.append((rfc3339_ns(d.current_time), candles, answer.accounts[k] if answer.accounts else None))
    return out


@pytest.fixture(scope="module")
def stub(ray_cluster, catalog_dir):
    with running_gateway(ray_cluster, catalog_dir, "gateway-compact") as (_, address):
        with grpc.insecure_channel(address) as channel:
            yield pb_grpc.PlaygroundServiceStub(channel)


def test_a_compact_advance_carries_what_the_full_one_does_on_a_twin_playground(stub):
    pid, twin = create(stub), create(stub)
    script = [("a", 60, ()), ("buy", "buy"), ("b", 60, ()), ("c", 100, (900,)), ("sell", "sell"), ("d", 30, (900,)),
              ("e", 1024, ())]  # 60 ticks: more than the first 48 run on the event loop (an advance in two parts)

    def run(p, compact):
        return session(stub, p, [advance(s[0], s[1], compact, s[2]) if len(s) == 3 else place(*s) for s in script])
    compact, full = run(pid, True), run(twin, False)
    for got, want, step in zip(compact, full, script):
        if len(step) == 2:
            assert got.order.status == want.order.status == "pending"
            continue
        assert ticks_of(got.ticks) == ticks_of(want.ticks), step
        assert len(got.ticks.deltas) <= 1 and not got.ticks.HasField("error")
        if got.ticks.quiet.times:  # one quiet tick's answer, rendered as a NextTick of its request id
            assert tick(stub, pid, 60, request_id=f"{step[0]}/0") == want.ticks.deltas[0]
    a, b, c, d, e = (compact[i].ticks for i in (0, 2, 3, 5, 6))
    assert len(a.quiet.times) == 60 and not a.deltas  # max_ticks: every tick quiet
    # flat, the account never changes: listed after the first tick of each part of the advance only
    assert list(a.quiet.account_ticks) == [0, INLINE_COMPACT_TICKS]
    assert len(b.deltas) == 1 and b.deltas[0].new_trades and not b.quiet.times  # the fill stops it at once
    assert len(c.quiet.accounts) > 1  # holding: the equity moves with the prices
    assert c.quiet.candle_periods[-1] == 900 and not c.deltas  # stopped by a 15-minute candle: quiet too
    assert d.deltas[0].new_trades and e.deltas[-1].is_backtest_complete  # the end is a full delta
    # each candle's index is its position among the repository's candles (GetCandles' from 1970)
    q = e.quiet
    for j in (0, len(q.candle_ticks) // 2, len(q.candle_ticks) - 1):
        start = pb.GetCandlesRequest(playground_id=pid, symbol="AAA", period_in_seconds=q.candle_periods[j],
                                     fromRTF3339=EPOCH, toRTF3339=rfc3339_from_ns(q.candle_starts[j] * NS))
        assert len(call(stub, "GetCandles", start).bars) == q.candle_indices[j]


def test_a_repeated_compact_advance_gets_its_first_answer_and_its_ticks_render_as_nextticks(stub):
    pid, twin = create(stub), create(stub)
    first = session(stub, pid, [advance("r", 20, True)])[0].ticks
    again = session(stub, pid, [advance("r", 20, True)])[0].ticks  # a new stream, the same id: replayed
    assert again == first and len(first.quiet.times) == 20
    full = session(stub, twin, [advance("r", 20, False)])[0].ticks
    # the same ticks asked for as NextTicks, or by a full advance of the same id: the full renderings
    assert [tick(stub, pid, 60, request_id=f"r/{i}") for i in (0, 7, 19)] == [full.deltas[i] for i in (0, 7, 19)]
    replayed = session(stub, pid, [advance("r", 20, False)])[0].ticks
    assert list(replayed.deltas) == list(full.deltas) and not replayed.quiet.times
    assert ticks_of(replayed) == ticks_of(first)
    # nothing ticked twice: the clocks agree
    assert tick(stub, pid, 60) == tick(stub, twin, 60)


def test_a_restored_gateway_answers_a_compact_advance_again_in_full(stub, gateways, catalog_dir, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(catalog_dir, data)
    gw, s1 = gateways.start(data)
    twin_stub = stub  # the module's gateway, never restarted
    pid, twin = create(s1), create(twin_stub)
    first = session(s1, pid, [advance("a", 60, True)])[0].ticks
    save(s1, pid)  # its snapshot holds the answers of a's ticks, rendered
    later = session(s1, pid, [advance("b", 30, True, (900,))])[0].ticks  # written through, tick by tick
    full = session(twin_stub, twin, [advance("a", 60, False), advance("b", 30, False, (900,))])
    assert ticks_of(first) == ticks_of(full[0].ticks) and ticks_of(later) == ticks_of(full[1].ticks)
    assert first.quiet.times and later.quiet.times

    gateways.kill(gw)
    _, s2 = gateways.start(data)
    # the restored cache holds full answers (from the snapshot, and from the replayed journal): the
    # same advances, sent again, are answered in full with the ticks first run, never ticking twice
    again = session(s2, pid, [advance("a", 60, True), advance("b", 30, True, (900,))])
    assert list(again[0].ticks.deltas) == list(full[0].ticks.deltas) and not again[0].ticks.quiet.times
    assert list(again[1].ticks.deltas) == list(full[1].ticks.deltas)
    # and it goes on as its twin does, compact again
    on = session(s2, pid, [advance("c", 50, True, (900,))])[0].ticks
    assert ticks_of(on) == ticks_of(session(twin_stub, twin, [advance("c", 50, False, (900,))])[0].ticks)
    assert on.quiet.times
