"""Twirp (protocol v8) in front of the gateway's ``PlaygroundService``: the original's clients.

``POST /twirp/playground.PlaygroundService/<Method>`` with an ``application/protobuf`` or
``application/json`` body (JSON with the proto field names; an empty body is the all-default
message) calls the SAME servicer instance the gRPC server calls, through a small context adapter
(:class:`TwirpContext`: ``abort`` raises a Twirp error, ``invocation_metadata`` carries the
``authorization`` header, ``peer`` the client's address). The gRPC interceptor's checks are reused
as they are (:meth:`~actors.gateway.security.GatewayInterceptor.gate`: rate limit, bearer token,
principal), so tenancy, limits, rate limits and error texts are those of gRPC. Errors are the JSON
body ``{"code", "msg", "meta"}`` with the HTTP status Twirp v8 assigns to the code
(:data:`HTTP_STATUS`). Streams (StreamTicks, StreamCandlesArrow) are gRPC additions: ``bad_route``.

Served by aiohttp on the gateway actor's event loop (keep-alive on), on the gRPC server's host.
"""
from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import os
import ssl
import tempfile

import grpc
from aiohttp import web
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from google.protobuf.message_factory import GetMessageClass

from backtestester.remote.twirp_client import TWIRP_OF_STATUS
from backtestester.rpc import SERVICE_NAME
from backtestester.rpc import playground_pb2 as pb

from .security import GatewayInterceptor, SecurityConfig, malformed_text, trusted_networks

log = logging.getLogger(__name__)

PREFIX = f"/twirp/{SERVICE_NAME}/"
# Twirp v8's HTTP status of each error code (twitchtv/twirp PROTOCOL.md, "Error codes").
HTTP_STATUS = {
    "canceled": 408, "unknown": 500, "invalid_argument": 400, "malformed": 400, "deadline_exceeded": 408,
    "not_found": 404, "bad_route": 404, "already_exists": 409, "permission_denied": 403,
    "unauthenticated": 401, "resource_exhausted": 429, "failed_precondition": 412, "aborted": 409,
    "out_of_range": 400, "unimplemented": 501, "internal": 500, "unavailable": 503, "data_loss": 500,
}
STOP_GRACE = 2.0  # seconds in-flight Twirp calls get when the gateway stops
JSON, PROTOBUF = "application/json", "application/protobuf"
_METHODS = pb.DESCRIPTOR.services_by_name[SERVICE_NAME.rsplit(".", 1)[-1]].methods
# name -> (request class, response class) of every unary method; streams are refused (bad_route)
UNARY = {m.name: (GetMessageClass(m.input_type), GetMessageClass(m.output_type))
         for m in _METHODS if not m.client_streaming and not m.server_streaming}
STREAMS = frozenset(m.name for m in _METHODS if m.server_streaming or m.client_streaming)


def twirp_code(code: grpc.StatusCode) -> str:
    """The Twirp error code of a gRPC status code (the same names, but ``canceled``; the client's
    table, :data:`~backtestester.remote.twirp_client.TWIRP_OF_STATUS`, maps back)."""
    return TWIRP_OF_STATUS[code]


class TwirpError(grpc.aio.AbortError):
    """A refused Twirp call (raised by :meth:`TwirpContext.abort`); an ``AbortError`` so that the
    servicer's own error handling lets it through untouched, as it does gRPC's abort."""

    def __init__(self, code: str, msg: str):
        super().__init__(f"{code}: {msg}")
        self.code, self.msg = code, msg

    def response(self) -> web.Response:
        return web.Response(status=HTTP_STATUS[self.code], content_type=JSON,
                            text=json.dumps({"code": self.code, "msg": self.msg, "meta": {}}))


class TwirpContext:
    """What the servicer and the interceptor's gate use of a ``grpc.aio.ServicerContext``."""

    def __init__(self, metadata: tuple, peer: str):
        self._metadata, self._peer = metadata, peer

    async def abort(self, code: grpc.StatusCode, details: str = ""):
        raise TwirpError(twirp_code(code), details)

    def invocation_metadata(self) -> tuple:
        return self._metadata

    def peer(self) -> str:
        return self._peer


def _peer_of(request: web.Request) -> tuple[str, ipaddress.IPv4Address | ipaddress.IPv6Address | None]:
    """``(grpc-style peer, address)`` of the client (address None if it is not an IP socket)."""
    peername = request.transport.get_extra_info("peername") if request.transport else None
    if not peername:
        return "unknown", None
    addr = ipaddress.ip_address(peername[0].split("%", 1)[0])
    if getattr(addr, "ipv4_mapped", None):
        addr = addr.ipv4_mapped
    kind = "ipv6" if addr.version == 6 else "ipv4"
    return (f"ipv6:[{addr}]:{peername[1]}" if kind == "ipv6" else f"ipv4:{addr}:{peername[1]}"), addr


