"""A playground's mutable state as plain data, and back: what a saved playground's snapshot holds.

:func:`playground_state` captures everything a tick or an order changes (clock, repository
cursors, orders with their trades, ledger, equity recorder, idempotency map) and nothing that
comes from the configuration or the data catalog (bars, calendar, cost models): those are rebuilt
by creating the playground again. :func:`load_playground_state` puts a captured state into a new
playground built from the same configuration, which then behaves exactly as the original (the
engine is deterministic). Repositories are named by their index, orders by their id, so the state
is plain values and :class:`~backtestester.engine.orders.Order` / ``Trade`` / ``Position`` objects;
a pickle of it keeps the trades an order shares with the lots it closes shared.
"""
from __future__ import annotations

from array import array

from .errors import PlaygroundError

STATE_FORMAT = 1  # bump when the layout below changes: an old snapshot is then refused, not misread


def playground_state(pg) -> dict:
    """The mutable state of ``pg`` (a :class:`~backtestester.engine.playground.Playground`)."""
    repos = pg._repos
    index = {id(r): i for i, r in enumerate(repos)}
    clock, led, rec = pg._clock, pg._ledger, pg._equity
    return {
        "format": STATE_FORMAT,
        "repos": [(r.symbol, r.period_ns, len(r), r.position) for r in repos],
        "clock": (clock.now_ns, clock.session_open, clock.session_close, clock.end_ns),
        "orders": list(pg._orders.values()),
        "pending": [o.id for o in pg._pending],
        "by_request_id": {k: o.id for k, o in pg._by_request_id.items()},
        "order_seq": pg._order_seq,
        "flags": (pg._first_tick, pg._complete),
        "ledger": (led.balance, led.version, led.trade_seq,
                   {s: (p.qty, p.cost, p.opened) for s, p in led.positions.items()},
                   {s: [o.id for o in lots] for s, lots in led.lots.items()}),
        "equity": (rec.times.tobytes(), [(first, bal, _holdings(h, index)) for first, bal, h in rec.segments],
                   rec.version, _holdings(rec.holdings, index), rec.balance, rec.cost_maintenance),
    }


def _holdings(holdings, index) -> tuple:
    return tuple((index[id(repo)], qty, cost) for repo, qty, cost in holdings)


def load_playground_state(pg, state: dict) -> None:
    """Put ``state`` (from :func:`playground_state`) into ``pg``, a playground just created from
    the same configuration. ``PlaygroundError`` if it does not fit (another format, other
    repositories or bars, another end)."""
    if state.get("format") != STATE_FORMAT:
        raise PlaygroundError(f"playground state format {state.get('format')!r} is not {STATE_FORMAT}")
    repos = pg._repos
    shape = [(r.symbol, r.period_ns, len(r)) for r in repos]
    if [tuple(r[:3]) for r in state["repos"]] != shape:
        raise PlaygroundError(f"the state's repositories {[tuple(r[:3]) for r in state['repos']]} are not "
                              f"this playground's {shape}")
    now, session_open, session_close, end = state["clock"]
    if end != pg._clock.end_ns:
        raise PlaygroundError(f"the state's end {end} is not this playground's {pg._clock.end_ns}")
    for repo, (*_, position) in zip(repos, state["repos"]):
        repo.position = position
    clock = pg._clock
    clock.now_ns, clock.session_open, clock.session_close = now, session_open, session_close
    orders = {o.id: o for o in state["orders"]}
    pg._orders = orders
    pg._pending = [orders[i] for i in state["pending"]]
    pg._by_request_id = {k: orders[i] for k, i in state["by_request_id"].items()}
    pg._order_seq = state["order_seq"]
    pg._first_tick, pg._complete = state["flags"]
    led = pg._ledger
    led.balance, led.version, led.trade_seq, positions, lots = state["ledger"]
    led.set_positions(positions)
    led.lots = {s: [orders[i] for i in ids] for s, ids in lots.items()}
    rec = pg._equity
    times, segments, rec.version, holdings, rec.balance, rec.cost_maintenance = state["equity"]
    rec.times = array("q")
    rec.times.frombytes(times)
    rec.segments = [(first, bal, _repos_of(h, repos)) for first, bal, h in segments]
    rec.holdings = _repos_of(holdings, repos)


def _repos_of(holdings, repos) -> tuple:
    return tuple((repos[i], qty, cost) for i, qty, cost in holdings)
