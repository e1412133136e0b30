"""The gateway's safety: bind rules, bearer tokens, TLS material, message size and rate limits.

- :func:`validate_bind`: a loopback host may serve plaintext without a token; any other host
  needs TLS (certificate and key) **and** at least one bearer token.
- :class:`GatewayInterceptor` (a ``grpc.aio.ServerInterceptor``): checks ``authorization:
  Bearer <token>`` (constant-time, on SHA-256 digests) on every method except the health checks
  (load balancers probe without credentials), applies a per-client token bucket
  (:class:`TokenBucket`; a call takes its :data:`CALL_COSTS`, health checks nothing), caps the
  open streams per principal (:class:`StreamSlots`), answers undecodable requests with INVALID_ARGUMENT and unexpected
  handler errors with INTERNAL (no exception text), and records the caller's *principal* for the
  servicer (:func:`current_principal`).
- Each bare configured token is one principal (tenant): the servicer scopes playgrounds to it (see
  docs/gateway.md, "Safety"); its principal is a short SHA-256 digest, never the token itself.
  A token file line ``NAME TOKEN`` makes the token one of tenant NAME's (principal ``tenant:NAME``):
  several tokens of one name are one tenant, which is how a token is rotated.
"""
from __future__ import annotations

import asyncio
import contextvars
import hashlib
import hmac
import inspect
import ipaddress
import logging
import math
import os
import re
import stat
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import grpc

log = logging.getLogger(__name__)

TOKEN_ENV = "BACKTESTESTER_TOKEN"
MIN_TOKEN_LENGTH = 16
DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024
# Health checks stay open so load balancers and orchestrators can probe without a token.
OPEN_METHODS = frozenset({"/grpc.health.v1.Health/Check", "/grpc.health.v1.Health/Watch"})
TOKEN_HINT = f"set {TOKEN_ENV} or pass --token-file"
TLS_HINT = "pass --tls-cert and --tls-key"

# What a call costs in the rate limit's tokens, by method name (any other method costs 1; health
# checks are never limited). Weighted by the work a call starts in the gateway: building or
# writing a whole playground, a stream of many ticks, a question to every playground of the tenant.
CALL_COSTS = {
    "CreatePlayground": 10,     # loads repositories from the catalog, builds an engine playground
    "SavePlayground": 10,       # writes the whole state (journal, orders, trades, equity) at once
    "StreamTicks": 10,          # ticks until max_ticks or the end of the backtest
    "StreamCandlesArrow": 5,    # a whole candle selection as Arrow
    "GetPlaygrounds": 5,        # one call to every playground of the tenant
    "GetOrder": 5,              # asks every playground of the tenant
    "GetDailyTickerSummaryFromPolygon": 2,  # reads the data catalog
    "CreateLivePlayground": 10,  # a durable live playground, its reconcile account, its bar subscriptions
    "GetReconciliationReport": 5,  # asks the broker for positions and orders
    "PushBars": 5,              # a stream of bars into the live feed (charged once per stream)
}
DEFAULT_MAX_STREAMS = 4
SESSION_METHOD = "/playground.PlaygroundService/Session"  # the bidirectional stream counted as an open stream
STREAMS_HINT = "--max-streams"
PLAYGROUNDS_HINT = "--max-playgrounds"

_PRINCIPAL: contextvars.ContextVar[str | None] = contextvars.ContextVar("backtestester_principal", default=None)


class ConfigError(ValueError):
    """A refused security configuration; the message says which flag or setting to fix."""


def current_principal() -> str | None:
    """The principal of the RPC being served (a digest of its token), or None without tokens."""
    return _PRINCIPAL.get()


def principal_of(token: str) -> str:
    """A stable, non-secret name for a bare token: the first 16 hex digits of its SHA-256."""
    return hashlib.sha256(token.encode()).hexdigest()[:16]


TENANT_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
TENANT_PREFIX = "tenant:"  # never in a digest principal (hex digits): the two kinds cannot collide


def tenant_principal(name: str) -> str:
    """The principal of named tenant ``name`` (every token listed under the name): ``tenant:NAME``."""
    return TENANT_PREFIX + name


def _digest(token: str | bytes) -> bytes:
    return hashlib.sha256(token.encode() if isinstance(token, str) else token).digest()


