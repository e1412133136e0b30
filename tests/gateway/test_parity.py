"""Parity: the same Strategy subclass, unchanged, gives the same fills and equity locally and through
a real gateway (OS-chosen port, the session's embedded Ray), on the same catalog bars."""
from __future__ import annotations

import numpy as np
import pytest

from actors.cli import main
from backtestester.engine.costs import Commission, Slippage
from backtestester.playgrounds import catalog_playground, run_on_catalog
from backtestester.remote.broker import run_on_gateway
from backtestester.remote.client import PlaygroundClient
from backtestester.remote.twirp_client import TwirpPlaygroundClient
from backtestester.strategy import GridStrategy, SmaCross, Strategy

from .conftest import DEADLINE, running_gateway, write_catalog

WINDOW = dict(start_date="2024-01-03", stop_date="2024-01-04", history_in_days=1, balance=100_000.0)


@pytest.fixture(scope="module")
def catalog_dir(tmp_path_factory):
    return write_catalog(tmp_path_factory.mktemp("parity-catalog"), first_seed=11)


@pytest.fixture(scope="module")
def gateway_pair(ray_cluster, catalog_dir):
    """``(gRPC address, Twirp base URL)`` of one gateway serving both transports."""
    with running_gateway(ray_cluster, catalog_dir, "gateway-parity", twirp_port=0) as (gw, address):
        yield address, ray_cluster.get(gw.twirp_address.remote(), timeout=DEADLINE)


@pytest.fixture(scope="module")
def gateway(gateway_pair):
    return gateway_pair[0]


@pytest.fixture(scope="module")
def client(gateway):
    with PlaygroundClient(gateway, timeout=DEADLINE) as c:
        yield c


@pytest.fixture(scope="module")
def twirp_client(gateway_pair):
    with TwirpPlaygroundClient(gateway_pair[1], timeout=DEADLINE) as c:
        yield c


@pytest.fixture(scope="module")
def unary_client(gateway):
    """A gRPC client whose runs use the unary calls (NextTick per tick), not the Session."""
    with PlaygroundClient(gateway, timeout=DEADLINE) as c:
        c.sessions = False
        yield c


@pytest.fixture(scope="module")
def full_session_client(gateway):
    """A gRPC client whose runs use the Session with full answers (one TickDelta per tick, as a
    gateway before compact advances sends them), not compact ones."""
    with PlaygroundClient(gateway, timeout=DEADLINE) as c:
        c.compact = False
        yield c


@pytest.fixture(params=["grpc-session", "grpc-session-full", "grpc-unary", "twirp"])
def any_client(request):
    """The typed client over each transport: parity holds on all (local == gRPC Session, compact
    or full == gRPC unary == Twirp). A gRPC run uses the Session by default, compact."""
    return request.getfixturevalue({"grpc-session": "client", "grpc-session-full": "full_session_client",
                                    "grpc-unary": "unary_client", "twirp": "twirp_client"}[request.param])


def fills(result):
    """Every fill as (time, side, signed quantity, price), in time order."""
    side = {o.id: o.side for o in result.orders}
    return [(t.time, side[t.order_id], t.quantity, t.price) for t in result.trades]


def assert_same_run(local, remote):
    assert fills(remote) == fills(local)
    assert remote.trades == local.trades  # ids, order ids and commissions too
    assert np.array_equal(remote.equity_times, local.equity_times)
    assert np.array_equal(remote.equity, local.equity)
    assert remote.final_equity == local.final_equity
    assert remote.round_trips == local.round_trips
    assert remote.ticks == local.ticks
    assert remote.account == local.account
    assert [(o.id, o.symbol, o.side, o.quantity, o.status, o.closes) for o in remote.orders] == \
        [(o.id, o.symbol, o.side, o.quantity, o.status, o.closes) for o in local.orders]


