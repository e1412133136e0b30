"""A run raises the collector's young-generation threshold for its duration and restores it."""
from __future__ import annotations

import gc
from datetime import timedelta

import numpy as np
import pytest

from backtestester.engine import Repository
from backtestester.strategy import Strategy, run_backtest
from backtestester.strategy.collector import RUN_THRESHOLD, fewer_collections


class Watch(Strategy):
    """Records the collector's thresholds seen in on_candle."""

    def on_start(self, ctx):
        self.seen = set()

    def on_candle(self, ctx, bar):
        self.seen.add(gc.get_threshold())


def _repo(n=50):
    start = np.arange(n, dtype=np.int64) * 60_000_000_000 + 1_700_000_000_000_000_000
    close = np.linspace(100.0, 110.0, n)
    return Repository.from_arrays("X", timedelta(minutes=1), start, close, close, close, close, np.ones(n))


@pytest.fixture
def thresholds():
    saved = gc.get_threshold()
    yield saved
    gc.set_threshold(*saved)


def test_a_run_raises_the_young_threshold_and_restores_the_callers(thresholds):
    gc.set_threshold(700, 11, 12)
    strategy = Watch()
    run_backtest(strategy, [_repo()])
    assert strategy.seen == {(RUN_THRESHOLD, 11, 12)}
    assert gc.get_threshold() == (700, 11, 12)


def test_collection_turned_off_or_a_higher_threshold_is_left_alone(thresholds):
    for setting in ((0, 10, 10), (RUN_THRESHOLD * 2, 10, 10)):
        gc.set_threshold(*setting)
        strategy = Watch()
        run_backtest(strategy, [_repo()])
        assert strategy.seen == {setting} and gc.get_threshold() == setting


def test_nested_blocks_restore_once_at_the_end_and_a_change_made_meanwhile_is_kept(thresholds):
    gc.set_threshold(700, 10, 10)
    with fewer_collections():
        with fewer_collections():
            assert gc.get_threshold() == (RUN_THRESHOLD, 10, 10)
        assert gc.get_threshold() == (RUN_THRESHOLD, 10, 10)
    assert gc.get_threshold() == (700, 10, 10)
    with fewer_collections():
        gc.set_threshold(1000, 10, 10)  # the caller's own change during the block wins
    assert gc.get_threshold() == (1000, 10, 10)
