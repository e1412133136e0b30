"""Streams sharing the gateway (issue 12, item 8): NextTick's request_id cache is bounded (a long
stream keeps at most the last ``TICK_CACHE_ENTRIES`` answers of its playground), a replay asking
for evicted ticks is refused instead of ticking twice, a client re-opening a broken stream resumes
after the deltas it has (so a retry never ticks twice, across a host death too), open streams are
capped per tenant, and the rate limit weighs calls by cost. Pure tests of the cache and the bucket
first, then real gateways on OS-chosen ports in the session's embedded Ray."""
from __future__ import annotations

import time
from datetime import timedelta

import grpc
import pytest

from actors.gateway.security import CALL_COSTS, SecurityConfig, TokenBucket
from backtestester.remote.client import PlaygroundClient
from backtestester.rpc import RESUME_METADATA
from backtestester.rpc import playground_pb2 as pb
from backtestester.rpc import playground_pb2_grpc as pb_grpc
from backtestester.service.errors import ServiceError, Status
from backtestester.service.journal import TICK_CACHE_ENTRIES, TickCache, stream_request_id

from .conftest import ALICE, BOB, DEADLINE, kill_host, rfc, running_gateway, write_catalog

START = "2024-01-03T09:30:00-05:00"


# --- pure: the cache and the bucket ---------------------------------------------------------------
def test_a_long_stream_leaves_at_most_the_cap_in_the_cache():
    """5,000 ticks of one stream: the cache holds the last 1,000 answers and one marker (the
    stream's first 4,000 ticks are gone); asking for one of those is FAILED_PRECONDITION naming
    the ticks and the stream, asking for a cached one returns it, a new id is simply unknown."""
    cache = TickCache()
    for i in range(5_000):
        cache.put(stream_request_id("s", i), 0.0, f"delta {i}")
    assert len(cache.entries) == TICK_CACHE_ENTRIES == 1_000 and len(cache.evicted) == 1
    assert cache.get(stream_request_id("s", 4_000), 0.0) == "delta 4000"
    with pytest.raises(ServiceError) as info:
        cache.get(stream_request_id("s", 3_999), 0.0)
    assert info.value.status is Status.FAILED_PRECONDITION
    assert "ticks 0..3999 of stream s are no longer cached" in info.value.message
    assert cache.get(stream_request_id("other", 0), 0.0) is None


def test_evicted_plain_ticks_are_refused_and_the_markers_are_bounded():
    """Plain NextTick ids: an evicted one is refused (a retry would tick twice); 5,000 distinct
    ids keep at most 1,000 answers and 1,000 markers; everything expires after the window."""
    cache = TickCache(max_entries=10)
    for i in range(5_000):
        cache.put(f"tick-{i}", float(i) / 100, i)
    assert len(cache.entries) == 10 and len(cache.evicted) == 10
    with pytest.raises(ServiceError, match="the answer to tick tick-4989 is no longer cached"):
        cache.get("tick-4989", 50.0)
    assert cache.get("tick-4990", 50.0) == 4990
    assert cache.get("tick-4999", 1_000.0) is None and not cache.entries and not cache.evicted


def test_bucket_costs_cap_at_the_burst():
    """A call costing more than the burst still passes on a full bucket (it would never pass
    otherwise) and empties it."""
    now = [0.0]
    bucket = TokenBucket(rate=1.0, burst=5, clock=lambda: now[0])
    assert bucket.take("a", 3) == 0.0 and bucket.take("a", 3) == 1.0   # 2 left, 1 s until 3
    assert bucket.take("b", 50) == 0.0 and bucket.take("b") == 1.0     # capped at 5: empty now


# --- a real gateway ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def catalog_dir(tmp_path_factory):
    return write_catalog(tmp_path_factory.mktemp("streams-catalog"), first_seed=5)


@pytest.fixture(scope="module")
def gateway(ray_cluster, catalog_dir):
    with running_gateway(ray_cluster, catalog_dir, "gateway-streams", hosts=1) as started:  # a host to kill
        yield started


def create(client, stop="2024-01-05"):
    spec = pb.Repository(symbol="AAA", timespan_multiplier=1, timespan_unit="minute")
    return client.create_playground(balance=100_000, start_date="2024-01-03", stop_date=stop, repositories=[spec])


def clock(client, pid) -> str:
    [s] = [s for s in client.get_playgrounds() if s.playground_id == pid]
    return s.clock.current_time


