"""How a sweep's configs are cut into batches and shared between workers (pure: no Ray)."""
from __future__ import annotations

import math

import pytest

from backtestester.sweep.scheduling import WorkQueues, plan_batches


def test_batches_shrink_towards_the_end_and_cover_the_sweep_in_order():
    items = list(range(100))
    for workers in (1, 2, 3):
        for smallest in (1, 4):
            batches = plan_batches(items, workers, smallest=smallest)
            assert [x for b in batches for x in b] == items
            sizes = [len(b) for b in batches]
            assert sizes == sorted(sizes, reverse=True)
            assert all(size >= smallest for size in sizes[:-1])
            assert sizes[0] == math.ceil(100 / (4 * workers))
    assert plan_batches([], 2) == []


def test_each_worker_draws_its_own_share_in_order_then_steals_the_smallest_batches():
    queues = WorkQueues(list(range(100)), 2, smallest=4)
    first = [queues.take(0)[0] for _ in range(3)]
    assert [x for b in first for x in b] == list(range(len(sum(first, []))))  # worker 0: its share, in order
    assert queues.take(1)[0][0] == 50  # worker 1 starts its own share
    taken = sum(first, []) + list(range(50, 50 + 13))
    batches = []
    while (work := queues.take(0)) is not None:  # worker 0 drains its share, then steals
        batches.append(work[0])
    taken += sum(batches, [])
    assert sorted(taken) == list(range(100))  # every config exactly once
    stolen = [b for b in batches if b[0] >= 50]
    assert stolen[0][-1] == 99  # from the tail of worker 1's queue: its smallest batches first
    assert [len(b) for b in stolen] == sorted(len(b) for b in stolen)

    retried = WorkQueues(["a", "b", "c"], 3, batch_size=1)
    batch, tries = retried.take(2)
    retried.retry(2, batch, tries + 1)
    assert retried.take(2) == (["c"], 1) and len(retried) == 2
    with pytest.raises(ValueError, match="at least one worker"):
        WorkQueues([1], 0)
