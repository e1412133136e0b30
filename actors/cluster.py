"""Starting or joining Ray, quietly."""
from __future__ import annotations

import logging
import os
import select
import subprocess
import sys


def init_ray(address: str | None = None, *, num_cpus: int | None = None):
    """Join ``address`` (or ``RAY_ADDRESS``) if given, else start an embedded local cluster with
    no dashboard and no log forwarding. Returns the ``ray`` module; a second call is a no-op.

    An embedded cluster listens on loopback only and dies with this process: a reaper process
    (:func:`start_reaper`) kills what is left of it once this process ends, however it ends.
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
    start_reaper(info.process.pid for infos in node.all_processes.values() for info in infos)


def cluster_cpus() -> int:
    import ray  # noqa: PLC0415  (ray is imported where it is used: importing this module stays cheap)

    return max(1, int(ray.cluster_resources().get("CPU", 1)))


# The reaper. `start_reaper` launches ``python -m actors.cluster PID...`` with the Ray processes
# the owner started (the GCS server, the raylet, the monitors; the agents and workers are their
# descendants, noted every second). The reaper waits on its stdin, a pipe whose write end only
# the owner holds (close-on-exec: no process the owner starts inherits it). When the owner ends,
# however it ends (a clean exit, an exception, SIGKILL), the kernel closes that end: the reaper
# reads EOF, kills whatever is left of those processes, and exits. After a clean ray.shutdown()
# nothing is left and it just exits. Without it Ray's agents outlive a killed owner by a minute
# or more.
REFRESH_SECONDS = 1.0  # how often the reaper notes the cluster's new processes (workers come and go)
_reapers: list[subprocess.Popen] = []  # their stdin pipes stay open for as long as this process lives


def start_reaper(pids) -> subprocess.Popen:
    """Start a reaper for the processes ``pids`` (and their descendants) of this process's cluster."""
    proc = subprocess.Popen([sys.executable, "-m", "actors.cluster", *map(str, pids)], stdin=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, start_new_session=True)  # Ctrl-C in a terminal spares it
    _reapers.append(proc)
    return proc


def run_reaper(argv: list[str]) -> int:
    """The reaper process: watch the pids in ``argv`` (and their descendants) until stdin reaches
    EOF, then SIGKILL those still running."""
    import psutil  # noqa: PLC0415  (only in the reaper's own process)

    known = {}  # pid -> psutil.Process, which remembers its start time: a reused pid is not ours
    for pid in argv:
        try:
            known[int(pid)] = psutil.Process(int(pid))
        except psutil.NoSuchProcess:
            pass
    roots = list(known.values())
    while True:
        _add_descendants(roots, known)
        if select.select([sys.stdin], [], [], REFRESH_SECONDS)[0] and not sys.stdin.buffer.read1(1):
            break  # EOF: the owner has ended
    _add_descendants(roots, known)
    _kill(known.values())
    return 0


def _add_descendants(roots, known: dict) -> None:
    """Remember every descendant of ``roots`` now: when the owner dies, its raylet may end before
    its agents, which then hang from init and are found only through this memory."""
    import psutil  # noqa: PLC0415  (only in the reaper's own process)

    for root in roots:
        try:
            for child in root.children(recursive=True) if root.is_running() else ():
                known.setdefault(child.pid, child)
        except psutil.NoSuchProcess:
            pass
    for pid in [pid for pid, proc in known.items() if not proc.is_running()]:
        del known[pid]  # ended workers: the memory stays as small as the cluster


def _kill(processes) -> None:
    import psutil  # noqa: PLC0415  (only in the reaper's own process)

    victims = [p for p in processes if p.is_running()]  # is_running compares the start time too
    for victim in victims:
        try:
            victim.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(victims, timeout=10)


if __name__ == "__main__":
    sys.exit(run_reaper(sys.argv[1:]))
