"""Strategy API (one for backtests, sweeps, the gateway and live), runner and reference strategies."""
from .base import Strategy, load_strategy
from .context import Context, PlaygroundContext
from .reference import GridStrategy, SmaCross
from .series import Series
from .runner import BacktestResult, run_backtest, run_on_playground

__all__ = ["BacktestResult", "Context", "GridStrategy", "PlaygroundContext", "SmaCross", "Strategy",
           "Series", "load_strategy", "run_backtest", "run_on_playground"]
