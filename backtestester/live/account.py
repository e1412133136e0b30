"""One reconcile account (broker, account_id, account_type): sends the live orders' broker legs
through the intent journal, resolves ambiguous outcomes by tag, applies fills from cumulative
executed quantities, and reconciles positions with the broker.

The rules it keeps (``docs/live/desk.md`` lists the tests that prove them):

* an intent is committed before ``broker.place``; its outcome after; ``submitting`` or
  ``unresolved`` intents are looked up by tag (one ``list_orders`` per cycle) before anything is
  sent again; a failed lookup sends nothing;
* a lookup proves an intent absent only within its reach: ``list_orders`` lists the current US
  Eastern day (Tradier's intraday list). An intent first recorded on an earlier ET day that the
  list does not show is never sent again: it is ``beyond_reach``, its live order is rejected
  with the reason, and the reconciliation reports it (opens blocked) until an operator settles it;
* at most one working broker order per symbol; live orders of a symbol go out first in, first out;
  the second leg of a cross-zero split goes out after the first has filled (:func:`.reconcile.next_leg`);
* a fill is the growth of ``exec_quantity`` over what the journal already applied, applied in the
  same transaction that records the new applied amount;
* a difference between the broker, the reconcile account and the live playgrounds blocks opens
  until a later reconciliation finds them in agreement.

The desk (:mod:`.desk`) is the ``book``: it owns the live playgrounds and their persistence.
"""
from __future__ import annotations

import logging

from ..symbols import normalize_symbol
from .intents import IntentJournal, IntentRecord
from .port import Ack, Broker, BrokerAuthError, BrokerError, BrokerOrder, Rejected, Unresolved, find_by_tag
from .reconcile import QTY_EPS, Report, next_leg, order_differences, position_differences, unknown_broker_orders
from .sessions import SKEW_LIMIT_S, calendar_tz, local_date

log = logging.getLogger(__name__)

#: Broker statuses that end a live order (with the live status they map to).
FINAL_STATUS = {"canceled": "canceled", "rejected": "rejected", "expired": "expired", "error": "rejected"}
NS = 1_000_000_000
#: An unresolved intent that a lookup does not find is sent again only this long after its
#: outcome became unknown: a broker's order list may lag its order entry by a moment.
RESEND_AFTER_S = 5.0
#: An intent still not found this long after it was first committed is not sent again: after a
#: long outage or downtime the order would reach the market late. It is rejected with the reason.
STALE_AFTER_S = 120.0
#: The exchange calendar whose local day a broker's order list covers (Tradier: the ET day).
ORDER_LIST_CALENDAR = "XNYS"


def order_list_day(ns: int) -> str:
    """The broker order list's day (ISO date, US Eastern) at UTC ``ns``."""
    return local_date(ns, calendar_tz(ORDER_LIST_CALENDAR)).isoformat()


