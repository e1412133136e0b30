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
from contextlib import ExitStack, contextmanager
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

from .conftest import ALICE, BOB, DEADLINE, repo, running_gateway, self_signed, write_catalog

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
    load = security.load_credentials
    assert load(env={}) == {"tokens": (), "tenants": ()}
    assert load(env={"BACKTESTESTER_TOKEN": f" {ALICE}\n"}) == {"tokens": (ALICE,), "tenants": ()}
    with pytest.raises(ConfigError, match="at least 16 printable ASCII characters"):
        load(env={"BACKTESTESTER_TOKEN": "short"})
    path = tmp_path / "tokens"
    path.write_text(f"# tenants\n{ALICE}\n\n{BOB}\n")
    path.chmod(0o644)
    with pytest.raises(ConfigError, match=r"accessible by group or others \(mode 0644\): run `chmod 600"):
        load(path, env={})
    path.chmod(0o600)
    assert load(path, env={"BACKTESTESTER_TOKEN": "ignored-when-a-file-is-given"}) == {"tokens": (ALICE, BOB),
                                                                                        "tenants": ()}
    with pytest.raises(ConfigError, match="cannot read token file"):
        load(tmp_path / "missing", env={})
    path.write_text("# nothing\n")
    with pytest.raises(ConfigError, match="holds no token"):
        load(path, env={})


NEW = "acme-new-" + "n" * 23  # the token that replaces ALICE's in the rotation tests


def test_named_tenants_in_the_token_file(tmp_path):
    """``NAME TOKEN`` lines: several tokens of a name are one tenant (principal ``tenant:NAME``);
    bare lines keep their digest principals; a bad line names its number and never its text."""
    path = tmp_path / "tokens"
    path.write_text(f"# rotation of acme's token\nacme {ALICE}\n  acme\t{NEW}  \n{BOB}\nops.team_2 {'o' * 20}\n")
    path.chmod(0o600)
    loaded = security.load_credentials(path, env={})
    assert loaded == {"tokens": (BOB,), "tenants": (("acme", ALICE), ("acme", NEW), ("ops.team_2", "o" * 20))}
    config = SecurityConfig(**loaded)
    assert dict(config.principals()) == {BOB: security.principal_of(BOB), ALICE: "tenant:acme", NEW: "tenant:acme",
                                         "o" * 20: "tenant:ops.team_2"}
    assert config.authenticated and "4 bearer tokens (2 named tenants)" in config.describe()
    assert SecurityConfig(tenants=(("acme", ALICE),)).authenticated  # named tokens alone make a secured gateway
    security.validate_bind("0.0.0.0", SecurityConfig(tenants=(("acme", ALICE),), tls_cert=b"c", tls_key=b"k"))
    secret = "s3cret-" + "x" * 20
    for text, message in [
        (f"{ALICE}\nacme {secret} extra\n", "line 2: 3 fields; a line is TOKEN or NAME TOKEN"),
        (f"{ALICE}\n\nbad/name {secret}\n", "line 3: a tenant name must be 1 to 64 letters, digits"),
        (f"{'n' * 65} {secret}\n", "line 1: a tenant name must be 1 to 64"),
        (f"{secret} short\n", "line 1: a bearer token must be at least 16"),  # the wrong way round
        (f"acme {secret}\nother {secret}\n", "line 2: the token of line 1 again"),
        (f"{secret}\nacme {secret}\n", "line 2: the token of line 1 again"),
    ]:
        path.write_text(text)
        with pytest.raises(ConfigError, match=message) as info:
            security.load_credentials(path, env={})
        assert secret not in str(info.value) and str(path) in str(info.value)
    with pytest.raises(ConfigError, match="configured twice"):
        SecurityConfig(tokens=(ALICE,), tenants=(("acme", ALICE),))
    with pytest.raises(ConfigError, match="tenant name"):
        SecurityConfig(tenants=(("", ALICE),))


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