# --- configuration ----------------------------------------------------------------------------
@dataclass(frozen=True)
class SecurityConfig:
    """Everything the gateway needs to decide who may call it and how much.

    ``tokens``: accepted bearer tokens (with ``tenants``: none, no authentication, loopback only);
    each one is a separate principal. ``tenants``: ``(name, token)`` pairs: the token is accepted
    as tenant ``name`` (:func:`tenant_principal`); several tokens of one name are one tenant. ``tls_cert``/``tls_key``: PEM bytes (the chain and its private key), both
    or neither. ``max_message_bytes``: the limit on received and sent messages.
    ``rate_limit``: requests per second per client (0: off), a call taking its
    :data:`CALL_COSTS` in requests; ``rate_burst``: the bucket's size (default: twice the rate, at
    least 1). ``max_streams``: open StreamTicks / StreamCandlesArrow / Session calls per principal (0: no limit).
    ``max_playgrounds``: playgrounds (saved ones included) per principal (0: no limit).
    ``twirp_trusted``: client networks (CIDR) whose Twirp calls need no token (``--twirp-trusted-network``;
    for the original's clients, which cannot send one): they are the token-less principal.
    """

    tokens: tuple[str, ...] = ()
    tenants: tuple[tuple[str, str], ...] = ()
    tls_cert: bytes | None = None
    tls_key: bytes | None = None
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    rate_limit: float = 0.0
    rate_burst: int | None = None
    max_streams: int = DEFAULT_MAX_STREAMS
    max_playgrounds: int = 0
    twirp_trusted: tuple[str, ...] = ()

    def __post_init__(self):
        object.__setattr__(self, "tokens", tuple(self.tokens))
        object.__setattr__(self, "tenants", tuple((check_tenant_name(n), t) for n, t in self.tenants))
        object.__setattr__(self, "twirp_trusted", tuple(str(n) for n in trusted_networks(self.twirp_trusted)))
        every = [check_token(token) for token in self.tokens + tuple(t for _, t in self.tenants)]
        if len(set(every)) != len(every):
            raise ConfigError("a bearer token is configured twice (as a bare token or under two tenant names)")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ConfigError(f"TLS needs both a certificate and its private key: {TLS_HINT}")
        if self.max_message_bytes <= 0:
            raise ConfigError(f"the message size limit must be positive, got {self.max_message_bytes} bytes")
        if not (self.rate_limit >= 0 and math.isfinite(self.rate_limit)):
            raise ConfigError(f"the rate limit must be a finite number >= 0 requests/s, got {self.rate_limit}")
        if self.rate_burst is not None and self.rate_burst < 1:
            raise ConfigError(f"the rate limit's burst must be at least 1 request, got {self.rate_burst}")
        if self.max_streams < 0:
            raise ConfigError(f"{STREAMS_HINT} must be 0 (no limit) or a positive number of streams per client, "
                              f"got {self.max_streams}")
        if self.max_playgrounds < 0:
            raise ConfigError(f"{PLAYGROUNDS_HINT} must be 0 (no limit) or a positive number of playgrounds per "
                              f"client, got {self.max_playgrounds}")

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None

    @property
    def authenticated(self) -> bool:
        """Whether calls need a bearer token (some token, bare or a tenant's, is configured)."""
        return bool(self.tokens or self.tenants)

    def principals(self) -> tuple[tuple[str, str], ...]:
        """``(token, principal)`` of every accepted token (principals are safe to log)."""
        return tuple((t, principal_of(t)) for t in self.tokens) + tuple((t, tenant_principal(n)) for n, t in self.tenants)

    @property
    def burst(self) -> int:
        return self.rate_burst if self.rate_burst is not None else max(1, math.ceil(2 * self.rate_limit))

    def describe(self) -> str:
        """One line for the startup message (no secrets)."""
        n, names = len(self.tokens) + len(self.tenants), len({name for name, _ in self.tenants})
        parts = ["TLS" if self.tls else "plaintext",
                 f"{n} bearer token{'s' if n != 1 else ''}" if n else "no token",
                 f"messages <= {self.max_message_bytes / 2**20:g} MiB"]
        if names:
            parts[1] += f" ({names} named tenant{'s' if names != 1 else ''})"
        if self.rate_limit:
            parts.append(f"{self.rate_limit:g} requests/s per client (burst {self.burst})")
        parts.append(f"<= {self.max_streams} open streams per client" if self.max_streams else "no stream limit")
        if self.max_playgrounds:
            parts.append(f"<= {self.max_playgrounds} playgrounds per client")
        if self.twirp_trusted:
            parts.append(f"token-less Twirp from {', '.join(self.twirp_trusted)}")
        return ", ".join(parts)