class TwirpFront:
    """The aiohttp application serving ``service`` over Twirp, gated by ``gate`` (the gRPC
    server's own :class:`GatewayInterceptor`, so the rate-limit buckets are shared)."""

    def __init__(self, service, gate: GatewayInterceptor, config: SecurityConfig, data_dir: str):
        self.service, self.gate, self.config = service, gate, config
        self.data_dir = data_dir
        self.trusted = trusted_networks(config.twirp_trusted)
        self.app = web.Application(client_max_size=config.max_message_bytes)
        self.app.router.add_route("*", "/{tail:.*}", self.handle)
        self.runner: web.AppRunner | None = None

    async def start(self, host: str, port: int) -> int:
        """Listen on ``host:port`` (0: the OS chooses); returns the bound port."""
        self.runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await self.runner.setup()
        site = web.TCPSite(self.runner, host, port, ssl_context=self._ssl(), reuse_port=False,
                           shutdown_timeout=STOP_GRACE)
        try:
            await site.start()
        except OSError as exc:
            await self.runner.cleanup()
            raise OSError(f"cannot listen for Twirp on {host}:{port}: {exc.strerror or exc} (is the port in use?)") \
                from None
        return self.runner.addresses[0][1]

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None

    def _ssl(self) -> ssl.SSLContext | None:
        if not self.config.tls:
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        with tempfile.TemporaryDirectory() as tmp:  # load_cert_chain reads files only
            cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
            for path, data in ((cert, self.config.tls_cert), (key, self.config.tls_key)):
                with open(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600), "wb") as f:
                    f.write(data)
            context.load_cert_chain(cert, key)
        return context

    async def handle(self, request: web.Request) -> web.Response:
        try:
            return await self._serve(request)
        except TwirpError as exc:
            return exc.response()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001  never crash, never leak the text (as the interceptor)
            log.exception("Twirp %s failed", request.path)
            return TwirpError("internal", f"{request.path}: internal error: {type(exc).__name__}").response()

    @staticmethod
    def _route(request: web.Request, name: str) -> None:
        """``bad_route`` unless ``name`` is a unary method and the content type one of Twirp's."""
        if name in STREAMS:
            raise TwirpError("bad_route", f"{name} is a server stream, served over gRPC only: Twirp has unary "
                                          f"calls only (use NextTick or GetCandles)")
        if name not in UNARY:
            raise TwirpError("bad_route", f"no such method: POST {PREFIX}<Method> with one of the "
                                          f"{len(UNARY)} unary methods of {SERVICE_NAME}")
        if request.content_type not in (JSON, PROTOBUF):
            raise TwirpError("bad_route", f"unexpected Content-Type {request.content_type[:64]!r}: "
                                          f"{PROTOBUF} or {JSON} are accepted")

    async def _serve(self, request: web.Request) -> web.Response:
        """As a gRPC call: rate limit, token (an unknown method is not revealed to strangers), then
        the route, the body, the servicer."""
        if request.method != "POST":
            raise TwirpError("bad_route", f"unsupported method {request.method[:16]} (only POST is allowed): "
                                          f"Twirp calls are POST {PREFIX}<Method>")
        name = request.path[len(PREFIX):] if request.path.startswith(PREFIX) else ""
        auth = request.headers.get("Authorization")
        metadata = (("authorization", auth),) if auth is not None else ()
        peer, addr = _peer_of(request)
        principal, denial = self.gate.authenticate(metadata)
        if denial is not None and auth is None and addr is not None and any(addr in n for n in self.trusted):
            principal, denial = None, None  # --twirp-trusted-network: the token-less principal
        context = TwirpContext(metadata, peer)
        await self.gate.gate(context, f"/{SERVICE_NAME}/{name}", principal, denial)  # rate limit, token, principal
        self._route(request, name)
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise TwirpError("resource_exhausted", f"request too large: at most {self.config.max_message_bytes} "
                                                   f"bytes per message (the gateway's --max-message-mb)") from None
        request_cls, _ = UNARY[name]
        message = self._parse(request_cls, body, request.content_type)
        answer = await getattr(self.service, name)(message, context)
        if request.content_type == JSON:
            return web.Response(content_type=JSON, text=json_format.MessageToJson(  # as Twirp v8's Go servers
                answer, preserving_proto_field_name=True, always_print_fields_with_no_presence=True, indent=None))
        return web.Response(content_type=PROTOBUF, body=answer.SerializeToString())

    @staticmethod
    def _parse(cls, body: bytes, content_type: str):
        message = cls()
        try:
            if content_type == JSON:
                if body.strip():
                    json_format.Parse(body.decode("utf-8"), message, ignore_unknown_fields=True)
            else:
                message.ParseFromString(body)
        except (DecodeError, json_format.ParseError, UnicodeDecodeError, ValueError, RecursionError):
            raise TwirpError("malformed", malformed_text(cls.DESCRIPTOR.full_name)) from None
        return message
