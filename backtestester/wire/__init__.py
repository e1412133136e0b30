"""The gateway's wire codec, both directions: engine objects <-> protobuf messages (spec wire-v1).

* :mod:`backtestester.wire.times`: the wire's time formats (both ways) and its timeframe names
  (``timespan_multiplier``, ``timespan_unit``) <-> the catalog's (``"1m"``...);
* :mod:`backtestester.wire.codec`: messages, engine -> protobuf (the gateway's answers) and
  protobuf -> engine (what the remote broker reads);
* :mod:`backtestester.wire.requests`: requests validated into engine arguments
  (:class:`~backtestester.wire.requests.RequestError` for what the gateway refuses).

Pure functions over the generated messages (:mod:`backtestester.rpc`): no ray, no server, no
channel. The server is ``actors/gateway/``; the client and the remote broker are
:mod:`backtestester.remote`.
"""
