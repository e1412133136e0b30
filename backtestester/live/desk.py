"""The live desk: live playgrounds, one reconcile account per broker account, durable in
``<data_dir>/live.sqlite3``.

A live playground is an engine account (:mod:`.liveplayground`) whose orders go to a broker
through its reconcile account (:mod:`.account`): the intent journal first, the broker second,
fills from polling. :meth:`LiveDesk.poll` runs one cycle (the gateway calls it every second;
tests call it directly with an injected clock): due bars to the simulated brokers and the
playgrounds, ``match()`` of the simulated brokers, then per account one ``list_orders`` that
resolves open intents by tag, applies fills once, sends the next legs and queued orders, and
reconciles positions every ``reconcile_every_s`` (every cycle while they differ).
:meth:`LiveDesk.next_tick` never calls the broker: it hands out what the polls queued for the
playground and records an equity point.

Constructing a desk on an existing ``data_dir`` resumes everything (D14) and runs each account's
cycle (intents resolved by tag first) before it returns. All public methods hold one lock, so the
gateway may call them from several threads.
"""
from __future__ import annotations

import json
import logging
import math
import threading
import time
import uuid
from dataclasses import dataclass, field

from ..engine.delta import Event
from ..engine.orders import OPENING_SIDES, Order, Trade
from ..service.errors import ServiceError, Status
from ..symbols import normalize_symbol
from ..texts import shown
from .account import ReconcileAccount
from .liveplayground import LiveAccount, LivePlayground, parse_repositories
from .livestore import dumps, insert_order, open_store, order_from_doc, queue_out, save_status
from .port import Bar, Broker, BrokerError
from .reconcile import Report

__all__ = ["LiveDelta", "LiveDesk", "LiveAccount", "Report"]

log = logging.getLogger(__name__)


@dataclass
class LiveDelta:
    """What arrived for a live playground since its previous tick (spec §17.5)."""

    new_trades: list[Trade] = field(default_factory=list)
    new_candles: list[Bar] = field(default_factory=list)
    invalid_orders: list[Order] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    current_ns: int = 0


def _bad(message: str) -> ServiceError:
    return ServiceError(Status.INVALID_ARGUMENT, message)


def _symbol(symbol) -> str:
    try:
        return normalize_symbol(symbol)
    except ValueError as exc:
        raise _bad(str(exc)) from None


