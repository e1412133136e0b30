"""Backtestester: one model and one API from training to backtesting to live trading.

The names a user needs first, importable from the top::

    from backtestester import Playground, Repository, Strategy, SmaCross, run_backtest, generate_bars

They are loaded on first use (PEP 562), so ``import backtestester.engine`` in a Ray worker does
not pay for the strategy, data and sweep packages. Everything here is pure (no ray, no grpc);
sweeps on Ray actors start from :mod:`actors.pool` (``SweepPool``) and :mod:`actors.sweep`
(``run_sweep``), the gateway's client is :mod:`backtestester.remote.client`. docs/architecture.md
says where each concept lives.
"""
from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

__version__ = "0.1.0"

# name -> the module that is its home
_HOMES = {
    "Playground": "backtestester.engine", "Repository": "backtestester.engine", "Candle": "backtestester.engine",
    "Order": "backtestester.engine", "Position": "backtestester.engine", "Trade": "backtestester.engine",
    "Account": "backtestester.engine", "Commission": "backtestester.engine", "Slippage": "backtestester.engine",
    "PlaygroundError": "backtestester.engine",
    "Strategy": "backtestester.strategy", "Context": "backtestester.strategy", "SmaCross": "backtestester.strategy",
    "GridStrategy": "backtestester.strategy", "BacktestResult": "backtestester.strategy",
    "run_backtest": "backtestester.strategy", "load_strategy": "backtestester.strategy",
    "Statistics": "backtestester.stats", "compute_statistics": "backtestester.stats",
    "generate_bars": "backtestester.data.synthetic", "Catalog": "backtestester.data.catalog",
    "catalog_playground": "backtestester.playgrounds", "run_on_catalog": "backtestester.playgrounds",
    "RunConfig": "backtestester.sweep", "SweepSpec": "backtestester.sweep",
}

__all__ = [  # the names of _HOMES (tests/test_api.py checks)
    "__version__", "Account", "BacktestResult", "Candle", "Catalog", "catalog_playground", "Commission",
    "compute_statistics", "Context", "generate_bars", "GridStrategy", "load_strategy", "Order", "Playground",
    "PlaygroundError", "Position", "Repository", "run_backtest", "run_on_catalog", "RunConfig", "Slippage",
    "SmaCross", "Statistics", "Strategy", "SweepSpec", "Trade",
]

if TYPE_CHECKING:  # for type checkers and IDEs: the same names, imported eagerly
    from .data.catalog import Catalog
    from .data.synthetic import generate_bars
    from .engine import (
        Account,
        Candle,
        Commission,
        Order,
        Playground,
        PlaygroundError,
        Position,
        Repository,
        Slippage,
        Trade,
    )
    from .playgrounds import catalog_playground, run_on_catalog
    from .stats import Statistics, compute_statistics
    from .strategy import BacktestResult, Context, GridStrategy, SmaCross, Strategy, load_strategy, run_backtest
    from .sweep import RunConfig, SweepSpec


def __getattr__(name: str):
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'backtestester' has no attribute {name!r}")
    value = getattr(import_module(home), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOMES))
