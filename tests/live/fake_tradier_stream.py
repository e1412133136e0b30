"""Tradier's streams in the fake Tradier server (tests/live/fake_tradier.py adds them with
:func:`add_streams`: same process, same port).

* ``POST /v1/accounts/events/session`` and ``POST /v1/markets/events/session`` answer
  ``{"stream": {"url": "ws://<host>/v1/<kind>/events", "sessionid": ...}}``. A session id is
  single-use and expires 5 minutes after creation (by the fake's clock).
* The WebSockets ``/v1/accounts/events`` and ``/v1/markets/events`` read the subscription frame
  and check its session id (an unknown, used or expired one is answered ``{"error": ...}`` and
  closed: the texts are *illustrative*). The account socket then gets an order event (the sample
  shape: no symbol, no side) each time an order's status or ``exec_quantity`` changes (checked
  after every request and control verb); the market socket gets the frames ``/_control/stream/market``
  sends for its symbols.
* ``/_control/stream/<verb>``: ``faults`` (entries ``{"stream": "account"|"market", "action":
  "close"|"silent"|"error"|"expire", "times": n}`` applied to the next connections: close at
  once without a frame, accept and never send anything (heartbeats stopped), an error frame,
  the session id answered as expired), ``heartbeat`` (one heartbeat to every account socket),
  ``drop`` (close every open socket now, without a frame), ``market`` (frames to market sockets),
  ``wait_open`` (``{"stream", "count"}``: answers once that many sockets are open, at most 30 s),
  ``stats`` (sessions created, connections and their outcomes, open sockets).
"""
from __future__ import annotations

import asyncio
import json

from aiohttp import WSMsgType, web

SESSION_LIFE_NS = 300 * 1_000_000_000
KINDS = ("account", "market")


class Streams:
    """The streams' state; reset with the fake's ``/_control/reset``."""

    def __init__(self):
        self.reset()

    def reset(self):
        self.sessions: dict[str, dict] = {}
        self.next_session = 0
        self.faults: list[dict] = []
        self.sockets: dict[str, dict] = {kind: {} for kind in KINDS}  # kind -> ws -> symbols (market) or None
        self.connects: list[dict] = []
        self.seen: dict[int, tuple] = {}
        self.sent = 0
        self.changed = asyncio.Condition()

    def take_fault(self, kind: str) -> dict | None:
        for fault in self.faults:
            if fault.get("stream", "account") == kind:
                fault["times"] = fault.get("times", 1) - 1
                if fault["times"] <= 0:
                    self.faults.remove(fault)
                return fault
        return None

    async def note(self) -> None:
        async with self.changed:
            self.changed.notify_all()


def order_event(order: dict, account: str) -> dict:
    """An account-stream order event (Tradier's sample shape: no symbol, no side)."""
    event = {"id": order["id"], "event": "order", "status": order["status"], "type": order["type"],
             "price": order.get("price", 0), "stop_price": order.get("stop_price", 0),
             "avg_fill_price": order["avg_fill_price"], "exec_quantity": order["exec_quantity"],
             "last_fill_quantity": order["last_fill_quantity"], "remaining_quantity": order["remaining_quantity"],
             "transaction_date": order["transaction_date"], "create_date": order["create_date"], "account": account}
    if order.get("tag"):
        event["tag"] = order["tag"]
    return event


async def send_all(streams: Streams, kind: str, frame: dict, symbol: str | None = None) -> None:
    for ws, symbols in list(streams.sockets[kind].items()):
        if symbol is not None and symbol not in (symbols or ()):
            continue
        try:
            await ws.send_str(json.dumps(frame))
            streams.sent += 1
        except (ConnectionError, RuntimeError):
            streams.sockets[kind].pop(ws, None)


async def publish(app: web.Application) -> None:
    """An order event for every order whose status or executed quantity changed since the last look."""
    streams: Streams = app["streams"]
    for order in app["state"].orders:
        key = (order["status"], order["exec_quantity"])
        if streams.seen.get(order["id"]) != key:
            streams.seen[order["id"]] = key
            await send_all(streams, "account", order_event(order, app["account"]))


def new_session(kind: str):
    async def handler(request: web.Request) -> web.Response:
        token = request.headers.get("Authorization", "")[len("Bearer "):]
        if token not in request.app["tokens"]:
            return web.json_response({"fault": {"faultstring": "Invalid access token",
                                                "detail": {"errorcode": "keymanagement.service.invalid_access_token"}}},
                                     status=401)
        streams: Streams = request.app["streams"]
        streams.next_session += 1
        sid = f"{kind[0]}-{streams.next_session:06d}"
        streams.sessions[sid] = {"kind": kind, "created_ns": request.app["state"].now_ns(), "used": False}
        path = "accounts" if kind == "account" else "markets"
        return web.json_response({"stream": {"url": f"ws://{request.host}/v1/{path}/events", "sessionid": sid}})
    return handler


