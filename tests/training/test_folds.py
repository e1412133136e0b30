"""Fold generators: walk-forward (anchored, rolling), CPCV, the holdout and its lockbox.

The boundary rule every generator keeps (docs/training/validation.md): for a train bar ``t`` and
a test bar ``s`` of the same fold, ``t < s`` implies ``s - t > purge`` and ``t > s`` implies
``t - s > embargo``; train and test never share a bar."""
from __future__ import annotations

import json
import logging
import warnings
from math import comb

import pytest

from backtestester.training.folds import Fold, Lockbox, cpcv, cpcv_paths, split_holdout, walk_forward


def bars(ranges):
    return {i for a, b in ranges for i in range(a, b)}


def assert_separated(train: set, test: set, purge: int, embargo: int):
    assert not train & test
    for t in train:
        for s in test:
            if t < s:
                assert s - t > purge, (t, s)
            else:
                assert t - s > embargo, (t, s)


@pytest.mark.parametrize("scheme", ["anchored", "rolling"])
@pytest.mark.parametrize("purge", [0, 1, 7])
def test_walk_forward_purge_boundary_is_exact(scheme, purge):
    folds = walk_forward(200, folds=4, scheme=scheme, purge=purge)
    assert [f.index for f in folds] == [0, 1, 2, 3]
    for f in folds:
        assert f.test[0] - f.train[1] == purge          # exactly `purge` bars dropped, no more
        assert_separated(bars([f.train]), bars([f.test]), purge, 0)
        # the last train bar is purge + 1 bars before the first test bar: the closest allowed
        assert f.test[0] - (f.train[1] - 1) == purge + 1


def test_walk_forward_anchored_expands_and_rolling_slides():
    anchored = walk_forward(120, folds=3, scheme="anchored", train_bars=30, test_bars=30, purge=0)
    assert [(f.train, f.test) for f in anchored] == [((0, 30), (30, 60)), ((0, 60), (60, 90)), ((0, 90), (90, 120))]
    rolling = walk_forward(120, folds=3, scheme="rolling", train_bars=30, test_bars=30, purge=0)
    assert [(f.train, f.test) for f in rolling] == [((0, 30), (30, 60)), ((30, 60), (60, 90)), ((60, 90), (90, 120))]


def test_walk_forward_tests_tile_the_end_of_the_data():
    """Consecutive test windows touch (one stitched out-of-sample path) and the last ends at n_bars;
    leftover bars go to the first training window."""
    for scheme in ("anchored", "rolling"):
        folds = walk_forward(1003, folds=5, scheme=scheme, purge=3, test_bars=100)
        assert folds[-1].test[1] == 1003
        assert all(a.test[1] == b.test[0] for a, b in zip(folds, folds[1:]))
        assert all(f.test[1] - f.test[0] == 100 for f in folds)
        assert folds[0].train == (0, 1003 - 500 - 3)


def test_walk_forward_defaults_split_evenly():
    folds = walk_forward(600, folds=5, purge=0)
    assert [f.test for f in folds] == [(100, 200), (200, 300), (300, 400), (400, 500), (500, 600)]
    assert folds[0].train == (0, 100) and folds[-1].train == (0, 500)
    rolling = walk_forward(600, folds=5, scheme="rolling", train_bars=200)
    assert all(f.train[1] - f.train[0] == 200 for f in rolling)
    assert [f.test for f in rolling] == [(200, 280), (280, 360), (360, 440), (440, 520), (520, 600)]


def test_walk_forward_embargo_removes_nothing_since_no_training_follows_a_test():
    assert walk_forward(300, folds=3, purge=2, embargo=10) == walk_forward(300, folds=3, purge=2)


@pytest.mark.parametrize("kwargs, words", [
    ({"folds": 0}, "folds"),
    ({"scheme": "expanding"}, "anchored"),
    ({"purge": -1}, "purge"),
    ({"embargo": -2}, "embargo"),
    ({"train_bars": 90, "test_bars": 30}, "do not fit"),
    ({"folds": 200}, "too few bars"),
])
def test_walk_forward_bad_input_names_the_problem(kwargs, words):
    with pytest.raises(ValueError, match=words):
        walk_forward(100, **kwargs)


