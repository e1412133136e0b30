"""Tradier's HTTP layer: one keep-alive session, Bearer tokens, rate limits, and how an answer is read.

:class:`TradierHttp` sends one request and turns the answer into a :class:`Reply` with a
``kind`` (:data:`OK` ... :data:`TRANSIENT`); :meth:`TradierHttp.read` is the read path (GET, and
DELETE, which is safe to repeat), which raises the port's errors, and :meth:`TradierHttp.place`
is the order POST, which answers the port's outcomes. The Tradier facts behind each rule are in
``shared/research/live-venues.md`` §2.12-§2.14.

Rate limits (§2.14): every response carries ``X-Ratelimit-Available`` and ``X-Ratelimit-Expiry``
(ms since the epoch); when Available reaches 0 the next request *of that category* waits (the
injected ``sleep``) until the window expires. A 429 is waited out the same way (or with a bounded
exponential back-off when it names no expiry) and a read is retried up to a bound.

A POST that got 429 is sent again, up to the same bound, and only because a 429 proves the order
was not accepted: Tradier's rate limiter answers at its API gateway, before the request reaches
the order system, and a request it refused was never processed (RFC 6585: "too many requests").
When the bound runs out the answer is :class:`~.port.Unresolved` all the same, so the desk looks
the intent up by its tag rather than trusting that reasoning blindly. Any other ambiguous outcome
of a POST (timeout, connection reset after sending, 5xx, an HTML page) is never retried.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass

import requests
from urllib3.exceptions import NewConnectionError

from .port import Ack, BrokerAuthError, BrokerUnavailable, PlaceOutcome, Rejected, Unresolved

#: Rate-limit categories (per token, counted separately by Tradier): account reads, order writes, market data.
STANDARD, TRADING, MARKET = "standard", "trading", "market"
#: Reply kinds: JSON answer; 200 + ``errors``; auth fault; 429; 400-class refusal; 5xx/HTML/fault.
OK, ERRORS, AUTH, RATE, REFUSED, TRANSIENT = "ok", "errors", "auth", "rate", "refused", "transient"
#: Fault codes that mean the token itself is bad: permanent, never retried.
AUTH_FAULT_MARKERS = ("access_token", "invalid_api_key", "keymanagement")
#: Longest broker text kept in a reason or an error message.
MAX_TEXT = 300
#: A rate-limit window is one minute; a wait longer than this is a skewed clock, not a window.
MAX_WAIT_S = 61.0
#: 429 back-off without an expiry header: 1, 2, 4 ... seconds, at most this.
MAX_BACKOFF_S = 30.0


@dataclass(frozen=True)
class Reply:
    """One HTTP answer: ``status``, ``kind`` (how to read it), ``body`` (parsed JSON or ``None``),
    ``text`` (what to show: the error texts, the fault string or the plain body)."""

    status: int
    kind: str
    body: object
    text: str
    wait_s: float = 0.0


def brief(text: str) -> str:
    """A broker text cut to :data:`MAX_TEXT` characters, on one line."""
    text = " ".join(str(text).split())
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + "..."


def error_texts(body: dict) -> str:
    """The texts of a ``{"errors": {"error": "x" | ["x", ...]}}`` body, joined with ``; ``."""
    errors = body.get("errors")
    inner = errors.get("error") if isinstance(errors, dict) else errors
    items = inner if isinstance(inner, list) else [inner]
    return brief("; ".join(str(item) for item in items if item not in (None, "", "null"))) or "errors"


def fault_of(body) -> tuple[str, str]:
    """``(faultstring, errorcode)`` of a gateway fault body ``{"fault": {...}}``, or ``("", "")``."""
    fault = body.get("fault") if isinstance(body, dict) else None
    if not isinstance(fault, dict):
        return "", ""
    detail = fault.get("detail") if isinstance(fault.get("detail"), dict) else {}
    return str(fault.get("faultstring", "")), str(detail.get("errorcode", ""))


def classify(status: int, text: str) -> Reply:
    """Read one answer (status and body text) the way the Tradier facts say (§2.12, §2.13)."""
    try:
        body = json.loads(text) if text.strip() else None
    except ValueError:
        body = None
    faultstring, errorcode = fault_of(body)
    shown = brief(faultstring or text) or f"HTTP {status}"
    if status in (401, 403) or any(marker in errorcode for marker in AUTH_FAULT_MARKERS):
        return Reply(status, AUTH, body, shown)
    if status == 429:
        return Reply(status, RATE, body, shown)
    if status >= 500:
        return Reply(status, TRANSIENT, body, f"HTTP {status}: {shown}")
    if status >= 400:
        return Reply(status, REFUSED, body, shown)
    if not isinstance(body, dict):
        what = "an HTML page" if "<" in text[:200] else "a body that is not a JSON object"
        return Reply(status, TRANSIENT, None, f"HTTP {status} with {what} instead of JSON")
    if faultstring:
        return Reply(status, TRANSIENT, body, f"fault: {shown}")
    if "errors" in body:
        return Reply(status, ERRORS, body, error_texts(body))
    return Reply(status, OK, body, "")


def backoff_s(reply: Reply, attempt: int) -> float:
    """How long to wait after a 429: what it asked for (``reply.wait_s``); 1, 2, 4 ... s, at most
    :data:`MAX_BACKOFF_S`, when it named nothing or a time already past."""
    return reply.wait_s if reply.wait_s > 0 else min(2.0 ** attempt, MAX_BACKOFF_S)


def past_rate_limits(send, sleep, max_retries: int) -> tuple[Reply, int]:
    """``send()`` again while it answers 429, :func:`backoff_s` apart (``sleep`` injected), at most
    ``max_retries`` more times: ``(the last reply, its attempt)``, still :data:`RATE` when the bound
    ran out. ``send``'s exceptions propagate (each caller knows what a failed send means)."""
    for attempt in range(max_retries + 1):
        reply = send()
        if reply.kind != RATE or attempt == max_retries:
            return reply, attempt
        sleep(backoff_s(reply, attempt))
    raise ValueError(f"max_retries must be >= 0, got {max_retries}")


