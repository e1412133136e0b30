"""Requests of the wire validated into engine arguments (pure functions, no ray, no server).

What the gateway refuses before a request reaches a playground raises :class:`RequestError`,
with the gRPC status name clients see. Client input in its texts goes through
:func:`~backtestester.texts.shown` (quoted, cut to 64 characters); times and dates must lie in
the dates the engine can hold (:data:`~backtestester.data.dates.FIRST_DATE` ..
:data:`~backtestester.data.dates.LAST_DATE`), numbers must be finite.
"""
from __future__ import annotations

import math
from datetime import date, datetime

from ..data.dates import FIRST_DATE, LAST_DATE, supported_date
from ..engine.costs import Commission, Slippage
from ..engine.playground import FILL_MODELS, MARGIN_BASES
from ..rpc import playground_pb2 as pb
from ..symbols import normalize_symbol
from ..texts import shown
from .times import CATALOG_TIMEFRAMES, UNIT_SECONDS, UTC

INDICATORS = ("supertrend", "stochrsi", "moving_averages", "lag_features", "atr", "stochrsi_cross_above_20",
              "stochrsi_cross_below_80", "doji", "hammer")
ENVIRONMENTS = ("simulator", "live", "reconcile")
MAX_HISTORY_DAYS = 3660
# Client-chosen names the gateway keeps (in caches, the registry, the saved journal): bounded so
# that no request can make it hold megabytes per name. A uuid4 is 36 characters.
MAX_ID_CHARACTERS = 128
MAX_TAGS = 64
DATE_RANGE = f"accepted: {FIRST_DATE} to {LAST_DATE}"


class RequestError(ValueError):
    """A request the gateway refuses before it reaches a playground: ``code`` is the gRPC status
    name (``INVALID_ARGUMENT``, ``NOT_FOUND``, ...), the message the text clients see."""

    def __init__(self, message: str, code: str = "INVALID_ARGUMENT"):
        super().__init__(message)
        self.code = code


# --- times in requests ---------------------------------------------------------------------------
def parse_rfc3339(value: str, field: str) -> datetime:
    """An RFC 3339 instant (``Z`` or an offset); a bare date means 00:00 UTC. Refuses naive times."""
    if not isinstance(value, str) or not value.strip():
        raise RequestError(f"{field} is empty: give an RFC 3339 time such as 2024-01-02T14:30:00Z")
    text = value.strip()
    try:
        if len(text) == 10:
            d = date.fromisoformat(text)
            return datetime(d.year, d.month, d.day, tzinfo=UTC)
        dt = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise RequestError(f"failed to parse {field}: {shown(value)} is not an RFC 3339 time "
                           f"(e.g. 2024-01-02T14:30:00Z)") from None
    if dt.tzinfo is None:
        raise RequestError(f"failed to parse {field}: {shown(value)} has no UTC offset (add Z or e.g. -05:00)")
    if not supported_date(dt):
        raise RequestError(f"{field} {shown(value)} is out of range: {DATE_RANGE}")
    return dt


def parse_date(value: str, field: str) -> date:
    """A ``YYYY-MM-DD`` date (spec: start_date, stop_date)."""
    text = value.strip() if isinstance(value, str) else ""
    try:
        if len(text) != 10:
            raise ValueError
        day = date.fromisoformat(text)
    except ValueError:
        raise RequestError(f"failed to parse {field}: {shown(value)} is not a date YYYY-MM-DD") from None
    if not supported_date(day):
        raise RequestError(f"{field} {day} is out of range: {DATE_RANGE}")
    return day


def parse_symbol(value: str) -> str:
    """A ticker, upper-cased (:func:`~backtestester.symbols.normalize_symbol`: not empty, not too long)."""
    try:
        return normalize_symbol(value)
    except ValueError as exc:
        raise RequestError(str(exc)) from None


def identifier(value: str, field: str) -> str:
    """A client-chosen id or tag the gateway keeps (``request_id``, ``client_id``, a tag...):
    at most :data:`MAX_ID_CHARACTERS` characters."""
    if len(value) > MAX_ID_CHARACTERS:
        raise RequestError(f"{field} {shown(value)} is too long: at most {MAX_ID_CHARACTERS} characters")
    return value


