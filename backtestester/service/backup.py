"""Backups of a gateway's data directory: SQLite's online backup, a manifest, retention, restore.

What a backup holds (:func:`state_files`): every ``*.sqlite3`` at the top of the data directory
(``gateway.sqlite3``: saved playgrounds; ``live.sqlite3``, ``live-bars.sqlite3``,
``live-<broker>.sqlite3``: the live desk) and its small JSON state files (``live-replay.json``).
The catalog (``<SYMBOL>/<timeframe>.parquet``) is not part of it: it is input, kept elsewhere.

:func:`create_backup` copies each database with ``sqlite3.Connection.backup`` (a consistent
snapshot while the gateway writes: never a file copy of a live WAL database), turns the copy into
a standalone file (``journal_mode=DELETE``), runs ``PRAGMA integrity_check`` on it and writes
``manifest.json`` (file, bytes, sha256 of each) last, in ``<to>/<UTC stamp>.partial/``, renamed
to ``<to>/<UTC stamp>/`` when complete: a directory without the suffix is a whole backup.
``keep`` prunes the oldest whole backups. :func:`restore_backup` verifies the manifest (a
mismatch changes nothing), refuses while a gateway holds the data directory's
:class:`~backtestester.service.store.DataDirLock` (and holds it itself meanwhile), moves the
files it replaces (with their ``-wal``/``-shm`` companions) to ``<data_dir>/replaced-<stamp>/``
and installs the copies.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from .store import DataDirLock

MANIFEST = "manifest.json"
FORMAT = 1                      # of the manifest
STAMP_FORMAT = "%Y%m%dT%H%M%SZ"  # UTC; sorts as time does
STAMP = re.compile(r"^\d{8}T\d{6}Z(-\d+)?$")
PARTIAL = ".partial"
REPLACED = "replaced-"
SIDECARS = ("-wal", "-shm", "-journal")  # SQLite's companions of a database file


class BackupError(ValueError):
    """A backup that cannot be made, read or restored; the message says what was wrong."""


@dataclass(frozen=True)
class Backup:
    """One whole backup: its directory, creation time (ISO, UTC), the data directory it was taken
    of, and its files as ``{"file", "bytes", "sha256"}`` dicts."""
    path: Path
    created: str
    data_dir: str
    files: tuple

    @property
    def bytes(self) -> int:
        return sum(f["bytes"] for f in self.files)


def state_files(data_dir) -> list[Path]:
    """The files a backup of ``data_dir`` holds: its top-level ``*.sqlite3`` and ``*.json`` files."""
    root = Path(data_dir)
    return sorted(p for p in root.iterdir() if p.is_file() and p.suffix in (".sqlite3", ".json"))


def stamp(now: datetime | None = None) -> str:
    """``now`` (default: the current time) as a UTC stamp, e.g. ``20261204T220550Z``."""
    return (now or datetime.now(timezone.utc)).astimezone(timezone.utc).strftime(STAMP_FORMAT)


def _free(parent: Path, name: str, suffix: str = "") -> Path:
    """``parent/name`` (``suffix`` appended), else ``name-2``, ``name-3``, ... whichever is free."""
    path, n = parent / f"{name}{suffix}", 1
    while path.exists() or (suffix == "" and (parent / f"{path.name}{PARTIAL}").exists()):
        n += 1
        path = parent / f"{name}-{n}{suffix}"
    return path


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _integrity(path: Path) -> str:
    """``PRAGMA integrity_check`` of a standalone database file, read only: ``ok`` or the problems."""
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return "; ".join(row[0] for row in conn.execute("PRAGMA integrity_check"))
    except sqlite3.DatabaseError as exc:
        return str(exc)
    finally:
        conn.close()


def _copy_database(source: Path, target: Path) -> None:
    """An online, consistent copy of ``source`` (while others write it) as a standalone file."""
    src = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True, timeout=30.0)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
        dst.execute("PRAGMA journal_mode=DELETE")  # one file: no -wal of the copy to carry along
    except sqlite3.Error as exc:
        raise BackupError(f"cannot back up {source}: {exc}") from None
    finally:
        dst.close()
        src.close()
    verdict = _integrity(target)
    if verdict != "ok":
        raise BackupError(f"the backup copy of {source} fails SQLite's integrity check: {verdict}")


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def create_backup(data_dir, to, *, keep: int | None = None, now: datetime | None = None) -> Backup:
    """Back up ``data_dir`` into ``<to>/<UTC stamp>/`` (see the module docstring); works while a
    gateway serves it. ``keep``: afterwards keep the ``keep`` newest backups in ``to`` and delete
    the older ones. Returns the new backup."""
    data_dir, to = Path(data_dir).resolve(), Path(to).resolve()
    if keep is not None and keep < 1:
        raise BackupError(f"--keep must be at least 1 (the backup just taken), got {keep}")
    if not data_dir.is_dir():
        raise BackupError(f"data directory {data_dir} does not exist")
    files = state_files(data_dir)  # none yet (a new gateway that saved nothing): an empty backup, still valid
    to.mkdir(parents=True, exist_ok=True)
    final = _free(to, stamp(now))
    partial = final.with_name(final.name + PARTIAL)
    partial.mkdir()
    try:
        entries = []
        for source in files:
            target = partial / source.name
            if source.suffix == ".sqlite3":
                _copy_database(source, target)
            else:
                shutil.copyfile(source, target)
            _fsync(target)
            entries.append({"file": source.name, "bytes": target.stat().st_size, "sha256": sha256_of(target)})
        created = (now or datetime.now(timezone.utc)).astimezone(timezone.utc).isoformat()
        manifest = {"format": FORMAT, "created": created, "data_dir": str(data_dir), "files": entries}
        (partial / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
        _fsync(partial / MANIFEST)
        os.rename(partial, final)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    if keep is not None:
        prune(to, keep)
    return read_backup(final)


def read_backup(path) -> Backup:
    """The backup at ``path`` from its manifest (not verified: see :func:`verify_backup`)."""
    path = Path(path)
    try:
        manifest = json.loads((path / MANIFEST).read_text())
        files = tuple({"file": str(f["file"]), "bytes": int(f["bytes"]), "sha256": str(f["sha256"])}
                      for f in manifest["files"])
        if manifest.get("format") != FORMAT:
            raise BackupError(f"{path / MANIFEST}: format {manifest.get('format')!r}, this version reads {FORMAT}")
        return Backup(path, str(manifest["created"]), str(manifest["data_dir"]), files)
    except FileNotFoundError:
        raise BackupError(f"{path} is not a backup: it has no {MANIFEST} (give a directory that "
                          f"`backtestester backup list` shows)") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        if isinstance(exc, BackupError):
            raise
        raise BackupError(f"{path / MANIFEST} is unreadable or malformed: {exc}") from None


def list_backups(to) -> list[Backup]:
    """The whole backups in ``to``, oldest first (partial ones, being written or broken, left out)."""
    to = Path(to)
    if not to.is_dir():
        return []
    return [read_backup(p) for p in sorted(to.iterdir()) if p.is_dir() and STAMP.match(p.name)
            and (p / MANIFEST).is_file()]


def prune(to, keep: int) -> list[Path]:
    """Delete all but the ``keep`` newest whole backups in ``to``; returns the deleted paths."""
    doomed = [b.path for b in list_backups(to)][:-keep]
    for path in doomed:
        shutil.rmtree(path)
    return doomed


def verify_backup(path) -> Backup:
    """The backup at ``path`` after checking every file against its manifest (present, size,
    sha256) and each database with SQLite's integrity check; :class:`BackupError` if any fails."""
    backup = read_backup(path)
    problems = []
    for entry in backup.files:
        name = entry["file"]
        if "/" in name or name.startswith(".") or Path(name).suffix not in (".sqlite3", ".json"):
            problems.append(f"{name!r} is not a data directory state file")
            continue
        copy = backup.path / name
        if not copy.is_file():
            problems.append(f"{name} is missing")
        elif copy.stat().st_size != entry["bytes"]:
            problems.append(f"{name} has {copy.stat().st_size} bytes, the manifest says {entry['bytes']}")
        elif sha256_of(copy) != entry["sha256"]:
            problems.append(f"{name}'s sha256 differs from the manifest's")
        elif copy.suffix == ".sqlite3" and (verdict := _integrity(copy)) != "ok":
            problems.append(f"{name} fails SQLite's integrity check: {verdict}")
    if problems:
        raise BackupError(f"backup {backup.path} is damaged: {'; '.join(problems)}; nothing was restored")
    return backup


