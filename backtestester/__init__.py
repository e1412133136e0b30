"""Backtestester: one model and one API from training to backtesting to live trading.

The pure core lives in :mod:`backtestester.engine` (playgrounds), :mod:`backtestester.data`
(data, indicators), :mod:`backtestester.strategy` (the strategy API and runner) and
:mod:`backtestester.stats`. None of them imports ray or grpc.
"""

__version__ = "0.1.0"
