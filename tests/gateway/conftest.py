"""Shared fixtures and helpers of the gateway tests: a catalog written from the synthetic generator,
a real gateway (grpc.aio in a Ray actor of the session's embedded Ray, an OS-chosen port), and
small request builders, and the durable-playground helpers (sessions driven without Ray, gateways
a test kills and restarts: ``gateways``). Modules that need another catalog or gateway override
``catalog_dir`` / ``gateway`` with a fixture of their own."""
from __future__ import annotations

import os
import subprocess
import uuid
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import grpc
import pytest
from google.protobuf.message_factory import GetMessageClass
from ray.exceptions import RayActorError
from twirp.client import TwirpClient

from actors.gateway.server import spawn
from backtestester.data.catalog import Catalog
from backtestester.data.synthetic import generate_bars
from backtestester.rpc import SERVICE_NAME
from backtestester.rpc import playground_pb2 as pb
from backtestester.rpc import playground_pb2_grpc as pb_grpc
from backtestester.service.errors import ServiceError
from backtestester.wire import answers, requests

DEADLINE = 30  # seconds; every call has one so a bug shows as a failure, not a hung suite
ALICE, BOB = "alice-" + "a" * 26, "bob-" + "b" * 28   # fixed tokens: tests are deterministic


def write_catalog(path, first_seed: int = 0):
    """AAA and BBB, one-minute bars from 2024-01-02 to 2024-01-06 (seeds first_seed, first_seed + 1)."""
    cat = Catalog(path)
    for seed, sym in enumerate(("AAA", "BBB"), start=first_seed):
        cat.write(sym, "1m", generate_bars(sym, start="2024-01-02", end="2024-01-06", seed=seed))
    return path


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for localhost and 127.0.0.1 (cryptography, else openssl)."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    try:
        import datetime as dt
        import ipaddress

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID
    except ImportError:
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                        "-nodes", "-days", "2", "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert),
                        "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"], check=True, capture_output=True)
        return cert, key
    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(private.public_key())
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=2))
                   .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                               x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                                  critical=False)
                   .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                   .sign(private, hashes.SHA256()))
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    return cert, key


@contextmanager
def running_gateway(ray, data_dir, name: str = "gateway-test", twirp_port: int | None = None, **options):
    """``(actor, address)`` of a gateway serving ``data_dir`` on an OS-chosen loopback port
    (``options``: ``spawn``'s, e.g. ``hosts``, ``security``; ``twirp_port``: also Twirp, see
    ``GatewayServer.start``); stopped and killed on exit, its playgrounds and host actors with it."""
    gw = spawn(str(data_dir), name=f"{name}-{uuid.uuid4().hex[:8]}", **options)
    try:
        yield gw, ray.get(gw.start.remote("127.0.0.1", 0, twirp_port), timeout=60)
    finally:
        try:
            ray.get(gw.stop.remote(0.5), timeout=30)
        finally:
            ray.kill(gw)


@pytest.fixture
def no_ray(monkeypatch):
    """Configuration errors must be reported before Ray starts: starting it is a test failure."""
    import actors.cluster

    def refuse(*_, **__):
        raise AssertionError("Ray must not start for a refused configuration")
    monkeypatch.setattr(actors.cluster, "init_ray", refuse)


@pytest.fixture(scope="module")
def catalog_dir(tmp_path_factory):
    return write_catalog(tmp_path_factory.mktemp("catalog"))


def _exit_now(actor):
    os._exit(1)


def kill_host(ray, host):
    """Kill an actor (a playground host, a gateway) and return once it is dead: it exits while
    running this call (``ray.kill`` is asynchronous, so a call sent right after it could still be
    served)."""
    with pytest.raises(RayActorError):
        ray.get(host.__ray_call__.remote(_exit_now), timeout=DEADLINE)


def call(stub, rpc, request, timeout=DEADLINE):
    return getattr(stub, rpc)(request, timeout=timeout)


def error_of(stub, rpc, request, timeout=DEADLINE) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        call(stub, rpc, request, timeout)
    return info.value


def repo(symbol="AAA", mult=1, unit="minute", history=0):
    return pb.Repository(symbol=symbol, timespan_multiplier=mult, timespan_unit=unit, history_in_days=history)


