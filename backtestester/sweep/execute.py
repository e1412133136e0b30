"""Run :class:`RunConfig` s on in-memory tables and return small flat records: one at a time
(:func:`execute_run`) or a worker's batch at once (:func:`execute_batch`, which hands the
fast-path configs that differ only in their parameters to one ``fastpath.run_strategy_batch``)."""
from __future__ import annotations

import math
import time
import traceback
from dataclasses import dataclass, replace
from datetime import date, datetime, timezone

import numpy as np

from ..data.schema import TIMEFRAMES
from ..engine import Commission, Repository, Slippage
from ..engine.timeutil import to_ns
from ..stats import statistic_names
from ..strategy import load_strategy, run_backtest
from .config import RunConfig
from .results import run_record

# Signal arrays a fast-path batch stacks at once (two booleans per bar and run): 32 runs of a
# million bars. Bounds an actor's memory whatever the batch size; more chunks cost next to nothing.
FAST_BATCH_SIGNAL_BYTES = 64 * 2**20

METRICS = statistic_names("sweep")  # the statistics a sweep's results record


def load_repositories(config: RunConfig, tables: dict, cache: dict | None = None) -> list[Repository]:
    """Repositories for the config's symbols from ``tables[(symbol, timeframe)]`` (pyarrow
    Tables, used in place). ``cache`` keeps validated repositories between runs of one worker."""
    if config.timeframe not in TIMEFRAMES:
        raise ValueError(f"unknown timeframe {config.timeframe!r}; accepted: {', '.join(TIMEFRAMES)}")
    repos = []
    for symbol in config.symbols:
        key = (symbol, config.timeframe)
        if key not in tables:
            raise LookupError(f"no data loaded for {symbol} {config.timeframe}")
        repo = cache.get(key) if cache is not None else None
        if repo is None:
            repo = Repository.from_table(symbol, TIMEFRAMES[config.timeframe], tables[key])
            if cache is not None:
                cache[key] = repo
        repos.append(repo)
    return repos


@dataclass
class FastRun:
    """What the sweep needs of a fast-path run, shaped like a BacktestResult's parts."""

    statistics: object
    final_equity: float
    equity_times: np.ndarray
    equity: np.ndarray
    fast_result: object


def run_fast(strategy, repos, *, balance, start=None, end=None, calendar=None, fill_model="next_open",
             commission=None, slippage=None, bars_cache: dict | None = None) -> FastRun:
    """One run through the compiled fast path (:mod:`backtestester.fastpath`; one symbol, the
    strategy's ``signals`` form) over the repository's bars in ``[start, end)``. ``bars_cache``
    keeps the bars (and the indicators they memoise) for the next runs of a sweep worker."""
    from ..fastpath import run_strategy  # noqa: PLC0415  (numba: imported only when the fast path is asked for)

    if len(repos) != 1:
        raise ValueError(f"the fast path runs one symbol at a time, got {len(repos)}; use engine 'event'")
    repo = repos[0]
    bars = _fast_bars(repo, start, end, bars_cache)
    result = run_strategy(strategy, bars, balance=balance, fill_model=fill_model, commission=commission,
                          slippage=slippage)
    stats = result.statistics(bars["start"], repo.period_ns, close=bars["close"])
    times, equity = result.equity_curve(bars["start"], repo.period_ns)
    return FastRun(stats, float(result.final_equity), times, equity, result)


def _fast_bars(repo, start, end, bars_cache: dict | None):
    """The repository's bars in ``[start, end)`` as a ``fastpath.Bars`` (kept in ``bars_cache``
    with the indicators it memoises)."""
    from ..fastpath import Bars  # noqa: PLC0415  (numba: imported only when the fast path is asked for)

    lo, hi = 0, len(repo)
    if start is not None:
        lo = int(np.searchsorted(repo.start_ns, _ns(start, to_ns), "left"))
    if end is not None:
        hi = int(np.searchsorted(repo.start_ns, _ns(end, to_ns), "left"))
    if hi <= lo:
        raise ValueError(f"no bars of {repo.symbol} between {start} and {end}")
    key = ("fast-bars", repo, lo, hi)  # the repository itself, not its id: ids are reused
    bars = bars_cache.get(key) if bars_cache is not None else None
    if bars is None:
        bars = Bars(start=repo.start_ns[lo:hi], open=repo.open[lo:hi], high=repo.high[lo:hi], low=repo.low[lo:hi],
                    close=repo.close[lo:hi], volume=repo.volume[lo:hi])
        if bars_cache is not None:
            bars_cache[key] = bars
    return bars


