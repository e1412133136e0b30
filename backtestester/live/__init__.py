"""Live trading, the pure core: brokers, the order-intent journal, the reconcile account, live
playgrounds and live bars (no ray, no grpc; the gateway's shell is :mod:`actors.gateway.live`).

Modules, one concept each:

* :mod:`.port`: the broker port (:class:`~.port.Broker`) and the values that cross it;
  :func:`~.port.intent_tag`, the one rule for broker tags.
* :mod:`.simbroker`: the simulated broker: deterministic matching from the live bars (the
  engine's fill rules), scripted partial fills and rejects, MockFillOrder.
* :mod:`.tradier`: the Tradier adapter (REST, polling is the truth, envelope quirks, rate limits).
* :mod:`.sessions`: market-session gating from the broker's calendar (cached per day) with the
  exchange calendar as fallback, and the clock-skew check.
* :mod:`.bars`: live bars: completed bars only, each delivered once per (symbol, period, start)
  after a settle delay, late corrections stored without re-delivery; sources: replay of catalog
  data (wall clock or accelerated), the broker's bars (Tradier time-sales), bars pushed by a client.
* :mod:`.intents`: the order-intent journal (SQLite, committed before every broker call).
* :mod:`.desk`: :class:`~.desk.LiveDesk`, live playgrounds and one reconcile account per broker
  account: placing, polling, fills, reconciliation, reports; durable in ``<data_dir>/live.sqlite3``.
"""
