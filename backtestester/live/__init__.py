"""Live trading, the pure core: brokers, the order-intent journal, the reconcile account, live
playgrounds and live bars (no ray, no grpc; the gateway's shell is :mod:`actors.gateway.live`).
docs/live.md is the user's guide; each module's docstring is its specification.

Modules, one concept each:

* :mod:`.port`: the broker port (:class:`~.port.Broker`) and the values that cross it;
  :func:`~.port.intent_tag`, the one rule for broker tags.
* :mod:`.simbroker`: the simulated broker: deterministic matching from the live bars (the
  engine's fill rules), scripted partial fills and rejects, MockFillOrder.
* :mod:`.tradier` (over :mod:`.tradier_http`: the session, rate limits, envelope quirks): the
  Tradier adapter; polling is the truth.
* :mod:`.sessions`: market-session gating from the broker's calendar (cached per month) with the
  exchange calendar as fallback, and the clock-skew check.
* :mod:`.bars` (with its sources in :mod:`.barsources`): live bars: completed bars only, each
  delivered once per (symbol, period, start) after a settle delay, late corrections stored without
  re-delivery; sources: replay of catalog data (wall clock or accelerated), the broker's bars
  (Tradier time-sales), bars pushed by a client.
* :mod:`.intents`: the order-intent journal (committed before every broker call).
* :mod:`.reconcile`: the reconcile account's pure rules: the side mapping, the sequential
  cross-zero split, the reconciliation report's differences.
* :mod:`.account`: one reconcile account at its broker: sends legs through the journal, resolves
  ambiguous outcomes by tag, applies fills from cumulative quantities, reconciles.
* :mod:`.liveplayground`: a live playground's account on the engine's orders, ledger and side rules.
* :mod:`.livestore`: the desk's SQLite store, ``<data_dir>/live.sqlite3``.
* :mod:`.desk`: :class:`~.desk.LiveDesk`, what the gateway calls: live playgrounds and their
  reconcile accounts; placing, polling, fills, reconciliation, reports.
"""
