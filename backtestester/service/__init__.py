"""The playground service core, transport-neutral (pure: no ray, no grpc, no protobuf).

* :mod:`.session`: :class:`~.session.PlaygroundSession`, one playground (engine + journal);
* :mod:`.journal`: its command journal, SavePlayground, restore by replay, the request_id cache;
* :mod:`.store`: the SQLite database of saved playgrounds;
* :mod:`.backup`: backups of a data directory's databases (``backtestester backup``, :mod:`.backup_cli`);
* :mod:`.indicators`: the indicator columns of CreatePlayground's repositories;
* :mod:`.errors`: :class:`~.errors.ServiceError` and its :class:`~.errors.Status` vocabulary.

The gRPC gateway (``actors.gateway``) is its first front end; it speaks engine objects and plain
values, and each front end converts them to its own wire.
"""
