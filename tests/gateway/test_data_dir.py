"""The data directory under the gateway: one gateway per data directory (the lock), a saved
playground whose catalog data changed (it says which bars), and a broken saved playground that is
restored again once its data changes or its back-off passed, without a restart. Sessions without
Ray, then real gateways and a real ``backtestester serve`` process.
"""
from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from actors.gateway.server import spawn
from backtestester.data.catalog import Catalog
from backtestester.data.synthetic import generate_bars
from backtestester.service.errors import ServiceError, Status
from backtestester.service.store import DataDirLock, DataDirLocked, store_path
from backtestester.wire import answers

from .conftest import NO_FILTERS, create, new_session, reads, refused, save, tick


@pytest.fixture
def data_dir(tmp_path, catalog_dir):
    """A private copy of the catalog (AAA, BBB): each test has its own gateway.sqlite3 and lock."""
    path = tmp_path / "data"
    shutil.copytree(catalog_dir, path)
    return path


# --- data that changes under a saved playground ------------------------------------------------------
def test_a_restore_says_which_bars_changed_under_a_saved_playground(data_dir):
    """Item 2 of issue 12: fewer bars, or none (an emptied series), is reported as such, before
    any replay; the old data back, the playground restores."""
    db = store_path(data_dir)
    a = new_session("p-data", data_dir, "AAA", "BBB")
    a.tick(60, False, "")
    a.save(db)
    original = Catalog(data_dir).load("BBB", "1m", "2024-01-02", "2024-01-06")
    Catalog(data_dir).write("BBB", "1m", generate_bars("BBB", start="2024-01-02", end="2024-01-04", seed=1))
    assert refused(answers.restored, "p-data", db, str(data_dir)).message == (
        "saved playground p-data cannot be restored: the catalog's BBB 1m bars changed since it was saved "
        "(780 bars 2024-01-03..2024-01-04 then, 390 bars 2024-01-03..2024-01-03 now)")
    Catalog(data_dir).write("BBB", "1m", generate_bars("BBB", start="2024-01-01", end="2024-01-02", seed=1))
    err = refused(answers.restored, "p-data", db, str(data_dir))
    assert err.status is Status.FAILED_PRECONDITION and err.message == (
        "saved playground p-data cannot be restored: the catalog's BBB 1m bars changed since it was saved "
        "(780 bars 2024-01-03..2024-01-04 then, 0 now)")
    Catalog(data_dir).write("BBB", "1m", original)
    assert reads(answers.restored("p-data", db, str(data_dir))) == reads(a)


def test_a_broken_saved_playground_is_retried_when_its_data_changes_or_later(data_dir):
    """A saved playground whose data is broken is FAILED_PRECONDITION from memory (no new replay)
    until the data directory changes (the catalog restored: the next call restores it) or the
    back-off passed (a journal fixed in the database: seen after RESTORE_RETRY_SECONDS, on the
    service's clock, set by the test)."""
    from actors.gateway.service import RESTORE_RETRY_SECONDS, PlaygroundService

    db = store_path(data_dir)
    a, b = new_session("p-cat", data_dir, "BBB"), new_session("p-db", data_dir, "AAA")
    for s in (a, b):
        s.tick(0, False, "")
        s.save(db)
        s.tick(60, False, "")
        s.journal.store.close()
    original = Catalog(data_dir).load("BBB", "1m", "2024-01-02", "2024-01-06")
    Catalog(data_dir).write("BBB", "1m", generate_bars("BBB", start="2024-01-01", end="2024-01-02", seed=1))
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE commands SET kind = 'bogus' WHERE playground_id = 'p-db' AND seq = 2")

    async def main():
        service = PlaygroundService(str(data_dir))  # playgrounds in this process: no Ray
        now = [1000.0]
        service.clock = lambda: now[0]
        await service.load_saved()
        placed = []
        place = service.pool.place

        async def counted(*args, **kwargs):
            placed.append(args[0])
            return await place(*args, **kwargs)

        service.pool.place = counted

        async def account(pid):
            try:
                return await service._call(pid, answers.account, False, NO_FILTERS)
            except ServiceError as exc:
                return exc

        for _ in range(2):
            err = await account("p-cat")
            assert err.status is Status.FAILED_PRECONDITION and "BBB 1m bars changed" in err.message
            err = await account("p-db")
            assert err.status is Status.FAILED_PRECONDITION and "unknown command kind 'bogus'" in err.message
        assert placed == ["p-cat", "p-db"]  # the second calls were answered from memory

        with sqlite3.connect(db) as conn:  # the operator repairs the journal: the data files do not change
            conn.execute("UPDATE commands SET kind = 'tick' WHERE playground_id = 'p-db' AND seq = 2")
        now[0] += RESTORE_RETRY_SECONDS - 1
        assert (await account("p-db")).status is Status.FAILED_PRECONDITION
        assert placed == ["p-cat", "p-db"]
        now[0] += 1
        assert (await account("p-db")) == answers.account(b, False, NO_FILTERS)
        assert placed == ["p-cat", "p-db", "p-db"]

        for _ in range(2):  # p-cat's back-off passed too: one more restore, then from memory again
            assert "BBB 1m bars changed" in (await account("p-cat")).message
        assert placed == ["p-cat", "p-db", "p-db", "p-cat"]
        Catalog(data_dir).write("BBB", "1m", original)  # the operator restores the catalog: retried at once
        assert (await account("p-cat")) == answers.account(a, False, NO_FILTERS)
        assert placed == ["p-cat", "p-db", "p-db", "p-cat", "p-cat"]
        await service.pool.drop("p-cat", 10)
        await service.pool.drop("p-db", 10)

    asyncio.run(main())


