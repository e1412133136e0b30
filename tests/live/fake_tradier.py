"""A fake Tradier REST server for the adapter's tests: a real aiohttp server, in its own process.

Run: ``python tests/live/fake_tradier.py --port 0 [--ready-file F]``; it prints ``READY <port>``
(and writes ``{"port": P, "pid": N}`` to F) once it listens on 127.0.0.1. Stop it by its pid.

It implements the paths of ``shared/research/live-venues.md`` §2 under ``/v1`` with Tradier's
payload shapes and quirks (the ``"null"`` string, a bare object for one row, form bodies, tag
rules, 401 ``Unauthorized Account``, X-Ratelimit-* headers on every answer), a tiny deterministic
matching model and a control API under ``/_control`` (see :func:`control_routes`):

* market orders fill at the symbol's set price when committed (``fill_mode`` ``immediate``) or at
  the next ``/_control/tick`` (``tick``); limit/stop orders when the price crosses; a scripted
  partial fill advances one fraction per tick (``exec_quantity`` cumulative); a scripted reject
  makes the next order ``rejected`` with ``reason_description``;
* a fault script: entries ``{"method", "path" (substring), "times", "action", "commit", ...}``
  matched in order against each request. ``commit`` runs the real handler first (an order is
  accepted) and then misbehaves; actions: ``respond`` (``status``, ``json``/``text``,
  ``content_type``, ``headers``), ``drop`` (close the connection without answering), ``block``
  (wait until ``/_control/release``, then answer normally; ``/_control/wait_blocked`` answers
  once a request is blocked, so a test can kill the client then); ``bare`` leaves out the X-Ratelimit-*
  headers the fake adds to every other answer.

The account and market event streams (sessions, WebSockets, their fault scripts) are in
``fake_tradier_stream.py``, added to this app by :func:`make_app`.

Texts marked *illustrative* are not measured Tradier texts.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import time
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from aiohttp import web

ACCOUNT = "VA000001"
TRADING_TOKEN = "trading-token"
DATA_TOKEN = "data-token"
EASTERN = ZoneInfo("America/New_York")
NS = 1_000_000_000
SIDES = ("buy", "buy_to_cover", "sell", "sell_short")
TYPES = ("market", "limit", "stop", "stop_limit")
DURATIONS = ("day", "gtc", "pre", "post")
TAG_CHARS = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-")
INVALID_TOKEN = {"fault": {"faultstring": "Invalid access token",
                           "detail": {"errorcode": "keymanagement.service.invalid_access_token"}}}
#: Extended-hours windows of the fake's calendar (illustrative: Tradier's calendar example).
PREMARKET, POSTMARKET = ("07:00", "09:24"), ("16:00", "19:55")


class State:
    """Everything the fake knows; :meth:`reset` between tests."""

    def __init__(self):
        self.reset()

    def reset(self, **settings):
        self.orders: list[dict] = []
        self.day_first = 0  # index of today's first order: the default (intraday) list starts there
        self.next_id = 1000
        self.prices: dict[str, float] = {}
        self.positions: dict[str, list[float]] = {}  # symbol -> [signed qty, total cost basis]
        self.cash = 100_000.0
        self.faults: list[dict] = []
        self.requests: list[dict] = []
        self.time_ns: int | None = None  # None: the real clock
        self.clock_lag_s = 0.0
        self.fill_mode = "immediate"
        self.strict_sides = True
        self.exec_field = "exec_quantity"
        self.partials: list[list[float]] = []  # fractions of the next orders
        self.rejects: list[str] = []  # reasons for the next orders
        self.series: dict[tuple[str, str], list[dict]] = {}
        self.rate_allowed = 1000
        self.rate: dict[tuple[str, str], list[int]] = {}  # (token, category) -> [window start ns, used]
        self.release = asyncio.Event()
        self.blocked = asyncio.Event()  # set when a handler starts blocking (for /_control/wait_blocked)
        for key, value in settings.items():
            setattr(self, key, value)

    def now_ns(self) -> int:
        return self.time_ns if self.time_ns is not None else time.time_ns()


def iso(ns: int) -> str:
    return datetime.fromtimestamp(ns / NS, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def category(request: web.Request) -> str:
    if "/markets" in request.path:
        return "market"
    return "trading" if request.method in ("POST", "PUT", "DELETE") else "standard"


def rate_headers(state: State, token: str, kind: str) -> dict:
    now = state.now_ns()
    window = state.rate.get((token, kind))
    if window is None or now >= window[0] + 60 * NS:
        window = state.rate[(token, kind)] = [now, 0]
    window[1] += 1
    return {"X-Ratelimit-Allowed": str(state.rate_allowed), "X-Ratelimit-Used": str(window[1]),
            "X-Ratelimit-Available": str(max(state.rate_allowed - window[1], 0)),
            "X-Ratelimit-Expiry": str((window[0] + 60 * NS) // 1_000_000)}


def take_fault(state: State, request: web.Request) -> dict | None:
    for fault in state.faults:
        if fault.get("method", request.method) == request.method and fault.get("path", "") in request.path:
            fault["times"] = fault.get("times", 1) - 1
            if fault["times"] <= 0:
                state.faults.remove(fault)
            return fault
    return None


def fault_response(fault: dict) -> web.Response:
    if "json" in fault:
        return web.json_response(fault["json"], status=fault.get("status", 200), headers=fault.get("headers"))
    return web.Response(status=fault.get("status", 200), text=fault.get("text", ""),
                        content_type=fault.get("content_type", "text/plain"), headers=fault.get("headers"))


async def misbehave(state: State, request: web.Request, fault: dict, answer):
    """Apply ``fault``; ``answer`` is the real handler's response (``commit``) or a coroutine to get it."""
    action = fault.get("action", "respond")
    if action == "drop":
        request.transport.close()
        raise asyncio.CancelledError()
    if action == "block":
        state.blocked.set()
        await state.release.wait()
        return answer if isinstance(answer, web.StreamResponse) else await answer()
    return fault_response(fault)