def finite(value: float, field: str) -> float:
    """A float field of a request that must be a number (not NaN, not infinite)."""
    if not math.isfinite(value):
        raise RequestError(f"{field} must be a finite number, got {value!r}")
    return value


# --- validation ----------------------------------------------------------------------------------
def repository_spec(repo: pb.Repository) -> dict:
    """Validate a ``Repository`` message -> {symbol, timeframe, period_seconds, indicators, history_in_days}."""
    if not repo.symbol.strip():
        raise RequestError("repository symbol is empty")
    symbol = parse_symbol(repo.symbol)
    unit = repo.timespan_unit.strip().lower()
    if unit not in UNIT_SECONDS:
        raise RequestError(f"invalid timespan unit {shown(repo.timespan_unit)} for {symbol}: "
                           f"accepted: {', '.join(UNIT_SECONDS)}")
    mult = repo.timespan_multiplier
    timeframe = CATALOG_TIMEFRAMES.get((mult, unit))
    if timeframe is None:
        accepted = ", ".join(f"{m} {u}" for m, u in CATALOG_TIMEFRAMES)
        raise RequestError(f"unsupported timespan {mult} {unit} for {symbol}: accepted: {accepted}")
    bad = [i for i in repo.indicators if i not in INDICATORS]
    if bad:
        more = f" and {len(bad) - 1} more" if len(bad) > 1 else ""
        raise RequestError(f"unknown indicators {shown(bad[0])}{more} for {symbol}: accepted: {', '.join(INDICATORS)}")
    if repo.history_in_days > MAX_HISTORY_DAYS:
        raise RequestError(f"history_in_days {repo.history_in_days} for {symbol} is too large "
                           f"(at most {MAX_HISTORY_DAYS})")
    return {"symbol": symbol, "timeframe": timeframe, "period_seconds": mult * UNIT_SECONDS[unit],
            "indicators": list(repo.indicators), "history_in_days": int(repo.history_in_days),
            "timespan_multiplier": int(mult), "timespan_unit": unit}


def create_config(req: pb.CreatePolygonPlaygroundRequest) -> dict:
    """Validate a CreatePlayground request -> a plain, picklable config dict."""
    env = req.environment.strip().lower() or "simulator"
    if env not in ENVIRONMENTS:
        raise RequestError(f"invalid environment {shown(req.environment)}: accepted: {', '.join(ENVIRONMENTS)}")
    if env != "simulator":
        raise RequestError(f"CreatePlayground creates simulator playgrounds only, got environment {shown(env)}; "
                           f"live playgrounds use CreateLivePlayground")
    if not math.isfinite(req.balance) or req.balance < 0:
        raise RequestError(f"balance must be a finite number >= 0, got {req.balance!r}")
    if not req.repositories:
        raise RequestError("missing repositories")
    start = parse_date(req.start_date, "clock.startDate")
    stop = parse_date(req.stop_date, "clock.stopDate")
    if stop < start:
        raise RequestError(f"clock.stopDate {stop} is before clock.startDate {start}")
    repos, seen = [], set()
    for r in req.repositories:
        spec = repository_spec(r)
        if start.toordinal() - spec["history_in_days"] < FIRST_DATE.toordinal():
            raise RequestError(f"history_in_days {spec['history_in_days']} for {spec['symbol']} reaches back before "
                               f"{FIRST_DATE} from clock.startDate {start}: the first date the data can hold")
        key = (spec["symbol"], spec["period_seconds"])
        if key in seen:
            raise RequestError(f"duplicate repository {spec['symbol']} {spec['timespan_multiplier']} "
                               f"{spec['timespan_unit']}")
        seen.add(key)
        repos.append(spec)
    if len(req.tags) > MAX_TAGS:
        raise RequestError(f"{len(req.tags)} tags: at most {MAX_TAGS} per playground")
    return {"balance": float(req.balance), "start_date": start.isoformat(), "stop_date": stop.isoformat(),
            "environment": env, "repositories": repos, "tags": [identifier(t, "tag") for t in req.tags],
            "client_id": identifier(req.client_id, "client_id") if req.HasField("client_id") else None,
            "calendar": "XNYS", "engine": engine_options(req)}