class Recorder(Strategy):
    """Wraps nothing: records what every hook sees, so the two runs can be compared hook by hook."""

    def on_start(self, ctx):
        self.seen = [("start", ctx.time, tuple(ctx.symbols))]

    def on_candle(self, ctx, bar):
        self.seen.append(("candle", ctx.time, bar.symbol, bar.period, bar.candle.start, bar.close))

    def on_fill(self, ctx, trade, order):
        self.seen.append(("fill", trade.time, order.id, order.side, order.status, trade.quantity, trade.price))

    def on_stop(self, ctx):
        self.seen.append(("stop", ctx.time, ctx.account().equity))


class RecordingSma(SmaCross, Recorder):
    def on_start(self, ctx):
        SmaCross.on_start(self, ctx)
        Recorder.on_start(self, ctx)

    def on_candle(self, ctx, bar):
        Recorder.on_candle(self, ctx, bar)
        SmaCross.on_candle(self, ctx, bar)


def test_sma_crossover_is_identical_locally_and_through_the_gateway(any_client, catalog_dir):
    params = dict(fast=5, slow=20, fraction=1.0)
    local = run_on_catalog(RecordingSma(**params), catalog_dir, [("AAA", "1m")], **WINDOW)
    strategy = RecordingSma(**params)
    remote = run_on_gateway(strategy, any_client, [("AAA", "1m")], **WINDOW)
    assert len(local.trades) > 10 and len(local.round_trips) > 5  # it really trades
    assert_same_run(local, remote)
    # hook by hook: the same candles, clock and fills (with the order's status at the fill)
    local_strategy = RecordingSma(**params)
    run_on_catalog(local_strategy, catalog_dir, [("AAA", "1m")], **WINDOW)
    assert strategy.seen == local_strategy.seen


def test_two_symbols_two_timeframes_and_fraction_sizing_are_identical(any_client, catalog_dir):
    """SMA crossover on 5-minute candles of two symbols (priced by their 1-minute bars, D15), each
    buying 45 % of the uninvested cash: fraction orders of two symbols can be placed on the same bar."""
    repos = [("AAA", "1m"), ("BBB", "1m"), ("AAA", "5m"), ("BBB", "5m")]
    params = dict(fast=3, slow=8, fraction=0.45, period_seconds=300)
    local = run_on_catalog(SmaCross(**params), catalog_dir, repos, **WINDOW)
    remote = run_on_gateway(SmaCross(**params), any_client, repos, **WINDOW)
    assert {o.symbol for o in local.orders} == {"AAA", "BBB"} and len(local.trades) > 10
    assert_same_run(local, remote)


def test_grid_strategy_is_identical_locally_and_through_the_gateway(client, catalog_dir):
    pg = catalog_playground(catalog_dir, [("AAA", "1m")], **WINDOW)
    closes = np.asarray(pg.repositories[0].close)
    lower, upper = (float(np.round(np.percentile(closes, q), 2)) for q in (15, 85))
    params = dict(lower=lower, upper=upper, grid_size=6, quantity=10.0)
    local_strategy, remote_strategy = GridStrategy(**params), GridStrategy(**params)
    local = run_on_catalog(local_strategy, catalog_dir, [("AAA", "1m")], **WINDOW)
    remote = run_on_gateway(remote_strategy, client, [("AAA", "1m")], **WINDOW)
    assert local_strategy.signals.count("BUY") > 3 and local_strategy.signals.count("SELL") > 3
    assert remote_strategy.signals == local_strategy.signals
    assert_same_run(local, remote)


def test_daily_bars_the_last_one_included_are_identical_locally_and_through_the_gateway(client, catalog_dir):
    """Daily bars (resampled by the catalog) are available at their session's close, so the stop
    date's bar is seen before the clock stops at 16:00 New York, locally and through the gateway."""
    window = dict(start_date="2024-01-03", stop_date="2024-01-05", balance=100_000.0)
    local_strategy, remote_strategy = Recorder(), Recorder()
    local = run_on_catalog(local_strategy, catalog_dir, [("AAA", "1d")], **window)
    remote = run_on_gateway(remote_strategy, client, [("AAA", "1d")], **window)
    candles = [s for s in local_strategy.seen if s[0] == "candle"]
    assert [c[4].date().isoformat() for c in candles] == ["2024-01-03", "2024-01-04", "2024-01-05"]
    assert remote_strategy.seen == local_strategy.seen
    assert_same_run(local, remote)