def trusted_networks(cidrs: Iterable[str]) -> tuple:
    """``--twirp-trusted-network`` values as ``ipaddress`` networks; a bad one is a ``ConfigError``."""
    nets = []
    for cidr in cidrs:
        try:
            nets.append(ipaddress.ip_network(str(cidr).strip(), strict=False))
        except ValueError:
            raise ConfigError(f"--twirp-trusted-network must be a client network such as 10.0.0.0/24, "
                              f"192.168.1.7 or fd00::/64, got {str(cidr)[:64]!r}") from None
    return tuple(nets)


def trusted_warning(config: SecurityConfig) -> str:
    """The WARNING line logged at startup when ``--twirp-trusted-network`` is given."""
    return (f"WARNING: Twirp calls from {', '.join(config.twirp_trusted)} need no bearer token "
            f"(--twirp-trusted-network): anyone who can reach the Twirp port from these networks acts as the one "
            f"token-less client and sees its playgrounds")


def check_token(token: str) -> str:
    """Refuse empty, short or whitespace-containing tokens (they end up in an HTTP header)."""
    if not isinstance(token, str) or len(token) < MIN_TOKEN_LENGTH or any(c.isspace() for c in token) \
            or not token.isprintable() or not token.isascii():
        length = len(token) if isinstance(token, str) else "?"
        raise ConfigError(f"a bearer token must be at least {MIN_TOKEN_LENGTH} printable ASCII characters without "
                          f"spaces (got {length}); generate one with "
                          "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`")
    return token


def check_tenant_name(name: str) -> str:
    """Refuse a tenant name outside :data:`TENANT_NAME` (1 to 64 of ``A-Z a-z 0-9 _ . -``); the
    message does not echo it (a line written the wrong way round would show its token)."""
    if not isinstance(name, str) or not TENANT_NAME.fullmatch(name):
        raise ConfigError("a tenant name must be 1 to 64 letters, digits, '_', '.' or '-' "
                          f"(got {len(name) if isinstance(name, str) else '?'} characters)")
    return name


def load_credentials(token_file: str | os.PathLike | None = None, env: Mapping[str, str] | None = None) -> dict:
    """:class:`SecurityConfig`'s ``tokens`` and ``tenants`` (a dict of both) from ``token_file``,
    else the one token in the environment variable ``BACKTESTESTER_TOKEN``, else none. A token
    file line is ``TOKEN`` (a tenant of its own) or ``NAME TOKEN`` (a token of tenant NAME; a name
    may have several); blank lines and ``#`` comments are ignored. The file must be readable by
    its owner only (mode 0600 or 0400). A bad line is a ``ConfigError`` naming its number, never
    its text."""
    env = os.environ if env is None else env
    if token_file is None:
        value = env.get(TOKEN_ENV, "").strip()
        return {"tokens": (check_token(value),) if value else (), "tenants": ()}
    path = Path(token_file)
    try:
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigError(f"token file {path} is accessible by group or others (mode {stat.S_IMODE(mode):04o}): "
                              f"run `chmod 600 {path}`")
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise ConfigError(f"cannot read token file {path}: {exc.strerror or exc}") from None
    tokens, tenants, seen = [], [], {}
    for number, line in enumerate(lines, start=1):
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        try:
            if len(fields) > 2:
                raise ConfigError(f"{len(fields)} fields; a line is TOKEN or NAME TOKEN")
            token = check_token(fields[-1])
            if token in seen:
                raise ConfigError(f"the token of line {seen[token]} again (one line per token)")
            seen[token] = number
            if len(fields) == 2:
                tenants.append((check_tenant_name(fields[0]), token))
            else:
                tokens.append(token)
        except ConfigError as exc:
            raise ConfigError(f"token file {path}, line {number}: {exc}") from None
    if not seen:
        raise ConfigError(f"token file {path} holds no token (one per line: TOKEN or NAME TOKEN)")
    return {"tokens": tuple(tokens), "tenants": tuple(tenants)}