def create(stub, *, symbols=("AAA",), start="2024-01-03", stop="2024-01-04", tags=(), balance=100_000.0,
           client_id=None, history=0):
    req = pb.CreatePolygonPlaygroundRequest(balance=balance, start_date=start, stop_date=stop, environment="simulator",
                                            repositories=[repo(s, history=history) for s in symbols], tags=list(tags))
    if client_id is not None:
        req.client_id = client_id
    return call(stub, "CreatePlayground", req).id


def tick(stub, pid, seconds, request_id=None, preview=False):
    return call(stub, "NextTick", pb.NextTickRequest(playground_id=pid, seconds=seconds, is_preview=preview,
                                                     request_id=request_id or uuid.uuid4().hex))


def order_req(pid, side, qty=10, symbol="AAA", **extra):
    return pb.PlaceOrderRequest(playground_id=pid, symbol=symbol, asset_class="equity", quantity=qty, side=side,
                                type="market", duration="day", requested_price=100.0, **extra)


def session(stub, pid):
    [s] = [p for p in call(stub, "GetPlaygrounds", pb.GetPlaygroundsRequest()).playgrounds if p.playground_id == pid]
    return s


def rfc(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# --- durable playgrounds: sessions without Ray, and gateways a test kills and restarts -----------------
NO_FILTERS = {"statuses": set(), "sides": set(), "symbols": set(), "start": None, "end": None}


def config(*symbols, balance=10_000.0, tags=(), client_id=None):
    req = pb.CreatePolygonPlaygroundRequest(balance=balance, start_date="2024-01-03", stop_date="2024-01-04",
                                            environment="simulator", repositories=[repo(s) for s in symbols],
                                            tags=list(tags))
    if client_id is not None:
        req.client_id = client_id
    return requests.create_config(req)


def new_session(pid, data_dir, *symbols):
    return answers.created(pid, config(*symbols), str(data_dir))


def refused(func, *args) -> ServiceError:
    with pytest.raises(ServiceError) as info:
        func(*args)
    return info.value


def reads(session):
    """Every read RPC's answer of a playground session (protobuf messages)."""
    return (answers.account(session, True, NO_FILTERS), answers.summary(session),
            answers.account_stats(session, True), *(answers.open_orders(session, s) for s in session.pg.symbols))


class Gateways:
    """Gateways started by one test; every one is killed at the end."""

    def __init__(self, ray):
        self.ray, self.started = ray, []

    def start(self, data_dir, hosts=0):
        gw = spawn(str(data_dir), name=None, hosts=hosts)
        address = self.ray.get(gw.start.remote("127.0.0.1", 0), timeout=120)
        channel = grpc.insecure_channel(address)
        grpc.channel_ready_future(channel).result(timeout=DEADLINE)
        self.started.append((gw, channel))
        return gw, pb_grpc.PlaygroundServiceStub(channel)

    def kill(self, gw):
        """Kill the gateway's process (it exits at once, no cleanup) and return once it is dead;
        its playgrounds and host actors die with it."""
        kill_host(self.ray, gw)

    def close(self):
        for gw, channel in self.started:
            channel.close()
            self.ray.kill(gw, no_restart=True)


@pytest.fixture
def gateways(ray_cluster):
    g = Gateways(ray_cluster)
    yield g
    g.close()


def save(stub, pid):
    call(stub, "SavePlayground", pb.SavePlaygroundRequest(playground_id=pid))


class PlaygroundServiceClient(TwirpClient):
    """What protoc-gen-twirpy generates for the service (as in the original's
    ``backtester_playground_client_grpc.py``): one method per RPC over ``_make_request``."""

    def __getattr__(self, name):
        desc = pb.DESCRIPTOR.services_by_name["PlaygroundService"].methods_by_name.get(name)
        if desc is None:
            raise AttributeError(name)

        def rpc(*, ctx, request, server_path_prefix="/twirp", **kwargs):
            return self._make_request(url=f"{server_path_prefix}/{SERVICE_NAME}/{name}", ctx=ctx, request=request,
                                      response_obj=GetMessageClass(desc.output_type), **kwargs)
        return rpc
