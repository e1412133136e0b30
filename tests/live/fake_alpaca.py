"""A fake Alpaca server (trading API v2, its trade-updates WebSocket, two market-data paths) for the
adapter's tests: a real aiohttp server in its own process.

Run from the repository root: ``python -m tests.live.fake_alpaca --port 0``; it prints
``READY <port>`` once it listens on 127.0.0.1. Stop it by its pid (``tests/live/alpaca_control.py``).

Payloads follow ``shared/research/live-venues.md`` §4: JSON bodies, numbers as strings, errors
``{"code", "message"}``, 401 without the key headers, 403 for a refused order, 422 for a bad
parameter, a ``client_order_id`` used twice (``client_order_id must be unique``) and a cancel of
an order no longer cancelable, ``X-RateLimit-*`` headers on every answer; the trade-updates stream
answers ``authenticate`` and ``listen`` and sends every order change as a **binary** frame (paper's
quirk). The matching model, the fault script (``respond``/``drop``/``block``, ``commit``) and the
calendar are the fake Tradier server's (:mod:`tests.live.fake_tradier`), reused: orders are kept in
its shape and shown in Alpaca's. Stream faults: ``/_control/drop_streams`` closes every stream
connection without a close frame; ``set stream_drops=N`` closes the next N connections so, right
after ``listening``. Texts marked *illustrative* are not measured Alpaca texts.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import datetime, timedelta

from aiohttp import WSMsgType, web

from .fake_tradier import EASTERN, NS, State, advance, iso, misbehave, serve, sessions_of, take_fault

KEY_ID, SECRET_KEY = "fake-key-id", "fake-secret-key"
ACCOUNT = "PA0FAKE0001"
UNAUTHORISED = {"code": 40110000, "message": "request is not authorized"}
TYPES, TIFS, SIDES = ("market", "limit", "stop", "stop_limit"), ("day", "gtc", "opg", "cls", "ioc", "fok"), ("buy", "sell")


class AlpacaState(State):
    """The fake Tradier's state plus the stream's: live connections and scripted drops."""

    def reset(self, **settings):
        self.streams: set = set()
        self.stream_drops = 0  # close the next N stream connections right after "listening"
        self.stream_connects = 0
        self.sent_events: list[dict] = []
        super().reset(**settings)


def error(status: int, code: int, message: str) -> web.Response:
    return web.json_response({"code": code, "message": message}, status=status)


def shown(order: dict) -> dict:
    """An order in Alpaca's shape (strings for numbers, null prices when unset)."""
    filled = order["exec_quantity"]
    return {"id": order["id"], "client_order_id": order["tag"], "created_at": order["create_date"],
            "updated_at": order["transaction_date"], "submitted_at": order["create_date"],
            "filled_at": order["transaction_date"] if order["status"] == "filled" else None,
            "asset_class": "us_equity", "symbol": order["symbol"], "qty": f"{order['quantity']:g}",
            "filled_qty": f"{filled:g}", "filled_avg_price": f"{order['avg_fill_price']:g}" if filled else None,
            "order_class": "", "order_type": order["type"], "type": order["type"], "side": order["side"],
            "time_in_force": order["duration"], "limit_price": order.get("price_text"),
            "stop_price": order.get("stop_text"), "status": ALPACA_STATUS.get(order["status"], order["status"]),
            "extended_hours": order.get("extended_hours", False)}


#: The fake Tradier's statuses as Alpaca's (``open`` is ``new``, ``pending`` is ``accepted``).
ALPACA_STATUS = {"open": "new", "pending": "accepted"}


def publish(state: AlpacaState, order: dict, event: str, **extra) -> None:
    """Send a trade update to every listening stream connection (binary frames, as paper does)."""
    message = {"stream": "trade_updates", "data": {"event": event, "timestamp": iso(state.now_ns()),
                                                   "order": shown(order), **extra}}
    state.sent_events.append(message["data"])
    for queue in list(state.streams):
        queue.put_nowait(message)


def step(state: AlpacaState, order: dict) -> None:
    """One matching step (the fake Tradier's), published as ``fill``/``partial_fill``."""
    before = order["exec_quantity"]
    advance(state, order)
    if order["exec_quantity"] > before:
        event = "fill" if order["status"] == "filled" else "partial_fill"
        publish(state, order, event, price=str(order["last_fill_price"]), qty=f"{order['exec_quantity'] - before:g}")


