"""Score one trial (a parameter set) out of sample: :func:`evaluate_trial` runs one backtest per
fold over ``[train start, test end)`` with the sweep's run machinery (the event-driven engine, or
the fast path for a strategy with ``signals`` when ``engine="fast"``), and scores the in-sample
part on the training window's equity and the out-of-sample part on the test window's. A strategy
that learns (:meth:`~backtestester.strategy.Strategy.fit`) is fitted first on the training
window's bars only, then runs frozen.

Windows of the equity curve (:func:`window`): a window of bars ``[a, b)`` is the curve's points
from the last one at or before bar ``a - 1`` becomes available (its close: the equity when the
window opens; the run's first point for ``a = 0``) to the last one at or before bar ``b - 1``
becomes available. The purged bars between the two windows count to neither. (On a calendar
with closed hours the engine ticks at a session's open before its first bar closes: opening the
window at the previous close keeps that day's first return in the window, as on the fast path.) Statistics of a window are :func:`backtestester.stats.compute_statistics`
of its points (trade statistics of the round trips closed inside it; no benchmark, no exposure).
"""
from __future__ import annotations

import hashlib
import math
import pickle
import traceback
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import numpy as np

from ..engine.timeutil import from_ns, to_ns
from ..stats import compute_statistics, daily_returns, statistic_names
from ..strategy import load_strategy, run_backtest
from ..strategy.base import defines_fit
from ..sweep.config import RunConfig
from ..sweep.execute import load_repositories, run_fast, run_options
from .folds import Fold

OPTIONS = ("balance", "fill_model", "calendar", "commission_rate", "slippage_rate", "engine")
# Statistics that are the same for every trial of a study (or are not numbers): never objectives.
NOT_OBJECTIVES = ("start", "end", "duration", "initial_equity")
# Objectives whose smaller values are better (on the value stats reports: durations in seconds).
MINIMISED = ("volatility", "max_drawdown_duration", "avg_drawdown_duration", "avg_trade_duration",
             "max_trade_duration", "total_commission")
_NS_PER_DAY = 86_400 * 10**9


def objective_direction(name: str) -> str:
    """``"maximize"`` or ``"minimize"`` (Optuna's words) for a statistic of :mod:`backtestester.stats`.
    Values are taken as stats reports them: ``max_drawdown`` is a fraction <= 0, so maximising it
    minimises the drawdown's magnitude; durations are seconds and minimised. ``ValueError`` for a
    name that is no statistic or cannot rank trials."""
    names = [n for n in statistic_names() if n not in NOT_OBJECTIVES]
    if name not in names:
        raise ValueError(f"unknown objective {name!r}; accepted: {', '.join(names)}")
    return "minimize" if name in MINIMISED else "maximize"


@dataclass
class TrialSpec:
    """One trial as plain data (crosses Ray): the strategy ``"package.module:Class"`` with
    ``params``, the data (``symbols``, ``timeframe``), the folds (bar indices into the first
    symbol's bars), the objectives (statistic names) and the run ``options`` (:data:`OPTIONS`,
    defaults :class:`~backtestester.sweep.RunConfig`'s)."""

    number: int
    params: dict
    strategy: str
    symbols: tuple
    timeframe: str
    folds: list
    objective: tuple = ("sharpe",)
    options: dict = field(default_factory=dict)


@dataclass
class TrialOutcome:
    """What a trial gave, fold by fold (lists in fold order; a pruned trial has fewer entries).
    ``oos_returns[k]``: the daily out-of-sample returns of fold ``k`` (stats' daily returns of the
    test window), ``oos_times[k]`` their periods' ends (int64 UTC ns). ``error``: the traceback
    text when the strategy raised (a failed trial; nothing raised). ``artefacts``: per fitted fold,
    ``{"fold", "path", "sha256"}`` of the pickled :meth:`Strategy.fit` result."""

    number: int
    params: dict
    is_scores: list = field(default_factory=list)
    oos_scores: list = field(default_factory=list)
    oos_returns: list = field(default_factory=list)
    oos_times: list = field(default_factory=list)
    error: str | None = None
    pruned: bool = False
    artefacts: list = field(default_factory=list)

    @property
    def state(self) -> str:
        """``"failed"``, ``"pruned"`` or ``"complete"``."""
        return "failed" if self.error is not None else "pruned" if self.pruned else "complete"

    @property
    def score(self) -> tuple[float, ...]:
        """Mean out-of-sample score per objective over the folds run (``nan`` if none, or if a fold's is)."""
        if not self.oos_scores:
            return ()
        names = list(self.oos_scores[0])
        return tuple(float(np.mean([s[name] for s in self.oos_scores])) for name in names)


