"""Starting or joining Ray, quietly."""
from __future__ import annotations

import logging
import os

from . import reaper


def init_ray(address: str | None = None, *, num_cpus: int | None = None):
    """Join ``address`` (or ``RAY_ADDRESS``) if given, else start an embedded local cluster with
    no dashboard and no log forwarding. Returns the ``ray`` module; a second call is a no-op.

    An embedded cluster listens on loopback only and dies with this process: a reaper process
    (:mod:`actors.reaper`) kills what is left of it once this process ends, however it ends.
    A joined cluster is someone else's: neither applies."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray  # noqa: PLC0415  (only once the environment above is set)

    if ray.is_initialized():
        return ray
    address = address or os.environ.get("RAY_ADDRESS") or None
    # Token authentication stays on; its notice on every start is noise for an embedded cluster.
    logging.getLogger("ray._private.authentication.authentication_token_setup").setLevel(logging.ERROR)
    options = dict(include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING,
                   configure_logging=True)
    if address:
        ray.init(address=address, **options)
    else:
        # "local": always a new embedded cluster. Without it ray.init joins the newest cluster
        # recorded in /tmp/ray (another process's embedded one), and refuses num_cpus there.
        _init_embedded(ray, num_cpus, options)
    return ray


def _init_embedded(ray, num_cpus, options) -> None:
    from ray._private import ray_constants  # noqa: PLC0415  (with ray)

    # Ray replaces a loopback node address by the host's outward one (so that other nodes could
    # join) unless it believes clustering is off, which is what an embedded cluster wants: then its
    # GCS, raylet, agents and workers listen on 127.0.0.1 instead of every interface.
    clustering = ray_constants.ENABLE_RAY_CLUSTER
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        ray.init(address="local", num_cpus=num_cpus, _node_ip_address="127.0.0.1", **options)
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = clustering
    node = ray._private.worker._global_node
    reaper.start(info.process.pid for infos in node.all_processes.values() for info in infos)


def cluster_cpus() -> int:
    import ray  # noqa: PLC0415  (ray is imported where it is used: importing this module stays cheap)

    return max(1, int(ray.cluster_resources().get("CPU", 1)))