def read_tls(cert_file: str | os.PathLike | None, key_file: str | os.PathLike | None) -> tuple[bytes | None, bytes | None]:
    """PEM bytes of ``--tls-cert`` and ``--tls-key`` (both or neither), read here so that the
    gateway actor, possibly on another node, needs no access to the files."""
    if cert_file is None and key_file is None:
        return None, None
    if cert_file is None or key_file is None:
        raise ConfigError(f"TLS needs both a certificate and its private key: {TLS_HINT}")
    out = []
    for flag, name, marker in (("--tls-cert", cert_file, b"CERTIFICATE"), ("--tls-key", key_file, b"PRIVATE KEY")):
        try:
            data = Path(name).read_bytes()
        except OSError as exc:
            raise ConfigError(f"{flag}: cannot read {name}: {exc.strerror or exc}") from None
        if b"-----BEGIN" not in data or marker not in data:
            raise ConfigError(f"{flag}: {name} is not a PEM file with a {marker.decode().lower()}")
        out.append(data)
    return out[0], out[1]


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IP literals (127.0.0.0/8, ::1). Other names are not
    resolved: they count as non-loopback."""
    host = host.strip().strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def validate_bind(host: str, config: SecurityConfig | None) -> None:
    """Refuse a non-loopback ``host`` unless TLS and a bearer token are configured."""
    config = config or SecurityConfig()
    if is_loopback(host):
        return
    missing = [what for what, ok in (("TLS (" + TLS_HINT + ")", config.tls),
                                     ("a bearer token (" + TOKEN_HINT + ")", config.authenticated)) if not ok]
    if missing:
        raise ConfigError(f"refusing to serve on {host or '(all interfaces)'} without " + " and ".join(missing)
                          + ": a non-loopback bind requires TLS and a bearer token; plaintext without a token is "
                            "only allowed on 127.0.0.1, ::1 or localhost")


def server_credentials(config: SecurityConfig) -> grpc.ServerCredentials:
    """TLS credentials for ``add_secure_port`` (no client certificates)."""
    return grpc.ssl_server_credentials([(config.tls_key, config.tls_cert)])


# --- rate limit --------------------------------------------------------------------------------
class TokenBucket:
    """Token buckets per key: ``rate`` tokens per second up to ``burst``; a request takes one.

    ``clock`` (monotonic seconds) is injectable for tests. Full buckets are forgotten when more
    than ``max_keys`` keys are tracked, so memory stays bounded. No lock: the gateway uses it from
    its event loop only.
    """

    def __init__(self, rate: float, burst: int, *, clock: Callable[[], float] = time.monotonic,
                 max_keys: int = 10_000):
        if rate <= 0 or burst < 1:
            raise ValueError(f"a token bucket needs rate > 0 and burst >= 1, got {rate} and {burst}")
        self.rate, self.burst, self.clock, self.max_keys = float(rate), int(burst), clock, max_keys
        self._state: dict[object, tuple[float, float]] = {}  # key -> (tokens, time of last update)

    def take(self, key, cost: float = 1.0) -> float:
        """Take ``cost`` tokens for ``key`` (at most ``burst``, so every call fits a full bucket):
        0.0 when allowed, else the seconds until enough are available."""
        now = self.clock()
        need = min(float(cost), float(self.burst))
        tokens, last = self._state.get(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + max(0.0, now - last) * self.rate)
        if tokens >= need:
            self._state[key] = (tokens - need, now)
            if len(self._state) > self.max_keys:
                self._prune(now)
            return 0.0
        self._state[key] = (tokens, now)
        return (need - tokens) / self.rate

    def _prune(self, now: float) -> None:
        full = [k for k, (tokens, last) in self._state.items() if tokens + (now - last) * self.rate >= self.burst]
        for k in full:
            del self._state[k]
        # still too many: drop the oldest keys, down to 90% so the next new key does not prune again
        while len(self._state) > self.max_keys * 9 // 10:
            del self._state[next(iter(self._state))]


def call_cost(method: str) -> int:
    """Tokens a call of ``method`` (``/package.Service/Method``) takes from its client's bucket."""
    return CALL_COSTS.get(method.rsplit("/", 1)[-1], 1)


class StreamSlots:
    """Open server streams per principal, at most ``limit`` each (0: no limit). No lock: the
    gateway uses it from its event loop only."""

    def __init__(self, limit: int):
        self.limit = limit
        self.open: dict[object, int] = {}

    def acquire(self, key) -> bool:
        """Count one more open stream for ``key``; False (and nothing counted) at the limit."""
        if self.limit and self.open.get(key, 0) >= self.limit:
            return False
        self.open[key] = self.open.get(key, 0) + 1
        return True

    def release(self, key) -> None:
        left = self.open.get(key, 0) - 1
        if left > 0:
            self.open[key] = left
        else:
            self.open.pop(key, None)


