"""Twirp (protocol v8) on the gateway, against real servers: every unary RPC in protobuf and JSON
gives what gRPC gives, Twirp error bodies and HTTP statuses, playgrounds shared by both transports,
the security rules (tokens, tenants, TLS, the trusted-network opt-in, rate limits), and a client
made with the ``twirp`` package, as the original's Python clients make theirs."""
from __future__ import annotations

import logging
import uuid

import grpc
import pytest
import requests
from google.protobuf import empty_pb2, json_format
from google.protobuf.message_factory import GetMessageClass
from twirp.context import Context
from twirp.exceptions import TwirpServerException

from actors.gateway.security import SecurityConfig
from backtestester.rpc import SERVICE_NAME
from backtestester.rpc import playground_pb2 as pb
from backtestester.rpc import playground_pb2_grpc as pb_grpc

from .conftest import (
    ALICE,
    BOB,
    DEADLINE,
    PlaygroundServiceClient,
    create,
    error_of,
    order_req,
    repo,
    running_gateway,
    self_signed,
    tick,
    write_catalog,
)

SERVICE = pb.DESCRIPTOR.services_by_name["PlaygroundService"]
UNARY = [m for m in SERVICE.methods if not m.client_streaming and not m.server_streaming]
PROTOBUF, JSON = "application/protobuf", "application/json"
LIVE_ONLY = {"CreateLivePlayground", "GetReconciliationReport", "GetEquityReport", "MockFillOrder", "GetBrokerHealth",
             "PushBars", "SettleIntent"}


def post(base, method, body=b"", content_type=PROTOBUF, session=requests, **kwargs):
    return session.post(f"{base}/twirp/{SERVICE_NAME}/{method}", data=body, timeout=DEADLINE,
                        headers={"Content-Type": content_type, **kwargs.pop("headers", {})}, **kwargs)


def twirp_call(base, method, request, content_type=PROTOBUF, **kwargs):
    """``("ok", answer)`` or ``("error", code, msg)`` of a Twirp call, in either encoding."""
    desc = SERVICE.methods_by_name[method]
    if content_type == JSON:
        body = json_format.MessageToJson(request, preserving_proto_field_name=True).encode()
    else:
        body = request.SerializeToString()
    resp = post(base, method, body, content_type, **kwargs)
    if resp.status_code != 200:
        error = resp.json()
        assert resp.headers["Content-Type"].startswith(JSON) and set(error) == {"code", "msg", "meta"}, resp.text
        return "error", error["code"], error["msg"], resp.status_code
    answer = GetMessageClass(desc.output_type)()
    if content_type == JSON:
        assert resp.headers["Content-Type"].startswith(JSON)
        json_format.Parse(resp.text, answer)
    else:
        assert resp.headers["Content-Type"].startswith(PROTOBUF)
        answer.ParseFromString(resp.content)
    return "ok", answer


def grpc_call(stub, method, request):
    try:
        return "ok", getattr(stub, method)(request, timeout=DEADLINE)
    except grpc.RpcError as exc:
        code = "canceled" if exc.code() is grpc.StatusCode.CANCELLED else exc.code().name.lower()
        return "error", code, exc.details()


@pytest.fixture(scope="module")
def served(ray_cluster, catalog_dir):
    """``(grpc stub, twirp base URL)`` of one gateway serving both (no token, loopback)."""
    with running_gateway(ray_cluster, catalog_dir, "gateway-twirp", twirp_port=0) as (gw, address):
        base = ray_cluster.get(gw.twirp_address.remote(), timeout=DEADLINE)
        with grpc.insecure_channel(address) as channel:
            yield pb_grpc.PlaygroundServiceStub(channel), base


