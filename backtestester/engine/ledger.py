"""The account of one playground: balance, positions, open lots, and what one fill does to them.

Accounting (spec sections 9-11): positions are average-cost since last flat (reducing fills do
not change the cost basis); the balance changes only by realised P/L of reducing fills (and
commissions); lots are the filled buy/sell_short orders with open quantity left, closed FIFO or
by ``close_order_id``. State is updated incrementally; the original rebuilt it from every order
before every fill, which gives the same numbers in quadratic time.
"""
from __future__ import annotations

from .margin import initial_margin, maintenance_margin
from .orders import FLAT, Order, Position, Trade, side_rule_violation

EPS = 1e-9


class Reject(Exception):
    """Internal: a fill that cannot happen; the order is rejected with this reason."""


class _Pos:
    __slots__ = ("qty", "cost", "opened")

    def __init__(self):
        self.qty = 0.0      # signed quantity
        self.cost = 0.0     # quantity-weighted average price of the opening fills since flat
        self.opened = 0.0   # sum of |q| of opening fills since flat

    def add(self, q: float, price: float) -> None:
        """An opening fill of unsigned ``q``; a single fill keeps its price exactly as the cost."""
        total = self.opened + q
        self.cost = price if self.opened == 0 else (self.cost * self.opened + price * q) / total
        self.opened = total