def refusal(state: AlpacaState, body: dict) -> web.Response | None:
    """Alpaca's 422/403 answers for a bad order (texts illustrative but for the duplicate)."""
    if body.get("symbol") in (None, "") or body.get("side") not in SIDES or body.get("type") not in TYPES \
            or body.get("time_in_force") not in TIFS:
        return error(422, 40010001, "invalid order: symbol, side, type and time_in_force are required")
    qty = str(body.get("qty", ""))
    if not qty.isdigit() or int(qty) <= 0:
        return error(422, 40010001, "qty must be a positive integer")
    cid = body.get("client_order_id") or ""
    if len(cid) > 128:
        return error(422, 40010001, "client_order_id must be no more than 128 characters")
    if cid and any(order["tag"] == cid for order in state.orders):
        return error(422, 40010001, "client_order_id must be unique")
    if state.rejects:
        return error(403, 40310000, state.rejects.pop(0))
    held = state.positions.get(body["symbol"].upper(), [0.0, 0.0])[0]
    if body["side"] == "sell" and 0 < held < int(qty) or body["side"] == "buy" and 0 < -held < int(qty):
        return error(403, 40310000, f"insufficient qty available for order (requested: {qty}, available: {abs(held):g})")
    return None


def commit(state: AlpacaState, body: dict) -> dict:
    now = state.now_ns()
    state.next_id += 1
    order = {"id": f"61e69015-8549-4bfd-b9c3-{state.next_id:012d}", "type": body["type"], "symbol": body["symbol"].upper(),
             "side": body["side"], "quantity": float(body["qty"]), "status": "pending", "duration": body["time_in_force"],
             "avg_fill_price": 0.0, "exec_quantity": 0.0, "remaining_quantity": float(body["qty"]),
             "create_date": iso(now), "transaction_date": iso(now), "tag": body.get("client_order_id") or f"auto-{state.next_id}",
             "extended_hours": bool(body.get("extended_hours"))}
    if body.get("limit_price") is not None:
        order["price"], order["price_text"] = float(body["limit_price"]), str(body["limit_price"])
    if body.get("stop_price") is not None:
        order["stop_price"], order["stop_text"] = float(body["stop_price"]), str(body["stop_price"])
    if state.partials:
        order["fractions"] = list(state.partials.pop(0))
    state.orders.append(order)
    publish(state, order, "new")
    if state.fill_mode == "immediate":
        step(state, order)
    return order