# --- one gateway per data directory ---------------------------------------------------------------------
def test_a_second_gateway_on_the_same_data_directory_is_refused(ray_cluster, gateways, data_dir, tmp_path):
    """The first gateway holds <data_dir>/gateway.lock: a second one refuses to start and names
    the holder; once the first stops, and once a gateway is SIGKILLed, a new one starts (the kernel
    drops a dead process's flock: no stale lock)."""
    ray = ray_cluster
    gw1, stub = gateways.start(data_dir)
    pid = create(stub)
    tick(stub, pid, 60)
    save(stub, pid)
    second = spawn(str(data_dir), name=None)
    try:
        with pytest.raises(DataDirLocked) as info:
            ray.get(second.start.remote("127.0.0.1", 0), timeout=120)
    finally:
        ray.kill(second, no_restart=True)
    holder = ray.get(gw1.__ray_call__.remote(lambda self: os.getpid()))
    assert str(info.value.args[0]).endswith(
        f"another gateway serves data directory {data_dir} (pid {holder} holds {data_dir}/gateway.lock); "
        "one gateway per data directory")
    ray.get(gw1.stop.remote(0.5), timeout=30)
    gw2, s2 = gateways.start(data_dir)  # the first stopped: its lock is released
    assert tick(s2, pid, 60).current_time == "2024-01-03T09:32:00-05:00"
    gateways.kill(gw2)  # SIGKILL-like: os._exit, no cleanup
    _, s3 = gateways.start(data_dir)
    assert tick(s3, pid, 60).current_time == "2024-01-03T09:33:00-05:00"
    with pytest.raises(DataDirLocked):  # the lock is a plain flock: this process is refused as well
        DataDirLock(data_dir).acquire()
    free = DataDirLock(tmp_path)  # another directory is independent
    free.acquire()
    free.release()


def test_serve_refuses_a_locked_data_directory_with_one_line_and_exit_code_1(data_dir, tmp_path):
    """`backtestester serve` on a data directory whose lock is held (here by this test process)
    exits 1 with one line on stderr, no traceback."""
    lock = DataDirLock(data_dir)
    lock.acquire()
    env = {k: v for k, v in os.environ.items() if k not in ("BACKTESTESTER_TOKEN", "RAY_ADDRESS")}
    root = Path(__file__).resolve().parents[2]
    with (tmp_path / "stderr").open("w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "actors.cli", "serve", "--host", "127.0.0.1", "--port", "0",
                                 "--data-dir", str(data_dir)], cwd=root, env=env, stdout=subprocess.PIPE,
                                stderr=err, text=True)
    try:
        line = proc.stdout.readline()  # "" once it exits; a listening line if it (wrongly) serves
        if line:
            proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=300)
    finally:
        lock.release()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
    stderr = (tmp_path / "stderr").read_text()
    assert line == "", f"it serves a locked data directory: {line}"
    assert proc.returncode == 1, stderr
    errors = [text for text in stderr.splitlines() if text.startswith("error:")]
    assert errors == [f"error: another gateway serves data directory {data_dir} (pid {os.getpid()} holds "
                      f"{data_dir}/gateway.lock); one gateway per data directory"], stderr
    assert "Traceback" not in stderr