def cache_of(ray, gateway, pid) -> tuple[int, dict]:
    """The playground's request_id cache, counted where it lives: (answers, markers)."""
    host = ray.get(gateway[0].playground_host.remote(pid), timeout=DEADLINE)

    def count(holder):
        ticks = holder._playgrounds[pid].journal.ticks
        return len(ticks.entries), {k: n for k, (_, n) in ticks.evicted.items()}
    return ray.get(host.__ray_call__.remote(count), timeout=DEADLINE)


def test_a_stream_of_1500_ticks_is_capped_and_a_replay_of_evicted_ticks_is_refused(ray_cluster, gateway):
    """1,500 ticks of 30 s: the playground's cache holds 1,000 answers; re-opening the stream from
    tick 0 is FAILED_PRECONDITION (ticks 0..499 are gone) and ticks nothing; resuming from tick
    1,000 (the client's retry) replays the cached deltas unchanged, without ticking."""
    with PlaygroundClient(gateway[1], timeout=DEADLINE) as client:
        pid = create(client)
        first = list(client.stream_ticks(pid, 30, max_ticks=1_500, request_id="long"))
        assert len(first) == 1_500
        assert cache_of(ray_cluster, gateway, pid) == (1_000, {"long": 500})
        now = clock(client, pid)
        with pytest.raises(grpc.RpcError) as info:
            list(client.stream_ticks(pid, 30, max_ticks=1_500, request_id="long"))
        assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "ticks 0..499 of stream long are no longer cached" in info.value.details()
        call = client._stub.StreamTicks(pb.StreamTicksRequest(playground_id=pid, seconds=30, max_ticks=1_500,
                                                              request_id="long"),
                                        metadata=[(RESUME_METADATA, "1000")], timeout=DEADLINE)
        assert list(call) == first[1_000:]
        assert clock(client, pid) == now                 # neither the refusal nor the replay ticked
        client.delete_playground(pid)


def test_a_stream_resumes_after_its_host_died_without_ticking_twice(ray_cluster, gateway):
    """A saved playground streams 1,500 ticks; after 1,200 deltas its host is killed. The client
    retries (UNAVAILABLE), the gateway restores the playground (the cache rebuilt from the
    journal: its last 1,000 ticks), the client resumes after the deltas it has: the 1,500 deltas
    are consecutive 30 s steps, none twice, none missing, and the clock is where they say."""
    with PlaygroundClient(gateway[1], timeout=DEADLINE, backoff=0.2) as client:
        pid = create(client)
        client._stub.SavePlayground(pb.SavePlaygroundRequest(playground_id=pid), timeout=DEADLINE)
        got = []
        for delta in client.stream_ticks(pid, 30, max_ticks=1_500, request_id="survivor"):
            got.append(rfc(delta.current_time))
            if len(got) == 1_200:
                kill_host(ray_cluster, ray_cluster.get(gateway[0].playground_host.remote(pid), timeout=DEADLINE))
        steps = [rfc(START) + timedelta(seconds=30 * (i + 1)) for i in range(1_500)]
        assert len(got) == 1_500 and got[:5] == steps[:5]
        assert all(b > a for a, b in zip(got, got[1:]))   # strictly forward: nothing delivered twice
        assert rfc(clock(client, pid)) == got[-1]          # the server ran exactly the delivered ticks
        client.delete_playground(pid)


def wait_until(condition, what: str, deadline: float = DEADLINE):
    end = time.monotonic() + deadline
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_open_streams_are_capped_per_tenant(ray_cluster, tmp_path):
    """--max-streams 2: alice's third open stream is RESOURCE_EXHAUSTED naming the limit and
    the flag; bob (another tenant) still opens one; once alice cancels one, she may open another.
    (Open streams that the test does not read stay open: the server waits on flow control.)"""
    config = SecurityConfig(tokens=(ALICE, BOB), max_streams=2)
    with running_gateway(ray_cluster, write_catalog(tmp_path), "gateway-streams", security=config) as (_, address):
        with PlaygroundClient(address, token=ALICE, timeout=DEADLINE, retries=0) as alice, \
                PlaygroundClient(address, token=BOB, timeout=DEADLINE, retries=0) as bob:
            pids = [create(alice) for _ in range(3)]
            streams = [alice.stream_ticks(pid, 1) for pid in pids[:2]]   # 1 s ticks: longer than the test
            for stream in streams:
                next(iter(stream))                                     # open: a first delta came
            with pytest.raises(grpc.RpcError) as info:
                next(iter(alice.stream_ticks(pids[2], 1)))
            assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "at most 2 StreamTicks or StreamCandlesArrow calls per client" in info.value.details()
            assert "--max-streams" in info.value.details()
            with bob.stream_ticks(create(bob), 1) as other:
                assert next(iter(other)).current_time
            streams[0].cancel()

            def third_opens():
                try:
                    stream = alice.stream_ticks(pids[2], 1)
                    next(iter(stream))
                except grpc.RpcError as exc:
                    assert exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, exc
                    return False
                streams.append(stream)
                return True
            wait_until(third_opens, "the cancelled stream's slot to be released")
            for stream in streams:
                stream.cancel()


