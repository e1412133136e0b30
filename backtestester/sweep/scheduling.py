"""How a sweep's configs reach its workers: batches that shrink towards the end, and one queue
per worker over a contiguous share of the configs, with work stealing."""
from __future__ import annotations

import math
from collections import deque


def fixed_batches(items: list, size: int) -> list[list]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def plan_batches(items: list, workers: int, *, smallest: int = 1) -> list[list]:
    """Batches of decreasing size (guided scheduling): each takes a quarter of what is left per
    worker, never fewer than ``smallest``. Early batches are big (few calls), the last ones small,
    so the workers run out of work at about the same time: with equal batches the sweep waits at
    the end for whichever worker drew the last full one."""
    out, i = [], 0
    while i < len(items):
        size = max(smallest, math.ceil((len(items) - i) / (workers * 4)))
        out.append(items[i:i + size])
        i += size
    return out


class WorkQueues:
    """One queue of batches per worker, each over a contiguous share of ``items`` in their
    order, cut by :func:`plan_batches` (or into ``batch_size`` pieces). Consecutive configs of a
    grid share parameter values, so a worker drawing from its own share computes and memoises
    fewer distinct indicators than one drawing from the whole grid (on a 10 x 10 SMA grid, 15
    SMAs per worker instead of 20). A worker whose queue is empty takes the last (smallest)
    batch of the longest other queue, so the workers still run out of work together."""

    def __init__(self, items: list, workers: int, *, batch_size: int | None = None, smallest: int = 1):
        if workers < 1:
            raise ValueError(f"need at least one worker, got {workers}")
        shares = [items[len(items) * k // workers:len(items) * (k + 1) // workers] for k in range(workers)]
        self._queues = [deque((batch, 0) for batch in (fixed_batches(share, batch_size) if batch_size
                                                       else plan_batches(share, 1, smallest=smallest)))
                        for share in shares]

    def take(self, worker: int) -> tuple[list, int] | None:
        """``(batch, tries)`` for ``worker``: from its own queue, else stolen; None when all are done."""
        own = self._queues[worker]
        if own:
            return own.popleft()
        longest = max(self._queues, key=len)
        return longest.pop() if longest else None

    def retry(self, worker: int, batch: list, tries: int) -> None:
        """Put a batch back at the front of ``worker``'s queue (its previous worker died)."""
        self._queues[worker].appendleft((batch, tries))

    def __len__(self) -> int:
        return sum(len(q) for q in self._queues)
