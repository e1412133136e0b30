"""Many clients on many playgrounds at once, a slow playground that blocks nobody, and a dead
host: real gateways (OS-chosen ports, the session's embedded Ray) with their playgrounds in the
gateway's process (the default) and on two host actors."""
from __future__ import annotations

import asyncio
import shutil
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest

from backtestester.remote.client import PlaygroundClient
from backtestester.rpc import playground_pb2 as pb
from backtestester.rpc import playground_pb2_grpc as pb_grpc

from .conftest import DEADLINE, kill_host, running_gateway

CLIENTS = 20
PLAYGROUNDS_PER_CLIENT = 20


@pytest.fixture(scope="module", params=[0, 2], ids=["in-process", "two-host-actors"])
def gateway(request, ray_cluster, catalog_dir):
    with running_gateway(ray_cluster, catalog_dir, "gateway-concurrency", hosts=request.param) as (gw, address):
        yield gw, address, request.param


def script_steps(variant: int):
    """A small trading script: (kind, argument) steps; the variant changes the quantities."""
    qty = 1 + variant
    return ([("tick", 0), ("order", ("buy", qty))] + [("tick", 60)] * 8 +
            [("order", ("sell", qty)), ("tick", 60), ("order", ("buy", 2 * qty))] + [("tick", 60)] * 4)


def outcome(client: PlaygroundClient, pid: str):
    acct = client.get_account(pid, fetch_orders=True)
    return (acct.balance, acct.equity, dict((s, (p.quantity, p.cost_basis)) for s, p in acct.positions.items()),
            [(o.id, o.side, o.status, o.quantity, [(t.create_date, t.price) for t in o.trades]) for o in acct.orders])


def run_interleaved(client: PlaygroundClient, pids: list[str], variants: list[int]) -> list:
    """Advance every playground one step at a time, round robin, and return each one's outcome."""
    steps = [script_steps(v) for v in variants]
    times = [[] for _ in pids]
    for i in range(len(steps[0])):
        for j, pid in enumerate(pids):
            kind, arg = steps[j][i]
            if kind == "tick":
                times[j].append(client.next_tick(pid, arg).current_time)
            else:
                client.place_order(pid, "AAA", arg[0], arg[1], requested_price=100)
    return [(times[j], *outcome(client, pid)) for j, pid in enumerate(pids)]


def test_twenty_clients_on_twenty_playgrounds_each(gateway):
    address = gateway[1]
    create = dict(balance=100_000, start_date="2024-01-03", stop_date="2024-01-04", repositories=[("AAA", 1, "minute")])
    with PlaygroundClient(address, timeout=DEADLINE) as client:  # the reference: each variant alone
        alone = {}
        for variant in range(3):
            pid = client.create_playground(**create, tags=["reference"])
            alone[variant] = run_interleaved(client, [pid], [variant])[0]
            client.delete_playground(pid)
    assert alone[0] != alone[1]  # the variants differ, so a mix-up would show

    def one_client(c):
        with PlaygroundClient(address, timeout=DEADLINE) as client:
            pids = [client.create_playground(**create, tags=["crowd", f"client-{c}"])
                    for _ in range(PLAYGROUNDS_PER_CLIENT)]
            variants = [(c + j) % 3 for j in range(len(pids))]
            results = run_interleaved(client, pids, variants)
            listed = {s.playground_id for s in client.get_playgrounds([f"client-{c}"])}
            return pids, variants, results, listed

    with ThreadPoolExecutor(CLIENTS) as pool:
        everyone = list(pool.map(one_client, range(CLIENTS)))

    all_ids = [pid for pids, *_ in everyone for pid in pids]
    assert len(set(all_ids)) == CLIENTS * PLAYGROUNDS_PER_CLIENT
    for pids, variants, results, listed in everyone:
        assert listed == set(pids)  # each client sees exactly its own playgrounds under its tag
        for variant, result in zip(variants, results):
            assert result == alone[variant]
    with PlaygroundClient(address, timeout=DEADLINE) as client:
        assert len(client.get_playgrounds(["crowd"])) == CLIENTS * PLAYGROUNDS_PER_CLIENT
        for pid in all_ids:
            client.delete_playground(pid)
        assert client.get_playgrounds(["crowd"]) == []