@web.middleware
async def middleware(request: web.Request, handler):
    state: State = request.app["state"]
    if request.path.startswith("/_control"):
        return await handler(request)
    form = dict(await request.post()) if request.method in ("POST", "PUT") else {}
    auth = request.headers.get("Authorization", "")
    token = auth[len("Bearer "):] if auth.startswith("Bearer ") else ""
    state.requests.append({"method": request.method, "path": request.path, "token": token,
                           "accept": request.headers.get("Accept", ""), "query": dict(request.query), "form": form})
    request["form"] = form
    fault = take_fault(state, request)
    if fault is None:
        response = await handler(request)
    elif fault.get("commit"):
        response = await misbehave(state, request, fault, await handler(request))
    else:
        response = await misbehave(state, request, fault, lambda: handler(request))
    if not (fault or {}).get("bare"):  # bare: a fault answer without X-Ratelimit-* headers
        for key, value in rate_headers(state, token, category(request)).items():
            response.headers.setdefault(key, value)
    return response


def authorised(request: web.Request, account: str | None) -> web.Response | None:
    """The 401 Tradier gives, or ``None``: /accounts take the trading token, /markets either."""
    token = request.headers.get("Authorization", "")[len("Bearer "):]
    if token not in (TRADING_TOKEN, DATA_TOKEN):
        return web.json_response(INVALID_TOKEN, status=401)
    if account is not None and (account != ACCOUNT or token != TRADING_TOKEN):
        return web.Response(status=401, text=f"Unauthorized Account: {account}")
    return None


def rows_envelope(outer: str, inner: str, items: list) -> dict:
    if not items:
        return {outer: "null"}
    return {outer: {inner: items[0] if len(items) == 1 else items}}


# -- the matching model ---------------------------------------------------------------------
def side_refusal(state: State, symbol: str, side: str, quantity: int) -> str:
    """Illustrative back-office checks: a side must agree with the position."""
    if not state.strict_sides:
        return ""
    held = state.positions.get(symbol, [0.0, 0.0])[0]
    if side == "sell_short" and held > 0 or side == "buy" and held < 0:
        return f"Backoffice rejected override of the order. Unexpected {'SellShort' if side == 'sell_short' else 'Buy'}Order"
    if side == "sell" and quantity > held or side == "buy_to_cover" and quantity > -held:
        return f"Backoffice rejected override of the order. {side} of {quantity} exceeds the position of {held:g}"
    return ""