@web.middleware
async def middleware(request: web.Request, handler):
    state: AlpacaState = request.app["state"]
    if request.path.startswith("/_control") or request.path == "/stream":
        return await handler(request)
    body = await request.json() if request.method == "POST" and request.can_read_body else {}
    request["body"] = body
    state.requests.append({"method": request.method, "path": request.path, "query": dict(request.query), "body": body,
                           "key": request.headers.get("APCA-API-KEY-ID", "")})
    if request.headers.get("APCA-API-KEY-ID") != KEY_ID or request.headers.get("APCA-API-SECRET-KEY") != SECRET_KEY:
        return web.json_response(UNAUTHORISED, status=401)
    fault = take_fault(state, request)
    if fault is None:
        response = await handler(request)
    elif fault.get("commit"):
        response = await misbehave(state, request, fault, await handler(request))
    else:
        response = await misbehave(state, request, fault, lambda: handler(request))
    if not (fault or {}).get("bare"):
        reset = (state.now_ns() // (60 * NS) + 1) * 60
        for key, value in {"X-RateLimit-Limit": "200", "X-RateLimit-Remaining": "199",
                           "X-RateLimit-Reset": str(reset)}.items():
            response.headers.setdefault(key, value)
    return response


def find(state: AlpacaState, order_id: str) -> dict | None:
    return next((order for order in state.orders if order["id"] == order_id), None)


async def place_order(request: web.Request) -> web.Response:
    state: AlpacaState = request.app["state"]
    body = request["body"]
    if (answer := refusal(state, body)) is not None:
        return answer
    return web.json_response(shown(commit(state, body)))


async def list_orders(request: web.Request) -> web.Response:
    state: AlpacaState = request.app["state"]
    status, query = request.query.get("status", "open"), request.query
    chosen = [o for o in state.orders if status == "all" or (status == "open") == (
        o["status"] in ("pending", "open", "partially_filled"))]
    if "after" in query:
        chosen = [o for o in chosen if o["create_date"] > iso_ms(query["after"])]
    if query.get("direction", "desc") == "desc":
        chosen = chosen[::-1]
    return web.json_response([shown(o) for o in chosen[: int(query.get("limit", 50))]])


def iso_ms(text: str) -> str:
    """An RFC-3339 text as the fake's own millisecond form (comparable as text)."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return iso(int(moment.timestamp()) * NS + moment.microsecond * 1000)


async def by_client_order_id(request: web.Request) -> web.Response:
    state: AlpacaState = request.app["state"]
    wanted = request.query.get("client_order_id", "")
    order = next((o for o in state.orders if o["tag"] == wanted), None)
    return web.json_response(shown(order)) if order else error(404, 40410000, "order not found")


async def get_order(request: web.Request) -> web.Response:
    order = find(request.app["state"], request.match_info["order_id"])
    return web.json_response(shown(order)) if order else error(404, 40410000, "order not found")


async def cancel_order(request: web.Request) -> web.Response:
    state: AlpacaState = request.app["state"]
    order = find(state, request.match_info["order_id"])
    if order is None:
        return error(404, 40410000, "order not found")
    if order["status"] not in ("pending", "open", "partially_filled"):
        return error(422, 42210000, "order is not cancelable")
    order["status"], order["transaction_date"] = "canceled", iso(state.now_ns())
    publish(state, order, "canceled")
    return web.Response(status=204)


async def positions(request: web.Request) -> web.Response:
    state: AlpacaState = request.app["state"]
    return web.json_response([
        {"symbol": symbol, "qty": f"{qty:g}", "side": "long" if qty > 0 else "short", "cost_basis": f"{abs(basis):g}",
         "avg_entry_price": f"{abs(basis / qty):g}", "market_value": f"{qty * state.prices.get(symbol, 0.0):g}",
         "asset_class": "us_equity"} for symbol, (qty, basis) in sorted(state.positions.items())])


async def account(request: web.Request) -> web.Response:
    state: AlpacaState = request.app["state"]
    long_value = sum(q * state.prices.get(s, b / q) for s, (q, b) in state.positions.items() if q > 0)
    short_value = sum(q * state.prices.get(s, b / q) for s, (q, b) in state.positions.items() if q < 0)
    return web.json_response({"id": "fake-account", "account_number": ACCOUNT, "status": "ACTIVE", "currency": "USD",
                              "cash": f"{state.cash:g}", "equity": f"{state.cash + long_value + short_value:g}",
                              "long_market_value": f"{long_value:g}", "short_market_value": f"{short_value:g}",
                              "multiplier": "2", "buying_power": f"{2 * state.cash:g}", "trading_blocked": False,
                              "shorting_enabled": True, "pattern_day_trader": False})


async def clock(request: web.Request) -> web.Response:
    state: AlpacaState = request.app["state"]
    now = state.now_ns() - int(state.clock_lag_s * NS)
    local = datetime.fromtimestamp(now / NS, tz=EASTERN)
    day = sessions_of(local.year).get((local.date() - datetime(1970, 1, 1).date()).days)
    return web.json_response({"timestamp": local.isoformat(), "is_open": bool(day and day[0] <= now < day[1]),
                              "next_open": "", "next_close": ""})


async def calendar(request: web.Request) -> web.Response:
    start = datetime.fromisoformat(request.query["start"]).date()
    end = datetime.fromisoformat(request.query["end"]).date()
    out, day = [], start
    while day <= end:
        session = sessions_of(day.year).get((day - datetime(1970, 1, 1).date()).days)
        if session:
            fmt = lambda ns: datetime.fromtimestamp(ns / NS, tz=EASTERN).strftime("%H:%M")  # noqa: E731
            out.append({"date": day.isoformat(), "open": fmt(session[0]), "close": fmt(session[1]),
                        "session_open": "0400", "session_close": "2000", "settlement_date": day.isoformat()})
        day += timedelta(days=1)
    return web.json_response(out)


async def snapshots(request: web.Request) -> web.Response:
    state: AlpacaState = request.app["state"]
    out = {}
    for symbol in filter(None, request.query.get("symbols", "").upper().split(",")):
        if symbol in state.prices:
            price, at = state.prices[symbol], iso(state.now_ns())
            out[symbol] = {"latestTrade": {"p": price, "s": 100, "t": at},
                           "latestQuote": {"bp": round(price - 0.01, 2), "ap": round(price + 0.01, 2), "t": at}}
    return web.json_response(out)


async def bars(request: web.Request) -> web.Response:
    """Bars set with ``/_control/series`` (rows ``{t, o, h, l, c, v}``), two per page."""
    state: AlpacaState = request.app["state"]
    rows = state.series.get((request.match_info["symbol"].upper(), request.query.get("timeframe", "1Min")), [])
    start, end = iso_ms(request.query["start"]), iso_ms(request.query["end"])
    chosen = [row for row in rows if start <= row["t"] <= end]
    offset = int(request.query.get("page_token", "0"))
    page = chosen[offset: offset + 2]
    token = str(offset + 2) if offset + 2 < len(chosen) else None
    return web.json_response({"bars": page, "symbol": request.match_info["symbol"].upper(), "next_page_token": token})


async def stream(request: web.Request) -> web.WebSocketResponse:
    """``authenticate`` -> ``authorization``; ``listen`` -> ``listening``; then every order change."""
    state: AlpacaState = request.app["state"]
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    auth = await ws.receive()
    data = (json.loads(auth.data).get("data") or {}) if auth.type == WSMsgType.TEXT else {}
    ok = data.get("key_id") == KEY_ID and data.get("secret_key") == SECRET_KEY
    await ws.send_bytes(json.dumps({"stream": "authorization", "data": {
        "action": "authenticate", "status": "authorized" if ok else "unauthorized"}}).encode())
    if not ok:
        await ws.close()
        return ws
    listen = await ws.receive()
    streams = (json.loads(listen.data).get("data") or {}).get("streams", []) if listen.type == WSMsgType.TEXT else []
    queue: asyncio.Queue = asyncio.Queue()
    state.streams.add(queue)
    state.stream_connects += 1
    try:
        await ws.send_bytes(json.dumps({"stream": "listening", "data": {"streams": streams}}).encode())
        if state.stream_drops > 0:
            state.stream_drops -= 1
            request.transport.close()  # closed without a close frame
            return ws
        while True:
            message = await queue.get()
            if message is None:  # /_control/drop_streams
                request.transport.close()
                return ws
            await ws.send_bytes(json.dumps(message).encode())
    finally:
        state.streams.discard(queue)


async def control(request: web.Request) -> web.Response:
    """POST /_control/<verb> with a JSON body (the fake Tradier's verbs, plus ``drop_streams``,
    ``stream_info`` and ``reject`` as a 403 of the next POST)."""
    state: AlpacaState = request.app["state"]
    verb = request.match_info["verb"]
    body = await request.json() if request.method == "POST" and request.can_read_body else {}
    if verb == "reset":
        state.release.set()
        for queue in list(state.streams):
            queue.put_nowait(None)
        state.reset(**body)
    elif verb == "faults":
        if any(fault.get("action") == "block" for fault in body) and state.release.is_set():
            state.release, state.blocked = asyncio.Event(), asyncio.Event()
        state.faults.extend(body)
    elif verb in ("set", "price", "position", "partial", "reject", "series", "release"):
        apply_setting(state, verb, body)
    elif verb == "tick":
        for order in state.orders:
            step(state, order)
    elif verb == "drop_streams":
        for queue in list(state.streams):
            queue.put_nowait(None)
    elif verb == "wait_blocked":
        try:
            await asyncio.wait_for(state.blocked.wait(), 30)
        except asyncio.TimeoutError:
            return web.json_response({"blocked": False})
        return web.json_response({"blocked": True})
    else:
        return report(state, verb)
    return web.json_response({"ok": True})


def apply_setting(state: AlpacaState, verb: str, body) -> None:
    if verb == "set":
        for key, value in body.items():
            setattr(state, key, value)
    elif verb == "price":
        state.prices.update({symbol.upper(): float(price) for symbol, price in body.items()})
    elif verb == "position":
        state.positions[body["symbol"].upper()] = [float(body["quantity"]), float(body.get("cost_basis", 0.0))]
    elif verb == "partial":
        state.partials.append(list(body["fractions"]))
    elif verb == "reject":
        state.rejects.append(body["reason"])
    elif verb == "series":
        state.series[(body["symbol"].upper(), body.get("interval", "1Min"))] = body["rows"]
    elif verb == "release":
        state.release.set()


def report(state: AlpacaState, verb: str) -> web.Response:
    if verb == "orders":
        return web.json_response([shown(order) for order in state.orders])
    if verb == "requests":
        return web.json_response(state.requests)
    if verb == "positions":
        return web.json_response({symbol: qty for symbol, (qty, _) in state.positions.items()})
    if verb == "stream_info":
        return web.json_response({"connects": state.stream_connects, "listening": len(state.streams),
                                  "events": len(state.sent_events)})
    return web.Response(status=404, text=f"unknown control verb {verb!r}")


def make_app() -> web.Application:
    app = web.Application(middlewares=[middleware])
    app["state"] = AlpacaState()
    app.router.add_post("/v2/orders", place_order)
    app.router.add_get("/v2/orders", list_orders)
    app.router.add_get("/v2/orders:by_client_order_id", by_client_order_id)
    app.router.add_get("/v2/orders/{order_id}", get_order)
    app.router.add_delete("/v2/orders/{order_id}", cancel_order)
    app.router.add_get("/v2/positions", positions)
    app.router.add_get("/v2/account", account)
    app.router.add_get("/v2/clock", clock)
    app.router.add_get("/v2/calendar", calendar)
    app.router.add_get("/v2/stocks/snapshots", snapshots)
    app.router.add_get("/v2/stocks/{symbol}/bars", bars)
    app.router.add_get("/stream", stream)
    app.router.add_route("*", "/_control/{verb}", control)
    return app


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="A fake Alpaca server for tests (loopback only).")
    parser.add_argument("--port", type=int, default=0, help="0: an OS-chosen port")
    parser.add_argument("--ready-file", default=None, help="write {port, pid} here once listening")
    args = parser.parse_args(argv)
    asyncio.run(serve(args.port, args.ready_file, make_app()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