def test_the_gateway_run_deletes_its_playground(client, catalog_dir):
    before = {s.playground_id for s in client.get_playgrounds()}
    run_on_gateway(GridStrategy(lower=1, upper=2), client, [("BBB", "1m")], start_date="2024-01-03",
                   stop_date="2024-01-03")
    assert {s.playground_id for s in client.get_playgrounds()} == before


def test_gateway_only_limits_are_clear_errors_and_held_orders_update(any_client, catalog_dir):
    from backtestester.engine import PlaceOrderError, PlaygroundError

    class Limits(Strategy):
        def on_start(self, ctx):
            self.errors, self.order, self.statuses, self.same, self.rejected = [], None, [], None, []

        def on_candle(self, ctx, bar):
            if self.order is None:
                refused = ctx.sell(bar.symbol, 1)  # the engine's own refusal, as locally: a rejection
                self.rejected.append((refused.id, refused.status, refused.reject_reason))
                for call in (lambda: ctx.cancel(999),
                             lambda: ctx.buy(bar.symbol, 1, order_type="stop", stop_price=bar.close * 2),
                             lambda: ctx.buy(bar.symbol, 1, sl=bar.close * 0.95)):
                    try:
                        call()
                    except (PlaceOrderError, PlaygroundError) as exc:
                        self.errors.append(str(exc))
                self.order = ctx.buy(bar.symbol, 5)
                self.statuses.append(self.order.status)
            elif len(self.statuses) < 3:  # the object ctx.buy returned follows the order's life
                self.statuses.append((self.order.status, len(self.order.trades)))

        def on_reject(self, ctx, order):
            self.rejected.append(("on_reject", order.reject_reason))

        def on_fill(self, ctx, trade, order):
            self.same = order is self.order

    window = dict(start_date="2024-01-03", stop_date="2024-01-03")
    remote, local = Limits(), Limits()
    remote_result = run_on_gateway(remote, any_client, [("AAA", "1m")], **window)
    local_result = run_on_catalog(local, catalog_dir, [("AAA", "1m")], **window)
    reason = "PlaceOrder: side not allowed: cannot sell when no position exists: must sell short"
    assert remote.rejected == local.rejected == [("on_reject", reason), (0, "rejected", reason)]
    assert remote_result.rejections == local_result.rejections == 1
    assert remote.errors[0] == local.errors[0] == "order 999 not found"  # CancelOrder, as locally
    # the stop order is placed (stop_price is sent) and the stop-loss acts (the playground enforces it)
    assert remote.errors == local.errors == ["order 999 not found"]
    assert [o.tag for o in remote_result.orders if o.protects] == [o.tag for o in local_result.orders if o.protects] \
        == ["sl"]
    assert remote.statuses == local.statuses == ["pending", ("filled", 1), ("filled", 1)]
    assert remote.same is local.same is True
    # strict mode raises the refusal, locally and through the gateway alike
    from backtestester.engine import OrderRejected
    for run in (lambda: run_on_gateway(Limits(), any_client, [("AAA", "1m")], strict=True, **window),
                lambda: run_on_catalog(Limits(), catalog_dir, [("AAA", "1m")], strict=True, **window)):
        with pytest.raises(OrderRejected, match="side not allowed"):
            run()


def test_a_broker_over_a_playground_without_enforcement_refuses_sl_and_tp(client):
    """A playground created without enforce_stop_loss (a v1 client's) would only store sl/tp (D5):
    a GatewayBroker over it refuses them rather than leave the position silently unprotected."""
    from backtestester.engine import PlaceOrderError
    from backtestester.remote.broker import GatewayBroker

    pid = client.create_playground(balance=10_000, start_date="2024-01-03", stop_date="2024-01-03",
                                   repositories=[("AAA", 1, "minute")])
    try:
        broker = GatewayBroker(client, pid)
        broker.step(60 * 10**9)
        for protection in ({"sl": 1.0}, {"tp": 1000.0}):
            with pytest.raises(PlaceOrderError, match="created without enforce_stop_loss would be stored only"):
                broker.place_order(symbol="AAA", side="buy", quantity=1, requested_price=100, **protection)
        assert broker.orders() == []  # nothing was placed
    finally:
        client.delete_playground(pid)


