"""Playground hosts: where the gateway's playgrounds live, many per host.

A host is the gateway's own process (the default, lowest latency) or a pool of Ray actors. One
process per playground would cost about 100 MiB (Python, numpy, pyarrow, pandas for the
calendar): 400 playgrounds would need 40 GiB. So a :class:`PlaygroundHost` holds many, and
runs each call on one of its threads (a *threaded* actor, or a thread pool in the gateway's
process) under that playground's lock, so calls to one playground are serialised (the engine
needs no locks of its own) while a slow playground leaves the others on its host, and every
playground on the other hosts, free to run.

:class:`HostPool` is the gateway's side (it runs in the gateway actor's event loop): it spawns
hosts lazily, places each new or restored playground on the least loaded one, remembers where
each playground lives, sends at most one call per playground at a time (so a stuck playground
ties up one host thread, not all of them) and turns a dead or silent host into
:class:`HostUnavailable`. Host actors are owned by the gateway actor and die with it.

Every :class:`PlaygroundHost` method returns a result tuple (see :mod:`actors.gateway.hosted`).
"""
from __future__ import annotations

import asyncio
import os
import threading
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from .hosted import HostedPlayground, error, ok

NAMESPACE = "backtestester-gateway"
HOST_THREADS = 64  # per host: how many of its playgrounds can be inside a call at once


def default_pool_size() -> int:
    """For ``hosts="auto"``: one host per core, at least 2, at most 8."""
    return min(8, max(2, os.cpu_count() or 2))


