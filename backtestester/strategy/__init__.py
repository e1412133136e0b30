"""Strategy API (one for backtests, sweeps, the gateway and live), runner and reference strategies.

The gateway adapter is not part of this package (:mod:`backtestester.remote.broker`): it needs
the gRPC client, and the strategy API imports neither grpc nor ray.
"""
from .base import Strategy, load_strategy
from .broker import Broker, LocalBroker
from .context import Context, PlaygroundContext
from .reference import GridStrategy, SmaCross
from .runner import BacktestResult, run_backtest, run_on_broker, run_on_playground
from .series import Series

__all__ = ["BacktestResult", "Broker", "Context", "GridStrategy", "LocalBroker", "PlaygroundContext", "SmaCross",
           "Strategy", "Series", "load_strategy", "run_backtest", "run_on_broker", "run_on_playground"]