# The CreatePlayground additions of each cost model: (request field, the model's field).
COST_FIELDS = {"commission": (Commission, (("commission_rate", "rate"), ("commission_per_share", "per_share"),
                                           ("commission_per_order", "per_order"),
                                           ("commission_minimum", "minimum"))),
               "slippage": (Slippage, (("slippage_rate", "rate"), ("slippage_per_share", "per_share")))}


def engine_options(req: pb.CreatePolygonPlaygroundRequest) -> dict:
    """The engine options a CreatePlayground request sets (its additions, docs/wire.md), as plain
    data for the saved config: ``fill_model``, ``margin_basis``, ``enforce_stop_loss``, and
    ``commission``/``slippage`` as the fields of :class:`Commission`/:class:`Slippage`. Unset
    options are left out: the engine's defaults (the v1 behaviour)."""
    out: dict = {}
    for name, accepted in (("fill_model", FILL_MODELS), ("margin_basis", MARGIN_BASES)):
        if req.HasField(name):
            if getattr(req, name) not in accepted:
                raise RequestError(f"invalid {name} {shown(getattr(req, name))}: accepted: {', '.join(accepted)}")
            out[name] = getattr(req, name)
    if req.HasField("enforce_stop_loss"):
        out["enforce_stop_loss"] = bool(req.enforce_stop_loss)
    for model, (cls, fields) in COST_FIELDS.items():
        given = {attr: getattr(req, field) for field, attr in fields if req.HasField(field)}
        if given:
            try:
                cls(**given)  # the model's own checks: finite, >= 0
            except ValueError as exc:
                raise RequestError(str(exc)) from None
            out[model] = given
    return out


def place_order_kwargs(req: pb.PlaceOrderRequest) -> dict:
    """Request-level validation of spec 7.1 step 2 -> keyword arguments of ``Playground.place_order``."""
    asset = req.asset_class.strip().lower() or "equity"
    if asset != "equity":
        raise RequestError(f"invalid request: invalid class: invalid order class: {req.asset_class}")
    if req.is_adjustment:
        raise RequestError("failed to place order: makeOrderRecord: only reconcile playgrounds can place "
                           "adjustment orders")
    kwargs = {"symbol": req.symbol, "side": req.side, "quantity": finite(req.quantity, "quantity"),
              "requested_price": finite(req.requested_price, "requested_price"), "order_type": req.type or "market",
              "duration": req.duration or "day", "tag": req.tag}
    if req.HasField("price"):
        kwargs["price"] = finite(req.price, "price")
    for name in ("sl", "stop_price", "tp", "equity_fraction"):  # all but sl: additions (docs/wire.md)
        if req.HasField(name):
            kwargs[name] = finite(getattr(req, name), name)
    if "equity_fraction" in kwargs:  # sized by the engine at the fill
        if req.quantity:
            raise RequestError(f"give either quantity or equity_fraction, not both (quantity {req.quantity!r} "
                               f"must be 0 with equity_fraction)")
        kwargs["quantity"] = None
    if req.HasField("close_order_id"):
        kwargs["close_order_id"] = int(req.close_order_id)
    if req.HasField("client_request_id") and req.client_request_id:
        kwargs["client_request_id"] = identifier(req.client_request_id, "client_request_id")
    return kwargs


def order_matches(o, *, statuses, sides, symbols, start, end) -> bool:
    """GetAccount filters (spec 15.2): status / side / case-insensitive symbol lists; dates apply
    only to orders with closed_by records (the original's rule, kept for compatibility)."""
    if statuses and o.status not in statuses:
        return False
    if sides and o.side not in sides:
        return False
    if symbols and o.symbol.upper() not in symbols:
        return False
    if o.closed_by and (start is not None or end is not None):
        created = o.created_at
        if start is not None:
            latest = max(t.time for t in o.closed_by)
            if created < start and latest < start:
                return False
        if end is not None and created > end:
            return False
    return True