def test_a_named_tenants_tokens_share_its_playgrounds_across_a_rotation(ray_cluster, tmp_path):
    """Rotation: acme's old and new tokens see the same playgrounds (saved ones after a restart too);
    once the old token's line is gone it is refused and the new one still has them. A bare token's
    saved playground stays its own through both restarts (its principal did not change)."""
    data = write_catalog(tmp_path / "data")

    @contextmanager
    def gateway(config, *tokens):
        with running_gateway(ray_cluster, data, "gateway-rotation", security=config) as (_, address), \
                ExitStack() as stack:
            yield [stack.enter_context(PlaygroundClient(address, token=t, timeout=DEADLINE)) for t in tokens]

    def ids(client):
        return {s.playground_id for s in client.get_playgrounds()}

    window = dict(start_date="2024-01-03", stop_date="2024-01-04", repositories=[("AAA", 1, "minute")])
    with gateway(SecurityConfig(tokens=(BOB,), tenants=(("acme", ALICE),)), ALICE, BOB) as (old, bob):
        pid = old.create_playground(balance=10_000, client_id="bot-1", **window)
        old.next_tick(pid, 60)
        old.save_playground(pid)
        bobs = bob.create_playground(balance=5_000, **window)
        bob.save_playground(bobs)
    # the new token added under the same name
    with gateway(SecurityConfig(tokens=(BOB,), tenants=(("acme", ALICE), ("acme", NEW))), ALICE, NEW, BOB) \
            as (old, new, bob):
        assert ids(old) == ids(new) == {pid} and ids(bob) == {bobs}
        order = new.place_order(pid, "AAA", "buy", 1, requested_price=100)  # the new token drives it
        assert old.get_order(order.id).id == order.id
        new.save_playground(pid)
    # the old token's line removed
    with gateway(SecurityConfig(tokens=(BOB,), tenants=(("acme", NEW),)), ALICE, NEW, BOB) as (old, new, bob):
        assert code_of(old.version).code() == grpc.StatusCode.UNAUTHENTICATED
        assert ids(new) == {pid} and [o.id for o in new.get_account(pid, fetch_orders=True).orders] == [order.id]
        assert ids(bob) == {bobs} and bob.get_account(bobs).balance == 5_000


def test_the_clients_trust_the_ca_in_BACKTESTESTER_TLS_CA(secured, tls_files, monkeypatch, capsys):
    """`backtest --gateway` and `live` without --tls-ca use TLS with the CA that the variable names."""
    from actors.cli import main

    address, _ = secured
    monkeypatch.setenv("BACKTESTESTER_TOKEN", ALICE)
    monkeypatch.delenv("BACKTESTESTER_TLS_CA", raising=False)
    backtest = ["backtest", "--gateway", address, "--symbol", "AAA", "--start", "2024-01-03", "--stop", "2024-01-03",
                "--transport", "unary"]
    live = ["live", "--gateway", address, "--strategy", "backtestester.strategy.reference:SmaCross",
            "--symbols", "AAA", "--max-bars", "1"]
    assert main(backtest) == 1 and "UNAVAILABLE" in capsys.readouterr().err  # plaintext against TLS
    monkeypatch.setenv("BACKTESTESTER_TLS_CA", str(tls_files[0]))
    assert main(backtest) == 0 and "through the gateway at" in capsys.readouterr().out
    assert main(live) == 1  # this gateway does not trade live: reached over TLS, it says so
    assert "UNIMPLEMENTED" in capsys.readouterr().err
    monkeypatch.setenv("BACKTESTESTER_TLS_CA", str(tls_files[0].parent / "missing.pem"))
    assert main(live) == 2
    assert "BACKTESTESTER_TLS_CA " in capsys.readouterr().err
    for command in ("live", "backtest"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        assert "default: BACKTESTESTER_TLS_CA" in " ".join(capsys.readouterr().out.split())


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
    """`backtestester serve` in its own process: TLS + a bare and a named token on port 0, health,
    SIGTERM -> exit 0."""
    cert, key = tls_files
    token, named = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    token_file = tmp_path / "tokens"
    token_file.write_text(f"{token}\nops {named}\n")
    token_file.chmod(0o600)
    env = {k: v for k, v in os.environ.items() if k not in ("BACKTESTESTER_TOKEN", "RAY_ADDRESS")}
    proc = subprocess.Popen([sys.executable, "-m", "actors.cli", "serve", "--host", "127.0.0.1", "--port", "0",
                             "--data-dir", str(tmp_path), "--tls-cert", str(cert), "--tls-key", str(key),
                             "--token-file", str(token_file), "--rate-limit", "1000"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()  # blocks until the server is up (or the process dies: "")
        assert line.startswith("backtestester gateway listening on 127.0.0.1:"), (line, proc.poll())
        assert "TLS, 2 bearer tokens (1 named tenant)" in line and token not in line and named not in line
        address = line.split()[4]
        root = cert.read_bytes()
        with grpc.secure_channel(address, grpc.ssl_channel_credentials(root_certificates=root)) as ch:
            assert health(ch) == health_pb2.HealthCheckResponse.SERVING
        for t in (token, named):
            with PlaygroundClient(address, token=t, root_certificates=root, timeout=DEADLINE) as client:
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