def peer_host(peer: str) -> str:
    """``ipv4:1.2.3.4:5678`` -> ``1.2.3.4``, ``ipv6:[::1]:5678`` -> ``::1``; other forms unchanged."""
    scheme, _, rest = (peer or "").partition(":")
    if scheme in ("ipv4", "ipv6") and rest:
        return rest.rsplit(":", 1)[0].strip("[]")
    return peer or "unknown"


# --- the interceptor ---------------------------------------------------------------------------
class _Malformed:
    __slots__ = ("type_name",)

    def __init__(self, type_name: str):
        self.type_name = type_name


class MalformedStreamError(Exception):
    """A message of a request stream that does not decode (raised into the handler's loop)."""

    def __init__(self, type_name: str):
        super().__init__(type_name)
        self.type_name = type_name


def malformed_text(type_name: str) -> str:
    """The text of a request whose bytes do not decode as ``type_name``."""
    return f"malformed request: the bytes are not a valid {type_name} message"


def _tolerant(deserialize, type_name: str, *, stream: bool = False):
    """A request deserializer that returns a marker instead of raising (the handler answers
    INVALID_ARGUMENT; grpc's default is UNKNOWN with the parser's exception text). For a request
    stream it raises :class:`MalformedStreamError`, which reaches the handler's loop."""
    if deserialize is None:
        return None

    def parse(data: bytes):
        try:
            return deserialize(data)
        except Exception:  # noqa: BLE001  any parse failure is the caller's bytes
            if stream:
                raise MalformedStreamError(type_name) from None
            return _Malformed(type_name)
    return parse