def run_fast_batch(strategy_cls, param_sets: list, repos, *, balance, start=None, end=None, calendar=None,
                   fill_model="next_open", commission=None, slippage=None, bars_cache: dict | None = None) -> list:
    """:func:`run_fast` for many parameter sets of one strategy in one compiled batch
    (``fastpath.run_strategy_batch``): one statistics dict per set, in order, with the values
    ``run_fast(...).statistics`` has (same arithmetic, no equity curves or round-trip objects)."""
    from ..fastpath import run_strategy_batch  # noqa: PLC0415  (numba: imported only when the fast path is asked for)

    if len(repos) != 1:
        raise ValueError(f"the fast path runs one symbol at a time, got {len(repos)}; use engine 'event'")
    repo = repos[0]
    bars = _fast_bars(repo, start, end, bars_cache)
    batch = run_strategy_batch(strategy_cls, param_sets, bars, balance=balance, fill_model=fill_model,
                               commission=commission, slippage=slippage, period_ns=repo.period_ns,
                               max_signal_bytes=FAST_BATCH_SIGNAL_BYTES)
    return batch.statistics


def _ns(value, to_ns):
    if isinstance(value, datetime):
        return to_ns(value)
    return to_ns(datetime(value.year, value.month, value.day, tzinfo=timezone.utc))


def parse_bound(value: str | None):
    """A run's ``start``/``end``: None, an ISO date (a session date) or an ISO datetime (naive = UTC)."""
    if value is None:
        return None
    parsed = datetime.fromisoformat(value) if "T" in value or " " in value else date.fromisoformat(value)
    if isinstance(parsed, datetime) and parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed


def run_options(config: RunConfig) -> dict:
    """The engine options of ``config`` (calendar, fill model, commission, slippage) as
    ``run_backtest`` and :func:`run_fast` take them."""
    options = {"calendar": config.calendar, "fill_model": config.fill_model}
    if config.commission_rate:
        options["commission"] = Commission(rate=config.commission_rate)
    if config.slippage_rate:
        options["slippage"] = Slippage(rate=config.slippage_rate)
    return options


def execute_run(config: RunConfig, tables: dict, *, cache: dict | None = None, keep_result: bool = False) -> dict:
    """Run one backtest; a strategy that raises gives a ``failed`` record with its traceback."""
    record = run_record(config)
    started = time.perf_counter()
    try:
        repos = load_repositories(config, tables, cache)
        strategy = load_strategy(config.strategy)(**config.param_dict)
        options = run_options(config)
        if config.engine == "fast":
            result = run_fast(strategy, repos, balance=config.balance, start=parse_bound(config.start),
                              end=parse_bound(config.end), bars_cache=cache, **options)
        else:
            result = run_backtest(strategy, repos, balance=config.balance, start=parse_bound(config.start),
                                  end=parse_bound(config.end), **options)
        stats = result.statistics.as_dict()
        for name in METRICS:
            value = stats.get(name, getattr(result, name, math.nan))
            record[name] = float(value) if value is not None else math.nan
        if keep_result:
            record["_result"] = result
    except Exception:  # noqa: BLE001 - a failing run is data: recorded, and the sweep goes on
        record["status"] = "failed"
        record["error"] = traceback.format_exc(limit=20)
        for name in METRICS:
            record[name] = math.nan
    record["elapsed_s"] = time.perf_counter() - started
    return record


def execute_batch(configs: list, tables: dict, *, cache: dict | None = None) -> list[dict]:
    """Records of ``configs``, in order, equal to :func:`execute_run`'s one by one. Fast-path
    configs that differ only in their parameters run as one compiled batch
    (:func:`run_fast_batch`): a run of it costs its signals and its pass through the kernel,
    nothing per run in Python beyond a few numbers, which is what makes a fast sweep's actors
    worth adding. Their ``elapsed_s`` is the group's time shared evenly. If the batch raises
    (a parameter set the strategy refuses, a failing ``signals``), each of its configs runs on
    its own so that only the failing ones are recorded as failed, with their own tracebacks."""
    groups: dict = {}
    for i, config in enumerate(configs):
        key = replace(config, params=()) if config.engine == "fast" else ("single", i)
        groups.setdefault(key, []).append(i)
    records: list = [None] * len(configs)
    for key, indices in groups.items():
        group = [configs[i] for i in indices]
        batch = _execute_fast_group(group, tables, cache) if len(group) > 1 else None
        if batch is None:
            batch = [execute_run(config, tables, cache=cache) for config in group]
        for i, record in zip(indices, batch):
            records[i] = record
    return records


def _execute_fast_group(configs: list, tables: dict, cache: dict | None) -> list[dict] | None:
    """Records of fast configs that share everything but their parameters, from one batch; None
    if the batch raised (the caller then runs them one by one)."""
    first = configs[0]
    started = time.perf_counter()
    try:
        repos = load_repositories(first, tables, cache)
        strategy_cls = load_strategy(first.strategy)
        stats = run_fast_batch(strategy_cls, [c.param_dict for c in configs], repos, balance=first.balance,
                               start=parse_bound(first.start), end=parse_bound(first.end), bars_cache=cache, **run_options(first))
    except Exception:  # noqa: BLE001 - retried one by one, which records who failed and why
        return None
    elapsed = (time.perf_counter() - started) / len(configs)
    records = []
    for config, values in zip(configs, stats):
        record = run_record(config)
        for name in METRICS:
            value = values.get(name, math.nan)
            record[name] = float(value) if value is not None else math.nan
        record["elapsed_s"] = elapsed
        records.append(record)
    return records
