"""The compiled kernel of the fast path: one bar loop with the engine's fill, position and cash rules.

Everything here is ``@numba.njit(cache=True)`` and takes only plain numpy arrays and scalars, so
each kernel compiles once per machine (the cache lives next to this file, or in numba's user-wide
cache directory when that is read-only) and loads in a fraction of a second afterwards. The
rules are those of :mod:`backtestester.engine` (playground ``step``/``_fill``, ledger, margin,
costs), written with the same floating-point operations in the same order, so a run agrees
bit for bit with the event-driven engine; ``docs/fastpath.md`` maps each step to the engine's.

One call of :func:`simulate` is one backtest over ``n`` bars. It walks the engine's ticks:
tick ``t`` (``0 <= t < n``) reveals bar ``t``; tick ``n`` is the completion tick. Within a tick:

1. ``close`` fill model: the orders placed on bar ``t-1`` fill at ``close[t-1]``;
2. liquidation check at ``close[t-1]`` (equity < maintenance margin closes the position);
3. ``next_open`` fill model: the orders placed on bar ``t-1`` fill at ``open[t]``;
4. equity point ``balance + (close[t] - cost) * quantity``;
5. the bar's signals place market orders (filled at step 1 or 3 of the next tick).

Signals come either from boolean arrays (``mode == MODE_ARRAYS``) or from the crossover of two
indicator lines computed on the fly (``mode == MODE_CROSS``: entry when ``fast`` crosses above
``slow``, exit when it crosses below, as :meth:`Series.cross`), which lets a sweep share one
array per distinct indicator instead of materialising two boolean arrays per run.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from ..engine.ledger import EPS  # the ledger's quantity tolerance (numba freezes it as a constant)

MODE_ARRAYS = 0
MODE_CROSS = 1

LONG, SHORT, BOTH = 0, 1, 2

# Columns of a trade record (one closed round trip).
T_ENTRY_INDEX, T_EXIT_INDEX, T_SIDE, T_QUANTITY, T_ENTRY_PRICE, T_EXIT_PRICE, T_ENTRY_FEE, T_EXIT_FEE, \
    T_COMMISSION, T_PNL, T_LIQUIDATION = range(11)
N_TRADE_FIELDS = 11

# Columns of the per-run summary.
(S_FINAL_EQUITY, S_PEAK_EQUITY, S_MAX_DRAWDOWN, S_TRADE_COUNT, S_WIN_COUNT, S_GROSS_PROFIT, S_GROSS_LOSS,
 S_TOTAL_COMMISSION, S_IN_MARKET, S_POINTS, S_FILLS, S_REJECTED, S_LIQUIDATIONS, S_POSITION, S_OPEN_ENTRY_INDEX,
 S_OPEN_ENTRY_PRICE, S_OPEN_ENTRY_FEE, S_FEES) = range(18)
N_STAT_FIELDS = 18


@njit(cache=True, nogil=True, error_model="numpy")
def _slip(price, buying, s_ps, s_rate):
    """``Slippage.adjust``: ``price + move`` for buys, ``max(price - move, 0.01)`` for sells."""
    move = s_ps + s_rate * price
    if buying:
        return price + move
    low = price - move
    return low if low >= 0.01 else 0.01


@njit(cache=True, nogil=True, error_model="numpy")
def _fee(q, price, c_ps, c_rate, c_po, c_min):
    """``Commission.fee``: ``max(minimum, per_order + per_share * q + rate * q * price)``."""
    x = c_po + c_ps * q + c_rate * q * price
    return x if x > c_min else c_min


@njit(cache=True, nogil=True, error_model="numpy")
def _short_per_share(p):
    if p >= 5.0:
        x = 1.5 * p
        return x if x >= 5.0 else 5.0
    return p if p >= 2.5 else 2.5


@njit(cache=True, nogil=True, error_model="numpy")
def _maintenance(qty, cost):
    """``margin.maintenance_margin`` of signed ``qty`` on the cost basis (the engine's default)."""
    if qty < 0:
        return -qty * _short_per_share(cost)
    return qty * cost * 0.5


@njit(cache=True, nogil=True, error_model="numpy")
def _open_fill(d, raw, cur, bal, pos, cost, fraction, size, has_slip, s_ps, s_rate, has_comm, c_ps, c_rate, c_po,
               c_min):
    """An opening market order (``d`` +1 buy, -1 sell_short) at the raw price ``raw``; ``cur`` is the
    symbol's current close (the ledger's mark). Playground ``_fill`` then ``Ledger.check``/``apply``.
    Returns ``(filled, balance, signed quantity filled, fill price, fee)``; only called when flat."""
    buying = d > 0
    price = _slip(raw, buying, s_ps, s_rate) if has_slip else raw
    if pos == 0.0:
        equity = bal
        uninvested = bal          # Ledger.uninvested_cash: equity() - sum(()) == balance - 0
    else:
        equity = bal + (cur - cost) * pos
        uninvested = equity - abs(pos) * cur
    if size > 0.0:
        qty = size
    else:
        qty = (uninvested * fraction) // price   # Python float floor division (numba implements it alike)
        if qty <= 0.0:
            return False, bal, 0.0, price, 0.0   # "equity_fraction ... buys no whole share"
    if (buying and pos < 0.0) or (not buying and pos > 0.0):
        return False, bal, 0.0, price, 0.0       # side rule
    free = equity - (_maintenance(pos, cost) if pos != 0.0 else 0.0)
    need = qty * price * 0.5 if buying else qty * _short_per_share(price)
    if not free > need:
        return False, bal, 0.0, price, 0.0       # insufficient free margin
    fee = _fee(qty, price, c_ps, c_rate, c_po, c_min) if has_comm else 0.0
    bal = bal - fee
    return True, bal, qty if buying else -qty, price, fee


@njit(cache=True, nogil=True, error_model="numpy")
def _close_fill(cq, raw, bal, pos, cost, has_slip, s_ps, s_rate, has_comm, c_ps, c_rate, c_po, c_min):
    """A closing market order of signed quantity ``cq`` (sell: < 0, buy_to_cover: > 0).
    Returns ``(filled, balance, new position, fill price, fee)``."""
    buying = cq > 0.0
    price = _slip(raw, buying, s_ps, s_rate) if has_slip else raw
    if (buying and pos >= 0.0) or (not buying and pos <= 0.0):
        return False, bal, pos, price, 0.0       # side rule: nothing (or the other side) to close
    if abs(cq) > abs(pos) + EPS:
        return False, bal, pos, price, 0.0       # cannot close more than the position
    fee = _fee(abs(cq), price, c_ps, c_rate, c_po, c_min) if has_comm else 0.0
    bal = bal - fee
    if pos > 0.0:
        bal = bal + (price - cost) * -cq         # realised P/L on the average cost
    else:
        bal = bal + (cost - price) * cq
    pos = pos + cq
    if abs(pos) <= EPS:
        pos = 0.0
    return True, bal, pos, price, fee


@njit(cache=True, nogil=True, error_model="numpy")
def _book(trades_out, k, entry_index, exit_index, side, q, entry_price, price, entry_fee, fee, liquidation):
    """Record closed round trip number ``k`` (if the buffer has room) as ``runner.round_trips_of``
    computes it; returns ``(commission, pnl)``."""
    gross = (price - entry_price) * q if side > 0 else (entry_price - price) * q
    comm = entry_fee * q / q + fee * q / q   # pro-rata commission of the opening and the closing fill
    pnl = gross - comm
    if k < trades_out.shape[0]:
        r = trades_out[k]
        r[T_ENTRY_INDEX] = entry_index
        r[T_EXIT_INDEX] = exit_index
        r[T_SIDE] = side
        r[T_QUANTITY] = q
        r[T_ENTRY_PRICE] = entry_price
        r[T_EXIT_PRICE] = price
        r[T_ENTRY_FEE] = entry_fee
        r[T_EXIT_FEE] = fee
        r[T_COMMISSION] = comm
        r[T_PNL] = pnl
        r[T_LIQUIDATION] = 1.0 if liquidation else 0.0
    return comm, pnl


@njit(cache=True, nogil=True, error_model="numpy")
def simulate(open_, close, entries, exits, fast, slow, mode, balance, fill_close, direction, fraction, size,
             has_comm, c_ps, c_rate, c_po, c_min, has_slip, s_ps, s_rate, equity_out, held_out, trades_out,
             stats_out, sample_at, samples_out):
    """One backtest; see the module docstring. ``equity_out`` (length ``n`` or 0) receives the
    equity point of every bar, ``samples_out`` (length ``len(sample_at)`` or 0) the equity points
    of the bars ``sample_at`` (strictly increasing indices: e.g. the last bar of each day, for
    daily returns without a whole curve), ``held_out`` (length ``n + 2`` or 0) whether a position is held at
    each point of the engine's curve (initial point, bars, completion), ``trades_out``
    (``(capacity, N_TRADE_FIELDS)``, capacity may be 0) the closed round trips, ``stats_out``
    (``N_STAT_FIELDS``) the summary. Returns the number of closed round trips (which may exceed
    the capacity: the caller checks)."""
    n = close.shape[0]
    record_equity = equity_out.shape[0] == n
    record_held = held_out.shape[0] == n + 2
    n_samples = sample_at.shape[0] if samples_out.shape[0] == sample_at.shape[0] else 0
    j = 0                # the next entry of sample_at
    if record_held:
        held_out[:] = False
    bal = balance
    pos = 0.0            # signed quantity
    cost = 0.0           # average cost (one opening fill: its price)
    entry_index = -1
    entry_fee = 0.0
    pend_close = 0.0     # signed quantity of the pending closing order (0: none)
    pend_open = 0        # +1 pending buy, -1 pending sell_short (0: none)
    eq = balance         # the last equity point
    mm = 0.0             # maintenance margin of the position (cost basis: constant while it is held)
    peak = balance       # running maximum of the equity points
    trough = balance     # lowest point since the peak: eq / peak - 1 is monotonic in eq, so the
    max_dd = 0.0         # segment's drawdown is trough / peak - 1, bit for bit the engine's minimum
    prev_lt = False      # MODE_CROSS: fast < slow at the previous bar
    prev_gt = False      # MODE_CROSS: fast > slow at the previous bar
    ntr = 0
    wins = 0
    gross_profit = 0.0
    gross_loss = 0.0
    commission = 0.0
    fees = 0.0
    fills = 0
    rejected = 0
    liquidations = 0
    in_market = 0
    for t in range(n + 1):
        # Nothing pending and no liquidation due (the previous point's equity is the equity at the
        # current close): the tick only records its point.
        if pend_close != 0.0 or pend_open != 0 or (pos != 0.0 and eq < mm):
            # The three things a tick may do before the equity point, in the engine's order.
            # Legs: 0 the pending close, 1 the pending open, 2 the liquidation check.
            # close model: 0, 1 at close[t-1], then 2; next_open: 2, then 0, 1 at open[t].
            for step in range(3):
                leg = step if fill_close else (step + 2) % 3
                if leg == 2:
                    if t == 0 or pos == 0.0:
                        continue
                    px = close[t - 1]
                    if not bal + (px - cost) * pos < _maintenance(pos, cost):
                        continue
                    cq = -pos
                    bar = t - 1
                    liq = True
                else:
                    if fill_close:
                        if t == 0:
                            continue
                        px = close[t - 1]
                        cur = px
                        bar = t - 1
                    else:
                        if t == n:   # no bar left to open: next_open orders of the last bar never fill
                            continue
                        px = open_[t]
                        cur = close[t]
                        bar = t
                    if leg == 1:
                        if pend_open == 0:
                            continue
                        # Opens are placed only when flat (or behind a close), so they fill only when flat.
                        ok, nbal, qty, price, fee = _open_fill(pend_open, px, cur, bal, pos, cost, fraction, size,
                                                               has_slip, s_ps, s_rate, has_comm, c_ps, c_rate,
                                                               c_po, c_min)
                        pend_open = 0
                        if ok:
                            bal, pos, cost = nbal, 0.0 + qty, price
                            entry_index, entry_fee = bar, fee
                            fills += 1
                            fees += fee
                        else:
                            rejected += 1
                        continue
                    if pend_close == 0.0:
                        continue
                    cq = pend_close
                    pend_close = 0.0
                    liq = False
                # A close of the whole position: placed from it, and nothing but a liquidation
                # (which makes it rejected) changes the position before it fills.
                ok, nbal, npos, price, fee = _close_fill(cq, px, bal, pos, cost, has_slip, s_ps, s_rate, has_comm,
                                                         c_ps, c_rate, c_po, c_min)
                if not ok:
                    rejected += 1
                    continue
                comm, pnl = _book(trades_out, ntr, entry_index, bar, 1.0 if pos > 0.0 else -1.0, abs(cq), cost,
                                  price, entry_fee, fee, liq)
                ntr += 1
                commission += comm
                if pnl > 0:
                    wins += 1
                    gross_profit += pnl
                elif pnl < 0:
                    gross_loss += pnl
                bal, pos = nbal, npos
                fills += 1
                fees += fee
                if liq:
                    liquidations += 1
            mm = _maintenance(pos, cost) if pos != 0.0 else 0.0
        if t == n:
            if pos != 0.0:
                in_market += 2   # the points of bar n-1 and of the completion tick
                if record_held:
                    held_out[n] = True
                    held_out[n + 1] = True
            break
        # On contiguous bars the engine stamps the fills of tick t with the time of tick t-1, so
        # its in-market flag of bar t-1's point is the position after this tick's fills.
        if t >= 1 and pos != 0.0:
            in_market += 1
            if record_held:
                held_out[t] = True
        # The equity point of bar t.
        eq = bal + (close[t] - cost) * pos if pos != 0.0 else bal
        if record_equity:
            equity_out[t] = eq
        if j < n_samples and sample_at[j] == t:
            samples_out[j] = eq
            j += 1
        if eq > peak:
            dd = trough / peak - 1.0
            if dd < max_dd:
                max_dd = dd
            peak = eq
            trough = eq
        elif eq < trough:
            trough = eq
        # The signals of bar t place market orders.
        if mode == MODE_CROSS:   # Series.cross: a[i-1] < b[i-1] and a[i] > b[i] (NaN compares False)
            lt = fast[t] < slow[t]
            gt = fast[t] > slow[t]
            ent = prev_lt and gt
            ext = prev_gt and lt
            prev_lt = lt
            prev_gt = gt
        else:
            ent = entries[t]
            ext = exits[t]
        if ent or ext:
            if direction == LONG:
                if pos > 0.0:
                    if ext:
                        pend_close = -pos
                elif pos == 0.0 and ent:
                    pend_open = 1
            elif direction == SHORT:
                if pos < 0.0:
                    if ext:
                        pend_close = -pos
                elif pos == 0.0 and ent:
                    pend_open = -1
            elif ent != ext:   # BOTH: entries go long, exits go short; both at once: nothing
                want = 1 if ent else -1
                if pos == 0.0:
                    pend_open = want
                elif (pos > 0.0) != (want > 0):
                    pend_close = -pos     # no flip in one order: a close, then an open
                    pend_open = want
    final = bal + (close[n - 1] - cost) * pos if pos != 0.0 else bal
    if final > peak:
        peak = final
        trough = final
    elif final < trough:
        trough = final
    dd = trough / peak - 1.0
    if dd < max_dd:
        max_dd = dd
    stats_out[S_FINAL_EQUITY] = final
    stats_out[S_PEAK_EQUITY] = peak
    stats_out[S_MAX_DRAWDOWN] = max_dd
    stats_out[S_TRADE_COUNT] = ntr
    stats_out[S_WIN_COUNT] = wins
    stats_out[S_GROSS_PROFIT] = gross_profit
    stats_out[S_GROSS_LOSS] = gross_loss
    stats_out[S_TOTAL_COMMISSION] = commission
    stats_out[S_IN_MARKET] = in_market
    stats_out[S_POINTS] = n + 2
    stats_out[S_FILLS] = fills
    stats_out[S_REJECTED] = rejected
    stats_out[S_LIQUIDATIONS] = liquidations
    stats_out[S_POSITION] = pos
    stats_out[S_OPEN_ENTRY_INDEX] = entry_index if pos != 0.0 else -1
    stats_out[S_OPEN_ENTRY_PRICE] = cost if pos != 0.0 else np.nan
    stats_out[S_OPEN_ENTRY_FEE] = entry_fee if pos != 0.0 else 0.0
    stats_out[S_FEES] = fees
    return ntr


@njit(cache=True, nogil=True, error_model="numpy")
def _batch_body(r, open_, close, entries, exits, lines, pairs, mode, balance, fill_close, direction, fractions, size,
                has_comm, c_ps, c_rate, c_po, c_min, has_slip, s_ps, s_rate, equity_out, held_out, trades_out,
                stats_out, sample_at, samples_out, no_bool_in, no_float_in, no_bool, no_float, no_trades):
    # no_*: empty arrays that stand for the unused signal source (read-only, like every input)
    # and for "not recorded" (writable, like every output), so that simulate is compiled for
    # one set of argument types only.
    eq = equity_out[r] if equity_out.shape[0] > 0 else no_float
    held = held_out[r] if held_out.shape[0] > 0 else no_bool
    tr = trades_out[r] if trades_out.shape[0] > 0 else no_trades
    smp = samples_out[r] if samples_out.shape[0] > 0 else no_float
    if mode == MODE_CROSS:
        simulate(open_, close, no_bool_in, no_bool_in, lines[pairs[r, 0]], lines[pairs[r, 1]], mode, balance,
                 fill_close, direction, fractions[r], size, has_comm, c_ps, c_rate, c_po, c_min, has_slip, s_ps,
                 s_rate, eq, held, tr, stats_out[r], sample_at, smp)
    else:
        simulate(open_, close, entries[r], exits[r], no_float_in, no_float_in, mode, balance, fill_close, direction,
                 fractions[r], size, has_comm, c_ps, c_rate, c_po, c_min, has_slip, s_ps, s_rate, eq, held, tr,
                 stats_out[r], sample_at, smp)


@njit(cache=True, nogil=True, error_model="numpy")
def batch_serial(open_, close, entries, exits, lines, pairs, mode, balance, fill_close, direction, fractions, size,
                 has_comm, c_ps, c_rate, c_po, c_min, has_slip, s_ps, s_rate, equity_out, held_out, trades_out,
                 stats_out, sample_at, samples_out, no_bool_in, no_float_in, no_bool, no_float, no_trades):
    """Runs over the same prices, one after the other (a single run is a batch of one). Shapes:
    ``stats_out`` ``(runs, N_STAT_FIELDS)``; ``equity_out`` ``(runs, n)``, ``held_out``
    ``(runs, n + 2)`` bool and ``trades_out`` ``(runs, capacity, N_TRADE_FIELDS)``, each with 0
    rows when not recorded, as ``samples_out`` ``(runs, len(sample_at))`` (``sample_at``: int64
    bar indices, strictly increasing); ``entries``/``exits`` ``(runs, n)`` bool (``(0, 0)`` with
    ``mode == MODE_CROSS``); ``lines`` ``(n_lines, n)`` and ``pairs`` ``(runs, 2)`` for
    ``MODE_CROSS``; ``fractions`` ``(runs,)``; ``no_*``: empty read-only 1-D bool and float
    arrays, writable 1-D bool and float arrays and a ``(0, N_TRADE_FIELDS)`` array. Every input
    is a read-only C-contiguous view (see ``inputs.read_only``)."""
    for r in range(stats_out.shape[0]):
        _batch_body(r, open_, close, entries, exits, lines, pairs, mode, balance, fill_close, direction, fractions,
                    size, has_comm, c_ps, c_rate, c_po, c_min, has_slip, s_ps, s_rate, equity_out, held_out,
                    trades_out, stats_out, sample_at, samples_out, no_bool_in, no_float_in, no_bool, no_float,
                    no_trades)


@njit(cache=True, nogil=True, parallel=True, error_model="numpy")
def batch_parallel(open_, close, entries, exits, lines, pairs, mode, balance, fill_close, direction, fractions, size,
                   has_comm, c_ps, c_rate, c_po, c_min, has_slip, s_ps, s_rate, equity_out, held_out, trades_out,
                   stats_out, sample_at, samples_out, no_bool_in, no_float_in, no_bool, no_float, no_trades):
    """:func:`batch_serial` with the runs spread over numba's threads (``prange``)."""
    for r in prange(stats_out.shape[0]):
        _batch_body(r, open_, close, entries, exits, lines, pairs, mode, balance, fill_close, direction, fractions,
                    size, has_comm, c_ps, c_rate, c_po, c_min, has_slip, s_ps, s_rate, equity_out, held_out,
                    trades_out, stats_out, sample_at, samples_out, no_bool_in, no_float_in, no_bool, no_float,
                    no_trades)