def never_sent(exc: requests.RequestException) -> bool:
    """The request provably never left (no connection could be made): safe to report as not sent."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, NewConnectionError)  # refused, unreachable, name not resolved


class TradierHttp:
    """One ``requests`` session (keep-alive) and the rate-limit state of each category.

    ``now`` (int UTC ns) and ``sleep`` (seconds) are injected, so tests run without real waits.
    ``venue`` names the service in error messages: the read path's rules (429 back-off, 5xx and
    HTML pages unavailable, 401/403 auth) serve other JSON-over-HTTPS vendors too (Polygon/Massive,
    :mod:`.polygon`); ``auth_hint`` ends their auth errors."""

    def __init__(self, timeout_s: float, *, now=time.time_ns, sleep=time.sleep, max_retries: int = 3,
                 venue: str = "Tradier", auth_hint: str = "check the token and account id"):
        self.timeout_s = timeout_s
        self.venue, self.auth_hint = venue, auth_hint
        self.now = now
        self.sleep = sleep
        self.max_retries = max_retries
        self.session = requests.Session()
        self.session.headers["Accept"] = "application/json"
        self.reopens_ns: dict[str, int] = {}  # category -> when its exhausted window reopens

    def close(self) -> None:
        self.session.close()

    def _wait_for(self, category: str) -> None:
        reopen = self.reopens_ns.pop(category, 0)
        wait_s = min((reopen - self.now()) / 1e9, MAX_WAIT_S)
        if wait_s > 0:
            self.sleep(wait_s)

    def _expiry_wait_s(self, headers) -> float | None:
        """Seconds until ``X-Ratelimit-Expiry`` (ms epoch), bounded; ``None`` without the header."""
        expiry = headers.get("X-Ratelimit-Expiry")
        try:
            expiry_ns = int(float(expiry)) * 1_000_000
        except (TypeError, ValueError):
            return None
        return max(0.0, min((expiry_ns - self.now()) / 1e9, MAX_WAIT_S))

    def _note_limits(self, category: str, headers) -> None:
        available = headers.get("X-Ratelimit-Available")
        if available is None:
            return
        try:
            exhausted = int(float(available)) <= 0
        except ValueError:
            return
        wait_s = self._expiry_wait_s(headers)
        if exhausted and wait_s:
            self.reopens_ns[category] = self.now() + int(wait_s * 1e9)

    def send(self, method: str, url: str, token: str, category: str, *, params=None, data=None) -> Reply:
        """One request (after waiting out an exhausted window of ``category``); raises ``requests``'
        connection errors and timeouts as they are."""
        self._wait_for(category)
        response = self.session.request(method, url, params=params, data=data, timeout=self.timeout_s,
                                        headers={"Authorization": f"Bearer {token}"})
        self._note_limits(category, response.headers)
        reply = classify(response.status_code, response.text)
        if reply.kind == RATE:
            wait_s = self._expiry_wait_s(response.headers)
            return Reply(reply.status, RATE, reply.body, reply.text, wait_s or 0.0)
        return reply

    def read(self, method: str, url: str, token: str, category: str, *, params=None, what: str = "") -> Reply:
        """A request that is safe to repeat (GET; DELETE of an order): the :data:`OK` or
        :data:`REFUSED` reply, 429 waited out and retried up to ``max_retries`` times.

        Raises :class:`~.port.BrokerAuthError` (401/403, token faults),
        :class:`~.port.BrokerUnavailable` (connection, timeout, 5xx, HTML, 200 + ``errors``,
        429 past the bound)."""
        what = what or f"{method} {url}"
        try:
            reply, attempt = past_rate_limits(lambda: self.send(method, url, token, category, params=params),
                                              self.sleep, self.max_retries)
        except requests.RequestException as exc:
            raise BrokerUnavailable(f"{self.venue} {what}: {brief(exc)}") from None
        if reply.kind == RATE:
            raise BrokerUnavailable(f"{self.venue} {what}: rate limited (429) {attempt + 1} times",
                                    retry_after_s=backoff_s(reply, attempt))
        if reply.kind == AUTH:
            raise BrokerAuthError(f"{self.venue} {what}: HTTP {reply.status} {reply.text} ({self.auth_hint})")
        if reply.kind in (TRANSIENT, ERRORS):
            raise BrokerUnavailable(f"{self.venue} {what}: {reply.text}")
        return reply

    def place(self, url: str, token: str, form: dict) -> PlaceOutcome:
        """POST an order form once (again only after a 429, see the module doc) and read the outcome.

        Raises :class:`~.port.BrokerAuthError` (nothing was placed) and
        :class:`~.port.BrokerUnavailable` only when the request provably never left."""
        try:
            reply, _ = past_rate_limits(lambda: self.send("POST", url, token, TRADING, data=form), self.sleep,
                                        self.max_retries)
        except requests.RequestException as exc:
            if never_sent(exc):
                raise BrokerUnavailable(f"Tradier order POST was not sent: {brief(exc)}") from None
            return Unresolved(f"no answer to the order POST: {brief(exc)}")
        if reply.kind != RATE:
            return self._outcome(reply)
        return Unresolved(f"the order POST was rate limited (429) {self.max_retries + 1} times; "
                          "a 429 means not accepted, look the tag up to be sure")

    def _outcome(self, reply: Reply) -> PlaceOutcome:
        if reply.kind == AUTH:
            raise BrokerAuthError(f"Tradier order POST: HTTP {reply.status} {reply.text} (check the token and account id)")
        if reply.kind == ERRORS:
            return Rejected(reply.text)
        if reply.kind == REFUSED and reply.status == 400:
            return Rejected(reply.text)
        order = reply.body.get("order") if reply.kind == OK else None
        if isinstance(order, dict) and order.get("id") not in (None, "", "null"):
            return Ack(str(order["id"]))
        return Unresolved(f"order POST answered HTTP {reply.status} without an order id: {reply.text or 'no text'}")


def rows(body, outer: str, inner: str) -> list[dict]:
    """The rows of Tradier's envelope ``{outer: {inner: row | [rows]}}``: the string ``"null"``,
    JSON null or a missing inner key are no rows, a bare object is one row (§2.13).

    Raises :class:`~.port.BrokerUnavailable` when ``outer`` is missing or malformed (an answer of another
    shape is never read as "no rows")."""
    if not isinstance(body, dict) or outer not in body:
        raise BrokerUnavailable(f"Tradier answer has no {outer!r}: {brief(json.dumps(body))}")
    value = body[outer]
    if value in (None, "null", ""):
        return []
    if not isinstance(value, dict):
        raise BrokerUnavailable(f"Tradier {outer!r} is neither an object nor \"null\": {brief(json.dumps(value))}")
    found = value.get(inner)
    if found in (None, "null", ""):
        return []
    items = found if isinstance(found, list) else [found]
    if not all(isinstance(item, dict) for item in items):
        raise BrokerUnavailable(f"Tradier {outer}.{inner} holds something other than objects: {brief(json.dumps(found))}")
    return items
