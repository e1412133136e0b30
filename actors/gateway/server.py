"""The gateway: an async Ray actor running a ``grpc.aio`` server for ``playground.PlaygroundService``.

``GatewayServer`` is a plain class; ``ray.remote(GatewayServer)`` is applied where it is spawned
(:func:`spawn` or :func:`serve`). Its methods are coroutines, so Ray runs it as an async actor
and the gRPC server shares the actor's event loop. Playgrounds live in the gateway's process or on
a pool of threaded playground holder actors (:mod:`actors.gateway.placement`), so a slow playground
never blocks another.
"""
from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading

from backtestester.stop_signals import stop_on_signals

from . import security
from .placement import NAMESPACE
from .security import DEFAULT_MAX_MESSAGE_BYTES, SecurityConfig, trusted_warning, validate_bind

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 5051
GATEWAY_NAME = "gateway"
MAX_MESSAGE_BYTES = DEFAULT_MAX_MESSAGE_BYTES
SWITCH_INTERVAL = 0.0005  # seconds; the gateway process's sys.setswitchinterval (Python's default: 0.005)


class GatewayServer:
    """The gateway actor's class. ``security`` (:class:`~actors.gateway.security.SecurityConfig`)
    carries the tokens, TLS material, message size and rate limits; the default is a loopback-only,
    unauthenticated, plaintext gateway with 16 MiB messages and no rate limit. ``live``
    (:class:`~actors.gateway.live.LiveConfig`): trade live too (the live desk in this process);
    None (the default): live RPCs are UNIMPLEMENTED."""

    def __init__(self, data_dir: str, security: SecurityConfig | None = None, hosts: int | str = 0, live=None):
        self.data_dir = str(data_dir)
        self.live = live
        self._live_shell = None
        self.security = security or SecurityConfig()
        self.hosts = hosts
        self._service = None
        self._server = None
        self._health = None
        self._address = None
        self._twirp = None          # the Twirp front end (actors.gateway.twirp.TwirpFront), if serving
        self._twirp_address = None
        self._stopped = None
        self._lock = None

    async def start(self, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, twirp_port: int | None = None) -> str:
        """Start serving on ``host:port`` (port 0: the OS chooses); returns ``host:bound_port``.
        ``twirp_port``: also serve Twirp on ``host:twirp_port`` (0: the OS chooses; None: no Twirp;
        its address: :meth:`twirp_address`).
        A non-loopback host without TLS and a token raises ``ConfigError`` (a ``ValueError``); a data
        directory another gateway serves raises ``DataDirLocked`` (an ``OSError``): the lock is
        held by this actor, which outlives its playground hosts, until :meth:`stop` or its death."""
        from backtestester.service.store import DataDirLock  # noqa: PLC0415  (loaded when a server starts)

        if self._server is not None:
            return self._address
        security.validate_bind(host, self.security)
        if self._lock is None:
            self._lock = DataDirLock(self.data_dir)
        self._lock.acquire()  # before anything reads the store
        try:
            address = await self._start(host, port)
            if twirp_port is not None:
                await self._start_twirp(host, twirp_port)
            return address
        except BaseException:
            if self._server is not None:
                await self._server.stop(0)
                self._server = self._address = None
            self._lock.release()
            raise

    async def _start(self, host: str, port: int) -> str:
        import grpc  # noqa: PLC0415  (loaded when a server starts)
        from grpc_health.v1 import health, health_pb2, health_pb2_grpc  # noqa: PLC0415  (loaded when a server starts)
        from grpc_reflection.v1alpha import reflection  # noqa: PLC0415  (loaded when a server starts)

        from backtestester.rpc import (  # noqa: PLC0415  (loaded when a server starts)
            REFLECTION_SERVICE_NAMES,
            SERVICE_NAME,
            playground_pb2_grpc,
        )

        from .service import PlaygroundService  # noqa: PLC0415  (loaded when a server starts)

        # The event loop competes for the GIL with the threads running ticks: hand it over sooner
        # than Python's default 5 ms so that a cheap call never waits behind a tick's slice.
        sys.setswitchinterval(SWITCH_INTERVAL)
        limit = self.security.max_message_bytes
        self._interceptors = security.interceptors(self.security)
        server = grpc.aio.server(interceptors=self._interceptors, options=[
            ("grpc.so_reuseport", 0),  # without it a second server silently shares the port
            ("grpc.max_receive_message_length", limit),
            ("grpc.max_send_message_length", limit),
        ])
        service = self._service = PlaygroundService(self.data_dir, hosts=self.hosts,
                                                    max_playgrounds=self.security.max_playgrounds)
        service.charge = self._interceptors[0].charge  # a Session's commands pay as their unary RPCs
        await service.load_saved()  # saved playgrounds: ids only; their actors are restored lazily
        if self.live is not None:
            from .live import LiveRPCs, LiveShell  # noqa: PLC0415  (loaded when a server starts)

            shell = LiveShell(self.data_dir, self.live)
            await shell.start()  # resumes the live playgrounds, resolves unresolved intents
            self._live_shell, service.live = shell, LiveRPCs(shell)
        playground_pb2_grpc.add_PlaygroundServiceServicer_to_server(service, server)
        self._health = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
        reflection.enable_server_reflection(REFLECTION_SERVICE_NAMES, server)
        target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        try:
            if self.security.tls:
                bound = server.add_secure_port(target, security.server_credentials(self.security))
            else:
                bound = server.add_insecure_port(target)
        except RuntimeError as exc:
            raise OSError(f"cannot listen on {target}: {exc} (is the port in use?)") from None
        if not bound:
            raise OSError(f"cannot listen on {target} (is the port in use?)")
        await server.start()
        for name in ("", SERVICE_NAME):
            await self._health.set(name, health_pb2.HealthCheckResponse.SERVING)
        self._server = server
        self._address = f"[{host}]:{bound}" if ":" in host else f"{host}:{bound}"
        return self._address

    async def _start_twirp(self, host: str, port: int) -> None:
        from .twirp import TwirpFront  # noqa: PLC0415  (loaded when a server starts)

        if self.security.twirp_trusted:
            log.warning(trusted_warning(self.security))
        front = TwirpFront(self._service, self._interceptors[0], self.security, self.data_dir)
        bound = await front.start(host, port)
        self._twirp = front
        self._twirp_address = f"http{'s' if self.security.tls else ''}://" + (
            f"[{host}]:{bound}" if ":" in host else f"{host}:{bound}")

    async def address(self) -> str | None:
        return self._address

    async def twirp_address(self) -> str | None:
        """The Twirp base URL (``http://host:port``, https with TLS; what ``TWIRP_HOST`` is set to),
        or None without Twirp."""
        return self._twirp_address

    async def pid(self) -> int:
        """The actor's process id (``serve`` prints it: what an operator or a test would signal)."""
        return os.getpid()

    async def until_stopped(self) -> None:
        """Returns once :meth:`stop` has run. ``serve`` waits on it: if the actor dies first, the
        wait ends with ``RayActorError`` instead, and ``serve`` learns of the death at once."""
        if self._stopped is None:
            self._stopped = asyncio.Event()
        await self._stopped.wait()

    async def playground_host(self, playground_id: str):
        """The host actor holding a playground (``None`` if none does): for tests and operators."""
        return None if self._service is None else self._service.pool.handle_of(playground_id)

    async def stop(self, grace: float = 2.0) -> None:
        """Health NOT_SERVING first, then stop accepting calls; in-flight calls get ``grace`` seconds."""
        if self._server is None:
            return
        from grpc_health.v1 import health_pb2  # noqa: PLC0415  (loaded when a server starts)

        from backtestester.rpc import SERVICE_NAME  # noqa: PLC0415  (loaded when a server starts)

        for name in ("", SERVICE_NAME):
            await self._health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        if self._twirp is not None:
            await self._twirp.stop()
            self._twirp = self._twirp_address = None
        await self._server.stop(grace)
        if self._live_shell is not None:
            await self._live_shell.stop()
            self._live_shell = None
        self._server = None
        self._address = None
        self._lock.release()
        if self._stopped is not None:
            self._stopped.set()