class ReconcileAccount:
    """The broker side of one account; ``key`` names it in :meth:`LiveDesk.health`."""

    def __init__(self, reconcile_id: str, broker_name: str, broker: Broker, account_type: str,
                 journal: IntentJournal, *, reconcile_every_s: float = 60, equity_every_s: float = 60):
        self.reconcile_id, self.broker_name, self.broker = reconcile_id, broker_name, broker
        self.account_type, self.journal = account_type, journal
        self.key = f"{broker_name}:{broker.account_id}:{account_type}"
        self.reconcile_every_ns = int(reconcile_every_s * NS)
        self.equity_every_ns = int(equity_every_s * NS)
        self.connected, self.last_poll_ns = False, 0
        self.failure = "not yet reconciled with the broker"  # the last broker call's failure, "" when fine
        self.position_difference = False
        self.skew_s: float | None = None  # market clock minus the broker's clock, at the last reconciliation
        self.report = Report(opens_blocked=True)
        self.last_reconcile_ns: int | None = None
        self.last_equity_ns: int | None = None
        self._unknown_intents: list[str] = []
        self._cancels_sent: set[str] = set()

    # --- one cycle ------------------------------------------------------------------------------
    def cycle(self, book, now_ns: int, *, reconcile: bool | None = None) -> None:
        """Resolve, apply, send, reconcile: one poll of this account."""
        try:
            orders = self.broker.list_orders()
        except BrokerError as exc:
            self._lost(f"list_orders failed: {exc}")
            return
        self.connected, self.last_poll_ns, self.failure = True, now_ns, ""
        self.resolve(book, orders, now_ns)
        self.send_ready(book, now_ns)
        due = self.last_reconcile_ns is None or self.report.opens_blocked \
            or now_ns - self.last_reconcile_ns >= self.reconcile_every_ns
        if reconcile or (reconcile is None and due):
            self.reconcile(book, now_ns, orders)
        if self.last_equity_ns is None or now_ns - self.last_equity_ns >= self.equity_every_ns:
            try:
                book.equity_point(self.reconcile_id, now_ns, self.broker.balances().equity)
                self.last_equity_ns = now_ns
            except BrokerError as exc:
                self._lost(f"balances failed: {exc}")

    def _lost(self, reason: str) -> None:
        self.connected, self.failure = False, reason

    def fault(self, reason: str) -> None:
        """A cycle that failed unexpectedly: shown in health, and opens stay blocked until a
        reconciliation succeeds again."""
        self._lost(reason)
        self.report.opens_blocked = True

    @property
    def reason(self) -> str:
        """Why the account is not fine: the last broker failure, else the differences ("" when none)."""
        return self.failure or "; ".join(self.report.differences)

    def resolve(self, book, orders: list[BrokerOrder], now_ns: int) -> None:
        """Settle every open intent against ``orders`` (today's broker orders)."""
        by_id = {o.id: o for o in orders}
        unknown = []
        for rec in self.journal.open_intents(self.reconcile_id):
            if rec.state in ("submitting", "unresolved"):
                found = find_by_tag(orders, rec.tag)
                if found is None:
                    if order_list_day(rec.created_ns) < order_list_day(now_ns):
                        self._beyond_reach(book, rec, now_ns)  # absent from today's list proves nothing
                    elif now_ns - rec.created_ns > STALE_AFTER_S * NS:
                        self._give_up(book, rec, now_ns)
                    elif now_ns - rec.updated_ns >= RESEND_AFTER_S * NS:
                        self._send(book, rec, now_ns)  # proven absent: the same intent, the same tag, again
                    continue
                self.journal.update(rec, now_ns, state="acked", broker_order_id=found.id)
            else:
                found = by_id.get(rec.broker_order_id)
                if found is None:
                    try:
                        found = self.broker.get_order(rec.broker_order_id)
                    except BrokerError:
                        unknown.append(rec.key)
                        continue
            self.sync(book, rec, found, now_ns)
            if found.is_working and book.cancel_requested(rec.order_id):
                self.cancel(rec)
        self._unknown_intents = unknown

    def react(self, book, order_ids: set[str], now_ns: int) -> None:
        """Read now the working orders a stream reported (``get_order`` each) and apply them; an id
        the journal does not know runs the full :meth:`cycle` while intents await their outcome
        (the id may be theirs). A failed read is left to the next poll, which is the truth."""
        known, waiting = set(), False
        for rec in self.journal.open_intents(self.reconcile_id):
            if rec.state != "acked":
                waiting = True
            elif rec.broker_order_id in order_ids:
                known.add(rec.broker_order_id)
                try:
                    found = self.broker.get_order(rec.broker_order_id)
                except BrokerError:
                    continue
                self.sync(book, rec, found, now_ns)
        if waiting and set(order_ids) - known:
            self.cycle(book, now_ns)
        else:
            self.send_ready(book, now_ns)

    def _give_up(self, book, rec: IntentRecord, now_ns: int) -> None:
        reason = (f"not confirmed by the broker and not found by its tag {STALE_AFTER_S:g} s after it was sent: "
                  "not sent again (it would reach the market late)")
        self.journal.update(rec, now_ns, state="rejected", broker_status="rejected", reason=reason)
        book.leg_failed(rec, "rejected", reason)

    def _beyond_reach(self, book, rec: IntentRecord, now_ns: int) -> None:
        reason = (f"order outcome unknown: sent on {order_list_day(rec.created_ns)}, the broker's order list "
                  "reaches back to today only; check the broker and reconcile")
        self.journal.update(rec, now_ns, state="beyond_reach", reason=reason)
        book.leg_failed(rec, "rejected", reason)
        self.report.opens_blocked = True  # reconciled in this cycle, where it shows as a difference

    def settle(self, book, key: str, now_ns: int, note: str = "") -> Report:
        """An operator's word that intent ``key`` (``beyond_reach``) was checked at the broker: it
        is closed (``done``) and a fresh reconciliation is returned. An order that did reach the
        broker shows there as a position difference (opens stay blocked until it is gone)."""
        rec = self.journal.get(key)
        if rec is None or rec.reconcile_id != self.reconcile_id or rec.state != "beyond_reach":
            known = [r.key for r in self.journal.in_state(self.reconcile_id, "beyond_reach")]
            raise ValueError(f"intent {key!r} is not an intent of unknown outcome of this account: "
                             f"accepted: {', '.join(known) or 'none (nothing to settle)'}")
        settled = f"{rec.reason}; settled by the operator" + (f": {note}" if note else "")
        self.journal.update(rec, now_ns, state="done", reason=settled)
        return self.reconcile(book, now_ns)

    def cancel(self, rec: IntentRecord) -> bool:
        """Ask the broker to cancel the working order of ``rec`` (once per process; the poll asks
        again after a failure); whether the request went through."""
        if rec.broker_order_id in self._cancels_sent:
            return True
        try:
            self.broker.cancel(rec.broker_order_id)
        except BrokerError as exc:
            self._lost(f"cancel of broker order {rec.broker_order_id} failed: {exc}")
            return False
        self._cancels_sent.add(rec.broker_order_id)
        return True

    def sync(self, book, rec: IntentRecord, bo: BrokerOrder, now_ns: int) -> None:
        """Apply what ``bo`` (the broker's view of ``rec``) says: new fills, then a final status."""
        delta = float(bo.exec_quantity) - rec.applied_exec_quantity
        if delta > QTY_EPS:
            notional = float(bo.avg_fill_price) * float(bo.exec_quantity)
            price = float(bo.avg_fill_price) if rec.applied_exec_quantity == 0 else \
                (notional - rec.applied_notional) / delta
            sign = 1 if rec.side in ("buy", "buy_to_cover") else -1
            book.apply_fill(rec, sign * delta, price, float(bo.exec_quantity), notional, now_ns)
        if bo.is_working or bo.status not in ("filled", *FINAL_STATUS):
            return
        self.journal.update(rec, now_ns, state="done", broker_status=bo.status, reason=bo.reason or "")
        if bo.status != "filled":
            book.leg_failed(rec, FINAL_STATUS[bo.status], bo.reason or f"{bo.status} by broker")

    # --- sending --------------------------------------------------------------------------------
    def send_ready(self, book, now_ns: int) -> None:
        """Send the next leg of the first open live order of every symbol that has nothing working."""
        busy = {rec.symbol for rec in self.journal.open_intents(self.reconcile_id)}
        for order in book.open_orders_of_account(self.reconcile_id):
            legs = self.journal.for_order(order.id)
            if legs and legs[-1].is_open:
                continue  # its symbol is busy with it
            if book.cancel_requested(order.id) or order.quantity - order.filled_quantity <= QTY_EPS:
                book.leg_failed(None, "canceled", "", order=order)
                continue
            if order.symbol in busy:
                continue
            busy.add(order.symbol)
            remaining = order.quantity - order.filled_quantity
            position = self.journal.positions(self.reconcile_id).get(order.symbol, 0.0)
            side, qty = next_leg(position, order.side, remaining)
            if qty <= 0:  # cannot happen with whole-share orders; never send an empty order
                book.leg_failed(None, "rejected", f"nothing to send: {remaining:g} shares left", order=order)
                continue
            rec = self.journal.record(self.reconcile_id, order.id, len(legs) + 1, symbol=order.symbol, side=side,
                                      quantity=qty, order_type=order.order_type, duration=order.duration,
                                      price=order.price, stop=order.stop_price, now_ns=now_ns)
            self._send(book, rec, now_ns)

    def _send(self, book, rec: IntentRecord, now_ns: int) -> None:
        """``broker.place`` of a committed intent, then its outcome committed."""
        if rec.state != "submitting":
            self.journal.update(rec, now_ns, state="submitting")
        try:
            outcome = self.broker.place(rec.intent())
        except BrokerAuthError as exc:  # the broker refused the credentials: nothing was placed
            outcome = Rejected(f"the broker refused the credentials: {exc}")
        except BrokerError as exc:  # the protocol answers Unresolved; an adapter that raises is ambiguous too
            outcome = Unresolved(str(exc))
        if isinstance(outcome, Ack):
            self.journal.update(rec, now_ns, state="acked", broker_order_id=outcome.order_id)
        elif isinstance(outcome, Rejected):
            self.journal.update(rec, now_ns, state="rejected", broker_status="rejected", reason=outcome.reason)
            book.leg_failed(rec, "rejected", outcome.reason or "rejected by broker")
        else:
            self.journal.update(rec, now_ns, state="unresolved", reason=getattr(outcome, "reason", ""))

    # --- reconciliation -------------------------------------------------------------------------
    def reconcile(self, book, now_ns: int, orders: list[BrokerOrder] | None = None) -> Report:
        """Compare the broker with the reconcile account and the live playgrounds; block opens on a difference."""
        try:
            if orders is None:
                orders = self.broker.list_orders()
            broker_positions: dict[str, float] = {}
            for p in self.broker.positions():
                sym = normalize_symbol(p.symbol)
                broker_positions[sym] = broker_positions.get(sym, 0.0) + float(p.quantity)
        except BrokerError as exc:
            self._lost(f"reconciliation failed: {exc}")
            self.report.opens_blocked = True
            return self.report
        self._check_skew(book, now_ns)
        recon = self.journal.positions(self.reconcile_id)
        live = book.live_positions(self.reconcile_id)
        unknown_orders = unknown_broker_orders(orders, self.journal.tags())
        diffs = position_differences({s: q for s, q in broker_positions.items() if q}, recon, live)
        self.position_difference = bool(diffs)
        diffs += order_differences(unknown_orders, self._unknown_intents)
        beyond = self.journal.in_state(self.reconcile_id, "beyond_reach")
        diffs += [f"intent {rec.key}: {rec.reason}" for rec in beyond]
        self.report = Report(broker_positions={s: q for s, q in broker_positions.items() if q},
                             reconcile_positions=recon, live_positions=live, differences=diffs,
                             unknown_broker_orders=unknown_orders,
                             unknown_intents=[*self._unknown_intents, *(rec.key for rec in beyond)],
                             opens_blocked=bool(diffs), checked_ns=now_ns)
        self.last_reconcile_ns = now_ns
        return self.report

    def _check_skew(self, book, now_ns: int) -> None:
        """The broker clock's offset from the desk's market clock; logged past :data:`SKEW_LIMIT_S`."""
        try:
            server_ns = self.broker.clock().server_ns
        except BrokerError:
            return
        self.skew_s = (book.market_ns(now_ns) - server_ns) / NS
        if abs(self.skew_s) > SKEW_LIMIT_S:
            log.warning("clock skew of %s: local %.3f s ahead of the broker (limit %.1f s)", self.key, self.skew_s,
                        SKEW_LIMIT_S)

    def opens_refusal(self) -> str | None:
        """The text that refuses an opening order now, or ``None``."""
        if not self.report.opens_blocked:
            return None
        if self.report.differences:
            what = "broker position differs" if self.position_difference else "reconciliation differs"
            return f"opens are blocked: {what}: {'; '.join(self.report.differences)}"
        return f"opens are blocked: {self.reason or 'the account is not reconciled with the broker'}"

    def health(self) -> dict:
        unresolved = sum(1 for r in self.journal.open_intents(self.reconcile_id) if r.state != "acked") \
            + len(self.journal.in_state(self.reconcile_id, "beyond_reach"))
        return dict(connected=self.connected, last_poll_ns=self.last_poll_ns, unresolved_intents=unresolved,
                    position_difference=self.position_difference,
                    opens_blocked=self.report.opens_blocked, reason=self.reason, clock_skew_s=self.skew_s)
