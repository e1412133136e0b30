"""Alpaca's HTTP layer: one keep-alive session, key headers, rate limits, and how an answer is read.

:class:`AlpacaHttp` sends one request and turns the answer into a
:class:`~.tradier_http.Reply` (the same kinds as Tradier's: :data:`~.tradier_http.OK` ...
:data:`~.tradier_http.TRANSIENT`); :meth:`AlpacaHttp.read` is the read path (GET, and DELETE,
safe to repeat), which raises the port's errors; the order POST is sent once by
:meth:`AlpacaHttp.send` and read by :mod:`.alpaca`, which looks the ``client_order_id`` up after
an ambiguous outcome. The text helpers (:func:`~.tradier_http.brief`,
:func:`~.tradier_http.never_sent`) and the back-off bounds are Tradier's: one home for them.

Alpaca's facts (``shared/research/live-venues.md`` §4): JSON bodies; errors are
``{"code": N, "message": "..."}``; 401 is bad keys; 403 on a read is a forbidden account, on the
order POST a refusal (buying power, shares not available); 422 is a refused parameter (and a
``client_order_id`` already used); 429 carries ``Retry-After`` (seconds) or
``X-RateLimit-Reset`` (Unix seconds) and is waited out and retried up to a bound; 5xx, HTML pages
and dropped connections are transient.
"""
from __future__ import annotations

import json
import time

import requests

from .port import BrokerAuthError, BrokerUnavailable
from .tradier_http import AUTH, MAX_WAIT_S, OK, RATE, REFUSED, TRANSIENT, Reply, backoff_s, brief, past_rate_limits

#: The header names of Alpaca's keys.
KEY_HEADER, SECRET_HEADER = "APCA-API-KEY-ID", "APCA-API-SECRET-KEY"


def message_of(body, text: str) -> str:
    """Alpaca's error ``message`` (with its ``code``), else the body text, cut short."""
    if isinstance(body, dict) and body.get("message"):
        code = body.get("code")
        return brief(f"{body['message']}" + (f" (code {code})" if code not in (None, "") else ""))
    return brief(text)


def classify(status: int, text: str) -> Reply:
    """Read one answer (status and body text): 2xx JSON is :data:`OK` (204 too, with no body)."""
    try:
        body = json.loads(text) if text.strip() else None
    except ValueError:
        body = None
    shown = message_of(body, text) or f"HTTP {status}"
    if status == 401:
        return Reply(status, AUTH, body, shown)
    if status == 429:
        return Reply(status, RATE, body, shown)
    if status >= 500:
        return Reply(status, TRANSIENT, body, f"HTTP {status}: {shown}")
    if status >= 400:
        return Reply(status, REFUSED, body, shown)
    if status == 204 or (body is not None and isinstance(body, (dict, list))):
        return Reply(status, OK, body, "")
    what = "an HTML page" if "<" in text[:200] else "a body that is not JSON"
    return Reply(status, TRANSIENT, None, f"HTTP {status} with {what} instead of JSON")


class AlpacaHttp:
    """One ``requests`` session with the key headers; ``now`` (int UTC ns) and ``sleep`` (s) injected."""

    def __init__(self, key_id: str, secret_key: str, timeout_s: float, *, now=time.time_ns, sleep=time.sleep,
                 max_retries: int = 3):
        self.timeout_s, self.now, self.sleep, self.max_retries = timeout_s, now, sleep, max_retries
        self.session = requests.Session()
        self.session.headers.update({"Accept": "application/json", KEY_HEADER: key_id, SECRET_HEADER: secret_key})
        self.reopen_ns = 0  # when an exhausted rate-limit window reopens

    def close(self) -> None:
        self.session.close()

    def _wait_s(self, headers) -> float | None:
        """Seconds a 429 or an exhausted window asks to wait: ``Retry-After``, else until
        ``X-RateLimit-Reset``; bounded; ``None`` when neither is readable."""
        try:
            return max(0.0, min(float(headers["Retry-After"]), MAX_WAIT_S))
        except (KeyError, TypeError, ValueError):
            pass
        try:
            reset_ns = int(float(headers["X-RateLimit-Reset"])) * 1_000_000_000
        except (KeyError, TypeError, ValueError):
            return None
        return max(0.0, min((reset_ns - self.now()) / 1e9, MAX_WAIT_S))

    def send(self, method: str, url: str, *, params=None, body=None) -> Reply:
        """One request (after waiting out an exhausted window); raises ``requests``' errors as they are."""
        wait_s = min((self.reopen_ns - self.now()) / 1e9, MAX_WAIT_S)
        self.reopen_ns = 0
        if wait_s > 0:
            self.sleep(wait_s)
        response = self.session.request(method, url, params=params, json=body, timeout=self.timeout_s)
        remaining = response.headers.get("X-RateLimit-Remaining")
        if remaining is not None and remaining.strip().isdigit() and int(remaining) <= 0:
            self.reopen_ns = self.now() + int((self._wait_s({"X-RateLimit-Reset": response.headers.get(
                "X-RateLimit-Reset")}) or 0.0) * 1e9)
        reply = classify(response.status_code, response.text)
        if reply.kind == RATE:
            return Reply(reply.status, RATE, reply.body, reply.text, self._wait_s(response.headers) or 0.0)
        return reply

    def read(self, method: str, url: str, *, params=None, what: str = "") -> Reply:
        """A request safe to repeat: the :data:`OK` or :data:`REFUSED` reply, 429 waited out and
        retried up to ``max_retries`` times.

        Raises :class:`~.port.BrokerAuthError` (401; 403 on a read) and
        :class:`~.port.BrokerUnavailable` (connection, timeout, 5xx, HTML, 429 past the bound)."""
        what = what or f"{method} {url}"
        try:
            reply, attempt = past_rate_limits(lambda: self.send(method, url, params=params), self.sleep,
                                              self.max_retries)
        except requests.RequestException as exc:
            raise BrokerUnavailable(f"Alpaca {what}: {brief(exc)}") from None
        if reply.kind == RATE:
            raise BrokerUnavailable(f"Alpaca {what}: rate limited (429) {attempt + 1} times",
                                    retry_after_s=backoff_s(reply, attempt))
        if reply.kind == AUTH or (reply.status == 403 and method == "GET"):
            raise BrokerAuthError(f"Alpaca {what}: HTTP {reply.status} {reply.text} (check the API key id and secret, "
                                  "and paper vs live: their keys differ)")
        if reply.kind == TRANSIENT:
            raise BrokerUnavailable(f"Alpaca {what}: {reply.text}")
        return reply