def run_config(spec: TrialSpec) -> RunConfig:
    """The :class:`RunConfig` of ``spec`` (its checks: engine, fill model, strategy name)."""
    unknown = set(spec.options) - set(OPTIONS)
    if unknown:
        raise ValueError(f"unknown trial option(s) {sorted(unknown)}; accepted: {', '.join(OPTIONS)}")
    return RunConfig(strategy=spec.strategy, params=tuple(spec.params.items()), symbols=tuple(spec.symbols),
                     timeframe=spec.timeframe, **spec.options)


def window(times, equity, t0: int, t1: int) -> tuple[np.ndarray, np.ndarray]:
    """The points of an equity curve (``times`` datetime64[ns] or int64 ns) in the window opening
    at ``t0`` and closing at ``t1`` (int ns): from the last point at or before ``t0`` (the first
    point if none is: the run's start) to the last point at or before ``t1``. Returns
    ``(int64 ns, equity)``."""
    t = np.asarray(times).astype("datetime64[ns]").astype(np.int64)
    lo = max(int(np.searchsorted(t, t0, "right")) - 1, 0)
    hi = int(np.searchsorted(t, t1, "right"))
    return t[lo:hi], np.asarray(equity, dtype=np.float64)[lo:hi]


def daily_return_times(times_ns: np.ndarray) -> np.ndarray:
    """The ends of the periods of :func:`backtestester.stats.daily_returns`: the last point of each
    UTC day but the first."""
    day = np.floor_divide(times_ns, _NS_PER_DAY)
    last_of_day = np.flatnonzero(np.append(day[1:] != day[:-1], True))
    return times_ns[last_of_day][1:]


def _score(value) -> float:
    if value is None:
        return math.nan
    if isinstance(value, timedelta):
        return value.total_seconds()
    return float(value)


def window_scores(times_ns, equity, round_trips, objective) -> dict:
    """``{name: value}`` of the window's statistics for each objective name."""
    t0, t1 = int(times_ns[0]), int(times_ns[-1])
    trips = [r for r in round_trips if t0 < to_ns(r.exit_time) <= t1]
    stats = compute_statistics(times_ns.astype("datetime64[ns]"), equity, trips).as_dict()
    return {name: _score(stats[name]) for name in objective}


@dataclass
class _Run:
    times: np.ndarray
    equity: np.ndarray
    round_trips: list


def _backtest(strategy, config: RunConfig, repos, lo: int, hi: int, cache) -> _Run:
    """One run of the fold's bars ``[lo, hi)`` (indices into the first repository)."""
    axis = repos[0].start_ns
    start = from_ns(int(axis[lo]))
    end = from_ns(int(axis[hi])) if hi < len(axis) else None
    options = run_options(config)
    if config.engine == "fast":
        run = run_fast(strategy, repos, balance=config.balance, start=start, end=end, bars_cache=cache, **options)
        bars_start = axis[lo:hi]
        trips = run.fast_result.round_trips(bars_start, repos[0].period_ns, symbol=repos[0].symbol)
        return _Run(run.equity_times, run.equity, trips)
    result = run_backtest(strategy, repos, balance=config.balance, start=start, end=end, **options)
    return _Run(result.equity_times, result.equity, result.round_trips)


def in_sample_tables(spec: TrialSpec, tables: dict, repos, fold: Fold) -> dict:
    """``{(symbol, timeframe): table}`` of the fold's training bars only: each table's rows that
    start in ``[start of bar train[0], start of bar train[1])`` of the first symbol's axis (zero-copy slices)."""
    axis = repos[0].start_ns
    t0, t1 = int(axis[fold.train[0]]), int(axis[fold.train[1]])
    out = {}
    for symbol, repo in zip(spec.symbols, repos):
        key = (symbol.upper(), spec.timeframe)
        lo, hi = (int(np.searchsorted(repo.start_ns, t, "left")) for t in (t0, t1))
        out[key] = tables[key].slice(lo, hi - lo)
    return out


