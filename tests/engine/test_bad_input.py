"""Bad playground configuration gets a clear error naming the problem and what is accepted."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from backtestester.engine import Commission, Playground, PlaygroundError, Repository, Slippage

from ..conftest import MINUTE, T0, minute_candles


def make(**overrides):
    args = dict(balance=1000, start=T0, end=T0 + 10 * MINUTE,
                repositories=[Repository("AAPL", MINUTE, minute_candles([100, 101]))])
    args.update(overrides)
    return Playground(**args)


@pytest.mark.parametrize("overrides,message", [
    (dict(balance=-1), "balance must be a finite number >= 0"),
    (dict(balance=float("nan")), "balance must be a finite number >= 0"),
    (dict(balance="1000"), "balance must be a finite number >= 0"),
    (dict(fill_model="open"), "fill_model must be one of ('close', 'next_open')"),
    (dict(margin_basis="value"), "margin_basis must be one of ('cost', 'market')"),
    (dict(calendar="NOPE"), "unknown calendar 'NOPE'"),
    (dict(calendar=5), "calendar must be an exchange code"),
    (dict(start=datetime(2024, 1, 2)), "start must be timezone-aware"),
    (dict(end=T0), "end (2024-01-02T14:30:00+00:00) must be after start"),
    (dict(end="tomorrow"), "end must be a timezone-aware datetime"),
    (dict(repositories=[]), "missing repositories"),
    (dict(repositories=["AAPL"]), "repositories must be Repository objects"),
    (dict(commission=0.001), "commission must be None or a Commission(...)"),
    (dict(slippage=0.01), "slippage must be None or a Slippage(...)"),
])
def test_bad_playground_arguments(overrides, message):
    with pytest.raises(ValueError) as info:
        make(**overrides)
    assert message in str(info.value)
    assert isinstance(info.value, PlaygroundError)


@pytest.mark.parametrize("factory,message", [
    (lambda: Commission(rate=-0.1), "Commission.rate must be a finite number >= 0"),
    (lambda: Slippage(per_share=float("inf")), "Slippage.per_share must be a finite number >= 0"),
])
def test_bad_cost_models(factory, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        factory()


@pytest.mark.parametrize("seconds", [-1, float("nan"), "60", True])
def test_bad_tick_step(seconds):
    with pytest.raises(ValueError, match="tick seconds must be a number >= 0"):
        make().tick(seconds)


def test_bad_repository_period():
    with pytest.raises(ValueError, match="period must be positive"):
        Repository("AAPL", timedelta(0), [])
    with pytest.raises(TypeError, match="period must be a datetime.timedelta"):
        Repository("AAPL", 60, [])


def test_bad_symbol():
    with pytest.raises(ValueError, match="symbol must be a non-empty string"):
        Repository(" ", MINUTE, [])


def test_from_table_names_missing_columns():
    import pyarrow as pa

    with pytest.raises(ValueError, match=r"table is missing columns \['close', 'high'\]"):
        Repository.from_table("AAPL", MINUTE, pa.table({"start": [T0], "open": [1.0], "low": [1.0]}))