def sample_requests(stub):
    """A request of every unary method that a playground can answer; methods not listed here (a
    new RPC) send the all-default message, and must still answer as gRPC answers it."""
    pid = create(stub, client_id=f"twirp-{uuid.uuid4().hex[:8]}")
    tick(stub, pid, 3600)
    stub.PlaceOrder(order_req(pid, "buy"), timeout=DEADLINE)
    return pid, {
        "CreatePlayground": lambda: pb.CreatePolygonPlaygroundRequest(
            balance=1000, start_date="2024-01-03", stop_date="2024-01-04", environment="simulator",
            repositories=[repo("AAA")]),
        "GetPlaygrounds": lambda: pb.GetPlaygroundsRequest(),
        "GetOrder": lambda: pb.GetOrderRequest(order_id=1),
        "NextTick": lambda: pb.NextTickRequest(playground_id=pid, seconds=60, request_id=uuid.uuid4().hex),
        "PlaceOrder": lambda: order_req(pid, "buy", qty=1),
        "CancelOrder": lambda: pb.CancelOrderRequest(  # a fresh pending order for each transport
            playground_id=pid, order_id=stub.PlaceOrder(order_req(pid, "buy", qty=1), timeout=DEADLINE).id),
        "GetAccount": lambda: pb.GetAccountRequest(playground_id=pid, fetch_orders=True),
        "GetCandles": lambda: pb.GetCandlesRequest(playground_id=pid, symbol="AAA", period_in_seconds=60,
                                                   fromRTF3339="2024-01-03T14:30:00Z"),
        "GetOpenOrders": lambda: pb.GetOpenOrdersRequest(playground_id=pid, symbol="AAA"),
        "SavePlayground": lambda: pb.SavePlaygroundRequest(playground_id=pid),
        "DeletePlayground": lambda: pb.DeletePlaygroundRequest(playground_id=create(stub)),
        "GetAccountStats": lambda: pb.GetAccountStatsRequest(playground_id=pid, equity_plot=True),
        "GetDailyTickerSummaryFromPolygon": lambda: pb.GetDailyTickerSummaryFromPolygonRequest(
            symbol="AAA", date="2024-01-03"),
    }


READS = {"GetPlaygrounds", "GetOrder", "GetAccount", "GetCandles", "GetOpenOrders", "GetAccountStats",
         "GetAppVersion", "GetDailyTickerSummaryFromPolygon"}


@pytest.mark.parametrize("content_type", [PROTOBUF, JSON])
def test_every_unary_rpc_answers_over_twirp_as_over_grpc(served, content_type):
    """For each unary method of the service descriptor (a new RPC is covered without a change
    here), the same request over gRPC and over Twirp gets the same outcome: an answer of the
    response type (equal, for the reads), or the same error code and text."""
    stub, base = served
    pid, samples = sample_requests(stub)
    try:
        compare_transports(stub, base, samples, content_type)
    finally:  # GetOrder asks every playground: leave none with orders behind
        stub.DeletePlayground(pb.DeletePlaygroundRequest(playground_id=pid), timeout=DEADLINE)


def compare_transports(stub, base, samples, content_type):
    for desc in UNARY:
        build = samples.get(desc.name, lambda desc=desc: GetMessageClass(desc.input_type)())
        over_grpc = grpc_call(stub, desc.name, build())
        over_twirp = twirp_call(base, desc.name, build(), content_type)
        assert over_twirp[0] == over_grpc[0], (desc.name, over_grpc, over_twirp)
        if over_grpc[0] == "error":
            assert over_twirp[1:3] == over_grpc[1:3], desc.name
        elif desc.name in READS:
            assert over_twirp[1] == over_grpc[1], desc.name
        if desc.name in samples:
            assert over_twirp[0] == "ok", (desc.name, over_twirp)
        if desc.name in LIVE_ONLY:
            assert over_twirp[1:] == ("unimplemented", over_grpc[2], 501), desc.name
    assert {m.name for m in UNARY} - LIVE_ONLY - {"GetAppVersion"} <= set(samples), "a new RPC needs a sample"


def test_an_empty_body_is_the_all_default_message(served):
    stub, base = served
    for content_type in (PROTOBUF, JSON):
        resp = post(base, "GetAppVersion", b"", content_type)
        assert resp.status_code == 200, resp.text
    assert resp.json() == {"version": stub.GetAppVersion(empty_pb2.Empty(), timeout=DEADLINE).version}
    # fields at their defaults are sent, as Twirp v8's Go servers send them (EmitUnpopulated)
    account = post(base, "GetAccountStats", b'{"playground_id": "%s"}' % create(stub).encode(), JSON).json()
    assert "equity_plot" in account and account["equity_plot"] == [], account
    # all defaults: playground_id "" names no playground
    assert post(base, "GetAccount", b"", JSON).json() == {"code": "not_found", "msg": "playground not found",
                                                          "meta": {}}