def fill(state: State, order: dict, quantity: float, price: float) -> None:
    sign = 1 if order["side"] in ("buy", "buy_to_cover") else -1
    held, basis = state.positions.get(order["symbol"], [0.0, 0.0])
    new = held + sign * quantity
    if held == 0 or (held > 0) == (sign > 0):
        basis += sign * quantity * price
    else:
        basis = basis * (new / held) if new and (new > 0) == (held > 0) else new * price
    state.positions[order["symbol"]] = [new, basis]
    if new == 0:
        del state.positions[order["symbol"]]
    state.cash -= sign * quantity * price
    done = order["exec_quantity"]
    order["avg_fill_price"] = (order["avg_fill_price"] * done + price * quantity) / (done + quantity)
    order["exec_quantity"] = done + quantity
    order["last_fill_price"], order["last_fill_quantity"] = price, quantity
    order["remaining_quantity"] = order["quantity"] - order["exec_quantity"]
    order["status"] = "filled" if order["remaining_quantity"] <= 0 else "partially_filled"
    order["transaction_date"] = iso(state.now_ns())


def fill_price(state: State, order: dict) -> float | None:
    price = state.prices.get(order["symbol"])
    if price is None:
        return None
    buying = order["side"] in ("buy", "buy_to_cover")
    if order["type"] in ("stop", "stop_limit") and not order.get("triggered"):
        if (price >= order["stop_price"]) if buying else (price <= order["stop_price"]):
            order["triggered"] = True
        else:
            return None
    if order["type"] in ("limit", "stop_limit"):
        crosses = price <= order["price"] if buying else price >= order["price"]
        return order["price"] if crosses else None
    return price


def advance(state: State, order: dict) -> None:
    """One matching step of a working order: the next scripted fraction (or the rest) fills."""
    if order["status"] not in ("pending", "open", "partially_filled"):
        return
    price = fill_price(state, order)
    if price is None:
        order["status"] = "open"
        return
    quantity, fractions = order["remaining_quantity"], order.get("fractions")
    if fractions:
        step = round(order["quantity"] * fractions.pop(0))
        quantity = quantity if not fractions else min(max(step, 1), quantity)
    fill(state, order, quantity, price)


def validate(form: dict) -> str:
    """Tradier's 400 texts for a bad order form (tag texts measured; the others illustrative)."""
    tag = form.get("tag", "")
    if len(tag) > 255:
        return "Invalid parameter, tag: contains more than 255 characters."
    if tag and not set(tag) <= TAG_CHARS:
        return "Invalid parameter, tag: contains invalid characters."
    for key, allowed in (("class", ("equity",)), ("side", SIDES), ("type", TYPES), ("duration", DURATIONS)):
        if form.get(key) not in allowed:
            return f"Invalid Parameter: {key}"
    if not form.get("symbol"):
        return "Invalid Parameter: symbol"
    if not str(form.get("quantity", "")).isdigit() or int(form["quantity"]) <= 0:
        return "Invalid Parameter: quantity"
    for key, types in (("price", ("limit", "stop_limit")), ("stop", ("stop", "stop_limit"))):
        if form["type"] in types:
            try:
                float(form[key])
            except (KeyError, ValueError):
                return f"Invalid Parameter: {key}"
    return ""


def commit(state: State, form: dict) -> dict:
    now = state.now_ns()
    state.next_id += 1
    order = {"id": state.next_id, "type": form["type"], "symbol": form["symbol"].upper(), "side": form["side"],
             "quantity": float(form["quantity"]), "status": "pending", "duration": form["duration"],
             "avg_fill_price": 0.0, "exec_quantity": 0.0, "last_fill_price": 0.0, "last_fill_quantity": 0.0,
             "remaining_quantity": float(form["quantity"]), "create_date": iso(now), "transaction_date": iso(now),
             "class": "equity", "tag": form.get("tag") or None}
    if form["type"] in ("limit", "stop_limit"):
        order["price"] = float(form["price"])
    if form["type"] in ("stop", "stop_limit"):
        order["stop_price"] = float(form["stop"])
    if state.partials:
        order["fractions"] = list(state.partials.pop(0))
    reason = state.rejects.pop(0) if state.rejects else side_refusal(
        state, order["symbol"], order["side"], int(order["quantity"]))
    if reason:
        order["status"], order["reason_description"] = "rejected", reason
    state.orders.append(order)
    if state.fill_mode == "immediate":
        advance(state, order)
    return order


