"""Simulator playgrounds built from the data catalog, by the gateway's rules (D19).

Used by the gateway's hosted playgrounds and by strategies run locally on the same data, so a
run through the gateway and its local twin start from identical playgrounds.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta
from datetime import time as dtime
from zoneinfo import ZoneInfo

from ..engine import Playground, Repository
from .catalog import Catalog, DataNotFoundError
from .schema import TIMEFRAMES

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