def test_error_bodies_and_http_statuses(served):
    stub, base = served
    pid = create(stub)
    cases = [  # (method, body, content type, HTTP status, code, text in msg)
        ("GetAccount", b'{"playground_id": "nope"}', JSON, 404, "not_found", "playground not found"),
        ("NextTick", pb.NextTickRequest(playground_id=pid, seconds=1).SerializeToString(), PROTOBUF, 400,
         "invalid_argument", "request id is empty"),
        ("NoSuchMethod", b"", PROTOBUF, 404, "bad_route", "no such method"),
        ("GetAppVersion", b"", "text/plain", 404, "bad_route", "unexpected Content-Type 'text/plain'"),
        ("StreamTicks", b"", PROTOBUF, 404, "bad_route", "StreamTicks is a server stream, served over gRPC only"),
        ("GetAccount", b"\xff\xff\xff", PROTOBUF, 400, "malformed", "not a valid playground.GetAccountRequest"),
        ("GetAccount", b"{not json", JSON, 400, "malformed", "not a valid playground.GetAccountRequest"),
        ("GetAccount", b'{"playground_id": 5}', JSON, 400, "malformed", "not a valid"),
        ("CreateLivePlayground", b"", PROTOBUF, 501, "unimplemented", "live trading is off"),
    ]
    for method, body, content_type, status, code, text in cases:
        resp = post(base, method, body, content_type)
        error = resp.json()
        assert (resp.status_code, error["code"]) == (status, code) and text in error["msg"], (method, resp.text)
        assert error["meta"] == {}
    resp = requests.get(f"{base}/twirp/{SERVICE_NAME}/GetAppVersion", timeout=DEADLINE)
    assert resp.status_code == 404 and resp.json()["code"] == "bad_route" and "only POST" in resp.json()["msg"]
    assert requests.post(f"{base}/other", timeout=DEADLINE).json()["code"] == "bad_route"


def test_a_playground_is_the_same_over_both_transports(served):
    stub, base = served
    made = pb.CreatePolygonPlaygroundRequest(balance=5000, start_date="2024-01-03", stop_date="2024-01-04",
                                             environment="simulator", repositories=[repo("AAA")])
    ok, answer = twirp_call(base, "CreatePlayground", made, JSON)
    pid = answer.id
    tick(stub, pid, 3600)                                       # gRPC moves the clock ...
    ok, account = twirp_call(base, "GetAccount", pb.GetAccountRequest(playground_id=pid))
    assert account == stub.GetAccount(pb.GetAccountRequest(playground_id=pid), timeout=DEADLINE)
    ok, order = twirp_call(base, "PlaceOrder", order_req(pid, "buy", qty=3), JSON)   # ... Twirp places an order
    assert ok == "ok" and order.id == 1
    seen = stub.GetAccount(pb.GetAccountRequest(playground_id=pid, fetch_orders=True), timeout=DEADLINE)
    assert [(o.id, o.quantity) for o in seen.orders] == [(1, 3)]
    ok, _ = twirp_call(base, "DeletePlayground", pb.DeletePlaygroundRequest(playground_id=pid))
    assert error_of(stub, "GetAccount", pb.GetAccountRequest(playground_id=pid)).code() is grpc.StatusCode.NOT_FOUND


def test_keep_alive_serves_many_calls_on_one_connection(served):
    _, base = served
    with requests.Session() as session:
        answers = [post(base, "GetAppVersion", b"", session=session) for _ in range(20)]
    assert all(a.status_code == 200 for a in answers)


# --- the twirp package, as the original's client uses it ---------------------------------------------------
def test_the_twirp_package_client_drives_a_playground(served):
    _, base = served
    client = PlaygroundServiceClient(address=base, timeout=DEADLINE)
    pid = client.CreatePlayground(ctx=Context(), request=pb.CreatePolygonPlaygroundRequest(
        balance=10_000, start_date="2024-01-03", stop_date="2024-01-04", environment="simulator",
        repositories=[repo("AAA")])).id
    delta = client.NextTick(ctx=Context(), request=pb.NextTickRequest(playground_id=pid, seconds=3600,
                                                                      request_id="r1"))
    assert delta.current_time
    order = client.PlaceOrder(ctx=Context(), request=order_req(pid, "buy", qty=2))
    assert order.id == 1
    account = client.GetAccount(ctx=Context(), request=pb.GetAccountRequest(playground_id=pid, fetch_orders=True))
    assert [o.id for o in account.orders] == [1]
    with pytest.raises(TwirpServerException) as info:
        client.GetAccount(ctx=Context(), request=pb.GetAccountRequest(playground_id="no-such-id"))
    assert info.value.code.value == "not_found" and info.value.message == "playground not found"
    with pytest.raises(TwirpServerException) as info:
        client.PlaceOrder(ctx=Context(), request=order_req(pid, "sell_short", qty=-1))
    assert info.value.code.value == "invalid_argument"