class StopOrders(Strategy):
    """Stop and stop-limit entries, a stop exit, and a day limit order that expires at the
    session's close: records every fill and event the hooks see."""

    def on_start(self, ctx):
        self.seen, self.placed = [], False

    def on_candle(self, ctx, bar):
        if not self.placed:
            self.placed = True
            ctx.buy(bar.symbol, 5, order_type="stop", stop_price=round(bar.close * 1.002, 2), duration="gtc")
            ctx.buy(bar.symbol, 4, order_type="stop_limit", stop_price=round(bar.close * 1.001, 2),
                    price=round(bar.close * 1.004, 2), duration="gtc")
            ctx.buy(bar.symbol, 3, order_type="limit", price=round(bar.close * 0.5, 2))  # a day order: expires
            ctx.sell_short(bar.symbol, 2, order_type="stop", stop_price=round(bar.close * 0.995, 2), duration="gtc")

    def on_fill(self, ctx, trade, order):
        self.seen.append(("fill", trade.time, order.id, order.order_type, order.stop_price, trade.quantity,
                          trade.price))

    def on_event(self, ctx, event):
        self.seen.append(("event", ctx.time, event.type, [(o.id, o.status, o.order_type) for o in event.orders]))


def test_stop_and_stop_limit_orders_and_expiry_events_are_identical_through_the_gateway(any_client, catalog_dir):
    """stop_price travels (PlaceOrderRequest.stop_price, an addition), stop and stop-limit orders
    trigger on the same bars, and the engine's expired event reaches on_event, as locally."""
    local_strategy, remote_strategy = StopOrders(), StopOrders()
    local = run_on_catalog(local_strategy, catalog_dir, [("AAA", "1m")], **WINDOW)
    remote = run_on_gateway(remote_strategy, any_client, [("AAA", "1m")], **WINDOW)
    kinds = {s[3] for s in local_strategy.seen if s[0] == "fill"}
    assert kinds == {"stop", "stop_limit"}, local_strategy.seen
    assert [s[2] for s in local_strategy.seen if s[0] == "event"] == ["expired"]
    assert remote_strategy.seen == local_strategy.seen
    assert_same_run(local, remote)
    assert [(o.order_type, o.stop_price, o.price) for o in remote.orders] == \
        [(o.order_type, o.stop_price, o.price) for o in local.orders]


class EveryOrderKind(Strategy):
    """Stop and stop-limit entries, a market entry protected by sl and tp, a limit order it
    cancels on the next candle, and a new protected entry whenever it is flat: records every fill,
    event and cancel the hooks see."""

    def on_start(self, ctx):
        self.seen, self.to_cancel, self.bars = [], None, 0

    def on_candle(self, ctx, bar):
        self.bars += 1
        c = bar.close
        if self.bars == 1:
            ctx.buy(bar.symbol, 5, order_type="stop", stop_price=round(c * 1.002, 2), duration="gtc")
            ctx.buy(bar.symbol, 4, order_type="stop_limit", stop_price=round(c * 1.001, 2),
                    price=round(c * 1.004, 2), duration="gtc")
            self.to_cancel = ctx.buy(bar.symbol, 3, order_type="limit", price=round(c * 0.5, 2), duration="gtc")
        elif self.bars == 2:
            got = ctx.cancel(self.to_cancel.id)
            self.seen.append(("cancel", ctx.time, got.id, got.status))
        elif self.bars % 30 == 0 and ctx.position(bar.symbol).quantity == 0:
            ctx.buy(bar.symbol, 10, sl=round(c * 0.998, 2), tp=round(c * 1.002, 2))

    def on_fill(self, ctx, trade, order):
        self.seen.append(("fill", trade.time, order.id, order.order_type, order.tag, trade.quantity, trade.price,
                          trade.commission))

    def on_event(self, ctx, event):
        self.seen.append(("event", ctx.time, event.type, [(o.id, o.status, o.tag) for o in event.orders]))


