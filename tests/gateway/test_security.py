"""The gateway's safety: bind rules, TLS and bearer tokens, tenants, message size and rate limits,
malformed requests, and `backtestester serve` with TLS. Pure tests first (no Ray), then real
servers on OS-chosen ports inside the session's embedded Ray."""
from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import grpc
import pytest
from google.protobuf import empty_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from actors.gateway import security
from actors.gateway.security import ConfigError, SecurityConfig, TokenBucket
from actors.gateway.server import spawn
from backtestester import __version__
from backtestester.remote.client import PlaygroundClient
from backtestester.rpc import SERVICE_NAME
from backtestester.rpc import playground_pb2 as pb
from backtestester.rpc import playground_pb2_grpc as pb_grpc

from .conftest import ALICE, BOB, DEADLINE, repo, running_gateway, self_signed

ROOT = Path(__file__).resolve().parents[2]
METHOD = "/playground.PlaygroundService/{}"


# --- helpers -----------------------------------------------------------------------------------
def bearer(token):
    return [("authorization", f"Bearer {token}")]


def code_of(func, *args, **kwargs) -> grpc.RpcError:
    """The error of a stub call (with a deadline), or of a zero-argument client call."""
    if args or kwargs or not isinstance(getattr(func, "__self__", None), PlaygroundClient):
        kwargs["timeout"] = DEADLINE
    with pytest.raises(grpc.RpcError) as info:
        func(*args, **kwargs)
    return info.value


def health(channel, service=SERVICE_NAME):
    return health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=service),
                                                     timeout=DEADLINE).status


def create_req(client_id="", tags=()):
    return pb.CreatePolygonPlaygroundRequest(balance=10_000, start_date="2024-01-03", stop_date="2024-01-04",
                                             environment="simulator", repositories=[repo()], client_id=client_id,
                                             tags=list(tags))


