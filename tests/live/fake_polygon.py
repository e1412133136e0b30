"""A fake Polygon/Massive server for the live bar tests: a real aiohttp REST + WebSocket server, in its own process.

Run: ``python tests/live/fake_polygon.py --port 0``; it prints ``READY <port>`` once it listens on
127.0.0.1. Stop it by its pid (tests/live/polygon_control.py does both).

Documented payloads (``shared/research/live-venues.md`` §3; texts marked *illustrative* are not
measured vendor texts):

* ``GET /v2/aggs/ticker/{sym}/range/{mult}/{timespan}/{from}/{to}`` (``from``/``to``: ms or
  ``YYYY-MM-DD``, both inclusive): ``{ticker, queryCount, resultsCount, adjusted, results: [{o, h,
  l, c, v, vw, t, n}], status, request_id, next_url?}``; ``results`` absent when there are none;
  pages of ``page_size`` rows chained by ``next_url`` (an absolute URL carrying ``cursor``, the
  key not included); ``adjusted=false`` serves prices times the symbol's ``split`` factor (and
  volume divided by it). Key: ``?apiKey=`` or ``Authorization: Bearer``; a wrong one gets 401
  ``{"status": "ERROR", "error": "Unknown API Key"}`` (illustrative).
* ``GET /v1/open-close/{sym}/{date}``: ``{status, from, symbol, open, high, low, close, volume,
  afterHours, preMarket}`` or 404 ``{"status": "NOT_FOUND", "message": "Data not found."}``.
* ``GET /stocks`` (WebSocket): ``[{"ev":"status","status":"connected",...}]`` on connect, then
  ``auth`` -> ``auth_success`` / ``auth_failed`` (and the server closes), ``subscribe`` ->
  ``success`` per channel; every message is a JSON array of events.

Control API (``POST /_control/<verb>``, JSON): ``reset``; ``bars`` (``symbol``, ``rows`` of
``{t, o, h, l, c, v}``, ``span`` default ``1/minute``: stored for REST; a row with the same ``t``
replaces the old one); ``split`` (``symbol``, ``factor``); ``daily`` (``symbol``, ``date``,
``body``); ``set`` (``page_size``); ``emit`` (``events``: AM events sent, as one message, to
every socket subscribed to them; ``rest: true`` also stores them as REST rows; answers how many
sockets got them); ``drop_stream`` (every socket's connection closed without a close frame);
``wait_subscribed`` (``count``: answers once that many subscriptions were made since the reset,
``ok`` false after ``timeout`` s); ``faults`` (REST entries ``{"path" (substring), "times",
"action": "respond" (``status``, ``json``/``text``, ``headers``) | "drop" (close the connection
without answering)}``); ``stream_faults`` (entries ``{"action": "refuse" (HTTP 503 instead of the
upgrade) | "close_after_auth" (drop the connection right after ``auth_success``) |
"silent_close" (drop it before any frame), "times"}``); ``clear_stream_faults``; ``requests``
(every REST request).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from datetime import datetime, timezone

from aiohttp import WSMsgType, web

KEY = "polygon-key"
#: The AM fields besides the bar (illustrative values: the day's running figures).
DAY_FIELDS = {"av": 0, "op": 0.0, "a": 0.0, "z": 0}


class State:
    """Everything the fake knows; :meth:`reset` between tests."""

    def __init__(self):
        self.reset()

    def reset(self):
        self.aggs: dict[tuple[str, str], dict[int, dict]] = {}
        self.splits: dict[str, float] = {}
        self.daily: dict[tuple[str, str], dict] = {}
        self.page_size = 50_000
        self.faults: list[dict] = []
        self.stream_faults: list[dict] = []
        self.requests: list[dict] = []
        self.subscribed = 0
        self.changed = asyncio.Condition()
        self.clients: list[dict] = []


state = State()


def _take_fault(faults: list[dict], match) -> dict | None:
    for fault in faults:
        if match(fault) and fault.get("times", 1) > 0:
            fault["times"] = fault.get("times", 1) - 1
            return fault
    return None


def _authorized(request: web.Request) -> bool:
    header = request.headers.get("Authorization", "")
    return request.query.get("apiKey") == KEY or header == f"Bearer {KEY}"


async def _rest_guard(request: web.Request):
    """The common part of every REST answer: the request log, the fault script, the key."""
    state.requests.append({"path": request.path, "query": dict(request.query),
                           "auth": "header" if "Authorization" in request.headers else "query"})
    fault = _take_fault(state.faults, lambda f: f.get("path", "") in request.path_qs)
    if fault is not None:
        if fault["action"] == "drop":
            request.transport.close()
            return web.Response(status=500)  # never sent: the connection is gone
        if "json" in fault:
            return web.json_response(fault["json"], status=fault.get("status", 500), headers=fault.get("headers"))
        return web.Response(status=fault.get("status", 500), text=fault.get("text", ""),
                            content_type=fault.get("content_type", "text/html"), headers=fault.get("headers"))
    if not _authorized(request):
        return web.json_response({"status": "ERROR", "request_id": "fake", "error": "Unknown API Key"}, status=401)
    return None


def _ms(text: str) -> int:
    if len(text) == 10 and text[4] == "-":
        return int(datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp() * 1000)
    return int(text)


async def aggregates(request: web.Request) -> web.StreamResponse:
    refused = await _rest_guard(request)
    if refused is not None:
        return refused
    m = request.match_info
    sym, span = m["sym"].upper(), f"{m['mult']}/{m['timespan']}"
    lo = _ms(m["frm"])
    hi = _ms(m["to"]) + (86_400_000 - 1 if len(m["to"]) == 10 else 0)
    adjusted = request.query.get("adjusted", "true") != "false"
    factor = 1.0 if adjusted else state.splits.get(sym, 1.0)
    rows = [r for t, r in sorted(state.aggs.get((sym, span), {}).items()) if lo <= t <= hi]
    cursor = int(request.query.get("cursor", 0))
    page = [{**r, **{k: r[k] * factor for k in "ohlc"}, "v": r["v"] / factor, "vw": r["c"] * factor, "n": 1}
            for r in rows[cursor:cursor + state.page_size]]
    body = {"ticker": sym, "queryCount": len(page), "resultsCount": len(page), "adjusted": adjusted,
            "status": "OK", "request_id": f"fake-{len(state.requests)}"}
    if page:
        body["results"] = page
    if cursor + state.page_size < len(rows):
        body["next_url"] = (f"http://{request.host}{request.path}?cursor={cursor + state.page_size}"
                            f"&adjusted={'true' if adjusted else 'false'}&sort=asc")
    return web.json_response(body)


async def open_close(request: web.Request) -> web.StreamResponse:
    refused = await _rest_guard(request)
    if refused is not None:
        return refused
    found = state.daily.get((request.match_info["sym"].upper(), request.match_info["day"]))
    if found is None:
        return web.json_response({"status": "NOT_FOUND", "request_id": "fake", "message": "Data not found."},
                                 status=404)
    return web.json_response({"status": "OK", "from": request.match_info["day"],
                              "symbol": request.match_info["sym"].upper(), **found})


def _status(status: str, message: str) -> str:
    return json.dumps([{"ev": "status", "status": status, "message": message}])


async def stocks(request: web.Request) -> web.StreamResponse:
    fault = _take_fault(state.stream_faults, lambda f: True)
    action = fault["action"] if fault else ""
    if action == "refuse":
        return web.Response(status=503, text="Service Unavailable")
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    if action == "silent_close":
        request.transport.abort()
        return ws
    client = {"ws": ws, "subs": set(), "transport": request.transport}
    state.clients.append(client)
    try:
        await ws.send_str(_status("connected", "Connected Successfully"))
        await _serve_socket(ws, client, action)
    finally:
        if client in state.clients:
            state.clients.remove(client)
    return ws


async def _serve_socket(ws, client: dict, action: str) -> None:
    authed = False
    async for msg in ws:
        if msg.type != WSMsgType.TEXT:
            continue
        data = json.loads(msg.data)
        if data.get("action") == "auth":
            if data.get("params") != KEY:
                await ws.send_str(_status("auth_failed", "authentication failed"))
                await ws.close()
                return
            authed = True
            await ws.send_str(_status("auth_success", "authenticated"))
            if action == "close_after_auth":
                client["transport"].abort()
                return
        elif data.get("action") == "subscribe" and authed:
            channels = [c.strip() for c in str(data.get("params", "")).split(",") if c.strip()]
            client["subs"].update(channels)
            await ws.send_str(json.dumps([{"ev": "status", "status": "success", "message": f"subscribed to: {c}"}
                                          for c in channels]))
            async with state.changed:
                state.subscribed += 1
                state.changed.notify_all()


def _am(event: dict) -> dict:
    out = {"ev": "AM", **DAY_FIELDS, **event}
    out.setdefault("vw", out["c"])
    out.setdefault("e", out["s"] + 60_000)
    return out


async def _emit(body) -> dict:
    events = [_am(e) for e in body["events"]]
    if body.get("rest"):
        for e in events:
            state.aggs.setdefault((e["sym"], "1/minute"), {})[e["s"]] = {
                "t": e["s"], **{k: e[k] for k in ("o", "h", "l", "c", "v")}}
    sent = 0
    for client in list(state.clients):
        mine = [e for e in events if f"AM.{e['sym']}" in client["subs"] or "AM.*" in client["subs"]]
        if mine and not client["ws"].closed:
            await client["ws"].send_str(json.dumps(mine))
            sent += 1
    return {"sockets": sent}


async def _wait_subscribed(body) -> dict:
    count, timeout = int(body["count"]), float(body.get("timeout", 30))
    try:
        async with state.changed:
            await asyncio.wait_for(state.changed.wait_for(lambda: state.subscribed >= count), timeout)
    except asyncio.TimeoutError:
        pass
    return {"ok": state.subscribed >= count, "subscribed": state.subscribed}


async def control(request: web.Request) -> web.Response:
    verb = request.match_info["verb"]
    body = await request.json() if request.can_read_body else {}
    answer: object = {"ok": True}
    if verb == "reset":
        for client in list(state.clients):
            client["transport"].abort()
        state.reset()
    elif verb == "bars":
        series = state.aggs.setdefault((body["symbol"].upper(), body.get("span", "1/minute")), {})
        for row in body["rows"]:
            series[int(row["t"])] = row
    elif verb == "split":
        state.splits[body["symbol"].upper()] = float(body["factor"])
    elif verb == "daily":
        state.daily[(body["symbol"].upper(), body["date"])] = body["body"]
    elif verb == "set":
        state.page_size = int(body.get("page_size", state.page_size))
    elif verb == "emit":
        answer = await _emit(body)
    elif verb == "drop_stream":
        for client in list(state.clients):
            client["transport"].abort()
        answer = {"dropped": len(state.clients)}
    elif verb == "wait_subscribed":
        answer = await _wait_subscribed(body)
    elif verb == "faults":
        state.faults.extend(body)
    elif verb == "stream_faults":
        state.stream_faults.extend(body)
    elif verb == "clear_stream_faults":
        state.stream_faults.clear()
    elif verb == "requests":
        answer = state.requests
    else:
        return web.json_response({"error": f"unknown control verb {verb}"}, status=404)
    return web.json_response(answer)


def make_app() -> web.Application:
    app = web.Application()
    app.router.add_get("/v2/aggs/ticker/{sym}/range/{mult}/{timespan}/{frm}/{to}", aggregates)
    app.router.add_get("/v1/open-close/{sym}/{day}", open_close)
    app.router.add_get("/stocks", stocks)
    app.router.add_post("/_control/{verb}", control)
    return app


async def serve(port: int) -> None:
    runner = web.AppRunner(make_app(), handle_signals=False, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    print(f"READY {runner.addresses[0][1]}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    asyncio.run(serve(args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