def shown_order(state: State, order: dict, with_tag: bool) -> dict:
    out = {key: value for key, value in order.items() if key not in ("fractions", "triggered", "tag")}
    if state.exec_field != "exec_quantity":
        out[state.exec_field] = out.pop("exec_quantity")
    if with_tag and order.get("tag"):
        out["tag"] = order["tag"]
    return out


# -- /v1 handlers ---------------------------------------------------------------------------
async def place_order(request: web.Request) -> web.Response:
    state: State = request.app["state"]
    if refusal := authorised(request, request.match_info["account"]):
        return refusal
    form = request["form"]
    if problem := validate(form):
        return web.Response(status=400, text=problem)
    order = commit(state, form)
    return web.json_response({"order": {"id": order["id"], "status": "ok", "partner_id": "fake"}})


async def list_orders(request: web.Request) -> web.Response:
    state: State = request.app["state"]
    if refusal := authorised(request, request.match_info["account"]):
        return refusal
    with_tag = request.query.get("includeTags") == "true"
    page, limit = int(request.query.get("page", 1)), int(request.query.get("limit", 25))
    today = state.orders if request.query.get("filter") == "all" else state.orders[state.day_first:]
    chosen = today[(page - 1) * limit: page * limit]
    return web.json_response(rows_envelope("orders", "order", [shown_order(state, o, with_tag) for o in chosen]))


def find_order(state: State, request: web.Request) -> dict | None:
    wanted = request.match_info["order_id"]
    return next((order for order in state.orders if str(order["id"]) == wanted), None)


async def get_order(request: web.Request) -> web.Response:
    state: State = request.app["state"]
    if refusal := authorised(request, request.match_info["account"]):
        return refusal
    order = find_order(state, request)
    if order is None:  # illustrative: Tradier's answer to an unknown id on GET is not measured
        return web.Response(status=404, text="Order not found")
    return web.json_response({"order": shown_order(state, order, request.query.get("includeTags") == "true")})


async def cancel_order(request: web.Request) -> web.Response:
    state: State = request.app["state"]
    account = request.match_info["account"]
    if refusal := authorised(request, account):
        return refusal
    order = find_order(state, request)
    if order is None:  # measured: an unknown id gets the same 401 as bad credentials
        return web.Response(status=401, text=f"Unauthorized Account: {account}")
    if order["status"] not in ("pending", "open", "partially_filled"):
        return web.Response(status=400, text=f"order already in finalized state: {order['status']}")
    order["status"], order["transaction_date"] = "canceled", iso(state.now_ns())
    return web.json_response({"order": {"id": order["id"], "status": "ok"}})


async def positions(request: web.Request) -> web.Response:
    state: State = request.app["state"]
    if refusal := authorised(request, request.match_info["account"]):
        return refusal
    items = [{"cost_basis": basis, "date_acquired": iso(state.now_ns()), "id": i + 1, "quantity": qty,
              "symbol": symbol} for i, (symbol, (qty, basis)) in enumerate(sorted(state.positions.items()))]
    return web.json_response(rows_envelope("positions", "position", items))


async def balances(request: web.Request) -> web.Response:
    state: State = request.app["state"]
    if refusal := authorised(request, request.match_info["account"]):
        return refusal
    value = sum(qty * state.prices.get(symbol, basis / qty) for symbol, (qty, basis) in state.positions.items())
    return web.json_response({"balances": {
        "account_number": ACCOUNT, "account_type": "margin", "total_equity": state.cash + value,
        "total_cash": state.cash, "market_value": value, "open_pl": 0.0, "close_pl": 0.0,
        "pending_orders_count": sum(o["status"] in ("pending", "open") for o in state.orders),
        "margin": {"fed_call": 0, "maintenance_call": 0, "stock_buying_power": 2 * state.cash, "sweep": 0}}})


def sessions_of(year: int) -> dict[int, tuple[int, int]]:
    """XNYS sessions of ``year``: epoch day -> (open ns, close ns) (the engine's calendar loader)."""
    from backtestester.calendars import load_sessions

    found = load_sessions("XNYS", year, year)
    return {int(day): (int(o), int(c)) for day, o, c in zip(found.labels, found.opens, found.closes)}


