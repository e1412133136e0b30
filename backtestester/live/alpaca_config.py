"""An Alpaca broker from a configuration file: ``serve --live-broker alpaca --alpaca-config FILE``.

:func:`read_alpaca_config` reads the TOML file where ``serve`` starts (the keys come from
environment variables or files named in it, never from the file itself, and are never logged);
:func:`alpaca_broker` builds the :class:`~backtestester.live.alpaca.AlpacaBroker` and starts its
trade-updates stream, whose order events the desk applies at once instead of at its next poll
(polling stays the truth).
"""
from __future__ import annotations

import os

from .alpaca import AlpacaBroker
from .port import BrokerConfig

#: Keys accepted in ``--alpaca-config``.
ALPACA_KEYS = ("environment", "account_id", "account_type", "base_url", "data_url", "stream_url", "feed",
               "timeout_s", "stream", "key_id_env", "secret_key_env", "key_id_file", "secret_key_file")
#: Alpaca's SDKs read these variables; so does the config by default.
KEY_ID_ENV, SECRET_KEY_ENV = "APCA_API_KEY_ID", "APCA_API_SECRET_KEY"


def _secret(path: str, table: dict, name: str, default_env: str) -> str:
    """The key ``name`` from the file ``<name>_file`` names, else the variable ``<name>_env`` names."""
    if table.get(f"{name}_file"):
        file = os.path.expanduser(str(table[f"{name}_file"]))
        try:
            with open(file, encoding="utf-8") as handle:
                value = handle.read().strip()
        except OSError as exc:
            raise ValueError(f"--alpaca-config {path}: {name}_file {file}: {exc.strerror}") from None
        if not value:
            raise ValueError(f"--alpaca-config {path}: {name}_file {file} is empty")
        return value
    env = str(table.get(f"{name}_env", default_env))
    if not os.environ.get(env):
        raise ValueError(f"--alpaca-config {path}: the environment variable {env} ({name}) is not set; "
                         f"set it or name a file with {name}_file")
    return os.environ[env]


def read_alpaca_config(path: str, load_toml) -> dict:
    """The ``--alpaca-config`` TOML file: ``environment`` (paper, the default, or live), optional
    ``account_id``, ``base_url``, ``data_url``, ``stream_url``, ``feed`` (iex or sip),
    ``timeout_s``, ``stream`` (true: the trade-updates accelerator), and where the keys are:
    ``key_id_file``/``secret_key_file`` or the variables ``key_id_env``/``secret_key_env``
    (default APCA_API_KEY_ID, APCA_API_SECRET_KEY). Returns the table with the keys read.

    ``load_toml(path)`` is the project's TOML reader (``backtestester.sweep.arguments.load_toml``,
    passed in: the live core sits below the sweep), a ``ValueError`` for a missing or bad file."""
    try:
        table = load_toml(path)
    except ValueError as exc:
        raise ValueError(f"--alpaca-config {path}: {exc}") from None
    unknown = sorted(set(table) - set(ALPACA_KEYS))
    if unknown:
        raise ValueError(f"--alpaca-config {path}: unknown keys {', '.join(unknown)}; accepted: {', '.join(ALPACA_KEYS)}")
    if table.get("environment", "paper") not in ("paper", "live"):
        raise ValueError(f"--alpaca-config {path}: environment {table['environment']!r}: accepted: paper, live")
    # read here, where serve starts: the gateway's process (a Ray worker) may not share this environment
    table["key_id"] = _secret(path, table, "key_id", KEY_ID_ENV)
    table["secret_key"] = _secret(path, table, "secret_key", SECRET_KEY_ENV)
    return table


def alpaca_broker(table: dict, now):
    """The :class:`~backtestester.live.alpaca.AlpacaBroker` of a read config, its stream started
    (unless ``stream = false``)."""
    options = {key: table[key] for key in ("environment", "feed", "stream_url") if table.get(key)}
    cfg = BrokerConfig("alpaca", account_id=str(table.get("account_id", "")), base_url=table.get("base_url", ""),
                       data_url=table.get("data_url", ""), timeout_s=float(table.get("timeout_s", 10.0)),
                       options={**options, "key_id": table["key_id"], "secret_key": table["secret_key"]})
    broker = AlpacaBroker(cfg, now=now)
    if table.get("stream", True):
        broker.start_stream()
    return broker
