"""A venue's secret from its config table: a file it names, else an environment variable.

One rule for every venue (Alpaca's key id and secret, Polygon/Massive's API key): the key is
never in the config file's text, and an error says which file or variable is missing without
showing a key.
"""
from __future__ import annotations

import os


def read_key(table: dict, name: str, default_env: str, where: str, what: str) -> str:
    """The secret ``name``: the first line of the file ``<name>_file`` names (``~`` expanded), else
    the environment variable ``<name>_env`` names (default ``default_env``). ``where`` starts and
    ``what`` (what the secret is) explains every ``ValueError``."""
    path = table.get(f"{name}_file")
    if path:
        file = os.path.expanduser(str(path))
        try:
            with open(file, encoding="utf-8") as handle:
                key = handle.readline().strip()
        except OSError as exc:
            raise ValueError(f"{where}: cannot read {name}_file {file}: {exc.strerror}") from None
        if not key:
            raise ValueError(f"{where}: {name}_file {file} is empty")
        return key
    env = str(table.get(f"{name}_env", default_env))
    key = os.environ.get(env, "").strip()
    if not key:
        raise ValueError(f"{where}: the environment variable {env} ({what}) is not set; "
                         f"set it or name a file with {name}_file")
    return key
