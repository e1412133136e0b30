"""Score one trial (a parameter set) out of sample: :func:`evaluate_trial` runs one backtest per
fold over ``[train start, test end)`` with the sweep's run machinery (the event-driven engine, or
the fast path for a strategy with ``signals`` when ``engine="fast"``), and scores the in-sample
part on the training window's equity and the out-of-sample part on the test window's. A strategy
that learns (:meth:`~backtestester.strategy.Strategy.fit`) is fitted first on the training
window's bars only, then runs frozen. A fold's run reads the fold's bars only
(:func:`fold_repositories`): indicators warm up on the training bars, never on earlier ones, so
both engines see the same bars.

A fold is a walk-forward :class:`~.folds.Fold` or a :class:`~.folds.CPCVSplit` (several training
and test ranges, training possibly after a test: a diagnostic). Either way one backtest runs over
the fold's whole span, ``fit`` sees its training ranges only, and each side's windows are
chained into one curve (:func:`stitched`).

Windows of the equity curve (:func:`window`): a window of bars ``[a, b)`` is the curve's points
from the last one at or before bar ``a - 1`` becomes available (its close: the equity when the
window opens; the run's first point for ``a = 0``) to the last one at or before bar ``b - 1``
becomes available. The purged bars between the two windows count to neither. (On a calendar
with closed hours the engine ticks at a session's open before its first bar closes: opening the
window at the previous close keeps that day's first return in the window, as on the fast path.)
Statistics of a window are :func:`backtestester.stats.compute_statistics` of its points (trade
statistics of the round trips closed inside it; no benchmark, no exposure).
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
import pyarrow as pa

from ..engine import Repository
from ..engine.timeutil import to_ns
from ..stats import compute_statistics, daily_returns, statistic_names
from ..strategy import load_strategy, run_backtest
from ..strategy.base import defines_fit
from ..sweep.config import RunConfig
from ..sweep.execute import load_repositories, run_fast, run_options
from .folds import CPCVSplit, Fold, cpcv_paths, group_ranges

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
    text when the strategy raised (a failed trial; nothing raised). ``pruned``: ``report`` asked
    to stop (``state`` sums them up: complete, pruned or failed). ``artefacts``: per fitted fold,
    ``{"fold", "path", "sha256", "train", "test"}`` of the pickled :meth:`Strategy.fit` result
    (the bar ranges it was fitted on and is scored on)."""

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
        """``"failed"`` (``error`` set), ``"pruned"`` or ``"complete"``."""
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


@dataclass
class _Run:
    times: np.ndarray
    equity: np.ndarray
    round_trips: list


def rows_of(repo, axis, a: int, b: int) -> tuple[int, int]:
    """``repo``'s rows ``[lo, hi)`` whose bars start in ``[axis[a], axis[b])`` (to its end when ``b``
    is the axis' length): bars ``[a, b)`` of the study's axis, in any symbol's repository."""
    lo = int(np.searchsorted(repo.start_ns, axis[a], "left"))
    hi = int(np.searchsorted(repo.start_ns, axis[b], "left")) if b < len(axis) else len(repo)
    return lo, hi


def fold_repositories(config: RunConfig, tables: dict, repos, lo: int, hi: int, cache: dict | None) -> list:
    """Repositories of each symbol's bars that start in ``[start of bar lo, start of bar hi)`` of
    the first symbol's axis (zero-copy slices of ``tables``; ``cache`` keeps them for the next
    trials): a fold's run reads no bar before its training window nor after its test window."""
    out = []
    for symbol, repo in zip(config.symbols, repos):
        a, b = rows_of(repo, repos[0].start_ns, lo, hi)
        key = ("training-bars", symbol, config.timeframe, a, b)
        sliced = cache.get(key) if cache is not None else None
        if sliced is None:
            sliced = Repository.from_table(symbol, repo.period, tables[(symbol, config.timeframe)].slice(a, b - a))
            if cache is not None:
                cache[key] = sliced
        out.append(sliced)
    return out