def hhmm(ns: int) -> str:
    return datetime.fromtimestamp(ns / NS, tz=EASTERN).strftime("%H:%M")


def calendar_day(date, sessions: dict) -> dict:
    day = (date - datetime(1970, 1, 1).date()).days
    if day not in sessions:
        return {"date": date.isoformat(), "status": "closed", "description": "Market is closed"}
    opens, closes = sessions[day]
    post_end = POSTMARKET[1] if hhmm(closes) == "16:00" else "17:00"
    return {"date": date.isoformat(), "status": "open", "description": "Market is open",
            "premarket": {"start": PREMARKET[0], "end": PREMARKET[1]},
            "open": {"start": hhmm(opens), "end": hhmm(closes)},
            "postmarket": {"start": hhmm(closes), "end": post_end}}


async def market_calendar(request: web.Request) -> web.Response:
    if refusal := authorised(request, None):
        return refusal
    state: State = request.app["state"]
    today = datetime.fromtimestamp(state.now_ns() / NS, tz=EASTERN)
    year, month = int(request.query.get("year", today.year)), int(request.query.get("month", today.month))
    sessions, days = sessions_of(year), []
    for number in range(1, 32):
        try:
            days.append(calendar_day(datetime(year, month, number).date(), sessions))
        except ValueError:
            break
    return web.json_response({"calendar": {"month": month, "year": year, "days": {"day": days}}})


def clock_state(state: State, now_ns: int) -> str:
    local = datetime.fromtimestamp(now_ns / NS, tz=EASTERN)
    day = calendar_day(local.date(), sessions_of(local.year))
    if day["status"] != "open":
        return "closed"
    at = local.strftime("%H:%M")
    for name, key in (("premarket", "premarket"), ("open", "open"), ("postmarket", "postmarket")):
        if day[key]["start"] <= at < day[key]["end"]:
            return name
    return "closed"


async def market_clock(request: web.Request) -> web.Response:
    if refusal := authorised(request, None):
        return refusal
    state: State = request.app["state"]
    now = state.now_ns() - int(state.clock_lag_s * NS)
    local = datetime.fromtimestamp(now / NS, tz=EASTERN)
    return web.json_response({"clock": {"date": local.date().isoformat(), "description": "fake clock",
                                        "state": clock_state(state, now), "timestamp": now // NS,
                                        "next_change": "16:00", "next_state": "postmarket"}})


