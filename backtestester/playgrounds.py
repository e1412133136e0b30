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

import numpy as np

from .calendars import load_sessions
from .data.catalog import Catalog, DataNotFoundError
from .data.schema import TIMEFRAMES
from .engine import Playground, Repository
from .strategy.base import Strategy
from .strategy.runner import BacktestResult, run_on_playground
from .symbols import normalize_symbol

SIMULATOR_CALENDAR = "XNYS"  # the gateway's simulator playgrounds trade XNYS sessions
SIMULATOR_ZONE = ZoneInfo("America/New_York")
SIMULATOR_STOP = dtime(16, 0)  # the simulator's clock stops at 16:00 New York on the stop date (wire-v1)


def session_available_ns(start_ns, period_ns: int, calendar: str | None) -> np.ndarray:
    """When each bar starting at ``start_ns`` (UTC ns) is complete: at ``start + period`` (D2), or at
    the close of the last session that opens before then, if that comes first and after the start.

    A daily bar stamped at the 09:30 open is complete at the 16:00 close (13:00 on an early close),
    not at the next morning's 09:30; a weekly bar at Friday's close; the XNYS 4h bar 13:30-16:00 at
    16:00. Intraday bars inside a session keep ``start + period``. So the bars of the stop date are
    available by 16:00 New York, when the simulator's clock stops (wire-v1), and the last bar of a
    requested range is seen. ``calendar=None``: ``start + period``."""
    start_ns = np.asarray(start_ns, dtype=np.int64)
    end = start_ns + period_ns
    if calendar is None or len(start_ns) == 0:
        return end
    first, last = (int(np.datetime64(int(t), "ns").astype("datetime64[Y]").astype(np.int64)) + 1970
                   for t in (start_ns[0], end[-1]))
    sessions = load_sessions(calendar, first - 1, last + 1)
    i = np.searchsorted(sessions.opens, end, side="left") - 1  # the last session opening before the bar ends
    close = np.where(i >= 0, sessions.closes[np.maximum(i, 0)], end)
    available = np.where(close > start_ns, np.minimum(end, close), end)
    return np.maximum.accumulate(available)  # never decreasing (the engine's rule), whatever the stamps


def catalog_repository(symbol: str, timeframe: str, table, calendar: str | None) -> Repository:
    """A repository of catalog bars whose availability follows :func:`session_available_ns`."""
    repo = Repository.from_table(symbol, TIMEFRAMES[timeframe], table)
    available = session_available_ns(repo.start_ns, repo.period_ns, calendar)
    if np.array_equal(available, repo.available_ns):
        return repo
    return Repository.from_arrays(symbol, repo.period, repo.start_ns, repo.open, repo.high, repo.low, repo.close,
                                  repo.volume, available_ns=available)


def simulator_playground(data_dir, repositories, *, start_date: str, stop_date: str, balance: float,
                         calendar: str = "XNYS", **playground_options) -> Playground:
    """A playground over ``repositories`` — ``(symbol, timeframe, history_in_days)`` triples — with
    bars from ``start_date - history_in_days`` to the end of ``stop_date`` (resampled by the
    catalog when the timeframe is not stored) and the clock from the first session open on or after
    ``start_date`` to 16:00 New York on ``stop_date``; a bar is available when it is complete
    (:func:`session_available_ns`: a daily bar at its session's close), so the bars of
    ``stop_date`` are seen before the clock stops. Raises :class:`DataNotFoundError` naming a
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
        repos.append(catalog_repository(symbol, timeframe, table, calendar))
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
