"""The Twirp client's transport against real HTTP servers on OS-chosen loopback ports (a scripted
``http.server``; the gateway's own Twirp front is driven in tests/gateway/test_parity.py): retries
of UNAVAILABLE with one request id, the error mapping, and the keep-alive connection."""
from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc
import pytest

from backtestester.remote.twirp_client import STATUS_OF_TWIRP, TWIRP_OF_STATUS, TwirpPlaygroundClient, TwirpRpcError
from backtestester.rpc import playground_pb2 as pb


class Scripted(BaseHTTPRequestHandler):
    """Answers each POST with the next ``(status, content type, body)`` of the server's script."""

    protocol_version = "HTTP/1.1"  # keep-alive

    def do_POST(self):  # noqa: N802  (http.server's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.seen.append((self.path, self.headers.get("Authorization"), body, self.client_address))
        status, ctype, answer = self.server.script.pop(0)
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Scripted)
    srv.script, srv.seen = [], []
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join()


def twirp_error(code, msg):
    return json.dumps({"code": code, "msg": msg, "meta": {}}).encode()


def test_unavailable_is_retried_with_one_request_id_and_business_errors_are_not(server):
    """A 503 without a Twirp body (a proxy's page) and a Twirp ``unavailable`` are retried with the
    same NextTick request id; ``invalid_argument`` surfaces at once as a grpc.RpcError whose code
    and details are gRPC's."""
    base = f"http://127.0.0.1:{server.server_address[1]}"
    server.script = [(503, "text/html", b"<html>busy</html>"),
                     (503, "application/json", twirp_error("unavailable", "draining")),
                     (200, "application/protobuf", pb.TickDelta(current_time="t").SerializeToString()),
                     (400, "application/json", twirp_error("invalid_argument", "PlaceOrder: side not allowed"))]
    sleeps = []
    with TwirpPlaygroundClient(base, token="tok", sleep=sleeps.append, backoff=0.1, timeout=30) as client:
        assert client.next_tick("p", 60).current_time == "t"
        with pytest.raises(grpc.RpcError) as caught:
            client.place_order("p", "AAA", "sell", 1, requested_price=10)
    assert sleeps == [0.1, 0.2]
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details() == "PlaceOrder: side not allowed"
    paths = [s[0] for s in server.seen]
    assert paths == ["/twirp/playground.PlaygroundService/NextTick"] * 3 + ["/twirp/playground.PlaygroundService/PlaceOrder"]
    assert len({pb.NextTickRequest.FromString(s[2]).request_id for s in server.seen[:3]}) == 1
    assert {s[1] for s in server.seen} == {"Bearer tok"}
    assert len({s[3] for s in server.seen[2:]}) == 1  # after the 200: one kept-alive connection


def test_a_refused_connection_is_unavailable_after_the_retries():
    with socket.socket() as s:  # a port nothing listens on (bound, never listening)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        sleeps = []
        with TwirpPlaygroundClient(f"http://127.0.0.1:{port}", retries=2, sleep=sleeps.append) as client:
            with pytest.raises(TwirpRpcError) as caught:
                client.version()
    assert caught.value.code() is grpc.StatusCode.UNAVAILABLE and len(sleeps) == 2
    assert f"cannot reach 127.0.0.1:{port}" in caught.value.details()


def test_the_code_tables_are_inverse_and_cover_twirps_own_codes():
    assert all(STATUS_OF_TWIRP[name] is code for code, name in TWIRP_OF_STATUS.items())
    assert TWIRP_OF_STATUS[grpc.StatusCode.CANCELLED] == "canceled"
    assert STATUS_OF_TWIRP["malformed"] is grpc.StatusCode.INVALID_ARGUMENT
    assert STATUS_OF_TWIRP["bad_route"] is grpc.StatusCode.UNIMPLEMENTED
    assert TwirpRpcError("no_such_code", "x").code() is grpc.StatusCode.UNKNOWN
    with pytest.raises(ValueError, match="base_url must be http://host:port"):
        TwirpPlaygroundClient("127.0.0.1:5052")