class LiveDesk:
    """Live playgrounds over ``brokers`` (name -> :class:`~.port.Broker`) and the live ``bars``
    (:class:`~.bars.LiveBars`); ``sessions`` (broker name -> :class:`~.sessions.MarketSessions`)
    gates orders by market hours when given. ``now`` returns int UTC ns."""

    def __init__(self, data_dir, brokers: dict[str, Broker], bars, *, sessions: dict | None = None,
                 now=time.time_ns, reconcile_every_s: float = 60):
        if not isinstance(brokers, dict) or not brokers:
            raise ValueError("brokers must be a non-empty dict of broker name -> Broker")
        self._brokers, self._bars, self._sessions = dict(brokers), bars, dict(sessions or {})
        self._now, self._reconcile_every_s = now, reconcile_every_s
        # Two locks, always taken in this order: _lock sequences everything that talks to a broker
        # (poll, place, cancel, mock fills); _state guards memory and the store for short moments.
        # Readers (next_tick, account, ...) take only _state, so they never wait for a broker.
        self._lock = threading.RLock()
        self._state = threading.RLock()
        self._conn, self._journal = open_store(data_dir, self._state)
        self._pgs: dict[str, LivePlayground] = {}
        self._order_pid: dict[int, str] = {}
        self._cancel: set[int] = set()
        self._accounts: dict[str, ReconcileAccount] = {}
        self._account_rows: dict[str, tuple[str, str, str]] = {}
        self._last_bars: dict[tuple[str, int], tuple[int, float]] = {}
        self._order_seq = 0
        with self._lock:
            with self._state:
                self._load()
            self._catch_up()
            now_ns = self._now()
            for acct in self._accounts.values():
                self._cycle(acct, now_ns, reconcile=True)

    # --- resume ---------------------------------------------------------------------------------
    def _load(self) -> None:
        conn = self._conn
        for rid, broker, account_id, account_type in conn.execute(
                "SELECT reconcile_id, broker, account_id, account_type FROM accounts"):
            self._account_rows[rid] = (broker, account_id, account_type)
            if broker in self._brokers:
                self._accounts[rid] = self._new_account(rid, broker, account_type)
        for sym, period_s, start_ns, close in conn.execute("SELECT symbol, period_s, start_ns, close FROM last_bars"):
            self._last_bars[(sym, period_s)] = (start_ns, close)
        for pid, doc in conn.execute("SELECT pid, doc FROM playgrounds ORDER BY created_ns, pid"):
            self._attach(LivePlayground(pid, json.loads(doc)))
        statuses = {}
        for oid, pid, doc, status, reason, cancel in conn.execute(
                "SELECT id, pid, doc, status, reason, cancel_requested FROM orders ORDER BY id"):
            order = order_from_doc(doc)
            self._pgs[pid].add(order)
            self._order_pid[oid] = pid
            statuses[oid] = (status, reason)
            if cancel:
                self._cancel.add(oid)
            self._order_seq = max(self._order_seq, oid)
        for pid, oid, qty, price, time_ns in conn.execute(
                "SELECT pid, order_id, quantity, price, time_ns FROM fills ORDER BY seq"):
            pg = self._pgs[pid]
            pg.fill(pg.orders[oid], qty, price, time_ns)
        for oid, (status, reason) in statuses.items():
            order = self._pgs[self._order_pid[oid]].orders[oid]
            order.status, order.reject_reason = status, reason

    def _catch_up(self) -> None:
        """Bars the live bars delivered after the newest bar this desk stored (a crash between the
        two): handed to the simulated brokers and the playgrounds now, as the poll would have."""
        missed = []
        for (sym, period_s), (start_ns, _) in sorted(self._last_bars.items()):
            missed += [b for b in self._bars.candles(sym, period_s, start_ns + 1) if b.start_ns > start_ns]
        if missed:
            self._feed(sorted(missed, key=lambda b: (b.end_ns, b.symbol, b.period_s)))

    def _new_account(self, rid: str, broker: str, account_type: str) -> ReconcileAccount:
        return ReconcileAccount(rid, broker, self._brokers[broker], account_type, self._journal,
                                reconcile_every_s=self._reconcile_every_s)

    def _attach(self, pg: LivePlayground) -> None:
        self._pgs[pg.pid] = pg
        for sym, period_s in pg.repositories:
            self._bars.subscribe(sym, period_s)
            last = self._last_bars.get((sym, period_s))
            if last is not None:
                pg.on_bar(Bar(sym, period_s, last[0], last[1], last[1], last[1], last[1]))

    # --- helpers --------------------------------------------------------------------------------
    def market_ns(self, now_ns: int) -> int:
        """The market time at wall time ``now_ns`` (a replay's time, else the wall clock)."""
        return int(self._bars.clock_ns(now_ns))

    def _pg(self, pid) -> LivePlayground:
        pg = self._pgs.get(pid)
        if pg is None:
            if pid in self._account_rows:
                raise _bad(f"playground {shown(pid)} is a reconcile playground, not a live playground")
            raise ServiceError(Status.NOT_FOUND, f"live playground {shown(pid)} not found")
        return pg

    def _account(self, rid) -> ReconcileAccount:
        acct = self._accounts.get(rid)
        if acct is None:
            if rid in self._pgs:
                raise _bad("playground is not a reconciliation playground")
            if rid in self._account_rows:
                broker = self._account_rows[rid][0]
                raise ServiceError(Status.FAILED_PRECONDITION, f"broker {shown(broker)} of reconcile playground "
                                   f"{shown(rid)} is not configured: accepted: {', '.join(sorted(self._brokers))}")
            raise ServiceError(Status.NOT_FOUND, f"reconcile playground {shown(rid)} not found")
        return acct

    def _order(self, order_id) -> tuple[LivePlayground, Order]:
        pid = self._order_pid.get(order_id)
        if pid is None:
            raise ServiceError(Status.NOT_FOUND, f"order {shown(order_id)} not found")
        pg = self._pgs[pid]
        return pg, pg.orders[order_id]

    # --- playgrounds ----------------------------------------------------------------------------
    def create_playground(self, *, broker: str, account_type: str, repositories, balance: float,
                          client_id: str | None = None, tags=(), owner: str | None = None) -> str:
        """A new live playground (or the one created earlier with this ``(owner, client_id)``)."""
        if broker not in self._brokers:
            raise _bad(f"unknown broker {shown(broker)}: accepted: {', '.join(sorted(self._brokers))}")
        if not isinstance(account_type, str) or not account_type.strip():
            raise _bad(f"account_type must be a non-empty string such as 'margin', got {shown(account_type)}")
        try:
            repos = parse_repositories(repositories)
        except ValueError as exc:
            raise _bad(str(exc)) from None
        if isinstance(balance, bool) or not isinstance(balance, (int, float)) or not math.isfinite(balance) \
                or balance < 0:
            raise _bad(f"balance must be a finite number >= 0, got {shown(balance)}")
        tags = [str(t) for t in tags]
        with self._lock:
            if client_id:
                for pg in self._pgs.values():
                    if pg.doc.get("client_id") == client_id and pg.doc.get("owner") == owner:
                        return pg.pid
            now = self._now()
            with self._state:
                rid, created = self._account_for(broker, account_type, now)
                pid = uuid.uuid4().hex
                doc = dict(broker=broker, account_type=account_type, reconcile_id=rid, repositories=repos,
                           balance=float(balance), client_id=client_id, owner=owner, tags=tags,
                           start_ns=self.market_ns(now))
                self._conn.execute("INSERT INTO playgrounds (pid, doc, created_ns) VALUES (?, ?, ?)",
                                   (pid, dumps(doc), now))
                self._conn.commit()
                self._attach(LivePlayground(pid, doc))
            if created:
                self._cycle(self._accounts[rid], now, reconcile=True)
            return pid

    def _account_for(self, broker: str, account_type: str, now: int) -> tuple[str, bool]:
        account_id = self._brokers[broker].account_id
        for rid, row in self._account_rows.items():
            if row == (broker, account_id, account_type):
                return rid, False
        rid = uuid.uuid4().hex
        self._conn.execute("INSERT INTO accounts (reconcile_id, broker, account_id, account_type, created_ns) "
                           "VALUES (?, ?, ?, ?, ?)", (rid, broker, account_id, account_type, now))
        self._conn.commit()
        self._account_rows[rid] = (broker, account_id, account_type)
        self._accounts[rid] = self._new_account(rid, broker, account_type)
        return rid, True

    def playgrounds(self, tags=()) -> list[str]:
        """Ids of the live playgrounds carrying every tag in ``tags``, oldest first."""
        with self._state:
            return [pid for pid, pg in self._pgs.items() if set(tags) <= set(pg.doc.get("tags", ()))]

    def meta(self, pid) -> dict:
        """The live playground's description (the wire's playground metadata), with its ``owner``
        (stored with it: a restarted gateway keeps each tenant's playgrounds theirs)."""
        with self._state:
            pg = self._pg(pid)
            d = pg.doc
            return dict(playground_id=pid, reconcile_playground_id=d["reconcile_id"], symbols=pg.symbols,
                        initial_balance=d["balance"], start_ns=d["start_ns"], environment="live",
                        live_account_type=d["account_type"], tags=list(d.get("tags", ())),
                        client_id=d.get("client_id"), owner=d.get("owner"), broker=d["broker"],
                        repositories=[tuple(r) for r in pg.repositories])

    # --- orders ---------------------------------------------------------------------------------
    def place_order(self, pid, *, symbol, side, quantity, order_type="market", duration="day", price=None,
                    stop_price=None, requested_price=0.0, tag="", close_order_id=None, client_request_id=None,
                    sl=None, tp=None) -> Order:
        """Validate (the engine's rules and texts: a refusal is ``ServiceError(INVALID_ARGUMENT)``) and
        route a live order. Outcomes are the returned order's status: ``rejected`` with the reason
        when the market is closed or opens are blocked by a reconciliation difference, else
        ``pending`` (sent to the broker, or queued behind the symbol's working order)."""
        with self._lock:
            pg = self._pg(pid)
            if client_request_id is not None and client_request_id in pg.by_request_id:
                return pg.by_request_id[client_request_id]
            acct = self._account(pg.reconcile_id)
            now = self._now()
            market = self.market_ns(now)
            try:
                order = pg.check(order_id=self._order_seq + 1, symbol=symbol, side=side, quantity=quantity,
                                 order_type=order_type, duration=duration, price=price, stop_price=stop_price,
                                 requested_price=requested_price, tag=tag, close_order_id=close_order_id,
                                 sl=sl, tp=tp, now_ns=market)
            except ValueError as exc:
                raise _bad(str(exc)) from None
            self._order_seq = order.id
            order.client_request_id = client_request_id
            sessions = self._sessions.get(pg.doc["broker"])
            refusal = sessions.refusal(market, duration) if sessions is not None else None
            if refusal is None and order.side in OPENING_SIDES:
                refusal = acct.opens_refusal()
            if refusal:
                order.status, order.reject_reason = "rejected", refusal
            with self._state:
                pg.add(order)
                self._order_pid[order.id] = pid
                insert_order(self._conn, pid, order)
                self._conn.commit()
            if not refusal:
                acct.send_ready(self, now)
            return order

    def cancel_order(self, pid, order_id) -> Order:
        """Cancel a live order: at once when nothing of it is working at the broker, else through the
        broker. The request is durable: no further leg is sent, and a cancel the broker did not
        take (unreachable, or the order's outcome still unknown) is asked again by the polls. A
        fill that wins the race is kept."""
        with self._lock:
            pg = self._pg(pid)
            order = pg.orders.get(order_id)
            if order is None:
                raise ServiceError(Status.NOT_FOUND, f"order {shown(order_id)} not found")
            if not order.is_open:
                raise _bad(f"order {order_id} is not pending: its status is {order.status}")
            acct = self._account(pg.reconcile_id)
            now = self._now()
            with self._state:
                self._cancel.add(order.id)
                save_status(self._conn, order, cancel_requested=True)
                self._conn.commit()
            for rec in [r for r in self._journal.for_order(order.id) if r.state == "acked"]:
                if acct.cancel(rec):
                    try:
                        acct.sync(self, rec, acct.broker.get_order(rec.broker_order_id), now)
                    except BrokerError:
                        pass  # the next poll reads it
            acct.send_ready(self, now)
            return order

    def get_order(self, order_id) -> Order:
        with self._state:
            return self._order(order_id)[1]

    def open_orders(self, pid, symbol) -> list[Order]:
        """Filled buy/sell_short orders of ``symbol`` with open quantity left, in fill order (spec 9.1)."""
        with self._state:
            pg = self._pg(pid)
            return list(pg.ledger.lots.get(_symbol(symbol), []))

    def account(self, pid) -> LiveAccount:
        with self._state:
            return self._pg(pid).account()

    def candles(self, pid, symbol, period_s, start_ns, end_ns=None) -> list[Bar]:
        """The stored live bars of one of the playground's repositories."""
        with self._state:
            pg = self._pg(pid)
            sym = _symbol(symbol)
            if (sym, period_s) not in pg.repositories:
                raise ServiceError(Status.NOT_FOUND, f"repository {shown(sym)} {shown(period_s)}s not found in "
                                   f"repos: {', '.join(f'{s} {p}s' for s, p in pg.repositories)}")
        return self._bars.candles(sym, period_s, start_ns, end_ns)

    # --- ticks ----------------------------------------------------------------------------------
    def next_tick(self, pid, request_id: str | None = None) -> LiveDelta:
        """What arrived since the previous tick, once; records one equity point. A repeated
        ``request_id`` answers the same delta again. Never calls the broker."""
        with self._state:
            pg = self._pg(pid)
            conn = self._conn
            if request_id is not None:
                row = conn.execute("SELECT tick, current_ns FROM ticks WHERE pid = ? AND request_id = ?",
                                   (pid, request_id)).fetchone()
                if row is not None:
                    items = conn.execute("SELECT kind, doc FROM outbox WHERE pid = ? AND tick = ? ORDER BY seq",
                                         (pid, row[0])).fetchall()
                    return self._delta(pg, items, row[1])
            tick = conn.execute("SELECT COALESCE(MAX(tick), 0) + 1 FROM ticks WHERE pid = ?", (pid,)).fetchone()[0]
            items = conn.execute("SELECT seq, kind, doc FROM outbox WHERE pid = ? AND tick IS NULL ORDER BY seq",
                                 (pid,)).fetchall()
            current = self.market_ns(self._now())
            if items:
                conn.execute("UPDATE outbox SET tick = ? WHERE pid = ? AND tick IS NULL AND seq <= ?",
                             (tick, pid, items[-1][0]))
            conn.execute("INSERT INTO ticks (pid, tick, request_id, current_ns, equity) VALUES (?, ?, ?, ?, ?)",
                         (pid, tick, request_id, current, pg.equity()))
            conn.commit()
            return self._delta(pg, [(k, d) for _, k, d in items], current)

    @staticmethod
    def _delta(pg: LivePlayground, items, current_ns: int) -> LiveDelta:
        delta = LiveDelta(current_ns=current_ns)
        for kind, doc in items:
            d = json.loads(doc)
            if kind == "trade":
                order = pg.orders[d["order_id"]]
                delta.new_trades.extend(t for t in order.trades if t.id == d["trade_id"])
            elif kind == "candle":
                delta.new_candles.append(Bar(**d))
            elif kind == "invalid":
                delta.invalid_orders.append(pg.orders[d["order_id"]])
            elif kind == "event":
                delta.events.append(Event(d["type"], [pg.orders[i] for i in d["order_ids"]]))
        return delta

    def equity_plot(self, pid) -> list[tuple[int, float]]:
        """One ``(ns, equity)`` point per tick."""
        with self._state:
            self._pg(pid)
            return [tuple(r) for r in self._conn.execute(
                "SELECT current_ns, equity FROM ticks WHERE pid = ? ORDER BY tick", (pid,))]

    # --- the broker cycle -----------------------------------------------------------------------
    def poll(self, now_ns: int | None = None) -> None:
        """One cycle: due bars to simulated brokers and playgrounds, ``match()`` of simulated
        brokers, then every account's cycle (resolve, fills, send, reconcile when due)."""
        with self._lock:
            now = self._now() if now_ns is None else int(now_ns)
            self._feed(self._bars.poll(now))
            for broker in self._unique_brokers():
                if hasattr(broker, "match"):
                    broker.match()
            for acct in self._accounts.values():
                self._cycle(acct, now)

    def poll_events(self, now_ns: int | None = None) -> int:
        """Apply now what the brokers' streams reported since the last call (a broker's
        ``order_events``: :class:`~.streams.OrderEvents` of broker order ids): each account of the
        broker reads those orders (:meth:`~.account.ReconcileAccount.react`). Streams only
        accelerate: :meth:`poll` applies anything they missed. Returns the number of ids drained."""
        with self._lock:
            now, drained = (self._now() if now_ns is None else int(now_ns)), 0
            for broker in self._unique_brokers():
                ids = set(broker.order_events.drain()) if getattr(broker, "order_events", None) else set()
                drained += len(ids)
                for acct in [a for a in self._accounts.values() if ids and a.broker is broker]:
                    self._cycle(acct, now, react=ids)
            return drained

    def _event_sources(self) -> list:
        return [b.order_events for b in self._unique_brokers() if getattr(b, "order_events", None)] \
            + self._bar_news()

    def _bar_news(self) -> list:
        return [s.news for s in self._bars.sources if getattr(s, "news", None) is not None]

    @property
    def bar_news(self) -> bool:
        """Whether a bar source has news (a ``news`` event set: its market stream saw a bar
        complete): the gateway then polls at once rather than waiting for the poll period."""
        return any(news.is_set() for news in self._bar_news())

    @property
    def streaming(self) -> bool:
        """Whether a broker reports order events or a bar source has a ``news`` event (a stream):
        then the gateway waits on :meth:`wait_events`."""
        return bool(self._event_sources())

    def wait_events(self, timeout_s: float) -> bool:
        """Block until a broker stream reports an order or a bar source has news (True; see
        :attr:`bar_news`) or ``timeout_s`` passes (False; at once when nothing streams): the
        gateway waits on it between polls."""
        sources = self._event_sources()
        return any(source.wait(timeout_s / len(sources)) for source in sources) if sources else False

    def _cycle(self, acct: ReconcileAccount, now_ns: int, reconcile: bool | None = None, react=None) -> None:
        """One account's cycle (or its :meth:`~.account.ReconcileAccount.react` to the ids ``react``);
        a fault of one account (a broker adapter's bug) is logged and shown in its health, and the
        other accounts still run."""
        try:
            if react:
                acct.react(self, react, now_ns)
            else:
                acct.cycle(self, now_ns, reconcile=reconcile)
        except Exception as exc:  # noqa: BLE001  (one account must not stop the others)
            log.exception("live account %s: cycle failed", acct.key)
            acct.fault(f"cycle failed: {type(exc).__name__}: {exc}")

    def _unique_brokers(self) -> list:
        return list({id(b): b for b in self._brokers.values()}.values())

    def _feed(self, bars: list[Bar]) -> None:
        """Due bars, in time order, to the simulated brokers and the live playgrounds."""
        for bar in bars:
            for broker in self._unique_brokers():
                if hasattr(broker, "on_bar"):
                    broker.on_bar(bar)
        with self._state:
            for bar in bars:
                self._take_bar(bar)
            self._conn.commit()

    def _take_bar(self, bar: Bar) -> None:
        key = (bar.symbol, bar.period_s)
        last = self._last_bars.get(key)
        if last is None or bar.start_ns >= last[0]:
            self._last_bars[key] = (bar.start_ns, bar.close)
            self._conn.execute("INSERT OR REPLACE INTO last_bars (symbol, period_s, start_ns, close) VALUES "
                               "(?, ?, ?, ?)", (bar.symbol, bar.period_s, bar.start_ns, bar.close))
        for pg in self._pgs.values():
            if pg.on_bar(bar):
                queue_out(self._conn, pg.pid, "candle", dict(symbol=bar.symbol, period_s=bar.period_s,
                          start_ns=bar.start_ns, open=bar.open, high=bar.high, low=bar.low, close=bar.close,
                          volume=bar.volume))

    # --- the book: what the accounts call back ---------------------------------------------------
    def open_orders_of_account(self, rid: str) -> list[Order]:
        orders = [o for pg in self._pgs.values() if pg.reconcile_id == rid for o in pg.open_orders_of()]
        return sorted(orders, key=lambda o: o.id)

    def cancel_requested(self, order_id: int) -> bool:
        return order_id in self._cancel

    def live_positions(self, rid: str) -> dict[str, dict[str, float]]:
        return {pid: pg.positions() for pid, pg in self._pgs.items() if pg.reconcile_id == rid}

    def apply_fill(self, rec, quantity: float, price: float, exec_quantity: float, notional: float,
                   now_ns: int) -> Trade:
        """Book a broker fill on the live order and record the applied amount, in one transaction."""
        time_ns = self.market_ns(now_ns)
        with self._state:
            pg, order = self._order(rec.order_id)
            trade = pg.fill(order, quantity, price, time_ns)
            conn = self._conn
            self._journal.update(rec, now_ns, commit=False, applied_exec_quantity=exec_quantity,
                                 applied_notional=notional)
            conn.execute("INSERT INTO fills (pid, order_id, quantity, price, time_ns, intent_key) "
                         "VALUES (?, ?, ?, ?, ?, ?)", (pg.pid, order.id, quantity, price, time_ns, rec.key))
            queue_out(conn, pg.pid, "trade", dict(order_id=order.id, trade_id=trade.id))
            save_status(conn, order)
            conn.commit()
            return trade

    def leg_failed(self, rec, status: str, reason: str, *, order: Order | None = None) -> None:
        """End a live order whose broker leg was rejected, canceled or expired (or a canceled order
        with nothing working). Broker outcomes go to the next tick's invalid orders; a cancel the
        client asked for does not."""
        with self._state:
            if order is None:
                order = self._order(rec.order_id)[1]
            if not order.is_open:
                return
            asked = order.id in self._cancel and status == "canceled"
            order.status, order.reject_reason = status, reason
            save_status(self._conn, order)
            if not asked:
                queue_out(self._conn, self._order_pid[order.id], "invalid", dict(order_id=order.id))
            self._conn.commit()

    def equity_point(self, rid: str, now_ns: int, equity: float) -> None:
        with self._state:
            self._conn.execute("INSERT INTO account_equity (reconcile_id, ns, equity) VALUES (?, ?, ?)",
                               (rid, now_ns, float(equity)))
            self._conn.commit()

    # --- reports --------------------------------------------------------------------------------
    def reconciliation_report(self, reconcile_id) -> Report:
        """A fresh reconciliation of the account (the last one when the broker cannot be reached)."""
        with self._lock:
            acct = self._account(reconcile_id)
            return acct.reconcile(self, self._now())

    def settle_intent(self, reconcile_id, key: str, note: str = "") -> Report:
        """An operator settles an intent of unknown outcome (``Report.unknown_intents``: sent on an
        earlier day than the broker's order list reaches) after checking the broker: it is no
        longer reported, and the fresh reconciliation is returned (an order that did reach the
        broker remains as a position difference). Any other key is INVALID_ARGUMENT."""
        with self._lock:
            acct = self._account(reconcile_id)
            try:
                return acct.settle(self, str(key), self._now(), note)
            except ValueError as exc:
                raise _bad(str(exc)) from None

    def equity_report(self, reconcile_id) -> list[tuple[int, float]]:
        """The broker account's equity, one point per poll at most once a minute, oldest first."""
        with self._state:
            self._account(reconcile_id)
            return [tuple(r) for r in self._conn.execute(
                "SELECT ns, equity FROM account_equity WHERE reconcile_id = ? ORDER BY ns", (reconcile_id,))]

    def health(self) -> dict[str, dict]:
        """Per account key ``broker:account_id:account_type``: connected, last poll, unresolved
        intents, position difference, opens blocked and the reason."""
        with self._state:
            return {acct.key: acct.health() for acct in self._accounts.values()}

    def mock_fill(self, order_id: int, price: float, status: str, broker: str = "sim") -> Order:
        """MockFillOrder (spec §17.8) on the broker order working for live order ``order_id``."""
        with self._lock:
            target = self._brokers.get(broker)
            if target is None or not hasattr(target, "mock_fill"):
                raise ServiceError(Status.FAILED_PRECONDITION, f"failed to get mock broker: {shown(broker)}")
            pg, order = self._order(order_id)
            acct = self._account(pg.reconcile_id)
            working = [r for r in self._journal.for_order(order.id) if r.state == "acked"]
            if not working or acct.broker is not target:
                raise ServiceError(Status.NOT_FOUND, "order not found")
            rec = working[-1]
            try:
                target.mock_fill(rec.broker_order_id, price, status)
            except ValueError as exc:
                raise _bad(str(exc)) from None
            now = self._now()
            acct.sync(self, rec, target.get_order(rec.broker_order_id), now)
            acct.send_ready(self, now)
            return order

    @property
    def bars(self):
        """The live bars this desk is fed by (:class:`~.bars.LiveBars`)."""
        return self._bars

    def close(self) -> None:
        """Stop the brokers' streams (a broker's ``stream``) and close the store (the desk is
        unusable afterwards; a desk dropped without it loses nothing)."""
        for broker in self._unique_brokers():
            if getattr(broker, "stream", None) is not None:
                broker.stream.stop()
        with self._lock, self._state:
            self._conn.close()
