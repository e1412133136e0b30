"""A pool of sweep-worker actors that outlives a sweep.

A sweep started without a pool starts its own actors and ends them when it is done: each sweep
pays a worker process, the engine's imports and the compiled kernels' loading (about 1.4 s on a
2-core machine, against ~2 s of runs for 100 fast-path backtests over a million bars). A search
that runs sweep after sweep (a notebook session, a tuner proposing parameter sets round by round)
keeps one :class:`SweepPool` instead and hands it to every ``run_sweep(..., pool=pool)``.
"""
from __future__ import annotations

from backtestester.sweep.config import ENGINES

from .cluster import cluster_cpus, init_ray
from .sweep_worker import SweepWorker


class SweepPool:
    """``workers`` sweep-worker actors (default: one per CPU of the cluster), started at once
    and prepared for ``engines`` (imports; the fast path's kernels). Use it as a context manager
    or call :meth:`close`; a sweep given the pool uses its first ``workers`` actors, replaces any
    that die, and releases the tables it gave them when it ends."""

    def __init__(self, workers: int | None = None, *, address: str | None = None, engines=ENGINES):
        engines = (engines,) if isinstance(engines, str) else tuple(engines)
        unknown = [e for e in engines if e not in ENGINES]
        if unknown:
            raise ValueError(f"unknown engine {unknown[0]!r}; accepted: {', '.join(ENGINES)}")
        if workers is not None and workers < 1:
            raise ValueError(f"a pool needs at least one worker, got {workers}")
        self._ray = init_ray(address)
        self._engines = engines
        self._worker_cls = self._ray.remote(num_cpus=1, max_restarts=0)(SweepWorker)
        self.hosts: list = [self._start() for _ in range(workers or cluster_cpus())]

    @property
    def workers(self) -> int:
        return len(self.hosts)

    def _start(self):
        host = self._worker_cls.remote()
        host.prepare.remote(self._engines)
        return host

    def replace(self, index: int):
        """A new actor in place of the one at ``index`` (which died); returns it."""
        self._ray.kill(self.hosts[index])
        self.hosts[index] = self._start()
        return self.hosts[index]

    def release(self) -> None:
        """Let every actor drop the tables of the last sweep (waits until they have); an actor
        found dead is replaced."""
        refs = [host.release.remote() for host in self.hosts]
        for i, ref in enumerate(refs):
            try:
                self._ray.get(ref)
            except self._ray.exceptions.RayActorError:
                self.replace(i)

    def close(self) -> None:
        for host in self.hosts:
            self._ray.kill(host)
        self.hosts = []

    def __enter__(self) -> "SweepPool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