# --- security ------------------------------------------------------------------------------------------
def test_tls_tokens_and_tenants_over_twirp(ray_cluster, tmp_path):
    """With tokens, a call without one is unauthenticated (401, gRPC's text); each token is a
    tenant on both transports; with TLS the base URL is https (the client trusts the certificate)."""
    cert, key = self_signed(tmp_path)
    config = SecurityConfig(tokens=(ALICE, BOB), tls_cert=cert.read_bytes(), tls_key=key.read_bytes())
    with running_gateway(ray_cluster, write_catalog(tmp_path / "catalog"), "gateway-twirp-sec", twirp_port=0, security=config) as (gw, _):
        base = ray_cluster.get(gw.twirp_address.remote(), timeout=DEADLINE)
        assert base.startswith("https://127.0.0.1:")
        tls = {"verify": str(cert)}
        bare = twirp_call(base, "GetAppVersion", empty_pb2.Empty(), **tls)
        assert bare[1:] == ("unauthenticated", "missing credentials: this gateway expects the metadata "
                            "`authorization: Bearer <token>` with a configured token (BACKTESTESTER_TOKEN or "
                            "--token-file on the server)", 401)
        unknown = post(base, "NoSuchMethod", b"", **tls)  # as gRPC: an unknown method is not revealed to strangers
        assert (unknown.status_code, unknown.json()["code"]) == (401, "unauthenticated")
        wrong = twirp_call(base, "GetAppVersion", empty_pb2.Empty(), headers={"Authorization": "Bearer " + "x" * 20}, **tls)
        assert wrong[1] == "unauthenticated" and "invalid bearer token" in wrong[2]
        alice, bob = ({"headers": {"Authorization": f"Bearer {t}"}, **tls} for t in (ALICE, BOB))
        made = pb.CreatePolygonPlaygroundRequest(balance=1000, start_date="2024-01-03", stop_date="2024-01-04",
                                                 environment="simulator", repositories=[repo("AAA")])
        ok, answer = twirp_call(base, "CreatePlayground", made, **alice)
        assert ok == "ok"
        mine = twirp_call(base, "GetAccount", pb.GetAccountRequest(playground_id=answer.id), JSON, **alice)
        theirs = twirp_call(base, "GetAccount", pb.GetAccountRequest(playground_id=answer.id), JSON, **bob)
        assert mine[0] == "ok" and theirs[1:] == ("not_found", "playground not found", 404)
        with pytest.raises(requests.exceptions.ConnectionError):  # plaintext HTTP to the TLS port
            post(base.replace("https", "http"), "GetAppVersion")


def test_trusted_network_opt_in_and_rate_limit(ray_cluster, tmp_path):
    """``twirp_trusted``: token-less Twirp calls from that network are admitted as the one
    token-less principal (not a token's tenant); a token, if sent, is still checked; gRPC is not
    opened by it. The rate limit counts Twirp calls as gRPC's, with gRPC's text (429); a body over
    the message size limit is resource_exhausted."""
    config = SecurityConfig(tokens=(ALICE,), twirp_trusted=("127.0.0.0/8",), rate_limit=0.001, rate_burst=40,
                            max_message_bytes=64 * 1024)
    assert "token-less Twirp from 127.0.0.0/8" in config.describe()
    with running_gateway(ray_cluster, write_catalog(tmp_path), "gateway-twirp-trusted", twirp_port=0, security=config) as (gw, addr):
        base = ray_cluster.get(gw.twirp_address.remote(), timeout=DEADLINE)
        made = pb.CreatePolygonPlaygroundRequest(balance=1000, start_date="2024-01-03", stop_date="2024-01-04",
                                                 environment="simulator", repositories=[repo("AAA")])
        ok, answer = twirp_call(base, "CreatePlayground", made)            # no token: trusted network
        assert ok == "ok"
        alice = {"headers": {"Authorization": f"Bearer {ALICE}"}}
        seen = twirp_call(base, "GetAccount", pb.GetAccountRequest(playground_id=answer.id), **alice)
        assert seen[1:] == ("not_found", "playground not found", 404)     # not alice's
        wrong = twirp_call(base, "GetAppVersion", empty_pb2.Empty(), headers={"Authorization": "Bearer " + "y" * 20})
        assert wrong[1] == "unauthenticated"
        big = post(base, "GetPlaygrounds", pb.GetPlaygroundsRequest(tags=["x" * 100] * 1000).SerializeToString())
        assert (big.status_code, big.json()["code"]) == (429, "resource_exhausted")
        assert "request too large: at most 65536 bytes per message" in big.json()["msg"]
        with grpc.insecure_channel(addr) as channel:  # gRPC still wants the token
            stub = pb_grpc.PlaygroundServiceStub(channel)
            assert error_of(stub, "GetAppVersion", empty_pb2.Empty()).code() is grpc.StatusCode.UNAUTHENTICATED
        outcomes = [twirp_call(base, "CreatePlayground", made) for _ in range(4)]  # 10 each: the bucket runs dry
        limited = outcomes[-1]
        assert limited[1] == "resource_exhausted" and limited[3] == 429, outcomes
        assert limited[2].startswith("rate limit exceeded: at most 0.001 requests/s per client (burst 40); "
                                     "CreatePlayground counts as 10 requests; retry in ")


