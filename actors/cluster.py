"""Starting or joining Ray, quietly."""
from __future__ import annotations

import logging
import os


def init_ray(address: str | None = None, *, num_cpus: int | None = None):
    """Join ``address`` (or ``RAY_ADDRESS``) if given, else start an embedded local cluster with
    no dashboard and no log forwarding. Returns the ``ray`` module; a second call is a no-op."""
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
        ray.init(address="local", num_cpus=num_cpus, **options)
    return ray


def cluster_cpus() -> int:
    import ray  # noqa: PLC0415  (ray is imported where it is used: importing this module stays cheap)

    return max(1, int(ray.cluster_resources().get("CPU", 1)))