def test_stops_tp_sl_cancel_next_open_fills_and_costs_are_identical_through_the_gateway(any_client, catalog_dir):
    """Every order kind a strategy has, under next_open fills with commission and slippage (the
    engine options CreatePlayground now carries): the hooks see the same fills, cancels and events,
    and the results are identical, commissions included."""
    options = dict(fill_model="next_open", commission=Commission(rate=0.0005, minimum=0.5),
                   slippage=Slippage(per_share=0.01))
    local_strategy, remote_strategy = EveryOrderKind(), EveryOrderKind()
    local = run_on_catalog(local_strategy, catalog_dir, [("AAA", "1m")], **WINDOW, **options)
    remote = run_on_gateway(remote_strategy, any_client, [("AAA", "1m")], **WINDOW, **options)
    fills_seen = [s for s in local_strategy.seen if s[0] == "fill"]
    assert {s[3] for s in fills_seen} >= {"stop", "stop_limit", "market"}
    assert {s[4] for s in fills_seen} >= {"sl", "tp"} and all(s[7] >= 0.5 for s in fills_seen)
    assert ("canceled" in {s[2] for s in local_strategy.seen if s[0] == "event"})  # the other leg of a pair
    assert [s[3] for s in local_strategy.seen if s[0] == "cancel"] == ["canceled"]
    assert remote_strategy.seen == local_strategy.seen
    assert_same_run(local, remote)
    fields = ("order_type", "stop_price", "price", "sl", "tp", "protects", "tag", "status")
    assert [[getattr(o, f) for f in fields] for o in remote.orders] == \
        [[getattr(o, f) for f in fields] for o in local.orders]


def _words(text):
    return " ".join(text.split())  # rich wraps long lines at the terminal width


def test_cli_backtest_through_the_gateway_matches_the_local_catalog_run(gateway, catalog_dir, capsys):
    args = ["backtest", "--symbol", "aaa", "--timeframe", "1m", "--start", "2024-01-03", "--stop", "2024-01-04",
            "--history-days", "1", "--param", "fast=5", "--param", "slow=20", "--fill-model", "close"]
    assert main(args + ["--gateway", gateway]) == 0
    remote = capsys.readouterr().out
    assert main(args + ["--data-dir", str(catalog_dir)]) == 0
    local = capsys.readouterr().out
    assert "through the gateway at " + gateway in _words(remote) and "from the catalog" in _words(local)
    expected = run_on_catalog(SmaCross(fast=5, slow=20), catalog_dir, [("AAA", "1m")], **WINDOW)
    summary = (f"{len(expected.trades):,} fills, {len(expected.round_trips):,} round trips, {expected.ticks:,} ticks; "
               f"final equity {expected.final_equity:,.2f}")
    assert summary in _words(remote) and summary in _words(local)
    # the statistics tables are the same too
    assert remote[remote.rindex("SmaCross"):] == local[local.rindex("SmaCross"):]  # after the headers

    # the engine options travel with CreatePlayground: next_open fills (the default) and costs match too
    costs = ["--commission", "0.0005", "--slippage", "0.0001"]
    assert main(args[:-2] + costs + ["--gateway", gateway]) == 0
    remote = capsys.readouterr().out
    assert main(args[:-2] + costs + ["--data-dir", str(catalog_dir)]) == 0
    local = capsys.readouterr().out
    assert "fill model next_open, commission 0.0005, slippage 0.0001" in _words(remote)
    assert remote[remote.rindex("SmaCross"):] == local[local.rindex("SmaCross"):]
    assert main(["backtest", "--gateway", gateway]) == 2
    assert "need both --start and --stop" in capsys.readouterr().err
    # a business error of the gateway is reported with its status
    assert main(args[:1] + ["--symbol", "NOPE", "--start", "2024-01-03", "--stop", "2024-01-04",
                            "--fill-model", "close", "--gateway", gateway]) == 1
    assert "NOT_FOUND" in capsys.readouterr().err


