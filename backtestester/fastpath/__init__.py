"""Fast path: strategies expressed as arrays (signals from vectorised indicators) run through a
compiled kernel (numba) with the event-driven engine's fill, position and cash rules.

    from backtestester.fastpath import run_signals, run_signals_batch, run_crossover_batch
    result = run_signals(o, h, l, c, entries, exits, balance=100_000, fill_model="next_open")
    result.trades, result.equity, result.final_equity

Strategies offer the vectorised form with an optional ``signals(bars) -> (entries, exits)``
method (see :class:`~backtestester.strategy.Strategy`); :func:`supports_signals` detects it and
:func:`run_strategy` / :func:`run_strategy_batch` run it. Pure: numpy here, numba on the first
run, never ray or grpc. Rules and their mapping to the engine: ``docs/fastpath.md``.

The code lives in modules by responsibility; this package gathers their public names:

- :mod:`.inputs`: input checks and the plumbing to the kernel (read-only views, options);
- :mod:`.kernel`: the compiled loops (numba);
- :mod:`.results`: :class:`FastResult`, :class:`BatchResult` and the kernel's buffers turned into them;
- :mod:`.runs`: :func:`run_signals`, :func:`run_signals_batch`, :func:`run_crossover_batch`, :func:`warmup`;
- :mod:`.strategies`: strategies' vectorised form (:class:`Bars`, :func:`run_strategy`, :func:`run_strategy_batch`);
- :mod:`.statistics`: a batch's statistics without its equity curves.
"""
from .inputs import DIRECTIONS, FILL_MODELS
from .results import SUMMARY_FIELDS, TRADE_DTYPE, BatchResult, FastResult
from .runs import run_crossover_batch, run_signals, run_signals_batch, warmup
from .statistics import STAT_FIELDS, DailyPoints
from .strategies import Bars, crossings, crossover, indicator, run_strategy, run_strategy_batch, supports_signals

__all__ = ["Bars", "BatchResult", "DIRECTIONS", "DailyPoints", "FILL_MODELS", "FastResult", "STAT_FIELDS",
           "SUMMARY_FIELDS", "TRADE_DTYPE", "crossings", "crossover", "indicator", "run_crossover_batch", "run_signals",
           "run_signals_batch", "run_strategy", "run_strategy_batch", "supports_signals", "warmup"]