def _backtest(strategy, config: RunConfig, repos, cache: dict | None) -> _Run:
    """One run over all the bars of ``repos`` (a fold's: :func:`fold_repositories`); ``cache``
    keeps the fast path's bars and the indicators they memoise for the next trials."""
    options = run_options(config)
    if config.engine == "fast":
        run = run_fast(strategy, repos, balance=config.balance, bars_cache=cache, **options)
        trips = run.fast_result.round_trips(repos[0].start_ns, repos[0].period_ns, symbol=repos[0].symbol)
        return _Run(run.equity_times, run.equity, trips)
    result = run_backtest(strategy, repos, balance=config.balance, **options)
    return _Run(result.equity_times, result.equity, result.round_trips)


def fold_ranges(fold) -> tuple[tuple, tuple]:
    """``(train ranges, test ranges)`` of a walk-forward :class:`Fold` (one each) or a
    :class:`~.folds.CPCVSplit` (several)."""
    if isinstance(fold, Fold):
        return (fold.train,), (fold.test,)
    if isinstance(fold, CPCVSplit):
        return fold.train, fold.test
    raise ValueError(f"folds must be training.folds.Fold or CPCVSplit, got {type(fold).__name__}")


def in_sample_tables(spec: TrialSpec, tables: dict, repos, train_ranges) -> dict:
    """``{(symbol, timeframe): table}`` of the training bars only: for each range ``[a, b)`` of
    the first symbol's axis, each table's rows that start from bar ``a``'s start to before bar
    ``b``'s (zero-copy slices; several ranges concatenated in order)."""
    out = {}
    for symbol, repo in zip(spec.symbols, repos):
        key = (symbol.upper(), spec.timeframe)
        parts = []
        for a, b in train_ranges:
            lo, hi = rows_of(repo, repos[0].start_ns, a, b)
            parts.append(tables[key].slice(lo, hi - lo))
        out[key] = parts[0] if len(parts) == 1 else pa.concat_tables(parts)
    return out


def _save_artefact(artefact, directory, spec: TrialSpec, fold) -> dict:
    blob = pickle.dumps(artefact, protocol=pickle.HIGHEST_PROTOCOL)
    path = Path(directory) / f"trial-{spec.number}-fold-{fold.index}.pkl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(blob)
    train, test = fold_ranges(fold)
    return {"fold": fold.index, "path": str(path), "sha256": hashlib.sha256(blob).hexdigest(),
            "train": [list(r) for r in train], "test": [list(r) for r in test]}


def _check_folds(spec: TrialSpec, n_bars: int) -> None:
    if not spec.folds:
        raise ValueError(f"trial {spec.number}: no folds to evaluate")
    for fold in spec.folds:
        train, test = fold_ranges(fold)
        end = max(b for _, b in (*train, *test))
        if end > n_bars:
            raise ValueError(f"fold {fold.index} reaches bar {end} but {spec.symbols[0]} {spec.timeframe} "
                             f"has {n_bars} bars")


def stitched(run, ranges, opens, closes) -> tuple[np.ndarray, np.ndarray, list]:
    """The windows of ``run``'s curve for the bar ``ranges`` (:func:`window`, opening at
    ``opens[a]`` and closing at ``closes[b - 1]``), chained into one curve: each later window
    continues from the previous one's last value, its own opening point left out (the bars
    between windows count to neither). Returns ``(int64 ns, equity, round trips closed inside)``."""
    times, values, trips = [], [], []
    for a, b in ranges:
        t, e = window(run.times, run.equity, int(opens[a]), int(closes[b - 1]))
        trips += [r for r in run.round_trips if t[0] < to_ns(r.exit_time) <= t[-1]]
        if times:
            t, e = t[1:], values[-1][-1] * e[1:] / e[0]
        times.append(t)
        values.append(e)
    return np.concatenate(times), np.concatenate(values), trips


