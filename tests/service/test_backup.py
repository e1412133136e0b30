"""Backups of a data directory (backtestester.service.backup, `backtestester backup`), on real SQLite
files: a backup holds what was committed (WAL content included, an open transaction left out) as
standalone files that pass the integrity check; a damaged backup is refused and changes nothing;
a restore moves what it replaces (with the -wal/-shm files) aside; --keep prunes the oldest;
a restore is refused while a gateway's lock is held. Times are injected (fixed stamps)."""
from __future__ import annotations

import json
import os
import sqlite3
from datetime import datetime, timedelta, timezone

import pytest

from actors.cli import main
from backtestester.service.backup import (
    BackupError,
    create_backup,
    list_backups,
    restore_backup,
    sha256_of,
    verify_backup,
)
from backtestester.service.store import DataDirLock, DataDirLocked

T0 = datetime(2026, 12, 4, 22, 0, 0, tzinfo=timezone.utc)


def _rows(path) -> list:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT x FROM t ORDER BY x").fetchall()


@pytest.fixture
def served(tmp_path):
    """A data directory as a gateway leaves it while serving: a WAL database whose last commits are
    still in the -wal file (an open connection, no checkpoint), a transaction in progress, a JSON file."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "AAA").mkdir()  # a catalog symbol: not backed up
    (data / "AAA" / "1m.parquet").write_bytes(b"not a state file")
    writer = sqlite3.connect(data / "gateway.sqlite3", isolation_level=None)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("PRAGMA wal_autocheckpoint=0")
    writer.execute("CREATE TABLE t (x INTEGER)")
    writer.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(100)])
    (data / "live-replay.json").write_text(json.dumps({"origin": "2024-01-03T14:29:00+00:00"}))
    writer.execute("BEGIN")
    writer.execute("INSERT INTO t VALUES (-1)")  # not committed: not in the backup
    yield data
    writer.rollback()
    writer.close()


def test_a_backup_holds_the_committed_state_as_standalone_checked_files(served, tmp_path):
    assert (served / "gateway.sqlite3-wal").stat().st_size > 0  # the rows are in the WAL still
    made = create_backup(served, tmp_path / "backups", now=T0)
    assert made.path == (tmp_path / "backups" / "20261204T220000Z").resolve()
    assert sorted(f["file"] for f in made.files) == ["gateway.sqlite3", "live-replay.json"]
    assert sorted(p.name for p in made.path.iterdir()) == ["gateway.sqlite3", "live-replay.json", "manifest.json"]
    assert _rows(made.path / "gateway.sqlite3") == [(i,) for i in range(100)]
    with sqlite3.connect(made.path / "gateway.sqlite3") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    assert all(sha256_of(made.path / f["file"]) == f["sha256"] for f in made.files)
    assert verify_backup(made.path).files == made.files


def test_restore_moves_the_replaced_files_aside_and_installs_the_copies(served, tmp_path):
    made = create_backup(served, tmp_path / "backups", now=T0)
    target = tmp_path / "other"
    target.mkdir()
    with sqlite3.connect(target / "gateway.sqlite3") as conn:
        conn.execute("CREATE TABLE t (x INTEGER)")
        conn.execute("INSERT INTO t VALUES (42)")
    (target / "gateway.sqlite3-wal").write_bytes(b"stale wal")  # must not be applied to the restored file
    (target / "live-sim.sqlite3").write_bytes(b"")  # newer than the backup: moved aside too
    backup, kept = restore_backup(made.path, target, now=T0 + timedelta(hours=1))
    assert kept == target / "replaced-20261204T230000Z"
    assert sorted(p.name for p in kept.iterdir()) == ["gateway.sqlite3", "gateway.sqlite3-wal", "live-sim.sqlite3"]
    assert _rows(kept / "gateway.sqlite3") == [(42,)]  # nothing lost
    assert sorted(p.name for p in target.iterdir() if p.is_file()) == ["gateway.lock", "gateway.sqlite3",
                                                                        "live-replay.json"]
    assert _rows(target / "gateway.sqlite3") == [(i,) for i in range(100)]
    fresh = tmp_path / "fresh"  # a data directory that does not exist yet
    assert restore_backup(made.path, fresh)[1] is None and _rows(fresh / "gateway.sqlite3") == _rows(target / "gateway.sqlite3")


def test_a_damaged_backup_is_refused_and_nothing_changes(served, tmp_path, capsys):
    made = create_backup(served, tmp_path / "backups", now=T0)
    target = tmp_path / "target"
    target.mkdir()
    (target / "gateway.sqlite3").write_bytes(b"current")
    data = bytearray((made.path / "gateway.sqlite3").read_bytes())
    data[-1] ^= 0xFF
    (made.path / "gateway.sqlite3").write_bytes(bytes(data))
    with pytest.raises(BackupError, match="gateway.sqlite3's sha256 differs from the manifest's.*nothing was restored"):
        restore_backup(made.path, target)
    assert main(["backup", "restore", "--from", str(made.path), "--data-dir", str(target)]) == 2
    assert "is damaged" in capsys.readouterr().err
    assert [p.name for p in target.iterdir()] == ["gateway.sqlite3"] and (target / "gateway.sqlite3").read_bytes() == b"current"
    (made.path / "manifest.json").unlink()
    with pytest.raises(BackupError, match="is not a backup: it has no manifest.json"):
        restore_backup(made.path, target)


def test_restore_is_refused_while_a_gateway_holds_the_data_directory(served, tmp_path):
    made = create_backup(served, tmp_path / "backups", now=T0)
    lock = DataDirLock(served)  # what a serving gateway holds
    lock.acquire()
    try:
        before = sorted(p.name for p in served.iterdir())
        with pytest.raises(DataDirLocked, match="another gateway serves data directory"):
            restore_backup(made.path, served)
        assert sorted(p.name for p in served.iterdir()) == before
    finally:
        lock.release()


def test_keep_prunes_the_oldest_backups(served, tmp_path, capsys):
    to = tmp_path / "backups"
    for hour in range(4):
        create_backup(served, to, keep=3, now=T0 + timedelta(hours=hour))
    (to / "20261205T000000Z.partial").mkdir()  # a backup being written (or interrupted): left alone
    assert [b.path.name for b in list_backups(to)] == ["20261204T230000Z", "20261205T000000Z", "20261205T010000Z"]
    create_backup(served, to, keep=3, now=T0 + timedelta(hours=3))  # the same second again: a new name
    assert [b.path.name for b in list_backups(to)] == ["20261205T000000Z", "20261205T010000Z", "20261205T010000Z-2"]
    assert (to / "20261205T000000Z.partial").is_dir()
    assert main(["backup", "list", "--to", str(to)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[0] for line in lines] == [str(b.path) for b in list_backups(to)]
    with pytest.raises(BackupError, match="--keep must be at least 1"):
        create_backup(served, to, keep=0)
    with pytest.raises(BackupError, match="does not exist"):
        create_backup(tmp_path / "nowhere", to)
    (tmp_path / "file").write_text("")
    assert main(["backup", "create", "--data-dir", str(served), "--to", str(tmp_path / "file" / "sub")]) == 1
    assert capsys.readouterr().err.startswith("error: Not a directory")  # one line, no traceback


def test_a_data_directory_without_databases_gives_an_empty_backup_that_restores_to_empty(served, tmp_path):
    """A new gateway that saved nothing yet: the timer's backup still succeeds (nothing to copy)."""
    empty = tmp_path / "empty"
    empty.mkdir()
    made = create_backup(empty, tmp_path / "backups", now=T0)
    assert made.files == () and verify_backup(made.path).files == ()
    _, kept = restore_backup(made.path, served, now=T0)  # the state it replaces moves aside, nothing comes in
    assert sorted(p.name for p in kept.iterdir()) == ["gateway.sqlite3", "gateway.sqlite3-shm", "gateway.sqlite3-wal",
                                                 "live-replay.json"]


@pytest.mark.skipif(os.geteuid() != 0, reason="only root restores for another user")
def test_a_restore_run_as_root_leaves_the_files_to_the_data_directorys_owner(served, tmp_path):
    made = create_backup(served, tmp_path / "backups", now=T0)
    gateway_user = 54321  # the owner of the gateway's data directory (a uid without a name is enough)
    target = tmp_path / "target"
    target.mkdir()
    (target / "live.sqlite3").write_bytes(b"")
    os.chown(target, gateway_user, gateway_user)
    _, kept = restore_backup(made.path, target, now=T0)
    owned = {p.name: p.stat().st_uid for p in [*target.iterdir(), *kept.iterdir()]}
    assert owned == {"gateway.lock": gateway_user, "gateway.sqlite3": gateway_user, "live-replay.json": gateway_user,
                     kept.name: gateway_user, "live.sqlite3": 0}  # the replaced file keeps its owner
