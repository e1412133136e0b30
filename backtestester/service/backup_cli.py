"""``backtestester backup create|restore|list``: backups of a gateway's data directory.

Registered in :mod:`actors.cli` with :func:`register`; the work is :mod:`.backup`'s. A refused
backup (a damaged one, a bad option) is a ``BackupError`` (a ``ValueError``: ``error: ...``, exit
status 2); a restore while a gateway serves the data directory, or an operating-system error (a
directory that cannot be written), prints one ``error: ...`` line and exits 1.
"""
from __future__ import annotations

import argparse
import os
import sys

from ..data.catalog import ENV_VAR, Catalog
from . import backup as bk
from .store import DataDirLocked

__all__ = ["register", "run"]


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``backup`` command group to the subparsers of the main CLI."""
    parser = sub.add_parser("backup", help="back up a gateway's databases (SQLite online backup, works while it "
                                           "runs), list backups, restore one (with the gateway stopped)")
    commands = parser.add_subparsers(dest="backup_command", required=True)
    data_help = f"the gateway's data directory (default: {ENV_VAR}, else ./data)"
    create = commands.add_parser("create", help="back up the data directory's *.sqlite3 and *.json state files "
                                                "into TO/<UTC stamp>/ with a manifest; prints the backup's path")
    create.add_argument("--data-dir", help=data_help)
    create.add_argument("--to", required=True, metavar="DIR", help="the backups' directory")
    create.add_argument("--keep", type=int, metavar="N", help="then keep only the N newest backups in DIR "
                                                              "(default: keep all)")
    restore = commands.add_parser("restore", help="verify a backup and install it into the data directory; the "
                                                  "files it replaces move to DATA_DIR/replaced-<stamp>/")
    restore.add_argument("--from", dest="source", required=True, metavar="DIR/STAMP", help="the backup to restore")
    restore.add_argument("--data-dir", help=data_help)
    listing = commands.add_parser("list", help="the whole backups in DIR, oldest first")
    listing.add_argument("--to", required=True, metavar="DIR", help="the backups' directory")
    return parser


def _data_dir(args) -> str:
    """``--data-dir``, else the catalog's default (:class:`~backtestester.data.catalog.Catalog`)."""
    return str(Catalog(args.data_dir).data_dir)


def run(args) -> int:
    """Run ``backup create``, ``restore`` or ``list``; an operating-system error (a directory that
    cannot be written, a gateway holding the data directory) is one ``error:`` line, exit 1."""
    try:
        return COMMANDS[args.backup_command](args)
    except DataDirLocked as exc:
        print(f"error: {exc}: stop the gateway before restoring (nothing was changed)", file=sys.stderr)
    except OSError as exc:
        print(f"error: {exc.strerror or exc}{f': {exc.filename}' if exc.filename else ''}", file=sys.stderr)
    return 1


def _create(args) -> int:
    made = bk.create_backup(_data_dir(args), args.to, keep=args.keep)
    print(f"backed up {len(made.files)} files ({made.bytes:,} bytes) of {made.data_dir}"
          + ("" if made.files else ": it holds no database yet (the gateway has saved nothing)"), file=sys.stderr)
    print(made.path)
    return 0


def _restore(args) -> int:
    restored, kept = bk.restore_backup(args.source, _data_dir(args))
    print(f"restored {restored.path} (taken {restored.created}, {len(restored.files)} files) into "
          f"{os.path.abspath(_data_dir(args))}")
    if kept is not None:
        print(f"the files it replaced are in {kept}")
    return 0


def _list(args) -> int:
    backups = bk.list_backups(args.to)
    for b in backups:
        print(f"{b.path}\t{b.created}\t{len(b.files)} files\t{b.bytes:,} bytes")
    if not backups:
        print(f"no backup in {args.to}", file=sys.stderr)
    return 0


COMMANDS = {"create": _create, "restore": _restore, "list": _list}