def _evaluate_fold(spec, config, cls, tables, repos, fold, artefacts_dir, cache, outcome) -> None:
    """Fit (when the strategy learns), run and score one fold into ``outcome``."""
    train, test = fold_ranges(fold)
    strategy = cls(**spec.params)
    if defines_fit(cls):
        artefact = strategy.fit(in_sample_tables(spec, tables, repos, train))
        if artefacts_dir is not None:
            outcome.artefacts.append(_save_artefact(artefact, artefacts_dir, spec, fold))
    bounds = [x for r in (*train, *test) for x in r]
    run = _backtest(strategy, config, fold_repositories(config, tables, repos, min(bounds), max(bounds), cache), cache)
    closes = repos[0].available_ns
    opens = _Opens(repos[0].start_ns, closes)
    scores = []
    for ranges in (train, test):
        t, e, trips = stitched(run, ranges, opens, closes)
        stats = compute_statistics(t.astype("datetime64[ns]"), e, trips).as_dict()
        scores.append({name: _score(stats[name]) for name in spec.objective})
    outcome.is_scores.append(scores[0])
    outcome.oos_scores.append(scores[1])
    outcome.oos_returns.append(daily_returns(t, e))
    outcome.oos_times.append(daily_return_times(t))


class _Opens:
    """``opens[a]``: when a window starting at bar ``a`` opens: bar ``a - 1``'s close (bar 0's start for ``a = 0``)."""

    def __init__(self, starts, closes):
        self.starts, self.closes = starts, closes

    def __getitem__(self, a: int) -> int:
        return int(self.closes[a - 1] if a else self.starts[0])


def evaluate_trial(spec: TrialSpec, tables: dict, *, report=None, artefacts_dir=None,
                   cache: dict | None = None) -> TrialOutcome:
    """Evaluate ``spec`` on ``tables`` (``{(symbol, timeframe): pyarrow.Table}``), fold by fold.

    Per fold (a :class:`Fold` or a :class:`CPCVSplit`): a fresh strategy; :meth:`Strategy.fit`
    on the training bars when the strategy defines it (its result pickled into ``artefacts_dir``
    when given); one backtest over ``[train start, test end)`` (the whole span of a CPCV split;
    indicators warm up on the training bars); in-sample and
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


def cpcv_path_returns(outcome: TrialOutcome, splits: list, bar_starts, period_ns: int) -> list:
    """The out-of-sample paths of a trial evaluated on CPCV ``splits`` (:func:`~.folds.cpcv_paths`):
    per path ``(times, returns)``, for each group in turn the daily returns (and their ends,
    int64 ns) that the split chosen for it recorded within the group's span (from the close of
    the bar before it to the close of its last bar). ``bar_starts``/``period_ns``: the study's
    axis (the first symbol's bar starts). Daily returns are of UTC days, so a day cut by a group
    boundary comes as two partial returns (one per side) or, when the later group's split did
    not test the earlier one, loses its part before the boundary."""
    starts = np.asarray(bar_starts, dtype=np.int64)
    n_bars = max(b for a, b in (*splits[0].train, *splits[0].test))
    groups = 1 + max(g for s in splits for g in s.test_groups)
    if len(outcome.oos_returns) != len(splits):
        raise ValueError(f"trial {outcome.number} has {len(outcome.oos_returns)} evaluated splits of {len(splits)}")
    spans = [(int(starts[a - 1] + period_ns) if a else int(starts[0]) - 1, int(starts[b - 1] + period_ns))
             for a, b in group_ranges(n_bars, groups)]
    out = []
    for path in cpcv_paths(groups, len(splits[0].test_groups)):
        times, returns = [], []
        for g, s in path:
            t = np.asarray(outcome.oos_times[s], dtype=np.int64)
            keep = (t > spans[g][0]) & (t <= spans[g][1])
            times.append(t[keep])
            returns.append(np.asarray(outcome.oos_returns[s])[keep])
        out.append((np.concatenate(times), np.concatenate(returns)))
    return out