def _save_artefact(artefact, directory, spec: TrialSpec, fold: Fold) -> dict:
    blob = pickle.dumps(artefact, protocol=pickle.HIGHEST_PROTOCOL)
    path = Path(directory) / f"trial-{spec.number}-fold-{fold.index}.pkl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(blob)
    return {"fold": fold.index, "path": str(path), "sha256": hashlib.sha256(blob).hexdigest()}


def _check_folds(spec: TrialSpec, n_bars: int) -> None:
    if not spec.folds:
        raise ValueError(f"trial {spec.number}: no folds to evaluate")
    for fold in spec.folds:
        if not isinstance(fold, Fold):
            raise ValueError(f"trial {spec.number}: folds must be training.folds.Fold, got {type(fold).__name__}")
        if fold.test[1] > n_bars:
            raise ValueError(f"fold {fold.index} reaches bar {fold.test[1]} but {spec.symbols[0]} {spec.timeframe} "
                             f"has {n_bars} bars")


def _evaluate_fold(spec, config, cls, tables, repos, fold, artefacts_dir, cache, outcome) -> None:
    """Fit (when the strategy learns), run and score one fold into ``outcome``."""
    strategy = cls(**spec.params)
    if defines_fit(cls):
        artefact = strategy.fit(in_sample_tables(spec, tables, repos, fold))
        if artefacts_dir is not None:
            outcome.artefacts.append(_save_artefact(artefact, artefacts_dir, spec, fold))
    run = _backtest(strategy, config, repos, fold.train[0], fold.test[1], cache)
    axis, closes = repos[0].start_ns, repos[0].available_ns
    scores = []
    for a, b in (fold.train, fold.test):
        t, e = window(run.times, run.equity, int(closes[a - 1] if a else axis[a]), int(closes[b - 1]))
        scores.append(window_scores(t, e, run.round_trips, spec.objective))
    outcome.is_scores.append(scores[0])
    outcome.oos_scores.append(scores[1])
    outcome.oos_returns.append(daily_returns(t, e))
    outcome.oos_times.append(daily_return_times(t))


def evaluate_trial(spec: TrialSpec, tables: dict, *, report=None, artefacts_dir=None,
                   cache: dict | None = None) -> TrialOutcome:
    """Evaluate ``spec`` on ``tables`` (``{(symbol, timeframe): pyarrow.Table}``), fold by fold.

    Per fold: a fresh strategy; :meth:`Strategy.fit` on the training bars when the strategy
    defines it (its result pickled into ``artefacts_dir`` when given); one backtest over
    ``[train start, test end)`` (indicators warm up on the training bars); in-sample and
    out-of-sample scores of the objectives on the two windows (module docstring). After each
    fold ``report(fold_index, first objective's out-of-sample value)`` is called; True prunes:
    the remaining folds are skipped and the outcome is marked pruned. A strategy that raises
    gives an outcome with ``error`` (its traceback), never an exception; bad specs (unknown
    options, objectives or data, folds beyond the data) raise ``ValueError``/``LookupError``."""
    config = run_config(spec)
    for name in spec.objective:
        objective_direction(name)
    repos = load_repositories(config, tables, cache)
    _check_folds(spec, len(repos[0]))
    cls = load_strategy(spec.strategy)
    outcome = TrialOutcome(spec.number, dict(spec.params))
    for fold in spec.folds:
        try:
            _evaluate_fold(spec, config, cls, tables, repos, fold, artefacts_dir, cache, outcome)
        except Exception:  # noqa: BLE001 - a failing trial is data: recorded, and the study goes on
            outcome.error = traceback.format_exc(limit=20)
            return outcome
        if report is not None and report(fold.index, outcome.oos_scores[-1][spec.objective[0]]):
            outcome.pruned = True
            break
    return outcome