class CountedSma:
    """sma that counts its calls (a causal indicator function)."""

    def __init__(self):
        self.calls, self.__name__ = 0, "sma"

    def __call__(self, values, length):
        from backtestester.data.indicators import sma

        self.calls += 1
        return sma(values, length)


class AsksEveryCandle(Strategy):
    """Asks for the same series three times on every candle, as the docs suggest; records it."""

    def on_start(self, ctx):
        self.values = []

    def on_candle(self, ctx, bar):
        for _ in range(3):
            line = ctx.indicator(bar.symbol, bar.period, self.fn, 10)
        self.values.append(line[-1])


def test_indicator_series_are_one_per_run_and_key_through_the_gateway_too(client, catalog_dir):
    window = dict(start_date="2024-01-03", stop_date="2024-01-03")
    remote, local = AsksEveryCandle(), AsksEveryCandle()
    remote.fn, local.fn = CountedSma(), CountedSma()
    run_on_gateway(remote, client, [("AAA", "1m")], **window)
    run_on_catalog(local, catalog_dir, [("AAA", "1m")], **window)
    assert len(local.values) > 300 and np.array_equal(remote.values, local.values, equal_nan=True)
    assert local.fn.calls == 1
    # through the gateway the one series is re-run over the revealed candles once per new candle
    # (future candles are not readable, D2), not once per call
    assert remote.fn.calls <= len(remote.values) + 1


def test_cli_backtest_of_two_symbols_through_the_gateway_matches_the_local_run(gateway, catalog_dir, capsys):
    args = ["backtest", "--symbols", "aaa", "bbb", "--start", "2024-01-03", "--stop", "2024-01-03", "--fill-model",
            "close", "--param", "fast=5", "--param", "slow=20", "--param", "fraction=0.45"]
    assert main(args + ["--gateway", gateway]) == 0
    remote = _words(capsys.readouterr().out)
    assert main(args + ["--data-dir", str(catalog_dir)]) == 0
    local = _words(capsys.readouterr().out)
    expected = run_on_catalog(SmaCross(fast=5, slow=20, fraction=0.45), catalog_dir, [("AAA", "1m"), ("BBB", "1m")],
                              start_date="2024-01-03", stop_date="2024-01-03", fill_model="close")
    assert {o.symbol for o in expected.orders} == {"AAA", "BBB"}
    summary = f"{len(expected.trades):,} fills, {len(expected.round_trips):,} round trips"
    assert summary in remote and summary in local and f"final equity {expected.final_equity:,.2f}" in remote
    assert "AAA, BBB 1m, 2024-01-03 to 2024-01-03" in remote and "fill model close" in remote


def test_the_twirp_client_reads_the_same_candle_table_and_errors_as_grpc(client, twirp_client):
    """Twirp has no streams: stream_candles_arrow reads GetCandles into the table gRPC's stream
    gives (columns, types, metadata, rows); a refusal is a grpc.RpcError with gRPC's code and text."""
    import grpc

    pid = client.create_playground(balance=10_000, start_date="2024-01-03", stop_date="2024-01-03",
                                   repositories=[("AAA", 1, "minute")], history_in_days=1)
    try:
        twirp_client.next_tick(pid, 3600)
        for args in (("AAA", 60, "2024-01-01T00:00:00Z"), ("aaa", 60, "2024-01-03T10:00:00-05:00",
                                                              "2024-01-03T10:05:00-05:00")):
            grpc_table, twirp_table = client.stream_candles_arrow(pid, *args), twirp_client.stream_candles_arrow(pid, *args)
            assert twirp_table.num_rows > 0 and twirp_table.equals(grpc_table, check_metadata=True)
        errors = []
        for c in (client, twirp_client):
            with pytest.raises(grpc.RpcError) as caught:
                c.get_candles(pid, "NOPE", 60, "2024-01-03T00:00:00Z")
            errors.append((caught.value.code(), caught.value.details()))
        assert errors[0] == errors[1] and errors[0][0] == grpc.StatusCode.NOT_FOUND, errors
    finally:
        client.delete_playground(pid)