def test_cpcv_counts_follow_afml():
    splits = cpcv(60, groups=6, test_groups=2)
    assert len(splits) == comb(6, 2) == 15
    paths = cpcv_paths(6, 2)
    assert len(paths) == comb(5, 1) == 5
    # every path covers every group once, each from a split that tests that group
    for path in paths:
        assert [g for g, _ in path] == list(range(6))
        for g, s in path:
            assert g in splits[s].test_groups
    assert len(cpcv(100, groups=10, test_groups=8)) == 45 and len(cpcv_paths(10, 8)) == 36


@pytest.mark.parametrize("purge, embargo", [(0, 0), (2, 0), (0, 3), (4, 5)])
def test_cpcv_purge_and_embargo_boundaries_are_exact(purge, embargo):
    n = 60
    for split in cpcv(n, groups=6, test_groups=2, purge=purge, embargo=embargo):
        train, test = bars(split.train), bars(split.test)
        assert_separated(train, test, purge, embargo)
        # and nothing more is dropped than the rule requires: every excluded bar is too close to a test bar
        for t in set(range(n)) - train - test:
            assert any(0 < s - t <= purge or 0 < t - s <= embargo for s in test), t


def test_cpcv_embargo_removes_bars_after_each_test_group_that_training_follows():
    """mlfinlab's example at bar scale: 100 bars, embargo 5 after each test group training follows."""
    split = cpcv(100, groups=10, test_groups=2, embargo=5)[1]   # groups 0 and 2 tested
    assert split.test == ((0, 10), (20, 30))
    assert split.train == ((15, 20), (35, 100))


def test_split_holdout_keeps_the_most_recent_bars():
    assert split_holdout(1000, 0.2) == (800, (800, 1000))
    assert split_holdout(1000, 0.2, purge=5) == (795, (800, 1000))
    for bad in (0.0, 1.0, -0.1):
        with pytest.raises(ValueError, match="fraction"):
            split_holdout(1000, bad)
    with pytest.raises(ValueError, match="bars"):
        split_holdout(3, 0.1)


def test_lockbox_opens_once_and_a_second_open_warns_loudly(tmp_path, caplog):
    clock = iter([1_700_000_000_000_000_000, 1_700_000_100_000_000_000])
    box = Lockbox(tmp_path, (800, 1000), now=lambda: next(clock))
    assert not box.opened
    with warnings.catch_warnings():
        warnings.simplefilter("error")             # the first open is silent
        assert box.open() == range(800, 1000)
    record = json.loads((tmp_path / "lockbox.json").read_text())
    assert record["holdout"] == [800, 1000] and len(record["opens"]) == 1
    again = Lockbox(tmp_path, (800, 1000), now=lambda: next(clock))   # a new process: the file remembers
    assert again.opened
    with caplog.at_level(logging.WARNING), pytest.warns(UserWarning, match="2023-11-14T22:13:20") as caught:
        assert again.open() == range(800, 1000)      # still returns the range
    assert "already opened" in str(caught[0].message)
    assert any("already opened" in r.getMessage() and "2023-11-14T22:13:20" in r.getMessage() for r in caplog.records)
    assert len(json.loads((tmp_path / "lockbox.json").read_text())["opens"]) == 2


def test_lockbox_refuses_a_different_holdout_for_the_same_study(tmp_path):
    Lockbox(tmp_path, (800, 1000), now=lambda: 0).open()
    with pytest.raises(ValueError, match="800, 1000"):
        Lockbox(tmp_path, (700, 1000), now=lambda: 0)


def test_fold_is_plain_frozen_data():
    f = Fold(0, (0, 10), (12, 20))
    with pytest.raises(AttributeError):
        f.index = 1  # type: ignore[misc]
    with pytest.raises(ValueError, match="test"):
        Fold(0, (0, 10), (5, 20))
