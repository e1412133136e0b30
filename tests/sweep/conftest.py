"""Fixtures of the sweep tests: generated bars in memory and in a data catalog."""
from __future__ import annotations

import pytest

from backtestester.data.catalog import Catalog
from backtestester.data.synthetic import generate_bars


@pytest.fixture(scope="module")
def tables():
    """``{(symbol, timeframe): table}`` of 20,000 generated one-minute bars, as sweeps take them."""
    return {("SYNTH", "1m"): generate_bars("SYNTH", timeframe="1m", n_bars=20_000, seed=5)}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """A data catalog holding 30,000 generated one-minute bars of SYNTH."""
    path = tmp_path_factory.mktemp("catalog")
    Catalog(path).write("SYNTH", "1m", generate_bars("SYNTH", timeframe="1m", n_bars=30_000, seed=2))
    return path
