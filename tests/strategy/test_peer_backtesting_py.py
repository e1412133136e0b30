"""Peer agreement: an SMA-crossover backtest (long-only, all-in whole shares, next_open fills, no
costs) gives exactly backtesting.py's final equity and trades, on a real daily series and on a
generated one-million-bar series.

Both engines get the same SMA values (``indicators.sma``, which SmaCross reads through its context), so
the comparison is about fills, sizing, positions and cash. backtesting.py sizes a fractional
order with ``int(margin_available * size // price)`` where its default size is ``1 - eps``; our
``fraction`` is given the same number.
"""
from __future__ import annotations

import sys
import warnings
from datetime import timedelta

import pandas as pd
import pytest

backtesting = pytest.importorskip("backtesting")  # a declared test dependency: make test installs it
from backtesting import Backtest  # noqa: E402
from backtesting import Strategy as PeerStrategy  # noqa: E402
from backtesting.lib import crossover  # noqa: E402
from backtesting.test import GOOG  # noqa: E402

from actors.cli import main  # noqa: E402
from backtestester.data.catalog import Catalog  # noqa: E402
from backtestester.data.importers import import_sample  # noqa: E402
from backtestester.data.indicators import sma  # noqa: E402
from backtestester.data.synthetic import generate_bars  # noqa: E402
from backtestester.engine import Repository  # noqa: E402
from backtestester.playgrounds import run_on_catalog  # noqa: E402
from backtestester.strategy import SmaCross, run_backtest  # noqa: E402

ALL_IN = 1 - sys.float_info.epsilon


def peer_run(df: pd.DataFrame, fast: int, slow: int, cash: float, trade_on_close: bool = False):
    class PeerSmaCross(PeerStrategy):
        def init(self):
            self.fast = self.I(sma, self.data.Close, fast)
            self.slow = self.I(sma, self.data.Close, slow)

        def next(self):
            if crossover(self.fast, self.slow):
                if not self.position:
                    self.buy()
            elif crossover(self.slow, self.fast):
                self.position.close()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "some trades remain open": compared explicitly below
        return Backtest(df, PeerSmaCross, cash=cash, commission=0, trade_on_close=trade_on_close).run()


def ours_run(df: pd.DataFrame, period: timedelta, fast: int, slow: int, cash: float, calendar=None):
    start_ns = df.index.tz_localize("UTC").as_unit("ns").asi8 if df.index.tz is None else df.index.as_unit("ns").asi8
    repo = Repository.from_arrays("X", period, start_ns, df.Open.to_numpy(), df.High.to_numpy(), df.Low.to_numpy(),
                                  df.Close.to_numpy(), df.Volume.to_numpy(dtype=float))
    return run_backtest(SmaCross(fast=fast, slow=slow, fraction=ALL_IN), [repo], balance=cash,
                        fill_model="next_open", calendar=calendar)


def assert_same(peer, ours, df):
    trades = peer._trades
    index = df.index if df.index.tz is not None else df.index.tz_localize("UTC")
    expected = [(float(r.Size), index[r.EntryBar], r.EntryPrice, index[r.ExitBar], r.ExitPrice)
                for r in trades.itertuples()]
    got = [(r.quantity, pd.Timestamp(r.entry_time), r.entry_price, pd.Timestamp(r.exit_time), r.exit_price)
           for r in ours.round_trips]
    assert got == expected
    open_size = peer._strategy.position.size
    final = peer["Equity Final [$]"]
    if open_size == 0:
        assert ours.account.positions.get("X", None) is None
        assert ours.final_equity == final  # exactly, not approximately
        return
    position = ours.account.positions["X"]
    assert position.quantity == open_size
    # An open position is valued by backtesting.py as price * size - size * entry (its
    # _position_unrealized_pl), by us as (price - entry) * size: the same cash and position give
    # its number exactly by its formula, and ours within a few units in the last place.
    last = df.Close.iloc[-1]
    assert ours.account.balance + (last * open_size - open_size * position.cost_basis) == final
    assert ours.final_equity == ours.account.balance + (last - position.cost_basis) * open_size
    assert abs(ours.final_equity - final) <= 1e-12 * abs(final)


def test_sma_cross_matches_backtesting_py_on_real_daily_goog():
    peer = peer_run(GOOG, 10, 30, 10_000)
    ours = ours_run(GOOG, timedelta(days=1), 10, 30, 10_000)
    assert len(ours.round_trips) > 20
    assert_same(peer, ours, GOOG)


@pytest.mark.slow
def test_sma_cross_matches_backtesting_py_on_one_million_generated_minute_bars():
    table = generate_bars("SYNTH", timeframe="1m", n_bars=1_000_000, seed=11, calendar="XNYS")
    df = table.to_pandas().set_index("start")
    df.columns = [c.capitalize() for c in df.columns]
    peer = peer_run(df, 50, 200, 1_000_000)
    ours = ours_run(df, timedelta(minutes=1), 50, 200, 1_000_000, calendar="XNYS")
    assert len(ours.round_trips) > 1000
    assert_same(peer, ours, df)


# Every statistic backtesting.py reports, against ours on the same GOOG run: (our field, how to
# turn ours into the peer's units, tolerance). The differences are explained in docs/statistics.md.
DAY = pd.Timedelta(days=1)


def _pct(x):
    return x * 100


def _td(x):
    return pd.Timedelta(x)