# --- pure: token bucket, bind rules, token loading, the CLI's refusals -----------------------------
def test_token_bucket_with_an_injected_clock():
    now = [100.0]
    bucket = TokenBucket(rate=2.0, burst=3, clock=lambda: now[0])
    assert [bucket.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take("a") == 0.5            # empty: one token in 1/rate seconds
    assert bucket.take("b") == 0.0            # keys are independent
    now[0] += 0.5
    assert bucket.take("a") == 0.0 and bucket.take("a") == 0.5
    now[0] += 100.0                           # refills to the burst, never beyond
    assert [bucket.take("a") for _ in range(4)] == [0.0, 0.0, 0.0, 0.5]
    with pytest.raises(ValueError):
        TokenBucket(rate=0, burst=1)


def test_token_bucket_memory_is_bounded():
    now = [0.0]
    bucket = TokenBucket(rate=1.0, burst=1, clock=lambda: now[0], max_keys=10)
    for i in range(10):
        bucket.take(i)
    now[0] += 5.0                             # all ten buckets are full again
    bucket.take("new")
    assert len(bucket._state) <= 10 and bucket.take(0) == 0.0


def test_bind_rules():
    tls = {"tls_cert": b"-----BEGIN CERTIFICATE-----", "tls_key": b"-----BEGIN PRIVATE KEY-----"}
    for host in ("127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"):
        security.validate_bind(host, None)    # plaintext, no token: fine on loopback
    for host in ("0.0.0.0", "::", "", "10.0.0.1", "gateway.example.com"):
        with pytest.raises(ConfigError) as info:
            security.validate_bind(host, None)
        assert "--tls-cert and --tls-key" in str(info.value) and "BACKTESTESTER_TOKEN" in str(info.value)
        assert "--token-file" in str(info.value)
    with pytest.raises(ConfigError, match=r"without a bearer token \(set BACKTESTESTER_TOKEN"):
        security.validate_bind("0.0.0.0", SecurityConfig(**tls))
    with pytest.raises(ConfigError, match=r"without TLS \(pass --tls-cert and --tls-key\):"):
        security.validate_bind("0.0.0.0", SecurityConfig(tokens=(ALICE,)))
    security.validate_bind("0.0.0.0", SecurityConfig(tokens=(ALICE,), **tls))
    with pytest.raises(ConfigError, match="both a certificate and its private key"):
        SecurityConfig(tls_cert=b"x")


def test_tokens_from_the_environment_or_a_private_file(tmp_path):
    assert security.load_tokens(env={}) == ()
    assert security.load_tokens(env={"BACKTESTESTER_TOKEN": f" {ALICE}\n"}) == (ALICE,)
    with pytest.raises(ConfigError, match="at least 16 printable ASCII characters"):
        security.load_tokens(env={"BACKTESTESTER_TOKEN": "short"})
    path = tmp_path / "tokens"
    path.write_text(f"# tenants\n{ALICE}\n\n{BOB}\n")
    path.chmod(0o644)
    with pytest.raises(ConfigError, match=r"accessible by group or others \(mode 0644\): run `chmod 600"):
        security.load_tokens(path, env={})
    path.chmod(0o600)
    assert security.load_tokens(path, env={"BACKTESTESTER_TOKEN": "ignored-when-a-file-is-given"}) == (ALICE, BOB)
    with pytest.raises(ConfigError, match="cannot read token file"):
        security.load_tokens(tmp_path / "missing", env={})
    path.write_text("# nothing\n")
    with pytest.raises(ConfigError, match="holds no token"):
        security.load_tokens(path, env={})


def test_serve_refuses_bad_configuration_with_exit_code_2(no_ray, tmp_path, capsys, monkeypatch):
    from actors.cli import main

    monkeypatch.delenv("BACKTESTESTER_TOKEN", raising=False)
    cert, key = self_signed(tmp_path)
    cases = [
        (["--host", "0.0.0.0"], "a non-loopback bind requires TLS and a bearer token"),
        (["--host", "0.0.0.0", "--tls-cert", str(cert), "--tls-key", str(key)], "without a bearer token"),
        (["--tls-cert", str(cert)], "pass --tls-cert and --tls-key"),
        (["--tls-cert", str(tmp_path / "none.pem"), "--tls-key", str(key)], "--tls-cert: cannot read"),
        (["--tls-cert", str(key), "--tls-key", str(key)], "--tls-cert: " + str(key) + " is not a PEM file"),
        (["--max-message-mb", "0"], "message size limit must be positive"),
        (["--rate-limit", "-1"], "rate limit must be a finite number"),
        (["--max-streams", "-1"], "--max-streams must be 0 (no limit) or a positive number"),
        (["--max-playgrounds", "-1"], "--max-playgrounds must be 0 (no limit) or a positive number"),
        (["--token-file", str(tmp_path / "none")], "cannot read token file"),
        (["--playground-hosts", "-1"], "--playground-hosts must be 0, a number of host actors or 'auto'"),
    ]
    for flags, message in cases:
        assert main(["serve", "--port", "0", *flags]) == 2, flags
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err and "Traceback" not in err, (flags, err)


# --- real servers --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tls_files(tmp_path_factory):
    return self_signed(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def secured(ray_cluster, catalog_dir, tls_files):
    """TLS, two tenants (alice, bob), 64 KiB messages, no rate limit."""
    cert, key = tls_files
    config = SecurityConfig(tokens=(ALICE, BOB), tls_cert=cert.read_bytes(), tls_key=key.read_bytes(),
                            max_message_bytes=64 * 1024)
    with running_gateway(ray_cluster, catalog_dir, "gateway-sec", security=config) as (_, address):
        yield address, cert.read_bytes()


@pytest.fixture(scope="module")
def tls_channel(secured):
    address, root = secured
    with grpc.secure_channel(address, grpc.ssl_channel_credentials(root_certificates=root)) as ch:
        yield ch


def test_tls_and_token(secured, tls_channel):
    address, root = secured
    with PlaygroundClient(address, token=ALICE, root_certificates=root, timeout=DEADLINE) as client:
        assert client.version() == __version__
    stub = pb_grpc.PlaygroundServiceStub(tls_channel)
    assert stub.GetAppVersion(empty_pb2.Empty(), metadata=bearer(BOB), timeout=DEADLINE).version == __version__

    err = code_of(stub.GetAppVersion, empty_pb2.Empty())
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "expects the metadata `authorization: Bearer <token>`" in err.details()
    err = code_of(stub.GetAppVersion, empty_pb2.Empty(), metadata=bearer("x" * 32))
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED and "invalid bearer token" in err.details()
    err = code_of(stub.GetAppVersion, empty_pb2.Empty(), metadata=[("authorization", f"Basic {ALICE}")])
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED and "expected `Bearer <token>`" in err.details()
    with PlaygroundClient(address, token="wrong-" + ALICE, root_certificates=root, timeout=DEADLINE) as client:
        assert code_of(client.version).code() == grpc.StatusCode.UNAUTHENTICATED
    # an unknown method, unauthenticated, is UNAUTHENTICATED too (the caller learns nothing)
    raw = tls_channel.unary_unary(METHOD.format("NoSuchMethod"))
    assert code_of(raw, b"").code() == grpc.StatusCode.UNAUTHENTICATED
    assert code_of(raw, b"", metadata=bearer(ALICE)).code() == grpc.StatusCode.UNIMPLEMENTED

    # health stays open for load balancers; reflection does not
    assert health(tls_channel) == health(tls_channel, "") == health_pb2.HealthCheckResponse.SERVING
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    reflect = reflection_pb2_grpc.ServerReflectionStub(tls_channel).ServerReflectionInfo
    ask = lambda: iter([reflection_pb2.ServerReflectionRequest(list_services="")])
    with pytest.raises(grpc.RpcError) as info:
        list(reflect(ask(), timeout=DEADLINE))
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    [resp] = list(reflect(ask(), metadata=bearer(ALICE), timeout=DEADLINE))
    assert SERVICE_NAME in {s.name for s in resp.list_services_response.service}


def test_plaintext_client_against_the_tls_server_fails(secured):
    address, _ = secured
    with grpc.insecure_channel(address) as ch:
        err = code_of(pb_grpc.PlaygroundServiceStub(ch).GetAppVersion, empty_pb2.Empty(), metadata=bearer(ALICE))
        assert err.code() == grpc.StatusCode.UNAVAILABLE
        with pytest.raises(grpc.RpcError):
            health(ch)


def test_tenants_see_only_their_own_playgrounds(secured):
    address, root = secured
    with PlaygroundClient(address, token=ALICE, root_certificates=root, timeout=DEADLINE) as alice, \
            PlaygroundClient(address, token=BOB, root_certificates=root, timeout=DEADLINE) as bob:
        pid = alice.create_playground(balance=10_000, start_date="2024-01-03", stop_date="2024-01-04",
                                      repositories=[("AAA", 1, "minute")], tags=["shared-tag"], client_id="bot-1")
        assert uuid.UUID(pid).version == 4     # ids are unguessable capabilities
        alice.next_tick(pid, 0)
        order = alice.place_order(pid, "AAA", "buy", 1, requested_price=100)
        assert pid in {s.playground_id for s in alice.get_playgrounds(["shared-tag"])}
        assert pid not in {s.playground_id for s in bob.get_playgrounds()}
        for attempt in (lambda: bob.get_account(pid), lambda: bob.next_tick(pid, 60),
                        lambda: bob.delete_playground(pid), lambda: bob.get_order(order.id)):
            with pytest.raises(grpc.RpcError) as info:
                attempt()
            assert info.value.code() == grpc.StatusCode.NOT_FOUND
        # the same client_id under another token is another playground, not a way into alice's
        other = bob.create_playground(balance=10_000, start_date="2024-01-03", stop_date="2024-01-04",
                                      repositories=[("AAA", 1, "minute")], client_id="bot-1")
        assert other != pid
        assert alice.get_order(order.id).id == order.id
        assert alice.get_account(pid).meta.playground_id == pid
        bob.delete_playground(other)
        alice.delete_playground(pid)


def test_oversized_request_is_resource_exhausted_and_the_server_keeps_serving(secured, tls_channel):
    stub = pb_grpc.PlaygroundServiceStub(tls_channel)
    err = code_of(stub.CreatePlayground, create_req(tags=["x" * 100_000]), metadata=bearer(ALICE))
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and "larger than max" in err.details()
    assert health(tls_channel) == health_pb2.HealthCheckResponse.SERVING
    assert stub.GetAppVersion(empty_pb2.Empty(), metadata=bearer(ALICE), timeout=DEADLINE).version == __version__


def test_malformed_bytes_are_invalid_argument(secured, tls_channel):
    garbage = b"\xff\xff\xff\x01garbage"  # a tag with wire type 7: no message parses it
    for name, streams in (("CreatePlayground", False), ("NextTick", False), ("StreamTicks", True)):
        # request_serializer=None: the bytes go out as they are
        raw = (tls_channel.unary_stream if streams else tls_channel.unary_unary)(METHOD.format(name))

        def call(raw=raw, streams=streams, **kw):
            return list(raw(garbage, **kw)) if streams else raw(garbage, **kw)
        with pytest.raises(grpc.RpcError) as info:
            call(metadata=bearer(ALICE), timeout=DEADLINE)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, name
        assert "malformed request" in info.value.details() and "playground." in info.value.details()
        with pytest.raises(grpc.RpcError) as info:  # without a token it is not even parsed
            call(timeout=DEADLINE)
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert health(tls_channel) == health_pb2.HealthCheckResponse.SERVING


def test_non_loopback_bind_without_tls_is_refused_by_the_actor(ray_cluster, tmp_path):
    gw = spawn(str(tmp_path), name=None, security=SecurityConfig(tokens=(ALICE,)))
    try:
        with pytest.raises(ValueError, match="requires TLS and a bearer token"):
            ray_cluster.get(gw.start.remote("0.0.0.0", 0), timeout=60)
    finally:
        ray_cluster.kill(gw)


def test_rate_limit_per_client_and_plaintext_token_on_loopback(ray_cluster, tmp_path):
    """A tiny rate (one request per 1000 s) and a burst of 3: no sleeps, no timing. (An empty data
    directory: one gateway per data directory, and this one creates no playground.)"""
    config = SecurityConfig(tokens=(ALICE, BOB), rate_limit=0.001, rate_burst=3)
    with running_gateway(ray_cluster, tmp_path, "gateway-sec", security=config) as (_, address):
        with PlaygroundClient(address, token=ALICE, timeout=DEADLINE) as alice, \
                PlaygroundClient(address, token=BOB, timeout=DEADLINE) as bob:
            assert [alice.version() for _ in range(3)] == [__version__] * 3
            err = code_of(alice.version)
            assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "at most 0.001 requests/s per client (burst 3)" in err.details()
            assert bob.version() == __version__   # another client is unaffected
        with grpc.insecure_channel(address) as ch:  # unauthenticated callers have their own bucket
            stub = pb_grpc.PlaygroundServiceStub(ch)
            codes = [code_of(stub.GetAppVersion, empty_pb2.Empty()).code() for _ in range(4)]
            assert codes == [grpc.StatusCode.UNAUTHENTICATED] * 3 + [grpc.StatusCode.RESOURCE_EXHAUSTED]


def test_serve_with_tls_and_a_token_file(tls_files, tmp_path):
    """`backtestester serve` in its own process: TLS + token on port 0, health, SIGTERM -> exit 0."""
    cert, key = tls_files
    token = secrets.token_urlsafe(32)
    token_file = tmp_path / "tokens"
    token_file.write_text(token + "\n")
    token_file.chmod(0o600)
    env = {k: v for k, v in os.environ.items() if k not in ("BACKTESTESTER_TOKEN", "RAY_ADDRESS")}
    proc = subprocess.Popen([sys.executable, "-m", "actors.cli", "serve", "--host", "127.0.0.1", "--port", "0",
                             "--data-dir", str(tmp_path), "--tls-cert", str(cert), "--tls-key", str(key),
                             "--token-file", str(token_file), "--rate-limit", "1000"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()  # blocks until the server is up (or the process dies: "")
        assert line.startswith("backtestester gateway listening on 127.0.0.1:"), (line, proc.poll())
        assert "TLS, 1 bearer token" in line and token not in line
        address = line.split()[4]
        root = cert.read_bytes()
        with grpc.secure_channel(address, grpc.ssl_channel_credentials(root_certificates=root)) as ch:
            assert health(ch) == health_pb2.HealthCheckResponse.SERVING
        with PlaygroundClient(address, token=token, root_certificates=root, timeout=DEADLINE) as client:
            assert client.version() == __version__
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0, proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_health_is_never_rate_limited(ray_cluster, tmp_path):
    """Issue 12, item 3: health probes shared the bucket of unauthenticated callers from the same
    address, so a flood made every probe fail with RESOURCE_EXHAUSTED. Here a burst of 5 (and a
    rate of one request per 1000 s, so nothing refills during the test) is exhausted by
    unauthenticated and authenticated calls; then 10 health checks (Check and Watch) all answer SERVING."""
    config = SecurityConfig(tokens=(ALICE,), rate_limit=0.001, rate_burst=5)
    with running_gateway(ray_cluster, tmp_path, "gateway-sec", security=config) as (_, address):
        with grpc.insecure_channel(address) as ch:
            stub = pb_grpc.PlaygroundServiceStub(ch)
            codes = [code_of(stub.GetAppVersion, empty_pb2.Empty()).code() for _ in range(6)]
            assert codes == [grpc.StatusCode.UNAUTHENTICATED] * 5 + [grpc.StatusCode.RESOURCE_EXHAUSTED]
            with PlaygroundClient(address, token=ALICE, timeout=DEADLINE) as alice:
                assert [alice.version() for _ in range(5)] == [__version__] * 5
                assert code_of(alice.version).code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            probes = [health(ch) for _ in range(9)]
            watch = health_pb2_grpc.HealthStub(ch).Watch(health_pb2.HealthCheckRequest(service=""), timeout=DEADLINE)
            probes.append(next(watch).status)
            watch.cancel()
            assert probes == [health_pb2.HealthCheckResponse.SERVING] * 10