class GatewayInterceptor(grpc.aio.ServerInterceptor):
    """Authentication, rate limit, malformed-request and unexpected-error handling for every RPC.

    Order per call: rate limit (keyed by principal and client host, so unauthenticated floods are
    limited too), then the bearer token (except ``open_methods``), then the request's decoding.
    """

    def __init__(self, principals: Iterable[tuple[str, str]] = (), *, limiter: TokenBucket | None = None,
                 open_methods: Iterable[str] = OPEN_METHODS, max_streams: int = 0):
        self._tokens = [(_digest(t), principal) for t, principal in principals]
        self._limiter = limiter
        self._open = frozenset(open_methods)
        self.streams = StreamSlots(max_streams)

    def authenticate(self, metadata) -> tuple[str | None, str | None]:
        """``(principal, None)`` when the metadata carries an accepted token (or no tokens are
        configured), else ``(None, message)``."""
        if not self._tokens:
            return None, None
        value = None
        for key, val in metadata or ():
            if key == "authorization":
                value = val.decode("latin-1") if isinstance(val, bytes) else val
        if value is None:
            return None, ("missing credentials: this gateway expects the metadata `authorization: Bearer <token>` "
                          f"with a configured token ({TOKEN_ENV} or --token-file on the server)")
        scheme, _, credential = value.strip().partition(" ")
        if scheme.lower() != "bearer" or not credential.strip():
            return None, "malformed authorization metadata: expected `Bearer <token>`"
        given = _digest(credential.strip())
        found = None
        for digest, principal in self._tokens:  # no early exit: the time does not depend on which one matched
            if hmac.compare_digest(given, digest):
                found = principal
        if found is None:
            return None, "invalid bearer token: it matches none of the tokens this gateway accepts"
        return found, None

    async def intercept_service(self, continuation, handler_call_details):
        method = handler_call_details.method
        if method in self._open:
            principal, denial = None, None
        else:
            principal, denial = self.authenticate(handler_call_details.invocation_metadata)
        handler = await continuation(handler_call_details)
        if handler is None and denial is None:
            return None  # grpc answers UNIMPLEMENTED
        return self._wrap(handler, method, principal, denial)

    def charge(self, context, method: str, principal=None) -> str | None:
        """Take a call of ``method`` from the caller's bucket (the rate limit): None if admitted,
        else the RESOURCE_EXHAUSTED text. A Session charges each command as its unary RPC."""
        if self._limiter is None:
            return None
        cost = call_cost(method)
        wait = self._limiter.take((principal, peer_host(context.peer())), cost)
        if not wait:
            return None
        name = method.rsplit("/", 1)[-1]
        what = name if name in CALL_COSTS else "this call"  # never echo a client's unknown method
        return (f"rate limit exceeded: at most {self._limiter.rate:g} requests/s per client "
                f"(burst {self._limiter.burst}); {what} counts as {cost} "
                f"request{'s' if cost != 1 else ''}; retry in {wait:.3g} s")

    async def gate(self, context, method, principal, denial, request=None) -> None:
        """Admit a call or abort it through ``context``: the rate limit, then ``denial`` (from
        :meth:`authenticate`), then a malformed ``request``; records ``principal`` for the servicer.
        The Twirp front end (:mod:`actors.gateway.twirp`) calls it with its own context."""
        if method not in self._open:  # health is never limited
            refusal = self.charge(context, method, principal)
            if refusal:
                await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, refusal)
        if denial is not None:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, denial)
        if isinstance(request, _Malformed):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, malformed_text(request.type_name))
        _PRINCIPAL.set(principal)

    def _wrap(self, handler, method: str, principal, denial):
        if handler is None:  # unknown method, unauthenticated caller: do not reveal it is unknown
            handler = grpc.unary_unary_rpc_method_handler(None)
        kinds = (("unary_unary", grpc.unary_unary_rpc_method_handler, False, False),
                 ("unary_stream", grpc.unary_stream_rpc_method_handler, False, True),
                 ("stream_unary", grpc.stream_unary_rpc_method_handler, True, False),
                 ("stream_stream", grpc.stream_stream_rpc_method_handler, True, True))
        attr, factory, stream_in, stream_out = next((k for k in kinds if getattr(handler, k[0]) is not None), kinds[0])
        behavior = getattr(handler, attr)
        deserializer = handler.request_deserializer
        if denial is not None:
            deserializer = None  # never parse an unauthenticated request
        else:
            owner = getattr(deserializer, "__self__", None)
            deserializer = _tolerant(deserializer, getattr(getattr(owner, "DESCRIPTOR", None), "full_name", method),
                                     stream=stream_in)
        gate = self.gate
        counted = stream_out and (not stream_in or method == SESSION_METHOD)  # not reflection's
        streams = self.streams if counted and method not in self._open else None

        async def enter(context):
            """Count an open stream (RESOURCE_EXHAUSTED at the limit); the caller releases it."""
            if streams is not None and not streams.acquire(principal):
                await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED,
                                    f"too many open streams: at most {streams.limit} StreamTicks or StreamCandlesArrow "
                                    f"calls per client (Session calls count too) at once (the gateway's {STREAMS_HINT}); end or cancel one first")

        async def internal(context, exc):
            if isinstance(exc, MalformedStreamError):  # e.g. garbage sent to server reflection
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, malformed_text(exc.type_name))
            log.error("%s failed", method, exc_info=exc)
            await context.abort(grpc.StatusCode.INTERNAL, f"{method}: internal error: {type(exc).__name__}")

        if stream_out and inspect.isasyncgenfunction(behavior):
            async def wrapped(request, context):
                await gate(context, method, principal, denial, None if stream_in else request)
                await enter(context)
                try:
                    async for item in behavior(request, context):
                        yield item
                except (grpc.aio.AbortError, asyncio.CancelledError, GeneratorExit):
                    raise
                except Exception as exc:  # noqa: BLE001  never crash, never leak the text
                    await internal(context, exc)
                finally:
                    if streams is not None:
                        streams.release(principal)
        else:
            async def wrapped(request, context):
                await gate(context, method, principal, denial, None if stream_in else request)
                await enter(context)
                try:
                    result = behavior(request, context)
                    return await result if inspect.isawaitable(result) else result
                except (grpc.aio.AbortError, asyncio.CancelledError):
                    raise
                except Exception as exc:  # noqa: BLE001  never crash, never leak the text
                    await internal(context, exc)
                finally:
                    if streams is not None:
                        streams.release(principal)
        return factory(wrapped, request_deserializer=deserializer, response_serializer=handler.response_serializer)


def interceptors(config: SecurityConfig, *, clock: Callable[[], float] = time.monotonic) -> list:
    """The server interceptors for ``config`` (always one: it also handles malformed requests)."""
    limiter = TokenBucket(config.rate_limit, config.burst, clock=clock) if config.rate_limit else None
    return [GatewayInterceptor(config.principals(), limiter=limiter, max_streams=config.max_streams)]
