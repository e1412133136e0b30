"""Placement: where the gateway's playgrounds live, many per holder.

A holder is the gateway's own process (the default, lowest latency) or a pool of Ray actors. One
process per playground would cost about 100 MiB (Python, numpy, pyarrow, pandas for the
calendar): 400 playgrounds would need 40 GiB. So a :class:`PlaygroundHolder` holds many
:class:`~backtestester.service.session.PlaygroundSession` s, and runs each call on one of its
threads (a *threaded* actor, or a thread pool in the gateway's process) under that playground's
lock, so calls to one playground are serialised (the engine needs no locks of its own) while a
slow playground leaves the others on its holder, and every playground on the other holders, free
to run.

:class:`HostPool` is the gateway's side (it runs in the gateway actor's event loop): it spawns
holders lazily, places each new or restored playground on the least loaded one, remembers where
each playground lives, sends at most one call per playground at a time (so a stuck playground
ties up one holder thread, not all of them) and turns a dead or silent holder into
:class:`HostUnavailable`. Holder actors are owned by the gateway actor and die with it. Ray is
imported where it is used, so importing this module (the server does, for :data:`NAMESPACE`) is cheap.

Calls are typed: a function (or method) and its arguments, ``await pool.call(pid, fn, *args)``
runs ``fn(session, *args)`` on the playground's session; functions travel to a holder actor by
reference. A refused call raises :class:`~backtestester.service.errors.ServiceError`, in the
gateway's process too.
"""
from __future__ import annotations

import asyncio
import os
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from backtestester.service.errors import ServiceError, Status

if TYPE_CHECKING:
    from backtestester.service.session import PlaygroundSession

NAMESPACE = "backtestester-gateway"
HOST_THREADS = 64  # per holder: how many of its playgrounds can be inside a call at once


def default_pool_size() -> int:
    """For ``hosts="auto"``: one holder per core, at least 2, at most 8."""
    return min(8, max(2, os.cpu_count() or 2))