class PlaygroundHost:
    """The actor (threaded: ``max_concurrency=HOST_THREADS``) holding many hosted playgrounds."""

    def __init__(self, name: str):
        self.name = name
        self._playgrounds: dict[str, HostedPlayground] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def _lock(self, pid: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(pid, threading.Lock())

    def create(self, pid: str, config: dict, data_dir: str):
        """Build playground ``pid`` from the catalog; it is kept only when creation succeeds."""
        return self._place(pid, lambda playground: playground.create(config, data_dir))

    def restore(self, pid: str, db_path: str, data_dir: str):
        """Rebuild saved playground ``pid`` from the store (replacing any copy held here)."""
        return self._place(pid, lambda playground: playground.restore(db_path, data_dir))

    def _place(self, pid, build):
        with self._lock(pid):
            playground = HostedPlayground(pid)
            result = build(playground)
            if result[0] == "ok":
                self._playgrounds[pid] = playground
            return result

    def call(self, pid: str, method: str, *args):
        """``method(*args)`` on playground ``pid``, serialised with its other calls."""
        with self._lock(pid):
            playground = self._playgrounds.get(pid)
            if playground is None:
                return error("UNAVAILABLE", f"playground {pid} is unavailable: host {self.name} does not hold it")
            return getattr(playground, method)(*args)

    def drop(self, pid: str):
        """Forget playground ``pid`` (after its call in progress, if any)."""
        with self._lock(pid):
            self._playgrounds.pop(pid, None)
        with self._guard:
            self._locks.pop(pid, None)
        return ok()

    def holds(self) -> list[str]:
        return sorted(self._playgrounds)


class HostUnavailable(Exception):
    """The playground's host died, or did not answer in time; the message names the playground."""


class HostPool:
    """Where the gateway's playgrounds live (gateway side; asyncio, not thread-safe).

    ``hosts=0`` (the default) keeps one :class:`PlaygroundHost` in the gateway's own process and
    runs its calls on a thread pool: no process hop, so the lowest latency (a Ray actor call costs
    about 1 ms here, several times a whole NextTick). ``hosts=N`` spreads the playgrounds over N
    host actors (``"auto"``: :func:`default_pool_size`), for engine work on more cores or nodes."""

    def __init__(self, hosts: int | str = 0):
        if hosts == "auto":
            hosts = default_pool_size()
        if not isinstance(hosts, int) or hosts < 0:
            raise ValueError(f"playground hosts must be 0 (in the gateway's process), a positive number of "
                             f"host actors or 'auto', got {hosts!r}")
        self.in_process = hosts == 0
        self.size = max(1, hosts)
        # Names unique per gateway: a restarted gateway never waits for a dying host's name.
        self._prefix = f"playground-host-{uuid.uuid4().hex[:8]}"
        self._hosts: list = [None] * self.size
        self._where: dict[str, int] = {}
        self._busy: dict[str, asyncio.Lock] = {}
        self._threads: ThreadPoolExecutor | None = None
        self._spawned = 0

    def holds(self, pid: str) -> bool:
        return pid in self._where

    def handle_of(self, pid: str):
        """The host actor holding ``pid`` (for tests and operators); ``None`` if there is none or
        the playground lives in the gateway's process."""
        k = self._where.get(pid)
        return None if k is None or self.in_process else self._hosts[k]

    def _host(self, k: int):
        if self._hosts[k] is None:
            if self.in_process:
                self._threads = ThreadPoolExecutor(HOST_THREADS, thread_name_prefix="playground")
                self._hosts[k] = PlaygroundHost("in-process")
            else:
                import ray

                # A new name for every spawn: a dead host's name is released only some time later.
                self._spawned += 1
                name = f"{self._prefix}-{k}.{self._spawned}"
                self._hosts[k] = ray.remote(PlaygroundHost).options(
                    name=name, namespace=NAMESPACE, num_cpus=0, max_concurrency=HOST_THREADS,
                    max_restarts=0).remote(name)
        return self._hosts[k]

    def _invoke(self, handle, method: str, *args):
        """An awaitable of ``handle.method(*args)``: on a thread here, or a Ray actor call."""
        if self.in_process:
            return asyncio.get_running_loop().run_in_executor(self._threads, getattr(handle, method), *args)
        return getattr(handle, method).remote(*args)

    def _host_died(self, k: int, handle) -> None:
        """Forget host ``k`` and every playground it held; the slot is respawned when next needed."""
        if self._hosts[k] is handle:
            self._hosts[k] = None
            for pid in [p for p, j in self._where.items() if j == k]:
                del self._where[pid]

    async def place(self, pid: str, method: str, *args, timeout: float):
        """Create (``method="create"``) or restore (``"restore"``) ``pid`` on the least loaded
        host; a host found dead is replaced and the placement tried once more."""
        from ray.exceptions import RayActorError

        for _ in range(2):
            load = Counter(self._where.values())
            k = min(range(self.size), key=lambda j: (load[j], j))
            handle = self._host(k)
            self._where[pid] = k  # reserved now, so concurrent placements spread out
            try:
                result = await asyncio.wait_for(self._invoke(handle, method, pid, *args), timeout)
            except RayActorError:
                self._host_died(k, handle)
                continue
            except BaseException as exc:  # a timeout or a cancelled caller: the host may still build it
                self._where.pop(pid, None)
                self._invoke(handle, "drop", pid)
                if isinstance(exc, asyncio.TimeoutError):
                    raise HostUnavailable(f"playground {pid} is unavailable: building it took more than "
                                          f"{timeout:g} s") from None
                raise
            if result[0] != "ok":
                self._where.pop(pid, None)
            return result
        raise HostUnavailable(f"playground {pid} is unavailable: its host died while it was being built")

    async def call(self, pid: str, method: str, *args, timeout: float):
        """``method(*args)`` on ``pid``'s host; one call per playground in flight at a time."""
        from ray.exceptions import RayActorError

        busy = self._busy.setdefault(pid, asyncio.Lock())
        async with busy:
            k = self._where.get(pid)
            if k is None:
                raise HostUnavailable(f"playground {pid} is unavailable: its host is gone")
            handle = self._hosts[k]
            try:
                return await asyncio.wait_for(self._invoke(handle, "call", pid, method, *args), timeout)
            except RayActorError as exc:  # ActorDiedError, ActorUnavailableError
                self._host_died(k, handle)
                raise HostUnavailable(f"playground {pid} is unavailable: its host died ({type(exc).__name__})") from None
            except asyncio.TimeoutError:
                raise HostUnavailable(f"playground {pid} is unavailable: no answer within {timeout:g} s") from None

    async def drop(self, pid: str, timeout: float) -> None:
        """Remove ``pid`` from its host (a dead or silent host is fine: it no longer serves it)."""
        from ray.exceptions import RayActorError

        k = self._where.pop(pid, None)
        self._busy.pop(pid, None)
        if k is not None and self._hosts[k] is not None:
            try:
                await asyncio.wait_for(self._invoke(self._hosts[k], "drop", pid), timeout)
            except (RayActorError, asyncio.TimeoutError):
                pass