def spawn(data_dir: str, *, name: str | None = GATEWAY_NAME, security: SecurityConfig | None = None,
          hosts: int | str = 0, live=None):
    """Spawn the gateway actor (Ray must be initialised). Returns the handle; call ``start``.
    ``hosts``: where playgrounds live: 0 in the gateway's process (default), N host actors, ``"auto"``;
    ``live``: a :class:`~actors.gateway.live.LiveConfig` to trade live (default: no live trading)."""
    import ray  # noqa: PLC0415  (ray only where the actor is spawned)

    options = {"namespace": NAMESPACE, "num_cpus": 0, "max_concurrency": 1000}
    if name:
        options["name"] = name
    return ray.remote(GatewayServer).options(**options).remote(str(data_dir), security, hosts, live)


class GatewayDied(RuntimeError):
    """The gateway actor died while :func:`serve` ran (``backtestester serve`` exits with code 1)."""


def serve(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, data_dir: str | None = None, *,
          ray_address: str | None = None, ready=None, security: SecurityConfig | None = None,
          hosts: int | str = 0, twirp_port: int | None = None, live=None) -> None:
    """Start (or join) Ray, spawn the gateway, report its address through ``ready`` (default: print
    one line to stdout) and block until SIGINT or SIGTERM, then stop the server cleanly (health
    NOT_SERVING, grace period, actor killed, Ray shut down if this call started it).
    If the gateway actor dies first, raises :class:`GatewayDied` at once (after the same cleanup):
    nothing would listen any more. A stop request wins over a death noticed at the same time.
    A refused bind (see :func:`~actors.gateway.security.validate_bind`) raises ``ConfigError``
    before Ray starts; a port in use raises ``OSError``. ``twirp_port``: also serve Twirp there (see
    :meth:`GatewayServer.start`); ``live``: see :func:`spawn`. For ``backtestester serve``."""
    from actors.cluster import init_ray  # noqa: PLC0415  (ray only where the actor is spawned)
    from backtestester.data.catalog import data_dir_or_default  # noqa: PLC0415  (pyarrow only where it is served)

    security = security or SecurityConfig()
    validate_bind(host, security)
    if security.twirp_trusted:
        log.warning(trusted_warning(security))
        if twirp_port is None:
            log.warning("WARNING: --twirp-trusted-network has no effect without --twirp-port")
    started_ray = "ray" not in sys.modules or not sys.modules["ray"].is_initialized()
    ray = init_ray(ray_address)
    data_dir = os.path.abspath(data_dir_or_default(data_dir))
    stop = threading.Event()
    gateway = died = None
    # The handlers stay until Ray is shut down: a signal still pending would otherwise reach the
    # handler restored (Ray's exits with the signal's number) instead of setting ``stop``.
    with stop_on_signals(stop):
        try:
            gateway = spawn(data_dir, name=None, security=security, hosts=hosts, live=live)
            try:
                address = ray.get(gateway.start.remote(host, port, twirp_port))
                twirp = ray.get(gateway.twirp_address.remote())
            except ray.exceptions.RayTaskError as exc:  # the actor's own error, without Ray's wrapping
                if isinstance(exc.cause, (OSError, ValueError)):
                    raise exc.cause from None
                raise
            pid = ray.get(gateway.pid.remote())
            message = (f"backtestester gateway listening on {address}{f' and Twirp on {twirp}' if twirp else ''} (data: {data_dir}; {security.describe()}; "
                       f"gateway actor pid {pid})")
            if ready is None:
                print(message, flush=True)
            else:
                ready(message)
            try:
                _wait(ray, gateway, pid, stop)
            except GatewayDied as exc:
                died = exc
        finally:
            try:
                if gateway is not None:
                    _stop(ray, gateway)
            finally:
                if started_ray:
                    ray.shutdown()
    if died is not None and not stop.is_set():  # a stop request that came during the cleanup still wins
        raise died


def _wait(ray, gateway, pid: int, stop: threading.Event) -> None:
    """Return once ``stop`` is set; raise :class:`GatewayDied` as soon as the actor is gone."""
    stopped = gateway.until_stopped.remote()  # ends only with the actor (or a stop)
    while not stop.is_set():
        done, _ = ray.wait([stopped], timeout=0.5)
        if done and not stop.is_set():
            raise GatewayDied(f"the gateway actor (pid {pid}) died: nothing serves the port any more; exiting so "
                              f"that a supervisor starts serve again (saved playgrounds come back, unsaved ones "
                              f"are lost)")


def _stop(ray, gateway) -> None:
    try:
        ray.get(gateway.stop.remote(), timeout=10)
    except ray.exceptions.RayActorError:
        pass  # the actor is dead already: nothing to stop
    finally:
        ray.kill(gateway)
