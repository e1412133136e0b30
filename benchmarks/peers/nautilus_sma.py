"""The SMA-cross case on NautilusTrader, run by its own virtualenv's Python (3.12+) from
``benchmarks/bench_nautilus.py``; prints one JSON object (seconds, final equity, trades).

Reads a Parquet file of bars (``start`` in UTC nanoseconds, open/high/low/close, and the
``fast``/``slow`` SMA columns computed by backtestester so every engine reads the same series).
Configuration measured (the fair one, as in the issue): a cash account with a HEDGING order
management system; each one-minute bar is delivered at its close (``ts = start + 1 min``) and
followed by one trade tick at the next bar's open; the strategy decides on the bar (the same
``crossover`` as backtesting.py's) and submits its market order when that tick arrives, so it
fills at the next bar's open (next-open fills); bars do not move the simulated market
(``bar_execution=False``: the ticks do). Buys are all-in: ``floor(cash / open)`` shares.
With ``--patch-analyzer`` (the default) the portfolio analyzer's per-trade record, which
concatenates two pandas Series per closed position (quadratic in trades, upstream issue #4434
in 1.231), appends to lists that are turned into the same Series when they are read.
Timed: ``engine.run()`` (which includes the end-of-run analysis); building the data objects and
the engine is setup, reported apart.
"""
from __future__ import annotations

import argparse
import gc
import json
import math
import time
from decimal import Decimal

import numpy as np
import pyarrow.parquet as pq
from nautilus_trader.backtest.engine import BacktestEngine, BacktestEngineConfig
from nautilus_trader.config import LoggingConfig, StrategyConfig
from nautilus_trader.model.currencies import USD
from nautilus_trader.model.data import Bar, BarType, TradeTick
from nautilus_trader.model.enums import AccountType, OmsType, OrderSide, OrderStatus
from nautilus_trader.model.identifiers import InstrumentId, Symbol, Venue
from nautilus_trader.model.instruments import Equity
from nautilus_trader.model.objects import Money, Price, Quantity
from nautilus_trader.trading.strategy import Strategy

MINUTE_NS = 60_000_000_000
TICK_SIZE = 1e9  # each open's trade tick carries ample liquidity: an all-in order fills whole at the open


def patch_analyzer():
    """Make ``PortfolioAnalyzer._append_pnl_record`` O(1): rows are appended to lists and turned
    into the analyzer's per-currency Series (same index, values and dtypes) before they are read."""
    import pandas as pd
    from nautilus_trader.analysis.analyzer import PortfolioAnalyzer

    def append(self, pnls, timestamps, position_id, realized_pnl, ts_event):
        pending = self.__dict__.setdefault("_bench_pending", {})
        _, _, rows = pending.setdefault((id(pnls), id(timestamps)), (pnls, timestamps, {}))
        ids, values, times = rows.setdefault(realized_pnl.currency, ([], [], []))
        ids.append(position_id.value)
        values.append(realized_pnl.as_double())
        times.append(int(ts_event) if ts_event is not None else None)

    def flush(self):
        for pnls, timestamps, rows in self.__dict__.pop("_bench_pending", {}).values():
            for currency, (ids, values, times) in rows.items():
                new_p = pd.Series(values, index=ids, dtype=np.float64)
                new_t = pd.Series(times, index=ids, dtype=object)
                pnls[currency] = new_p if currency not in pnls else pd.concat([pnls[currency], new_p])
                timestamps[currency] = new_t if currency not in timestamps else pd.concat([timestamps[currency], new_t])

    realized = PortfolioAnalyzer.realized_pnls

    def realized_pnls(self, *args, **kwargs):
        flush(self)
        return realized(self, *args, **kwargs)

    PortfolioAnalyzer._append_pnl_record = append
    PortfolioAnalyzer.realized_pnls = realized_pnls


class CrossConfig(StrategyConfig, frozen=True):
    instrument_id: InstrumentId
    bar_type: BarType


class SmaCrossNextOpen(Strategy):
    """Long-only SMA cross: a decision on each bar, its market order at the next open's tick."""

    def __init__(self, config, fast, slow):
        super().__init__(config)
        self.fast, self.slow = fast, slow
        self.i = -1
        self.signal = 0
        self.last_close = math.nan

    def on_start(self):
        self.subscribe_bars(self.config.bar_type)
        self.subscribe_trade_ticks(self.config.instrument_id)

    def on_bar(self, bar):
        i = self.i = self.i + 1
        self.last_close = bar.close.as_double()
        self.signal = 0
        if i < 1:
            return
        f0, s0, f1, s1 = self.fast[i - 1], self.slow[i - 1], self.fast[i], self.slow[i]
        if f0 < s0 and f1 > s1:
            if self.portfolio.is_flat(self.config.instrument_id):
                self.signal = 1
        elif f0 > s0 and f1 < s1:
            self.signal = -1

    def on_trade_tick(self, tick):
        signal, self.signal = self.signal, 0
        iid = self.config.instrument_id
        if signal > 0:
            cash = self.portfolio.account(iid.venue).balance_total(USD).as_double()
            qty = math.floor(cash / tick.price.as_double())
            if qty > 0:
                self.submit_order(self.order_factory.market(iid, OrderSide.BUY, Quantity.from_int(qty)))
        elif signal < 0 and not self.portfolio.is_flat(iid):
            self.close_all_positions(iid)


