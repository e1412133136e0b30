"""The remote side of the gateway: the typed gRPC client and the broker that runs a strategy on a
gateway playground.

* :mod:`backtestester.remote.client`: :class:`~backtestester.remote.client.PlaygroundClient`;
* :mod:`backtestester.remote.broker`: :class:`~backtestester.remote.broker.GatewayBroker` and
  :func:`~backtestester.remote.broker.run_on_gateway`.

Nothing is imported here, so importing one module does not load the other's dependencies.
Imports grpc (the strategy package does not), never ray.
"""