class PlaygroundHolder:
    """The actor (threaded: ``max_concurrency=HOST_THREADS``) holding many playground sessions."""

    def __init__(self, name: str):
        self.name = name
        self._playgrounds: dict[str, PlaygroundSession] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def _lock(self, pid: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(pid, threading.Lock())

    def place(self, pid: str, build: Callable[..., PlaygroundSession], *args) -> None:
        """Hold ``build(pid, *args)`` as playground ``pid`` (replacing any copy held here); nothing
        is kept when it raises."""
        with self._lock(pid):
            self._playgrounds[pid] = build(pid, *args)

    def call(self, pid: str, fn: Callable, *args):
        """``fn(session, *args)`` on playground ``pid``, serialised with its other calls."""
        with self._lock(pid):
            session = self._playgrounds.get(pid)
            if session is None:
                raise ServiceError(Status.UNAVAILABLE,
                                   f"playground {pid} is unavailable: host {self.name} does not hold it")
            return fn(session, *args)

    def drop(self, pid: str) -> None:
        """Forget playground ``pid`` (after its call in progress, if any)."""
        with self._lock(pid):
            self._playgrounds.pop(pid, None)
        with self._guard:
            self._locks.pop(pid, None)

    def holds(self) -> list[str]:
        return sorted(self._playgrounds)


class HostUnavailable(ServiceError):
    """The playground's holder died, or did not answer in time; the message names the playground."""

    def __init__(self, message: str):
        super().__init__(Status.UNAVAILABLE, message)
        self.args = (message,)  # picklable by its one argument


class HostPool:
    """Where the gateway's playgrounds live (gateway side; asyncio, not thread-safe).

    ``hosts=0`` (the default) keeps one :class:`PlaygroundHolder` in the gateway's own process and
    runs its calls on a thread pool: no process hop, so the lowest latency (a Ray actor call costs
    about 1 ms here, several times a whole NextTick), and answers are not serialised. ``hosts=N``
    spreads the playgrounds over N holder actors (``"auto"``: :func:`default_pool_size`), for
    engine work on more cores or nodes."""

    def __init__(self, hosts: int | str = 0):
        if hosts == "auto":
            hosts = default_pool_size()
        if not isinstance(hosts, int) or hosts < 0:
            raise ValueError(f"playground hosts must be 0 (in the gateway's process), a positive number of "
                             f"host actors or 'auto', got {hosts!r}")
        self.in_process = hosts == 0
        self.size = max(1, hosts)
        # Names unique per gateway: a restarted gateway never waits for a dying holder's name.
        self._prefix = f"playground-host-{uuid.uuid4().hex[:8]}"
        self._hosts: list = [None] * self.size
        self._where: dict[str, int] = {}
        self._busy: dict[str, asyncio.Lock] = {}
        self._threads: ThreadPoolExecutor | None = None
        self._spawned = 0

    def holds(self, pid: str) -> bool:
        return pid in self._where

    def handle_of(self, pid: str):
        """The holder actor of ``pid`` (for tests and operators); ``None`` if there is none or
        the playground lives in the gateway's process."""
        k = self._where.get(pid)
        return None if k is None or self.in_process else self._hosts[k]

    def _host(self, k: int):
        if self._hosts[k] is None:
            if self.in_process:
                self._threads = ThreadPoolExecutor(HOST_THREADS, thread_name_prefix="playground")
                self._hosts[k] = PlaygroundHolder("in-process")
            else:
                import ray  # noqa: PLC0415  (only where holder actors are spawned: importing this module stays cheap)

                # A new name for every spawn: a dead holder's name is released only some time later.
                self._spawned += 1
                name = f"{self._prefix}-{k}.{self._spawned}"
                self._hosts[k] = ray.remote(PlaygroundHolder).options(
                    name=name, namespace=NAMESPACE, num_cpus=0, max_concurrency=HOST_THREADS,
                    max_restarts=0).remote(name)
        return self._hosts[k]

    def _invoke(self, method, *args):
        """An awaitable of a holder's ``method(*args)``: on a thread here, or a Ray actor call."""
        if self.in_process:
            return asyncio.get_running_loop().run_in_executor(self._threads, method, *args)
        return method.remote(*args)

    async def _answer(self, method, *args, timeout: float):
        """``method(*args)`` within ``timeout``; a holder actor's ServiceError is raised as itself."""
        from ray.exceptions import RayTaskError  # noqa: PLC0415  (ray is imported where it is used)

        try:
            return await asyncio.wait_for(self._invoke(method, *args), timeout)
        except RayTaskError as exc:
            if isinstance(exc.cause, ServiceError):
                raise exc.cause from None
            raise

    def _host_died(self, k: int, handle) -> None:
        """Forget holder ``k`` and every playground it held; the slot is respawned when next needed."""
        if self._hosts[k] is handle:
            self._hosts[k] = None
            for pid in [p for p, j in self._where.items() if j == k]:
                del self._where[pid]

    async def place(self, pid: str, build: Callable[..., PlaygroundSession], *args, timeout: float) -> None:
        """Hold ``build(pid, *args)`` (a new or a restored session) on the least loaded holder; a
        holder found dead is replaced and the placement tried once more."""
        from ray.exceptions import RayActorError  # noqa: PLC0415  (ray is imported where it is used)

        for _ in range(2):
            load = Counter(self._where.values())
            k = min(range(self.size), key=lambda j: (load[j], j))
            handle = self._host(k)
            self._where[pid] = k  # reserved now, so concurrent placements spread out
            try:
                await self._answer(handle.place, pid, build, *args, timeout=timeout)
            except RayActorError:
                self._host_died(k, handle)
                continue
            except ServiceError:
                self._where.pop(pid, None)
                raise
            except BaseException as exc:  # a timeout or a cancelled caller: the holder may still build it
                self._where.pop(pid, None)
                self._invoke(handle.drop, pid)
                if isinstance(exc, asyncio.TimeoutError):
                    raise HostUnavailable(f"playground {pid} is unavailable: building it took more than "
                                          f"{timeout:g} s") from None
                raise
            return
        raise HostUnavailable(f"playground {pid} is unavailable: its host died while it was being built")

    async def call(self, pid: str, fn: Callable, *args, timeout: float, inline: bool = False):
        """``fn(session, *args)`` on ``pid``'s holder; one call per playground in flight at a time.
        ``inline``: a short call on an in-process holder runs on the event loop itself, without the
        hop to a thread (no other call of ``pid`` can hold its lock: they all pass ``busy``)."""
        from ray.exceptions import RayActorError  # noqa: PLC0415  (ray is imported where it is used)

        busy = self._busy.setdefault(pid, asyncio.Lock())
        async with busy:
            k = self._where.get(pid)
            if k is None:
                raise HostUnavailable(f"playground {pid} is unavailable: its host is gone")
            handle = self._hosts[k]
            if inline and self.in_process:
                return handle.call(pid, fn, *args)
            try:
                return await self._answer(handle.call, pid, fn, *args, timeout=timeout)
            except RayActorError as exc:  # ActorDiedError, ActorUnavailableError
                self._host_died(k, handle)
                raise HostUnavailable(f"playground {pid} is unavailable: its host died ({type(exc).__name__})") from None
            except asyncio.TimeoutError:
                raise HostUnavailable(f"playground {pid} is unavailable: no answer within {timeout:g} s") from None

    async def drop(self, pid: str, timeout: float) -> None:
        """Remove ``pid`` from its holder (a dead or silent holder is fine: it no longer serves it)."""
        from ray.exceptions import RayActorError  # noqa: PLC0415  (ray is imported where it is used)

        k = self._where.pop(pid, None)
        self._busy.pop(pid, None)
        if k is not None and self._hosts[k] is not None:
            try:
                await asyncio.wait_for(self._invoke(self._hosts[k].drop, pid), timeout)
            except (RayActorError, asyncio.TimeoutError):
                pass