def build(path):
    """The instrument, bar type and data list (bar at its close, then the next open's tick)."""
    table = pq.read_table(path)
    start = np.array(table.column("start").to_numpy(), dtype=np.uint64)  # writable copies: Cython memoryviews
    cols = {c: np.array(table.column(c).to_numpy(), dtype=np.float64)
            for c in ("open", "high", "low", "close", "fast", "slow")}
    venue = Venue("XNAS")
    iid = InstrumentId(Symbol("SYNTH"), venue)
    instrument = Equity(instrument_id=iid, raw_symbol=Symbol("SYNTH"), currency=USD, price_precision=2,
                        price_increment=Price.from_str("0.01"), lot_size=Quantity.from_int(1), ts_event=0, ts_init=0)
    bar_type = BarType.from_str("SYNTH.XNAS-1-MINUTE-LAST-EXTERNAL")
    n = start.size
    ends = start + np.uint64(MINUTE_NS)
    bars = Bar.from_raw_arrays_to_list(bar_type, 2, 0, cols["open"], cols["high"], cols["low"], cols["close"],
                                       np.full(n, 1.0), ends, ends)
    ticks = TradeTick.from_raw_arrays_to_list(iid, 2, 0, cols["open"], np.full(n, TICK_SIZE),
                                              np.ones(n, dtype=np.uint8), [str(i) for i in range(n)], start, start)
    data = [None] * (2 * n)
    data[0::2], data[1::2] = ticks, bars  # tick i (t = start i), bar i (t = start i + 1 min) <= tick i + 1
    return instrument, bar_type, data, cols


def run_once(args, instrument, bar_type, data, cols):
    engine = BacktestEngine(BacktestEngineConfig(logging=LoggingConfig(bypass_logging=True)))
    engine.add_venue(venue=instrument.id.venue, oms_type=getattr(OmsType, args.oms), account_type=AccountType.CASH,
                     base_currency=USD, starting_balances=[Money(args.cash, USD)], bar_execution=False,
                     default_leverage=Decimal(1))
    engine.add_instrument(instrument)
    engine.add_data(data)  # a stable sort by ts_init: each bar stays before the tick at its close
    strategy = SmaCrossNextOpen(CrossConfig(instrument_id=instrument.id, bar_type=bar_type), cols["fast"], cols["slow"])
    engine.add_strategy(strategy)
    gc.collect()
    t0, c0 = time.perf_counter(), time.process_time()
    engine.run()
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    account = engine.portfolio.account(instrument.id.venue)
    cash = account.balance_total(USD).as_double()
    held = sum(p.quantity.as_double() for p in engine.cache.positions_open())
    # Round trips = filled closing sells (a NETTING account reuses one position id for all of them).
    trades = sum(o.side == OrderSide.SELL and o.status == OrderStatus.FILLED for o in engine.cache.orders())
    orders = len(engine.cache.orders())
    engine.dispose()
    return seconds, cpu, cash + held * strategy.last_close, trades, orders


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("parquet")
    parser.add_argument("--cash", type=float, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--oms", choices=("HEDGING", "NETTING"), default="HEDGING")
    parser.add_argument("--no-patch-analyzer", dest="patch", action="store_false")
    args = parser.parse_args()
    if args.patch:
        patch_analyzer()
    t0 = time.perf_counter()
    instrument, bar_type, data, cols = build(args.parquet)
    setup = time.perf_counter() - t0
    best = None
    for _ in range(args.repeat):
        out = run_once(args, instrument, bar_type, data, cols)
        best = out if best is None or out[0] < best[0] else best
    import nautilus_trader

    seconds, cpu, equity, trades, orders = best
    print(json.dumps({"seconds": seconds, "cpu_seconds": cpu, "setup_seconds": setup, "final_equity": equity, "trades": trades,
                      "orders": orders, "version": nautilus_trader.__version__, "oms": args.oms,
                      "analyzer_patched": args.patch}))


if __name__ == "__main__":
    main()
