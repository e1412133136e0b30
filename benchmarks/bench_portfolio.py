"""A portfolio case backtesting.py cannot run, ours next to backtrader, in one invocation.

Four symbols of generated one-minute XNYS bars plus their 15-minute resampling (a trend filter),
limit entries bracketed by a protective stop and a take-profit limit, entries cancelled after
five bars (``benchmarks/portfolio_case.py`` says the rules). Both engines read the same SMA
series (``backtestester.data.indicators.sma``: our ``ctx.indicator``, extra lines of
backtrader's feeds) and fill the same way: an order placed on a bar matches from the next bar
on; a limit fills at its price, or at the open when the bar opens beyond it; a stop likewise at
the (worse) open on a gap; the bracket's legs start on the bar after the entry's fill, the stop
is checked before the take-profit on a bar that touches both, and the leg that fills cancels
the other (backtrader's ``buy_bracket``, our ``sl``/``tp``). The output shows both engines'
final equity, round trips and order counts. Usage:
``python benchmarks/bench_portfolio.py [--bars N] [--repeat K]`` (N one-minute bars per symbol).
"""
from __future__ import annotations

import argparse

import numpy as np
from portfolio_case import CASH, SYMBOLS, limit_levels, make_data, order_mix, run_ours, shared_series
from rich.console import Console
from rich.table import Table
from timing import timed

ORDINAL_1970 = 719163.0  # datetime(1970, 1, 1).toordinal(): backtrader's date numbers are days since year 1


def bt_columns(table, period_ns, a, b):
    """A feed's columns: backtrader date numbers of each bar's end (when it becomes available),
    prices, and two extra series ``a``/``b``."""
    start = np.asarray(table.column("start").cast("int64").to_numpy(), dtype=np.int64)
    days = (start + period_ns) / 86_400e9 + ORDINAL_1970
    cols = [np.asarray(table.column(c).to_numpy(), dtype=float) for c in ("open", "high", "low", "close", "volume")]
    return [days.tolist()] + [c.tolist() for c in cols] + [np.asarray(a, float).tolist(), np.asarray(b, float).tolist()]


def feed_class(bt):
    """A backtrader feed over :func:`bt_columns` (set ``feed.columns`` before the run)."""

    class ArrayFeed(bt.feed.DataBase):
        lines = ("a", "b")

        def start(self):
            super().start()
            self._i = -1

        def _load(self):
            self._i += 1
            cols = self.columns
            if self._i >= len(cols[0]):
                return False
            i, ln = self._i, self.lines
            ln.datetime[0] = cols[0][i]
            ln.open[0], ln.high[0], ln.low[0], ln.close[0], ln.volume[0] = (
                cols[1][i], cols[2][i], cols[3][i], cols[4][i], cols[5][i])
            ln.a[0], ln.b[0] = cols[6][i], cols[7][i]
            return True

    return ArrayFeed


