"""The simulated broker: a :class:`~backtestester.live.port.Broker` that fills from the live bars.

Deterministic: the same calls with the same bars and the same ``now`` give the same order ids,
fills and prices. Matching runs only in :meth:`SimulatedBroker.match` (the desk's poll calls it
before listing orders) with the engine's fill rules (:mod:`backtestester.engine.matching`):

* a working market order fills at the close of the newest bar of its symbol when it was placed
  (fill model ``close``, the default; the first bar of its symbol when there was none), however
  many bars arrived before the next match; or at the open of the first bar of its symbol
  received after it was placed (``options["fill_model"] = "next_open"``); with no bar of its
  symbol yet it stays pending;
* limit, stop and stop-limit orders are matched against each bar of their symbol received after
  they were placed, in order, as the engine matches resting orders against new candles.

Fills are reported as a cumulative ``exec_quantity`` with its ``avg_fill_price``; positions are
signed with a signed total ``cost_basis``; cash moves by every fill. ``options["fill"] = "manual"``
turns matching off: only :meth:`SimulatedBroker.mock_fill` fills (the original's mock broker,
spec §17.8). Scripts for tests and demos: :meth:`~SimulatedBroker.script_partial`,
:meth:`~SimulatedBroker.script_reject`, :meth:`~SimulatedBroker.set_position`.

With ``path`` every change is committed to SQLite (``synchronous=FULL``) before the call returns,
so a new instance on the same file, after a SIGKILL, sees every order, position, bar and the cash.
Pure: standard library and the engine's matching rules.
"""
from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import asdict, dataclass, field

from ..engine.matching import match as engine_match
from ..engine.playground import FILL_MODELS
from ..symbols import normalize_symbol
from .port import (
    TERMINAL_STATUSES,
    Ack,
    Balances,
    Bar,
    BrokerClock,
    BrokerConfig,
    BrokerError,
    BrokerOrder,
    BrokerPosition,
    OrderIntent,
    PlaceOutcome,
    Quote,
    Rejected,
    SessionDay,
)
from .sessions import exchange_days, exchange_state

FILL_MODES = ("auto", "manual")
MOCK_FILL_STATUSES = ("filled", "rejected", "canceled")
ORDER_TYPES = ("market", "limit", "stop", "stop_limit")
#: The simulated account's starting cash (the original's mock broker: equity 10 000 000).
DEFAULT_CASH = 10_000_000.0
_BUYING = ("buy", "buy_to_cover")


class SimBrokerError(ValueError):
    """A refused call to the simulated broker (bad mock_fill, script or option); the message says why."""


@dataclass
class _Order:
    """A simulated order; ``bar_seq`` is the last bar (per-symbol sequence number) it was matched
    against (bars up to it were visible when it was placed or have been tried)."""

    id: str
    symbol: str
    side: str
    quantity: int
    order_type: str
    duration: str
    price: float | None
    stop_price: float | None
    tag: str | None
    status: str = "pending"
    exec_quantity: float = 0.0
    avg_fill_price: float = 0.0
    reason: str = ""
    created_ns: int = 0
    updated_ns: int = 0
    bar_seq: int = 0
    triggered: bool = False
    cancel_requested: bool = False
    fractions: list = field(default_factory=list)  # scripted partial steps left (cumulative fractions)
    step_price: float | None = None  # price of the first scripted step (limits keep it)
    reject_reason: str | None = None  # scripted: rejected at the next match

    def view(self) -> BrokerOrder:
        return BrokerOrder(
            id=self.id, symbol=self.symbol, side=self.side, quantity=float(self.quantity),
            status=self.status, exec_quantity=float(self.exec_quantity), avg_fill_price=self.avg_fill_price,
            tag=self.tag, order_type=self.order_type, duration=self.duration, reason=self.reason,
            created_ns=self.created_ns, updated_ns=self.updated_ns)


