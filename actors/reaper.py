"""Ties an embedded Ray cluster's processes to the process that started it.

:func:`start` launches ``python -m actors.reaper PID...`` with the Ray processes the owner started
(the GCS server, the raylet, the monitors; the agents and workers are their descendants, noted
every second). The reaper waits on its stdin, a pipe whose write end only the owner holds (it is
close-on-exec, so no process the owner starts inherits it). When the owner ends, however it ends (a clean exit, an
exception, SIGKILL), the kernel closes that end: the reaper reads EOF, kills whatever is left of
those processes and their descendants, and exits. After a clean ``ray.shutdown()`` nothing is left
and it just exits. Without it Ray's processes outlive a killed owner by a minute or more.
"""
from __future__ import annotations

import select
import subprocess
import sys

REFRESH_SECONDS = 1.0  # how often the reaper notes the cluster's new processes (workers come and go)
_reapers: list[subprocess.Popen] = []  # their stdin pipes stay open for as long as this process lives


def start(pids) -> subprocess.Popen:
    """Start a reaper for the processes ``pids`` (and their descendants) of this process's cluster."""
    proc = subprocess.Popen([sys.executable, "-m", "actors.reaper", *map(str, pids)], stdin=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, start_new_session=True)  # Ctrl-C in a terminal spares it
    _reapers.append(proc)
    return proc


def main(argv: list[str]) -> int:
    """Watch the pids in ``argv`` until stdin reaches EOF, then kill what is left of them."""
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
            for child in root.children(recursive=True):
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
    sys.exit(main(sys.argv[1:]))