def test_serve_refuses_bad_twirp_configuration_with_exit_code_2(no_ray, capsys, monkeypatch):
    from actors.cli import main

    monkeypatch.delenv("BACKTESTESTER_TOKEN", raising=False)
    cases = [
        (["--host", "0.0.0.0", "--twirp-port", "5999"], "a non-loopback bind requires TLS and a bearer token"),
        (["--twirp-port", "-1"], "--twirp-port must be a port number, or 0 for no Twirp"),
        (["--twirp-trusted-network", "10.0.0.300/8"], "--twirp-trusted-network must be a client network"),
    ]
    for flags, message in cases:
        assert main(["serve", "--port", "0", *flags]) == 2, flags
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err and "Traceback" not in err, (flags, err)


def test_the_trusted_network_opt_in_is_logged_as_a_warning(no_ray, caplog):
    """``serve`` logs one WARNING line naming the networks, before anything starts."""
    from actors.gateway.server import serve

    config = SecurityConfig(twirp_trusted=("10.1.0.0/16", "fd00::1"))
    with caplog.at_level(logging.WARNING), pytest.raises(AssertionError, match="Ray must not start"):
        serve("127.0.0.1", 0, security=config, twirp_port=0)
    [line] = [r.getMessage() for r in caplog.records if "need no bearer token" in r.getMessage()]
    assert line.startswith("WARNING: Twirp calls from 10.1.0.0/16, fd00::1/128 need no bearer token")


def test_stop_closes_the_twirp_port_and_a_busy_twirp_port_undoes_the_start(ray_cluster, tmp_path):
    """``stop`` closes both ports; a Twirp port in use fails ``start`` with OSError and leaves
    nothing behind: the gRPC port closed, the data directory's lock released (a retry starts)."""
    import socket

    from actors.gateway.server import spawn

    data_dir = write_catalog(tmp_path)
    gw = spawn(str(data_dir), name=None)
    try:
        with socket.socket() as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen()
            taken = busy.getsockname()[1]
            with pytest.raises(OSError, match=f"cannot listen for Twirp on 127.0.0.1:{taken}"):
                ray_cluster.get(gw.start.remote("127.0.0.1", 0, taken), timeout=60)
        assert ray_cluster.get(gw.address.remote()) is None
        address = ray_cluster.get(gw.start.remote("127.0.0.1", 0, 0), timeout=60)   # the lock was released
        base = ray_cluster.get(gw.twirp_address.remote())
        assert post(base, "GetAppVersion").status_code == 200
        ray_cluster.get(gw.stop.remote(0.5), timeout=30)
        with pytest.raises(requests.exceptions.ConnectionError):
            post(base, "GetAppVersion")
        with grpc.insecure_channel(address) as channel:  # nothing listens: refused at once
            stub = pb_grpc.PlaygroundServiceStub(channel)
            assert error_of(stub, "GetAppVersion", empty_pb2.Empty()).code() is grpc.StatusCode.UNAVAILABLE
        assert ray_cluster.get(gw.twirp_address.remote()) is None
    finally:
        ray_cluster.kill(gw)