class _Store:
    """SQLite persistence of the simulated account (``None`` path: nothing is written)."""

    def __init__(self, path: str | None):
        self.db = None
        if path is None:
            return
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(
            "CREATE TABLE IF NOT EXISTS sim_orders (id INTEGER PRIMARY KEY, body TEXT NOT NULL);"
            "CREATE TABLE IF NOT EXISTS sim_positions (symbol TEXT PRIMARY KEY, quantity REAL, cost_basis REAL);"
            "CREATE TABLE IF NOT EXISTS sim_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
            "CREATE TABLE IF NOT EXISTS sim_bars (symbol TEXT, seq INTEGER, period_s INTEGER, start_ns INTEGER,"
            " open REAL, high REAL, low REAL, close REAL, volume REAL, PRIMARY KEY (symbol, seq));")

    def load(self):
        """(orders, positions, meta, bars by symbol) as stored."""
        if self.db is None:
            return [], {}, {}, {}
        orders = [_Order(**json.loads(body)) for (body,) in self.db.execute("SELECT body FROM sim_orders ORDER BY id")]
        positions = {s: (q, c) for s, q, c in self.db.execute("SELECT symbol, quantity, cost_basis FROM sim_positions")}
        meta = {k: json.loads(v) for k, v in self.db.execute("SELECT key, value FROM sim_meta")}
        bars: dict[str, list[Bar]] = {}
        for sym, _seq, period, start, o, h, lo, c, v in self.db.execute("SELECT * FROM sim_bars ORDER BY symbol, seq"):
            bars.setdefault(sym, []).append(Bar(sym, period, start, o, h, lo, c, v))
        return orders, positions, meta, bars

    def save(self, orders=(), positions=(), meta=None, bars=()):
        """Write the changed records in one transaction."""
        if self.db is None:
            return
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            for o in orders:
                db.execute("INSERT OR REPLACE INTO sim_orders VALUES (?, ?)", (int(o.id), json.dumps(asdict(o))))
            for sym, qty, cost in positions:
                if qty == 0:
                    db.execute("DELETE FROM sim_positions WHERE symbol = ?", (sym,))
                else:
                    db.execute("INSERT OR REPLACE INTO sim_positions VALUES (?, ?, ?)", (sym, qty, cost))
            for key, value in (meta or {}).items():
                db.execute("INSERT OR REPLACE INTO sim_meta VALUES (?, ?)", (key, json.dumps(value)))
            for seq, b in bars:
                db.execute("INSERT OR REPLACE INTO sim_bars VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                           (b.symbol, seq, b.period_s, b.start_ns, b.open, b.high, b.low, b.close, b.volume))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def close(self):
        if self.db is not None:
            self.db.close()
            self.db = None


def _option(options: dict, key: str, accepted: tuple, default: str) -> str:
    value = options.get(key, default)
    if value not in accepted:
        raise SimBrokerError(f"sim broker option {key} must be one of {', '.join(accepted)}, got {value!r}")
    return value


class SimulatedBroker:
    """The simulated broker (name ``"sim"``): see the module docstring for its rules.

    ``config.options``: ``fill`` (``auto``/``manual``), ``fill_model`` (``close``/``next_open``),
    ``cash`` (starting cash, default :data:`DEFAULT_CASH`), ``first_order_id`` (default 1),
    ``calendar`` (default ``XNYS``), ``strict_sides`` (default off: refuse a side that does not
    fit the position, as Tradier does). Thread-safe: every public method holds one lock."""

    name = "sim"

    def __init__(self, config: BrokerConfig | None = None, *, path: str | None = None, now=time.time_ns):
        options = dict(config.options) if config is not None else {}
        self.account_id = (config.account_id if config is not None else "") or "sim"
        self.fill_mode = _option(options, "fill", FILL_MODES, "auto")
        self.fill_model = _option(options, "fill_model", FILL_MODELS, "close")
        self.calendar_code = options.get("calendar", "XNYS")
        self.strict_sides = bool(options.get("strict_sides", False))
        self._now = now
        self._lock = threading.RLock()
        self._store = _Store(path)
        orders, positions, meta, bars = self._store.load()
        self._orders: dict[str, _Order] = {o.id: o for o in orders}
        self._positions: dict[str, tuple[float, float]] = positions
        self._bars: dict[str, list[Bar]] = bars  # per symbol, in arrival order (seq = index + 1)
        self._cash = float(meta.get("cash", options.get("cash", DEFAULT_CASH)))
        self._next_id = int(meta.get("next_id", options.get("first_order_id", 1)))
        self._reject_next: list = meta.get("reject_next", [])  # [[reason, at], ...] for the next placed orders
        self._partials: dict = meta.get("partials", {})  # tag or "next" -> cumulative fractions
        if not meta:
            self._save(meta=self._meta())

    # ----- persistence helpers -------------------------------------------------------------
    def _meta(self) -> dict:
        return {"cash": self._cash, "next_id": self._next_id, "reject_next": self._reject_next,
                "partials": self._partials}

    def _save(self, orders=(), symbols=(), meta=None, bars=()):
        positions = [(s, *self._positions.get(s, (0.0, 0.0))) for s in symbols]
        self._store.save(orders, positions, meta, bars)

    def close(self) -> None:
        """Close the SQLite file (the broker is unusable afterwards)."""
        with self._lock:
            self._store.close()

    # ----- the live feed -------------------------------------------------------------------
    def on_bar(self, bar: Bar) -> None:
        """A completed bar of the live feed (in time order per symbol). Ignored: a bar that is not
        newer than the symbol's newest (a repeat), and a bar of a longer period than the newest's
        (the shortest period prices the symbol)."""
        with self._lock:
            sym = normalize_symbol(bar.symbol)
            if sym != bar.symbol:
                bar = Bar(sym, bar.period_s, bar.start_ns, bar.open, bar.high, bar.low, bar.close, bar.volume)
            seen = self._bars.setdefault(sym, [])
            if seen and (bar.period_s > seen[-1].period_s or bar.start_ns <= seen[-1].start_ns):
                return  # a longer period, or not newer than the newest bar (a repeat after a restart)
            seen.append(bar)
            self._save(bars=[(len(seen), bar)])

    # ----- scripts -------------------------------------------------------------------------
    def script_partial(self, tag_or_next: str, fractions=(0.4, 0.6)) -> None:
        """Fill an order in steps, one per :meth:`match` that finds it fillable: ``fractions`` of
        its quantity (whole shares, the last step takes the rest; a limit or stop order's later
        steps fill at its first step's price, a market order's later steps at the newest close). ``tag_or_next`` is an order's
        tag, an order id, or ``"next"`` for the next placed order."""
        steps = [float(f) for f in fractions]
        if not steps or any(f <= 0 for f in steps) or abs(sum(steps) - 1.0) > 1e-9:
            raise SimBrokerError(f"partial fill fractions must be positive and sum to 1, got {list(fractions)!r}")
        cumulative = [sum(steps[: i + 1]) for i in range(len(steps))]
        cumulative[-1] = 1.0
        with self._lock:
            order = self._orders.get(str(tag_or_next)) or self._by_tag(tag_or_next)
            if order is not None:
                order.fractions = cumulative
                self._save(orders=[order])
            else:
                self._partials[str(tag_or_next)] = cumulative
                self._save(meta=self._meta())

    def script_reject(self, reason: str, *, at: str = "place") -> None:
        """Reject the next placed order with ``reason``: ``at="place"`` refuses it outright
        (:class:`~.port.Rejected`, nothing placed); ``at="match"`` accepts it, then the next
        :meth:`match` marks it ``rejected`` with the reason (the broker's asynchronous reject)."""
        if at not in ("place", "match"):
            raise SimBrokerError(f"script_reject at must be 'place' or 'match', got {at!r}")
        with self._lock:
            self._reject_next.append([str(reason), at])
            self._save(meta=self._meta())

    def set_position(self, symbol: str, qty: float, cost_basis: float) -> None:
        """Set a position the desk did not make (signed ``qty``, total ``cost_basis``); cash is untouched."""
        with self._lock:
            sym = normalize_symbol(symbol)
            if qty == 0:
                self._positions.pop(sym, None)
            else:
                self._positions[sym] = (float(qty), float(cost_basis))
            self._save(symbols=[sym])

    # ----- Broker: orders ------------------------------------------------------------------
    def place(self, intent: OrderIntent) -> PlaceOutcome:
        """Place ``intent``: a new ``pending`` order (its id in the :class:`~.port.Ack`), or a
        :class:`~.port.Rejected` for a scripted reject or an order the sim cannot take."""
        with self._lock:
            refused = self._refusal(intent) or self._side_refusal(intent)
            script = self._reject_next.pop(0) if self._reject_next else None
            if refused is None and script is not None and script[1] == "place":
                refused = script[0]
            if refused is not None:
                self._save(meta=self._meta())
                return Rejected(refused)
            sym = normalize_symbol(intent.symbol)
            now = self._now()
            order = _Order(
                id=str(self._next_id), symbol=sym, side=intent.side, quantity=int(intent.quantity),
                order_type=intent.order_type, duration=intent.duration, price=intent.price,
                stop_price=intent.stop, tag=intent.tag or None, created_ns=now, updated_ns=now,
                bar_seq=len(self._bars.get(sym, ())),
                reject_reason=script[0] if script is not None else None)
            for key in (order.tag, "next"):
                if key is not None and key in self._partials:
                    order.fractions = self._partials.pop(key)
                    break
            self._next_id += 1
            self._orders[order.id] = order
            self._save(orders=[order], meta=self._meta())
            return Ack(order.id)

    @staticmethod
    def _refusal(intent: OrderIntent) -> str | None:
        kind = intent.order_type
        if kind not in ORDER_TYPES:
            return f"order type must be one of {', '.join(ORDER_TYPES)}, got {kind!r}"
        if kind in ("limit", "stop_limit") and not (intent.price and intent.price > 0):
            return f"a {kind} order needs a positive price, got {intent.price!r}"
        if kind in ("stop", "stop_limit") and not (intent.stop and intent.stop > 0):
            return f"a {kind} order needs a positive stop price, got {intent.stop!r}"
        return None

    def _side_refusal(self, intent: OrderIntent) -> str | None:
        """With ``strict_sides``, Tradier's side rules against the current position: ``buy`` and
        ``sell_short`` never cross zero from the wrong side, ``sell``/``buy_to_cover`` only close."""
        if not self.strict_sides:
            return None
        held = self._positions.get(normalize_symbol(intent.symbol), (0.0, 0.0))[0]
        qty, side = intent.quantity, intent.side
        ok = {"buy": held >= 0, "sell_short": held <= 0, "sell": 0 < qty <= held, "buy_to_cover": 0 < qty <= -held}[side]
        if ok:
            return None
        return f"side {side} of {qty:g} shares does not fit the position of {held:g} shares"

    def cancel(self, order_id: str) -> None:
        """Ask to cancel a working order: it is ``canceled`` at the next :meth:`match` (keeping
        what filled before). Cancelling a terminal order is a no-op (a filled order stays filled)."""
        with self._lock:
            order = self._order(order_id)
            if order.status in TERMINAL_STATUSES or order.cancel_requested:
                return
            order.cancel_requested = True
            self._save(orders=[order])

    def get_order(self, order_id: str) -> BrokerOrder:
        """One order; :class:`~.port.BrokerError` ``order not found: <id>`` for an unknown id."""
        with self._lock:
            return self._order(order_id).view()

    def list_orders(self) -> list[BrokerOrder]:
        """Every order of the simulated account (a sim's "today" is all of it), by id."""
        with self._lock:
            return [o.view() for o in sorted(self._orders.values(), key=lambda o: int(o.id))]

    def _order(self, order_id) -> _Order:
        order = self._orders.get(str(order_id))
        if order is None:
            raise BrokerError(f"order not found: {order_id}")
        return order

    def _by_tag(self, tag) -> _Order | None:
        return next((o for o in self._orders.values() if tag is not None and o.tag == tag), None)

    # ----- matching ------------------------------------------------------------------------
    def match(self) -> list[BrokerOrder]:
        """Run matching now over the working orders, by id: cancels first, then scripted
        rejects, then fills (manual mode: cancels and rejects only). Returns the changed orders."""
        with self._lock:
            now = self._now()
            changed, symbols = [], set()
            for order in sorted(self._orders.values(), key=lambda o: int(o.id)):
                if order.status in TERMINAL_STATUSES:
                    continue
                if self._step(order, now):
                    order.updated_ns = now
                    changed.append(order)
                    symbols.add(order.symbol)
            if changed:
                self._save(orders=changed, symbols=sorted(symbols), meta=self._meta())
            return [o.view() for o in changed]

    def _step(self, order: _Order, now: int) -> bool:
        """One matching step of a working order; whether it changed."""
        if order.cancel_requested:
            order.status, order.cancel_requested = "canceled", False
            return True
        if order.reject_reason is not None:
            order.status, order.reason, order.reject_reason = "rejected", order.reject_reason, None
            return True
        if self.fill_mode == "manual":
            return self._accept(order)
        price = self._fill_price(order)
        if price is None:
            return self._accept(order)
        self._execute(order, self._step_quantity(order, price), price)
        return True

    @staticmethod
    def _accept(order: _Order) -> bool:
        if order.status == "pending":
            order.status = "open"
            return True
        return False

    def _fill_price(self, order: _Order) -> float | None:
        """The price at which ``order`` fills in this match, or None (the engine's rules)."""
        if order.step_price is not None and order.order_type != "market":
            return order.step_price
        bars = self._bars.get(order.symbol, [])
        if order.order_type == "market" and self.fill_model == "close":
            # The engine's close model: the first fill at the close of the candle that was current
            # when the order was placed (not of a newer bar that arrived before this match), else
            # of the first one; later scripted steps at the newest close.
            if not bars:
                return None
            return bars[max(order.bar_seq - 1, 0)].close if order.exec_quantity == 0 else bars[-1].close
        buying = order.side in _BUYING
        while order.bar_seq < len(bars):
            bar = bars[order.bar_seq]
            order.bar_seq += 1
            price, _slips = engine_match(order, buying, bar.open, bar.high, bar.low)
            if price is not None:
                return price
        return None

    @staticmethod
    def _step_quantity(order: _Order, price: float) -> int:
        """Shares this fill executes: the rest, or the next scripted step (never zero)."""
        while order.fractions:
            target = round(order.quantity * order.fractions.pop(0))
            if order.step_price is None:
                order.step_price = price
            if target > order.exec_quantity:
                return int(target - order.exec_quantity)
        return int(order.quantity - order.exec_quantity)

    def _execute(self, order: _Order, qty: int, price: float) -> None:
        """Book ``qty`` shares of ``order`` at ``price``: the order's cumulative fill, the
        position, the cash."""
        done = order.exec_quantity
        order.avg_fill_price = (order.avg_fill_price * done + price * qty) / (done + qty)
        order.exec_quantity = done + qty
        order.status = "filled" if order.exec_quantity >= order.quantity else "partially_filled"
        signed = qty if order.side in _BUYING else -qty
        self._cash -= signed * price
        held, cost = self._positions.get(order.symbol, (0.0, 0.0))
        new = held + signed
        if held == 0 or (held > 0) == (signed > 0):
            cost += signed * price
        elif (held > 0) == (new > 0):
            cost = cost * new / held
        else:
            cost = new * price
        if new == 0:
            self._positions.pop(order.symbol, None)
        else:
            self._positions[order.symbol] = (new, cost)

    def mock_fill(self, order_id: str, price: float, status: str) -> BrokerOrder:
        """Set a working order's outcome by hand (spec §17.8): ``filled`` executes the rest at
        ``price``; ``rejected``/``canceled`` end it. Refusals (:class:`SimBrokerError`):
        ``invalid status: <status>``, ``invalid price: <price>``, ``order not found``, and an
        order that already ended."""
        if status not in MOCK_FILL_STATUSES:
            raise SimBrokerError(f"invalid status: {status}")
        if not isinstance(price, (int, float)) or not price > 0:
            raise SimBrokerError(f"invalid price: {price:f}" if isinstance(price, (int, float)) else f"invalid price: {price}")
        with self._lock:
            order = self._orders.get(str(order_id))
            if order is None:
                raise SimBrokerError("order not found")
            if order.status in TERMINAL_STATUSES:
                raise SimBrokerError(f"order {order.id} is already {order.status}: only a working order can be mock-filled")
            if status == "filled":
                self._execute(order, int(order.quantity - order.exec_quantity), float(price))
            else:
                order.status = status
            order.updated_ns = self._now()
            self._save(orders=[order], symbols=[order.symbol], meta=self._meta())
            return order.view()

    # ----- Broker: account and market data --------------------------------------------------
    def positions(self) -> list[BrokerPosition]:
        """Signed positions, by symbol."""
        with self._lock:
            return [BrokerPosition(s, q, c) for s, (q, c) in sorted(self._positions.items())]

    def balances(self) -> Balances:
        """Cash, and equity = cash + positions at the newest close (cost basis when no bar yet)."""
        with self._lock:
            value = 0.0
            for sym, (qty, cost) in self._positions.items():
                bars = self._bars.get(sym)
                value += qty * bars[-1].close if bars else cost
            return Balances(equity=self._cash + value, cash=self._cash, account_type="margin", market_value=value)

    def quotes(self, symbols: list[str]) -> list[Quote]:
        """The newest bar's close of each symbol that has one (others are left out)."""
        with self._lock:
            out = []
            for symbol in symbols:
                bars = self._bars.get(normalize_symbol(symbol))
                if bars:
                    last = bars[-1]
                    out.append(Quote(last.symbol, last.close, last.close, last.close, last.end_ns))
            return out

    def bars(self, symbol: str, period_s: int, start_ns: int, end_ns: int) -> list[Bar]:
        """The bars received of ``symbol`` and ``period_s`` starting in ``[start_ns, end_ns)``."""
        with self._lock:
            return [b for b in self._bars.get(normalize_symbol(symbol), [])
                    if b.period_s == period_s and start_ns <= b.start_ns < end_ns]

    def clock(self) -> BrokerClock:
        """The session state at ``now`` from the exchange calendar, and ``now`` as the server time."""
        now = self._now()
        return BrokerClock(state=exchange_state(now, self.calendar_code), server_ns=now)

    def calendar(self, year: int, month: int) -> list[SessionDay]:
        """Every day of the month from the exchange calendar (closed days with no windows)."""
        return exchange_days(year, month, self.calendar_code)