def session_problem(streams: Streams, kind: str, frame: dict, now_ns: int, expire: bool) -> str:
    session = streams.sessions.get(str(frame.get("sessionid", "")))
    if session is None or session["kind"] != kind:
        return "invalid session id"
    if session["used"]:
        return "session already in use"
    session["used"] = True
    if expire or now_ns - session["created_ns"] > SESSION_LIFE_NS:
        return "session expired"
    return ""


async def first_frame(ws: web.WebSocketResponse) -> dict:
    msg = await ws.receive(timeout=30)
    if msg.type != WSMsgType.TEXT:
        return {}
    try:
        frame = json.loads(msg.data)
    except ValueError:
        return {}
    return frame if isinstance(frame, dict) else {}


def socket_handler(kind: str):
    async def handler(request: web.Request) -> web.WebSocketResponse:
        streams: Streams = request.app["streams"]
        ws = web.WebSocketResponse(heartbeat=None)
        await ws.prepare(request)
        fault = streams.take_fault(kind) or {}
        action = fault.get("action", "")
        record = {"stream": kind, "sessionid": None, "outcome": action or "open"}
        streams.connects.append(record)
        if action == "close":
            await ws.close()
            await streams.note()
            return ws
        frame = await first_frame(ws)
        record["sessionid"] = frame.get("sessionid")
        problem = session_problem(streams, kind, frame, request.app["state"].now_ns(), action == "expire")
        if problem or action == "error":
            record["outcome"] = problem or "error"
            await ws.send_str(json.dumps({"error": problem or fault.get("text", "stream error")}))
            await ws.close()
            await streams.note()
            return ws
        if action != "silent":
            streams.sockets[kind][ws] = {s.upper() for s in frame.get("symbols", [])} if kind == "market" else None
        await streams.note()
        async for _ in ws:  # the client may send the subscription again; nothing else to read
            pass
        streams.sockets[kind].pop(ws, None)
        await streams.note()
        return ws
    return handler


async def control(request: web.Request) -> web.Response:
    streams: Streams = request.app["streams"]
    verb = request.match_info["verb"]
    body = await request.json() if request.method == "POST" and request.can_read_body else {}
    if verb == "faults":
        streams.faults.extend(body)
    elif verb == "heartbeat":
        await send_all(streams, "account", {"event": "heartbeat", "status": "active",
                                            "timestamp": request.app["state"].now_ns() // 1_000_000})
    elif verb == "drop":
        for kind in KINDS:
            for ws in list(streams.sockets[kind]):
                streams.sockets[kind].pop(ws, None)
                await ws.close()
    elif verb == "market":
        for frame in body:
            await send_all(streams, "market", frame, str(frame.get("symbol", "")).upper())
    elif verb == "wait_open":
        async with streams.changed:
            try:
                await asyncio.wait_for(streams.changed.wait_for(
                    lambda: len(streams.sockets[body.get("stream", "account")]) >= body.get("count", 1)), 30)
            except asyncio.TimeoutError:
                return web.json_response({"open": False})
        return web.json_response({"open": True})
    elif verb == "stats":
        return web.json_response({"sessions": list(streams.sessions), "connects": streams.connects, "sent": streams.sent,
                                  "open": {kind: len(streams.sockets[kind]) for kind in KINDS}})
    else:
        return web.Response(status=404, text=f"unknown stream control verb {verb!r}")
    return web.json_response({"ok": True})


@web.middleware
async def events_after(request: web.Request, handler):
    """Reset with the fake; after every other request, order events for what it changed."""
    if request.path == "/_control/reset":
        request.app["streams"].reset()
    response = await handler(request)
    if not request.path.startswith("/_control/stream"):
        await publish(request.app)
    return response


def add_streams(app: web.Application, account: str, tokens) -> None:
    """Add the stream routes, the control verbs and the order-event middleware to the fake's app."""
    app["streams"], app["account"], app["tokens"] = Streams(), account, set(tokens)
    app.middlewares.append(events_after)
    app.router.add_post("/v1/accounts/events/session", new_session("account"))
    app.router.add_post("/v1/markets/events/session", new_session("market"))
    app.router.add_get("/v1/accounts/events", socket_handler("account"))
    app.router.add_get("/v1/markets/events", socket_handler("market"))
    app.router.add_route("*", "/_control/stream/{verb}", control)