class Signal:
    """A one-shot event other actors can wait on (Ray's own tests use the same pattern)."""

    def __init__(self):
        self.event = asyncio.Event()

    async def send(self):
        self.event.set()

    async def wait(self):
        await self.event.wait()


def hold_playground(host, pid, held, release):
    """Take the playground's lock inside its host (as a long call would), say so, and keep it
    until ``release`` is sent."""
    import ray

    with host._lock(pid):
        ray.get(held.send.remote())
        ray.get(release.wait.remote())
    return "released"


def hold_in_gateway(gateway, pid, held, release):
    """Runs in the gateway actor: hold a playground of its in-process host from another thread."""
    import threading

    host = gateway._service.pool._hosts[0]
    threading.Thread(target=hold_playground, args=(host, pid, held, release), daemon=True).start()
    return "released"


def test_a_slow_playground_blocks_no_other(ray_cluster, gateway):
    ray = ray_cluster
    gw, address, hosts = gateway
    with PlaygroundClient(address, timeout=DEADLINE) as client, grpc.insecure_channel(address) as channel:
        create = dict(balance=100_000, start_date="2024-01-03", stop_date="2024-01-04",
                      repositories=[("AAA", 1, "minute")], tags=["slow-test"])
        pids = [client.create_playground(**create) for _ in range(4)]
        slow, others = pids[0], pids[1:]
        signal = ray.remote(num_cpus=0)(Signal)
        held, release = signal.remote(), signal.remote()
        if hosts:
            host_of = {pid: ray.get(gw.playground_host.remote(pid), timeout=DEADLINE) for pid in pids}
            same = {p for p in others if host_of[p]._actor_id == host_of[slow]._actor_id}
            assert same and same != set(others)  # least loaded first: some share its host, some do not
            holder = host_of[slow].__ray_call__.remote(hold_playground, slow, held, release)
        else:
            holder = gw.__ray_call__.remote(hold_in_gateway, slow, held, release)
        ray.get(held.wait.remote(), timeout=DEADLINE)
        stub = pb_grpc.PlaygroundServiceStub(channel)
        stuck = stub.NextTick.future(pb.NextTickRequest(playground_id=slow, seconds=60, request_id="slow"),
                                     timeout=DEADLINE)
        try:
            for pid in others:  # the others, on its host and elsewhere, keep going
                for minute in range(1, 11):
                    assert client.next_tick(pid, 60).current_time == f"2024-01-03T09:{30 + minute}:00-05:00"
            assert not stuck.done()  # it cannot finish while its playground is held
        finally:
            ray.get(release.send.remote())
        assert stuck.result(timeout=DEADLINE).current_time == "2024-01-03T09:31:00-05:00"
        assert ray.get(holder, timeout=DEADLINE) == "released"
        for pid in pids:
            client.delete_playground(pid)


def test_a_killed_playground_host_is_unavailable_not_a_hang(ray_cluster, catalog_dir, tmp_path):
    ray = ray_cluster
    data_dir = shutil.copytree(catalog_dir, tmp_path / "data")  # the module gateway's data directory is locked
    with running_gateway(ray, data_dir, "gateway-concurrency", hosts=2) as (gw, address), \
            PlaygroundClient(address, timeout=DEADLINE, retries=0) as client:
        create = dict(balance=100_000, start_date="2024-01-03", stop_date="2024-01-04",
                      repositories=[("AAA", 1, "minute")])
        pid, elsewhere = (client.create_playground(**create) for _ in range(2))  # least loaded: 2 hosts
        host = ray.get(gw.playground_host.remote(pid), timeout=DEADLINE)
        assert host._actor_id != ray.get(gw.playground_host.remote(elsewhere), timeout=DEADLINE)._actor_id
        client.next_tick(pid, 60)
        kill_host(ray, host)
        with pytest.raises(grpc.RpcError) as info:
            client.next_tick(pid, 60)
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE and pid in info.value.details()
        # the other host's playground keeps working, a new one gets a new host, the dead one is not listed
        assert client.next_tick(elsewhere, 60).current_time == "2024-01-03T09:31:00-05:00"
        other = client.create_playground(**create)
        assert client.next_tick(other, 60).current_time == "2024-01-03T09:31:00-05:00"
        assert {s.playground_id for s in client.get_playgrounds()} == {other, elsewhere}