def test_playgrounds_are_capped_per_tenant(ray_cluster, tmp_path):
    """--max-playgrounds 2: alice's third CreatePlayground is RESOURCE_EXHAUSTED naming the limit
    and the flag (a tenant could create playgrounds until the cluster ran out of memory); bob is
    unaffected; a saved playground counts; once alice deletes one she may create another."""
    config = SecurityConfig(tokens=(ALICE, BOB), max_playgrounds=2)
    with running_gateway(ray_cluster, write_catalog(tmp_path), "gateway-playgrounds", security=config) as (_, address):
        with PlaygroundClient(address, token=ALICE, timeout=DEADLINE, retries=0) as alice, \
                PlaygroundClient(address, token=BOB, timeout=DEADLINE, retries=0) as bob:
            first, _ = create(alice), create(alice)
            alice.save_playground(first)
            with pytest.raises(grpc.RpcError) as info:
                create(alice)
            assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "at most 2 playgrounds per client" in info.value.details()
            assert "--max-playgrounds" in info.value.details()
            assert create(bob) and create(bob)
            alice.delete_playground(first)
            assert create(alice) != first
            assert len(alice.get_playgrounds()) == 2


def test_rate_limit_weighs_calls_by_cost(ray_cluster, tmp_path):
    """A burst of 20 and no refill during the test: 20 GetAppVersion pass, the 21st does not;
    CreatePlayground counts as 10, so only two pass and the third says what it costs."""
    assert CALL_COSTS["CreatePlayground"] == 10
    config = SecurityConfig(tokens=(ALICE, BOB), rate_limit=0.001, rate_burst=20)
    with running_gateway(ray_cluster, write_catalog(tmp_path), "gateway-streams", security=config) as (_, address):
        with PlaygroundClient(address, token=ALICE, timeout=DEADLINE) as alice, \
                PlaygroundClient(address, token=BOB, timeout=DEADLINE) as bob:
            assert len([alice.version() for _ in range(20)]) == 20
            with pytest.raises(grpc.RpcError) as info:
                alice.version()
            assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert len([create(bob) for _ in range(2)]) == 2
            with pytest.raises(grpc.RpcError) as info:
                create(bob)
            assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "CreatePlayground counts as 10" in info.value.details()


def test_a_stream_nobody_reads_does_not_hold_a_lane(gateway):
    """Stream ticks take turns in 2 lanes, held for the tick only. Two streams that nobody reads
    fill their flow-control windows and stop (their clocks stand still); a third stream still
    runs its 200 ticks, so a slow reader never holds a lane. (BDP probing off: the windows stay
    at their 64 KiB default, so the unread streams stop early.)"""
    with PlaygroundClient(gateway[1], timeout=DEADLINE) as client, \
            grpc.insecure_channel(gateway[1], options=[("grpc.http2.bdp_probe", 0)]) as slow:
        stub = pb_grpc.PlaygroundServiceStub(slow)
        pids = [create(client) for _ in range(3)]
        unread = [stub.StreamTicks(pb.StreamTicksRequest(playground_id=pid, seconds=1, request_id=f"unread-{i}"),
                                   timeout=4 * DEADLINE)  # outlive the third stream's deadline
                  for i, pid in enumerate(pids[:2])]
        for call in unread:
            next(call)
        seen = {}

        def stopped():
            now = {pid: clock(client, pid) for pid in pids[:2]}
            still = now == seen
            seen.update(now)
            return still
        wait_until(stopped, "the unread streams to stop on flow control")
        assert len(list(client.stream_ticks(pids[2], 60, max_ticks=200))) == 200
        for call in unread:
            call.cancel()
        for pid in pids:
            client.delete_playground(pid)


def test_resume_from_must_be_a_tick_index(gateway):
    with PlaygroundClient(gateway[1], timeout=DEADLINE) as client:
        pid = create(client)
        call = client._stub.StreamTicks(pb.StreamTicksRequest(playground_id=pid, seconds=60, request_id="r"),
                                        metadata=[(RESUME_METADATA, "-1")], timeout=DEADLINE)
        with pytest.raises(grpc.RpcError) as info:
            list(call)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "metadata resume-from must be a tick index (0, 1, 2, ...), got '-1'" in info.value.details()
        client.delete_playground(pid)
