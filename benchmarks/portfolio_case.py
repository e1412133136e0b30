"""The portfolio case of ``bench_portfolio.py``: data and our strategy (no peer imported here).

Several symbols, each as one-minute bars plus the same bars resampled to 15 minutes (the trend
filter). Per symbol, on every one-minute bar: when flat with nothing working, the 15-minute
SMA(4) above the 15-minute SMA(16) (an uptrend) and the close below the one-minute SMA(20) (a
pull-back), place a GTC limit buy ``entry`` below the close for a fixed ``allocation`` of cash,
with a protective stop ``stop`` below the limit and a take-profit limit ``target`` above it
(``sl``/``tp``: the engine places both when the entry fills and cancels one when the other
fills). An entry that has not filled after ``patience`` bars is cancelled. Prices are rounded
to the cent; sizes are whole shares from the close at placement, so every decision depends only
on the symbol's own bars and both engines can make the same ones.
"""
from __future__ import annotations

from datetime import timedelta

import numpy as np

from backtestester.data.indicators import sma
from backtestester.data.resample import resample
from backtestester.data.synthetic import generate_bars
from backtestester.engine import Repository
from backtestester.strategy import Strategy, run_backtest

SYMBOLS = ("AAA", "BBB", "CCC", "DDD")
CASH = 1_000_000
MINUTE, QUARTER = timedelta(minutes=1), timedelta(minutes=15)
FAST_1M, FAST_15M, SLOW_15M = 20, 4, 16


def make_data(n_bars: int, symbols=SYMBOLS, seed: int = 7) -> dict:
    """``{symbol: (one-minute table, 15-minute table)}``: generated XNYS bars (``seed``, the
    symbol mixed in) and their 15-minute resampling on the same sessions."""
    out = {}
    for sym in symbols:
        minute = generate_bars(sym, timeframe="1m", n_bars=n_bars, seed=seed, calendar="XNYS")
        out[sym] = (minute, resample(minute, "1m", "15m", calendar="XNYS"))
    return out


def limit_levels(close: float, entry: float, stop: float, target: float) -> tuple[float, float, float]:
    """(limit, stop-loss, take-profit) prices in cents for an entry decided at ``close``."""
    limit = round(close * (1 - entry), 2)
    return limit, round(limit * (1 - stop), 2), round(limit * (1 + target), 2)


class PullbackBracket(Strategy):
    """Buy pull-backs in a 15-minute uptrend with a limit order, bracketed by a stop and a
    take-profit (see the module docstring)."""

    entry: float = 0.001
    stop: float = 0.002
    target: float = 0.003
    patience: int = 5
    allocation: float = 100_000.0

    def on_start(self, ctx):
        self.working = {}  # symbol -> (entry order id, bars waited); absent when nothing works
        self.filled = set()  # symbols whose entry filled and whose bracket is still open

    def on_candle(self, ctx, bar):
        if bar.period != MINUTE:
            return
        sym = bar.symbol
        held = ctx.position(sym).quantity
        if sym in self.filled:
            if held:
                return
            self.filled.discard(sym)  # the stop or the take-profit closed it
        work = self.working.get(sym)
        if work is not None:
            if held:
                del self.working[sym]
                self.filled.add(sym)
                return
            if work[1] + 1 >= self.patience:
                ctx.cancel(work[0])
                del self.working[sym]
            else:
                self.working[sym] = (work[0], work[1] + 1)
            return
        fast = ctx.indicator(sym, QUARTER, sma, FAST_15M)[-1]
        slow = ctx.indicator(sym, QUARTER, sma, SLOW_15M)[-1]
        pull = ctx.indicator(sym, MINUTE, sma, FAST_1M)[-1]
        if fast > slow and bar.close < pull:
            limit, sl, tp = limit_levels(bar.close, self.entry, self.stop, self.target)
            order = ctx.buy(sym, float(self.allocation // bar.close), order_type="limit", price=limit,
                            sl=sl, tp=tp, duration="gtc")
            if order.status != "rejected":
                self.working[sym] = (order.id, 0)


def repositories(data: dict) -> list[Repository]:
    """One-minute repositories first, then the 15-minute ones (the trend filter)."""
    return ([Repository.from_table(sym, MINUTE, m) for sym, (m, _) in data.items()]
            + [Repository.from_table(sym, QUARTER, q) for sym, (_, q) in data.items()])


def run_ours(data: dict, **params):
    """Our engine on the case: the ``BacktestResult``."""
    return run_backtest(PullbackBracket(**params), repositories(data), balance=CASH, fill_model="next_open",
                        calendar="XNYS")


def order_mix(result) -> dict:
    """Filled orders by kind (limit entries, stop-loss exits, take-profit exits) and the entries
    cancelled unfilled."""
    filled = [o for o in result.orders if o.status == "filled"]
    return {"limit entries": sum(o.side == "buy" for o in filled),
            "stop exits": sum(o.order_type == "stop" for o in filled),
            "take-profit exits": sum(o.tag == "tp" for o in filled),
            "entries canceled": sum(o.status == "canceled" and o.side == "buy" for o in result.orders)}


def shared_series(data: dict) -> dict:
    """The three SMA series per symbol, as the peer reads them: ``{symbol: (sma20 of the
    one-minute closes, sma4 and sma16 of the 15-minute closes)}``."""
    out = {}
    for sym, (m, q) in data.items():
        mc = np.asarray(m.column("close").to_numpy(), dtype=float)
        qc = np.asarray(q.column("close").to_numpy(), dtype=float)
        out[sym] = (sma(mc, FAST_1M), sma(qc, FAST_15M), sma(qc, SLOW_15M))
    return out
