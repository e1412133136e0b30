"""Public API of the fast path: validated numpy in, results out; the loops run in :mod:`.kernel`.

Pure numpy (numba is imported on first use, never ray or grpc), so the sweep runner can call it
from actors and the gateway from anywhere. See ``docs/fastpath.md`` for the rules. The code lives
in modules by responsibility; this one gathers their public names:

- :mod:`.inputs`: input checks and the plumbing to the kernel (read-only views, options);
- :mod:`.results`: :class:`FastResult`, :class:`BatchResult` and the kernel's buffers turned into them;
- :mod:`.runs`: :func:`run_signals`, :func:`run_signals_batch`, :func:`run_crossover_batch`, :func:`warmup`;
- :mod:`.strategies`: strategies' vectorised form (:class:`Bars`, :func:`run_strategy`, :func:`run_strategy_batch`);
- :mod:`.statistics`: a batch's statistics without its equity curves.
"""
from __future__ import annotations

from .inputs import DIRECTIONS, FILL_MODELS
from .results import SUMMARY_FIELDS, TRADE_DTYPE, BatchResult, FastResult
from .runs import run_crossover_batch, run_signals, run_signals_batch, warmup
from .statistics import STAT_FIELDS, DailyPoints
from .strategies import Bars, crossings, crossover, indicator, run_strategy, run_strategy_batch, supports_signals

__all__ = ["Bars", "BatchResult", "DIRECTIONS", "DailyPoints", "FILL_MODELS", "FastResult", "STAT_FIELDS",
           "SUMMARY_FIELDS", "TRADE_DTYPE", "crossings", "crossover", "indicator", "run_crossover_batch", "run_signals",
           "run_signals_batch", "run_strategy", "run_strategy_batch", "supports_signals", "warmup"]