def strategy_class(bt):
    """``portfolio_case.PullbackBracket`` written for backtrader (the same decisions, bar by bar)."""

    class Pullback(bt.Strategy):
        params = dict(entry=0.001, stop=0.002, target=0.003, patience=5, allocation=100_000.0)

        def __init__(self):
            n = len(self.datas) // 2
            self.pairs = list(zip(self.datas[:n], self.datas[n:]))
            self.working, self.filled, self.trips = {}, set(), 0
            self.mix = {"limit entries": 0, "stop exits": 0, "take-profit exits": 0, "entries canceled": 0}

        def notify_trade(self, trade):
            if trade.isclosed:
                self.trips += 1

        def notify_order(self, order):
            if order.status == order.Completed:
                key = ("limit entries" if order.isbuy() else
                       "stop exits" if order.exectype == order.Stop else "take-profit exits")
                self.mix[key] += 1
            elif order.status == order.Canceled and order.isbuy():
                self.mix["entries canceled"] += 1

        def next(self):
            p = self.p
            for minute, quarter in self.pairs:
                if not len(quarter):
                    continue
                sym = minute._name
                held = self.getposition(minute).size
                if sym in self.filled:
                    if held:
                        continue
                    self.filled.discard(sym)
                work = self.working.get(sym)
                if work is not None:
                    if held:
                        del self.working[sym]
                        self.filled.add(sym)
                    elif work[1] + 1 >= p.patience:
                        self.cancel(work[0])
                        del self.working[sym]
                    else:
                        self.working[sym] = (work[0], work[1] + 1)
                    continue
                close = minute.close[0]
                if quarter.a[0] > quarter.b[0] and close < minute.a[0]:
                    limit, sl, tp = limit_levels(close, p.entry, p.stop, p.target)
                    orders = self.buy_bracket(data=minute, size=float(p.allocation // close), exectype=bt.Order.Limit,
                                              price=limit, stopprice=sl, limitprice=tp)
                    self.working[sym] = (orders[0], 0)

    return Pullback


def run_backtrader(data, series):
    """backtrader 1.9 on the case: (final value, closed trades, {order kind: count})."""
    import backtrader as bt

    ArrayFeed, Pullback = feed_class(bt), strategy_class(bt)
    cerebro = bt.Cerebro(stdstats=False)
    minute_feeds, quarter_feeds = [], []
    for sym, (m, q) in data.items():
        pull, fast, slow = series[sym]
        fm = ArrayFeed(name=sym, timeframe=bt.TimeFrame.Minutes, compression=1)
        fm.columns = bt_columns(m, 60_000_000_000, pull, pull)
        fq = ArrayFeed(name=sym + "-15m", timeframe=bt.TimeFrame.Minutes, compression=15)
        fq.columns = bt_columns(q, 900_000_000_000, fast, slow)
        minute_feeds.append(fm)
        quarter_feeds.append(fq)
    for feed in minute_feeds + quarter_feeds:
        cerebro.adddata(feed)
    cerebro.broker.setcash(CASH)
    cerebro.addstrategy(Pullback)
    strat = cerebro.run()[0]
    return cerebro.broker.getvalue(), strat.trips, strat.mix


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=50_000, help="one-minute bars per symbol")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    console = Console(width=180)
    data = make_data(args.bars)
    series = shared_series(data)
    console.print(f"{len(SYMBOLS)} symbols x {args.bars:,} one-minute XNYS bars + 15-minute bars, limit entries "
                  f"with stop-loss and take-profit, best of {args.repeat}")
    rows = []
    for name, fn in (("backtestester (event-driven)", lambda: _ours(data)),
                     ("backtrader", lambda: run_backtrader(data, series))):
        seconds, cpu, (equity, trips, mix) = timed(fn, args.repeat)
        rows.append((name, seconds, cpu, equity, trips, mix))
        console.print(f"  {name}: {seconds:.2f} s")
    peer, peer_cpu = rows[1][1], rows[1][2]
    out = Table(title="Portfolio case: 4 symbols, two timeframes, limit and stop orders")
    for col in ("engine", "seconds", "CPU s", "speed vs backtrader", "(by CPU)", "final equity", "round trips", "limit entries",
                "stop exits", "take-profit exits", "entries canceled"):
        out.add_column(col, justify="left" if col == "engine" else "right")
    for name, seconds, cpu, equity, trips, mix in rows:
        out.add_row(name, f"{seconds:.2f}", f"{cpu:.2f}", f"{peer / seconds:.2f}x", f"{peer_cpu / cpu:.2f}x",
                    f"{equity:,.2f}", str(trips),
                    *(str(v) for v in mix.values()))
    console.print(out)
    (_, _, _, e0, t0, m0), (_, _, _, e1, t1, m1) = rows
    same = abs(e0 - e1) < 0.005 and t0 == t1 and m0 == m1
    console.print("Both engines made the same trades." if same else
                  f"The engines differ: equity {e0 - e1:+,.2f}, round trips {t0 - t1:+d}, orders {m0} vs {m1}.")


def _ours(data):
    result = run_ours(data)
    return result.final_equity, len(result.round_trips), order_mix(result)


if __name__ == "__main__":
    main()