class Ledger:
    """Balance, positions and lots keyed by symbol; ``pricing[symbol]`` is the repository whose
    current close prices the symbol (a position exists only after a fill, so there is one)."""

    def __init__(self, balance: float, pricing: dict, margin_basis: str):
        self.balance = balance
        self.pricing = pricing
        self.margin_basis = margin_basis
        self.positions: dict[str, _Pos] = {}
        self.lots: dict[str, list[Order]] = {}
        self.trade_seq = 0
        self.version = 0  # bumped by every fill, so cached equity/margin numbers know they are stale

    def set_positions(self, positions: dict) -> None:
        """Replace the positions by ``{symbol: (quantity, cost, opened)}`` (a snapshot's)."""
        self.positions = {}
        for sym, (qty, cost, opened) in positions.items():
            p = self.positions[sym] = _Pos()
            p.qty, p.cost, p.opened = qty, cost, opened

    def price_of(self, sym: str) -> float:
        repo = self.pricing[sym]
        return repo.close_values[repo.position]

    # --- derived numbers (spec 11.3) ----------------------------------------------------------
    def _maintenance(self, sym: str, p: _Pos) -> float:
        basis = self.price_of(sym) if self.margin_basis == "market" else p.cost
        return maintenance_margin(p.qty, basis)

    def equity(self) -> float:
        """``balance + Σ pl``."""
        equity = self.balance
        for sym, p in self.positions.items():
            repo = self.pricing[sym]
            equity += (repo.close_values[repo.position] - p.cost) * p.qty
        return equity

    def maintenance(self) -> float:
        return sum(self._maintenance(s, p) for s, p in self.positions.items())

    def equity_and_maintenance(self) -> tuple[float, float]:
        """``(equity, Σ maintenance)`` in one pass (the liquidation check runs every tick)."""
        equity, mm = self.balance, 0.0
        market = self.margin_basis == "market"
        for sym, p in self.positions.items():
            repo = self.pricing[sym]
            price = repo.close_values[repo.position]
            equity += (price - p.cost) * p.qty
            mm += maintenance_margin(p.qty, price if market else p.cost)
        return equity, mm

    def free_margin(self) -> float:
        """``balance + Σ pl − Σ maintenance(current quantity, cost basis)``."""
        return self.equity() - self.maintenance()

    def quantity(self, sym: str) -> float:
        p = self.positions.get(sym)
        return p.qty if p else 0.0

    def position(self, sym: str) -> Position:
        p = self.positions.get(sym)
        if p is None:
            return FLAT
        price = self.price_of(sym)
        return Position.trusted(p.qty, p.cost, (price - p.cost) * p.qty, self._maintenance(sym, p), price)

    def uninvested_cash(self) -> float:
        """Equity not tied up in positions at market value (no leverage): the base of equity_fraction sizing."""
        if not self.positions:
            return self.balance
        return self.equity() - sum(abs(p.qty) * self.price_of(s) for s, p in self.positions.items())

    # --- one fill -----------------------------------------------------------------------------
    def check(self, order: Order, qty: float, price: float) -> list[tuple[Order, float]]:
        """Pre-trade checks of a fill of signed ``qty`` (spec 8.2, 8.3, 9.3); returns the close
        allocations; raises :class:`Reject` with the specific reason (D10)."""
        sym = order.symbol
        q = self.quantity(sym)
        rule = side_rule_violation(order.side, q)
        if rule:
            raise Reject(f"side not allowed: {rule}")
        if q == 0 or (q > 0) == (qty > 0):  # opening or adding: needs margin
            equity, mm = self.equity_and_maintenance() if self.positions else (self.balance, 0.0)
            free, need = equity - mm, initial_margin(qty, price)
            if not free > need:
                raise Reject(f"insufficient free margin: free_margin ({free:.2f}) <= initial_margin ({need:.2f})")
            return []
        if abs(qty) > abs(q) + EPS:
            kind = "long" if q > 0 else "short"
            raise Reject(f"invalid order volume: cannot close more than {kind} volume: "
                         f"order quantity {abs(qty):.2f} exceeds {kind} position of {abs(q):.2f}")
        return self.allocate(order, abs(qty))

    def allocate(self, order: Order, volume: float) -> list[tuple[Order, float]]:
        """Which open lots a close of ``volume`` closes: FIFO, or only ``close_order_id`` (spec 9.3)."""
        return self.allocate_lots(order.symbol, order.close_order_id, volume)

    def allocate_lots(self, sym: str, target: int | None, volume: float) -> list[tuple[Order, float]]:
        """:meth:`allocate` for a close of ``volume`` of ``sym`` (of lot ``target`` only, if given)."""
        lots = self.lots.get(sym, [])
        if target is not None:
            lot = next((o for o in lots if o.id == target), None)
            if lot is None:
                raise Reject(f"placeOrder: open order {target} not found in open orders")
            left = abs(lot.remaining_open_quantity)
            if left <= EPS:
                raise Reject(f"placeOrder: open order {target} has no remaining open quantity")
            if volume > left + EPS:
                raise Reject(f"addClosesInfoToOrder: close volume exceeds open order quantity for open order id {target}")
            return [(lot, volume)]
        allocations, need = [], volume
        for lot in lots:
            if need <= EPS:
                break
            take = min(need, abs(lot.remaining_open_quantity))
            if take > EPS:
                allocations.append((lot, take))
                need -= take
        if need > EPS:
            raise Reject("placeOrder: volume to close exceeds open volume")
        return allocations

    def apply(self, order: Order, qty: float, price: float, time_ns: int, commission: float,
              allocations: list[tuple[Order, float]]) -> Trade:
        """Book a checked fill: trade, closes, lots, position, balance (spec 8.3 steps 3-10)."""
        sym = order.symbol
        self.version += 1
        if not order.trades:
            order.previous_position = self.position(sym)
        self.trade_seq += 1
        trade = Trade(self.trade_seq, time_ns, qty, price, order.id, commission)
        order.trades.append(trade)
        filled = order.filled_quantity = order.filled_quantity + abs(qty)
        order.status = "filled" if filled >= order.quantity - EPS else "partially_filled"
        if commission:  # balance - 0.0 is balance: skip the no-op
            self.balance -= commission

        p = self.positions.get(sym)
        if allocations:  # a reducing fill: realise P/L on the average cost (spec 11.1)
            self.balance += (price - p.cost) * -qty if p.qty > 0 else (p.cost - price) * qty
            closed = None
            for lot, amount in allocations:
                signed = -amount if lot.side == "buy" else amount
                child = trade if abs(amount - abs(qty)) <= EPS else Trade(trade.id, time_ns, signed, price, order.id)
                lot.closed_by.append(child)
                lot.closed_quantity += signed
                if lot.id not in order.closes:
                    order.closes.append(lot.id)
                if abs(lot.remaining_open_quantity) <= EPS:
                    (closed := closed or []).append(lot)
            if closed:  # only an allocated lot can have closed: drop those from the open lots
                lots = self.lots[sym]
                lots[:] = lots[len(closed):] if lots[:len(closed)] == closed else [o for o in lots if o not in closed]
            p.qty += qty
            if abs(p.qty) <= EPS:
                del self.positions[sym]
        else:
            if p is None:
                p = self.positions[sym] = _Pos()
            p.qty += qty
            p.add(abs(qty), price)
            lots = self.lots.setdefault(sym, [])
            if order not in lots:
                lots.append(order)
        return trade
