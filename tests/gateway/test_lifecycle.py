"""What `backtestester serve` does when its gateway actor dies, when it is killed or stopped, and
what its embedded Ray cluster exposes: each test runs `serve` in its own process (port 0) and
signals it, its actor or its Ray processes by pid."""
from __future__ import annotations

import ipaddress
import os
import signal
import subprocess
import sys
from pathlib import Path

import grpc
import psutil
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.processes import alive, descendants, kill_all, wait_gone

from .conftest import DEADLINE

ROOT = Path(__file__).resolve().parents[2]
EXIT_DEADLINE = 60  # seconds: a bound on a stuck process, not a synchronisation


@pytest.fixture
def served(tmp_path):
    """``(proc, address, actor_pid, ray_processes)`` of a `backtestester serve --port 0` in its own
    process; every process it started is killed at the end, whatever the test did."""
    env = {k: v for k, v in os.environ.items() if k not in ("BACKTESTESTER_TOKEN", "RAY_ADDRESS")}
    proc = subprocess.Popen([sys.executable, "-m", "actors.cli", "serve", "--port", "0", "--data-dir", str(tmp_path)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    started = []
    try:
        line = proc.stdout.readline()  # blocks until the server is up (or the process dies: "")
        assert line.startswith("backtestester gateway listening on 127.0.0.1:"), (line, proc.poll())
        assert "gateway actor pid " in line, line
        started = descendants(proc.pid)
        yield proc, line.split()[4], int(line.rstrip().rstrip(")").split()[-1]), started
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        kill_all(started)


def stderr_of(proc) -> str:
    return proc.stderr.read()


def test_a_killed_gateway_actor_ends_serve_with_exit_code_1_and_one_clear_line(served):
    """SIGKILL of the actor: `serve` notices at once and exits 1 with one `error:` line (it used
    to live on with nothing listening); its Ray processes end with it."""
    proc, address, actor_pid, ray_processes = served
    with grpc.insecure_channel(address) as channel:
        got = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=DEADLINE)
        assert got.status == health_pb2.HealthCheckResponse.SERVING
    os.kill(actor_pid, signal.SIGKILL)
    assert proc.wait(timeout=EXIT_DEADLINE) == 1
    err = stderr_of(proc)
    assert "Traceback" not in err, err
    assert err.strip().splitlines()[-1].startswith(f"error: the gateway actor (pid {actor_pid}) died: "), err
    assert wait_gone(ray_processes) == []


def test_sigterm_after_the_actor_died_still_exits_0(served):
    """The actor dies while `serve` is frozen (SIGSTOP), SIGTERM is pending when it resumes: the stop
    request wins, the dead actor's stop is skipped, exit code 0 and no traceback (it used to be 1
    with a traceback)."""
    proc, _, actor_pid, ray_processes = served
    os.kill(proc.pid, signal.SIGSTOP)
    try:
        actor = psutil.Process(actor_pid)
        actor.kill()
        assert wait_gone([actor]) == []
        proc.send_signal(signal.SIGTERM)
    finally:
        os.kill(proc.pid, signal.SIGCONT)
    assert proc.wait(timeout=EXIT_DEADLINE) == 0, stderr_of(proc)
    assert "Traceback" not in stderr_of(proc)
    assert wait_gone(ray_processes) == []


def test_sigterm_exits_0_and_leaves_no_ray_process(served):
    proc, _, _, ray_processes = served
    assert any(p.name() == "raylet" for p in ray_processes), ray_processes
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=EXIT_DEADLINE) == 0, stderr_of(proc)
    assert wait_gone(ray_processes) == []


def test_a_killed_serve_leaves_no_ray_process(served):
    """SIGKILL of `serve` itself: its GCS server, raylet, agents and workers end within seconds
    (they used to outlive it by 60-90 s)."""
    proc, _, _, ray_processes = served
    assert {"raylet", "gcs_server"} <= {p.name() for p in ray_processes}, ray_processes
    proc.kill()
    proc.wait()
    assert wait_gone(ray_processes) == [], alive(ray_processes)


def _is_loopback(ip: str) -> bool:
    address = ipaddress.ip_address(ip)
    mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:127.0.0.1, a dual-stack socket on loopback
    return address.is_loopback or (mapped is not None and mapped.is_loopback)


def _pid() -> int:
    return os.getpid()


def test_the_embedded_cluster_listens_on_loopback_only(ray_cluster):
    """Every listening socket of this process's embedded Ray (the driver's core worker, the GCS
    server, the raylet, the agents, the workers) is on loopback: no Ray port is reachable from
    another host (they used to listen on all interfaces)."""
    ray = ray_cluster
    ray.get(ray.remote(_pid).remote())  # a worker process is up too
    node = ray._private.worker._global_node
    assert node.node_ip_address == "127.0.0.1"
    roots = [psutil.Process(os.getpid())] + [psutil.Process(info.process.pid)
                                             for infos in node.all_processes.values() for info in infos]
    pids = {p.pid for root in roots for p in [root, *root.children(recursive=True)]}
    listening = [c for c in psutil.net_connections("inet") if c.pid in pids and c.status == psutil.CONN_LISTEN]
    assert len(listening) >= 4, listening  # GCS server, raylet (2), driver, agents, workers
    assert [c for c in listening if not _is_loopback(c.laddr.ip)] == []