def _replaced(data_dir: Path) -> list[Path]:
    """The data directory's current state files with their SQLite companions: what a restore moves."""
    found = []
    for path in sorted(data_dir.iterdir()):
        base = next((path.name[:-len(s)] for s in SIDECARS if path.name.endswith(s)), path.name)
        if path.is_file() and Path(base).suffix in (".sqlite3", ".json"):
            found.append(path)
    return found


def _give_to_owner(paths, data_dir: Path) -> None:
    """Run as root (``sudo backtestester backup restore``): hand what the restore created to the
    data directory's owner, the gateway's user, which must write it (SQLite does as much for the
    ``-wal``/``-shm`` files it creates as root)."""
    if os.geteuid() != 0:
        return
    owner = data_dir.stat()
    for path in paths:
        if path.exists():
            os.chown(path, owner.st_uid, owner.st_gid)


def restore_backup(source, data_dir, *, now: datetime | None = None) -> tuple[Backup, Path | None]:
    """Install the backup at ``source`` into ``data_dir`` (created if missing). Verified first
    (:func:`verify_backup`); refused with ``DataDirLocked`` (an ``OSError``) while a gateway serves
    ``data_dir``, whose lock this call holds until it is done. The state files there (see
    :func:`state_files`, with their ``-wal``/``-shm``) move to ``<data_dir>/replaced-<stamp>/``
    first. Run as root, what it creates goes to the data directory's owner. Returns the backup and
    that directory (None when there was nothing to move)."""
    backup = verify_backup(source)
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    lock = DataDirLock(data_dir)
    locked = Path(lock.path).exists()
    lock.acquire()
    if not locked:
        _give_to_owner([Path(lock.path)], data_dir)
    try:
        old = _replaced(data_dir)
        kept = None
        if old:
            kept = _free(data_dir, REPLACED + stamp(now))
            kept.mkdir()
            for path in old:
                os.rename(path, kept / path.name)
        for entry in backup.files:
            tmp = data_dir / f".{entry['file']}.restoring"
            shutil.copyfile(backup.path / entry["file"], tmp)
            _fsync(tmp)
            os.replace(tmp, data_dir / entry["file"])
        _give_to_owner([data_dir / entry["file"] for entry in backup.files] + ([kept] if kept else []), data_dir)
        return backup, kept
    finally:
        lock.release()
