"""Generated gRPC code of the wire contract ``playground.PlaygroundService``.

The only package of ``backtestester`` that imports ``grpc`` (the engine, data and strategy
packages never do). Source of truth: ``protos/playground.proto``, which reproduces
``shared/spec/wire-v1.md`` exactly plus additions (``StreamTicks``, ``StreamCandlesArrow``);
see ``docs/wire.md``.

Modules (generated; never edit them, run ``make protos`` after changing the proto):

* :mod:`backtestester.rpc.playground_pb2` (+ ``.pyi`` stubs): the messages, e.g.
  ``playground_pb2.NextTickRequest``, ``playground_pb2.TickDelta``, ``playground_pb2.ArrowBatch``,
  and ``playground_pb2.DESCRIPTOR`` (the file descriptor the contract test checks).
* :mod:`backtestester.rpc.playground_pb2_grpc`: ``PlaygroundServiceStub`` (client),
  ``PlaygroundServiceServicer`` (server base class) and
  ``add_PlaygroundServiceServicer_to_server``.

Usage::

    from backtestester.rpc import playground_pb2, playground_pb2_grpc

The gateway also registers the standard health service and server reflection, which come from
the ``grpcio-health-checking`` and ``grpcio-reflection`` packages (their protos are not copied
here)::

    from grpc_health.v1 import health, health_pb2, health_pb2_grpc
    from grpc_reflection.v1alpha import reflection

    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(REFLECTION_SERVICE_NAMES, server)
"""
from __future__ import annotations

from . import playground_pb2, playground_pb2_grpc

SERVICE_NAME: str = playground_pb2.DESCRIPTOR.services_by_name["PlaygroundService"].full_name
"""``"playground.PlaygroundService"``: the name health checks and reflection use."""

HEALTH_SERVICE_NAME = "grpc.health.v1.Health"
REFLECTION_SERVICE_NAME = "grpc.reflection.v1alpha.ServerReflection"

REFLECTION_SERVICE_NAMES: tuple[str, ...] = (SERVICE_NAME, HEALTH_SERVICE_NAME, REFLECTION_SERVICE_NAME)
"""The services a server lists through reflection (pass to ``enable_server_reflection``)."""

RESUME_METADATA = "resume-from"
"""StreamTicks call metadata (an addition; no message field): ``resume-from: <n>`` with a
``request_id`` starts the stream at its tick ``n``, so a client re-opening a broken stream asks
only for the deltas it has not received (docs/gateway.md, "Streams")."""

__all__ = [
    "playground_pb2",
    "playground_pb2_grpc",
    "SERVICE_NAME",
    "HEALTH_SERVICE_NAME",
    "REFLECTION_SERVICE_NAME",
    "REFLECTION_SERVICE_NAMES",
    "RESUME_METADATA",
]