SAME = {  # equal to rounding (relative 1e-12)
    "Equity Final [$]": ("final_equity", float), "Equity Peak [$]": ("peak_equity", float),
    "Return [%]": ("total_return", _pct), "Max. Drawdown [%]": ("max_drawdown", _pct),
    "# Trades": ("trade_count", int), "Win Rate [%]": ("win_rate", _pct),
    "Best Trade [%]": ("best_trade", _pct), "Worst Trade [%]": ("worst_trade", _pct),
    "Avg. Trade [%]": ("geometric_trade_return", _pct), "Expectancy [%]": ("avg_trade_return", _pct),
    "Profit Factor": ("profit_factor_return", float), "SQN": ("sqn", float), "Kelly Criterion": ("kelly", float),
    "Max. Trade Duration": ("max_trade_duration", _td),
}
CLOSE = {  # (ours, units, absolute tolerance): the curve differs in its points, see the docs
    "Start": ("start", pd.Timestamp, pd.Timedelta(0)),
    "End": ("end", pd.Timestamp, 2 * DAY),                       # ours ends one step after the last bar's close
    "Duration": ("duration", _td, 2 * DAY),
    "Avg. Trade Duration": ("avg_trade_duration", _td, DAY),   # the peer rounds up to whole bars
    "Max. Drawdown Duration": ("max_drawdown_duration", _td, 2 * DAY),
    "Avg. Drawdown Duration": ("avg_drawdown_duration", _td, DAY),
    "CAGR [%]": ("annualized_return", _pct, 0.05),             # spans 2 days apart
    "Exposure Time [%]": ("exposure", _pct, 2.0),               # calendar days vs bars
    "Beta": ("beta", float, 1e-3),                              # weekends add zero returns to both
    "Alpha [%]": ("alpha", _pct, 0.5),                          # through beta
    "Buy & Hold Return [%]": ("buy_and_hold_return", _pct, 1e-9),  # from bar 0: see below
}
DIFFERENT = {  # defined differently (docs/statistics.md); not compared
    "Return (Ann.) [%]", "Volatility (Ann.) [%]", "Sharpe Ratio", "Sortino Ratio", "Calmar Ratio",
}
NOT_OURS = {"Avg. Drawdown [%]"}


def test_statistics_match_backtesting_py_on_goog():
    from backtesting._stats import compute_stats  # the peer's own statistics of its own run

    peer = peer_run(GOOG, 10, 30, 10_000)
    ours = ours_run(GOOG, timedelta(days=1), 10, 30, 10_000).statistics
    # backtesting.py starts buy-and-hold after the strategy's indicator warm-up; ours at the
    # first bar. The peer's function without the strategy (no warm-up) gives the comparable number.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the peer's own deprecation warnings under pandas 3
        from_first_bar = compute_stats(peer._trades, peer._equity_curve.Equity.to_numpy(), GOOG, None)
    assert from_first_bar["Return [%]"] == peer["Return [%]"]
    names = {k for k in peer.index if not k.startswith("_")}
    assert names == set(SAME) | set(CLOSE) | DIFFERENT | NOT_OURS, "a peer statistic nobody compares"
    for key, (field, unit) in SAME.items():
        got, want = unit(getattr(ours, field)), peer[key]
        assert got == pytest.approx(want, rel=1e-12), key
    for key, (field, unit, tol) in CLOSE.items():
        want = from_first_bar[key] if key in ("Buy & Hold Return [%]", "Alpha [%]", "Beta") else peer[key]
        got = unit(getattr(ours, field))
        if key in ("Start", "End"):
            want = want.tz_localize("UTC")
        assert abs(got - want) <= tol, (key, got, want)


@pytest.mark.parametrize("fill_model,trade_on_close,final", [("next_open", False, 57_752.99), ("close", True, 63_328.77)])
def test_catalog_backtest_of_the_goog_sample_sees_the_last_bar_and_matches_backtesting_py(
        fill_model, trade_on_close, final, tmp_path, capsys):
    """The bundled GOOG sample through the catalog (the gateway's playground, clock to 16:00 of
    --stop): the last session's bar values the open position, as backtesting.py's last close does,
    under both fill models (``close`` is backtesting.py's ``trade_on_close=True``)."""
    import_sample(Catalog(tmp_path), "GOOG")
    peer = peer_run(GOOG, 10, 30, 10_000, trade_on_close=trade_on_close)
    assert round(peer["Equity Final [$]"], 2) == final and peer._strategy.position.size > 0  # open at the end
    window = dict(start_date="2004-08-19", stop_date="2013-03-01", balance=10_000)
    ours = run_on_catalog(SmaCross(fast=10, slow=30, fraction=ALL_IN), tmp_path, [("GOOG", "1d")],
                          fill_model=fill_model, **window)
    expected = [(float(r.Size), r.EntryPrice, r.ExitPrice) for r in peer._trades.itertuples()]
    assert [(r.quantity, r.entry_price, r.exit_price) for r in ours.round_trips] == expected
    assert abs(ours.final_equity - peer["Equity Final [$]"]) <= 1e-9 * final
    assert main(["backtest", "--data-dir", str(tmp_path), "--symbol", "GOOG", "--timeframe", "1d",
                 "--start", "2004-08-19", "--stop", "2013-03-01", "--balance", "10000", "--fill-model", fill_model,
                 "--param", "fast=10", "--param", "slow=30", "--param", f"fraction={ALL_IN!r}"]) == 0
    assert f"final equity {final:,.2f}" in capsys.readouterr().out
