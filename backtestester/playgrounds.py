"""Playgrounds built from the data catalog, by the gateway's rules (D19): the one builder.

Used by the gateway's hosted playgrounds (:func:`simulator_playground`) and by strategies run
locally on the same data (:func:`catalog_playground`, :func:`run_on_catalog`), so a run through
the gateway (:func:`backtestester.remote.broker.run_on_gateway`) and its local twin start from
identical playgrounds. Sits above the engine, the data layer and the strategy runner.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta
from datetime import time as dtime
from zoneinfo import ZoneInfo

from .data.catalog import Catalog, DataNotFoundError
from .data.schema import TIMEFRAMES
from .engine import Playground, Repository
from .strategy.base import Strategy
from .strategy.runner import BacktestResult, run_on_playground
from .symbols import normalize_symbol

SIMULATOR_ZONE = ZoneInfo("America/New_York")
SIMULATOR_STOP = dtime(16, 0)  # the simulator's clock stops at 16:00 New York on the stop date (wire-v1)


def simulator_playground(data_dir, repositories, *, start_date: str, stop_date: str, balance: float,
                         calendar: str = "XNYS", **playground_options) -> Playground:
    """A playground over ``repositories`` — ``(symbol, timeframe, history_in_days)`` triples — with
    bars from ``start_date - history_in_days`` to the end of ``stop_date`` (resampled by the
    catalog when the timeframe is not stored) and the clock from the first session open on or after
    ``start_date`` to 16:00 New York on ``stop_date``. Raises :class:`DataNotFoundError` naming a
    missing symbol, timeframe or range (D18), ``ValueError`` for bad input, and the engine's
    ``PlaygroundError`` for a bad playground."""
    start, stop = date.fromisoformat(start_date), date.fromisoformat(stop_date)
    catalog = Catalog(data_dir)
    repos = []
    for symbol, timeframe, history_in_days in repositories:
        first = start - timedelta(days=history_in_days)
        table = catalog.load(symbol, timeframe, first.isoformat(), (stop + timedelta(days=1)).isoformat(),
                             calendar=calendar)
        if table.num_rows == 0:
            raise DataNotFoundError(f"no {timeframe} bars of {symbol} in the data catalog between {first} and {stop}")
        repos.append(Repository.from_table(symbol, TIMEFRAMES[timeframe], table))
    end = datetime.combine(stop, SIMULATOR_STOP, SIMULATOR_ZONE)
    return Playground(balance=balance, start=start, end=end, repositories=repos, calendar=calendar,
                      **playground_options)


def repository_specs(repositories) -> list[tuple[str, str]]:
    """``(symbol, timeframe)`` pairs (a bare symbol means ``"1m"``), validated and normalised."""
    out = []
    for r in repositories:
        symbol, timeframe = (r, "1m") if isinstance(r, str) else r
        if timeframe not in TIMEFRAMES:
            raise ValueError(f"unsupported timeframe {timeframe!r}: accepted: {', '.join(TIMEFRAMES)}")
        out.append((normalize_symbol(symbol), timeframe))
    if not out:
        raise ValueError("give at least one (symbol, timeframe) repository")
    return out


def default_step(specs) -> int:
    """Seconds of the smallest timeframe of ``(symbol, timeframe)`` pairs: a run's default tick."""
    return min(int(TIMEFRAMES[tf].total_seconds()) for _, tf in specs)


def catalog_playground(data_dir, repositories, *, start_date: str, stop_date: str, balance: float = 100_000.0,
                       history_in_days: int = 0, calendar: str = "XNYS", **playground_options) -> Playground:
    """A local playground built from the catalog at ``data_dir`` exactly as the gateway builds a
    simulator playground (:func:`simulator_playground`): bars from ``start_date -
    history_in_days`` to the end of ``stop_date`` (resampled by the catalog when not stored), the
    clock from the first session open on/after ``start_date`` to 16:00 New York on ``stop_date``,
    the engine's default options (fill model ``close``, no costs) unless ``playground_options``
    (``fill_model=``, ``commission=``...) say otherwise; then the run no longer matches the gateway's."""
    specs = [(symbol, timeframe, history_in_days) for symbol, timeframe in repository_specs(repositories)]
    return simulator_playground(data_dir, specs, start_date=start_date, stop_date=stop_date, balance=balance,
                                calendar=calendar, **playground_options)


def run_on_catalog(strategy: Strategy, data_dir, repositories, *, start_date: str, stop_date: str,
                   balance: float = 100_000.0, history_in_days: int = 0, step: int | None = None,
                   periods_per_year: float = 252, progress=None, strict: bool = False,
                   **playground_options) -> BacktestResult:
    """:func:`~backtestester.remote.broker.run_on_gateway`'s local twin: the same run on
    :func:`catalog_playground` (with ``playground_options`` passed to it). As every strategy
    runner, it enforces the strategy's ``sl``/``tp`` (which the gateway refuses, its v1 wire
    cannot ask for it) and delivers refused placements as rejections (``strict=True`` raises)."""
    if not isinstance(strategy, Strategy):
        raise TypeError(f"strategy must be a Strategy instance, got {type(strategy).__name__}")
    pg = catalog_playground(data_dir, repositories, start_date=start_date, stop_date=stop_date, balance=balance,
                            history_in_days=history_in_days, **playground_options)
    return run_on_playground(strategy, pg, step or default_step(repository_specs(repositories)),
                             periods_per_year=periods_per_year, progress=progress, strict=strict)