async def market_quotes(request: web.Request) -> web.Response:
    if refusal := authorised(request, None):
        return refusal
    state: State = request.app["state"]
    symbols = (request.query.get("symbols") or request["form"].get("symbols", "")).upper().split(",")
    quotes, unmatched = [], []
    for symbol in filter(None, symbols):
        price = state.prices.get(symbol)
        if price is None:
            unmatched.append(symbol)
            continue
        quotes.append({"symbol": symbol, "description": symbol, "exch": "Q", "type": "stock", "last": price,
                       "bid": round(price - 0.01, 2), "ask": round(price + 0.01, 2), "bidsize": 1, "asksize": 1,
                       "trade_date": state.now_ns() // 1_000_000})
    body = rows_envelope("quotes", "quote", quotes)
    if unmatched:
        body["quotes"] = body["quotes"] if quotes else {}
        body["quotes"]["unmatched_symbols"] = {"symbol": unmatched[0] if len(unmatched) == 1 else unmatched}
    return web.json_response(body)


def eastern_minute(text: str) -> int:
    moment = datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=EASTERN)
    return int(moment.timestamp()) * NS


async def market_timesales(request: web.Request) -> web.Response:
    if refusal := authorised(request, None):
        return refusal
    state: State = request.app["state"]
    query = request.query
    rows = state.series.get((query.get("symbol", "").upper(), query.get("interval", "1min")), [])
    start = eastern_minute(query["start"]) if "start" in query else 0
    end = eastern_minute(query["end"]) if "end" in query else 2**62
    data = []
    for row in rows:
        if start <= row["timestamp"] * NS <= end:
            local = datetime.fromtimestamp(row["timestamp"], tz=EASTERN).strftime("%Y-%m-%dT%H:%M:%S")
            data.append({"time": local, "timestamp": row["timestamp"], "price": row["close"], "open": row["open"],
                         "high": row["high"], "low": row["low"], "close": row["close"],
                         "volume": row.get("volume", 0), "vwap": row["close"]})
    if not data:
        return web.json_response({"series": None})
    return web.json_response({"series": {"data": data[0] if len(data) == 1 else data}})


# -- /_control ------------------------------------------------------------------------------
async def control(request: web.Request) -> web.Response:
    """POST /_control/<verb> with a JSON body; GET /_control/orders|requests|positions."""
    state: State = request.app["state"]
    verb = request.match_info["verb"]
    body = await request.json() if request.method == "POST" and request.can_read_body else {}
    if verb == "reset":
        state.release.set()
        state.reset(**body)
    elif verb == "faults":
        if any(fault.get("action") == "block" for fault in body) and state.release.is_set():
            state.release, state.blocked = asyncio.Event(), asyncio.Event()
        state.faults.extend(body)
    elif verb == "set":
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
        state.series[(body["symbol"].upper(), body.get("interval", "1min"))] = body["rows"]
    elif verb == "new_day":  # a new ET trading day: earlier orders leave the default list
        state.day_first = len(state.orders)
    elif verb == "tick":
        for order in state.orders:
            advance(state, order)
    elif verb == "release":
        state.release.set()
    elif verb == "wait_blocked":  # answers once a request is blocked inside a handler (at most 30 s)
        try:
            await asyncio.wait_for(state.blocked.wait(), 30)
        except asyncio.TimeoutError:
            return web.json_response({"blocked": False})
        return web.json_response({"blocked": True})
    elif verb == "orders":
        return web.json_response([shown_order(state, order, True) for order in state.orders])
    elif verb == "requests":
        return web.json_response(state.requests)
    elif verb == "positions":
        return web.json_response({symbol: qty for symbol, (qty, _) in state.positions.items()})
    else:
        return web.Response(status=404, text=f"unknown control verb {verb!r}")
    return web.json_response({"ok": True})


def make_app() -> web.Application:
    app = web.Application(middlewares=[middleware])
    app["state"] = State()
    account = "/v1/accounts/{account}"
    app.router.add_post(account + "/orders", place_order)
    app.router.add_get(account + "/orders", list_orders)
    app.router.add_get(account + "/orders/{order_id}", get_order)
    app.router.add_delete(account + "/orders/{order_id}", cancel_order)
    app.router.add_get(account + "/positions", positions)
    app.router.add_get(account + "/balances", balances)
    app.router.add_get("/v1/markets/clock", market_clock)
    app.router.add_get("/v1/markets/calendar", market_calendar)
    app.router.add_route("*", "/v1/markets/quotes", market_quotes)
    app.router.add_get("/v1/markets/timesales", market_timesales)
    app.router.add_route("*", "/_control/{verb}", control)
    try:  # the streams (tests/live/fake_tradier_stream.py): imported as a package module or run as a script
        from .fake_tradier_stream import add_streams
    except ImportError:
        from fake_tradier_stream import add_streams
    add_streams(app, ACCOUNT, (TRADING_TOKEN, DATA_TOKEN))
    return app


async def serve(port: int, ready_file: str | None, app: web.Application | None = None) -> None:
    """Serve ``app`` (this fake's by default; the fake Alpaca server passes its own) until SIGTERM."""
    runner = web.AppRunner(app or make_app(), handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    bound = runner.addresses[0][1]
    if ready_file:
        with open(ready_file + ".tmp", "w") as out:
            json.dump({"port": bound, "pid": os.getpid()}, out)
        os.replace(ready_file + ".tmp", ready_file)
    print(f"READY {bound}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    await runner.cleanup()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="A fake Tradier REST server for tests (loopback only).")
    parser.add_argument("--port", type=int, default=0, help="0: an OS-chosen port")
    parser.add_argument("--ready-file", default=None, help="write {port, pid} here once listening")
    args = parser.parse_args(argv)
    asyncio.run(serve(args.port, args.ready_file))
    return 0


if __name__ == "__main__":
    sys.exit(main())
