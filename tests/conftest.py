"""Shared helpers: small candle series on a 24/7 clock."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from backtestester.engine import Candle, Playground, Repository

T0 = datetime(2024, 1, 2, 14, 30, tzinfo=timezone.utc)
MINUTE = timedelta(minutes=1)


def minute_candles(prices, start=T0, period=MINUTE):
    """Candles from prices: a number p gives open=high=low=close=p; a tuple gives (o, h, l, c)."""
    out = []
    for i, p in enumerate(prices):
        o, h, l, c = (p, p, p, p) if isinstance(p, (int, float)) else p
        out.append(Candle(start + i * period, o, h, l, c, 1000.0))
    return out


def minute_repository(prices, symbol="AAPL", start=T0, period=MINUTE):
    """A repository of :func:`minute_candles`."""
    return Repository(symbol, period, minute_candles(prices, start, period))


def make_playground(series: dict, balance=100_000.0, period=MINUTE, start=T0, end=None, **options):
    """A 24/7 playground over {symbol: prices}; the clock starts at ``start``."""
    repos = [minute_repository(prices, sym, start, period) for sym, prices in series.items()]
    n = max(len(p) for p in series.values())
    end = end or start + (n + 1) * period
    return Playground(balance=balance, start=start, end=end, repositories=repos, **options)


@pytest.fixture
def pg_factory():
    return make_playground


@pytest.fixture(scope="session")
def ray_cluster():
    """One embedded Ray cluster (2 CPUs) for every test that needs one; stopped at the end."""
    from actors.cluster import init_ray

    ray = init_ray(num_cpus=2)
    yield ray
    ray.shutdown()
