"""An Alpaca broker from a configuration file: ``serve --live-broker alpaca --alpaca-config FILE``.

:func:`read_alpaca_config` reads the TOML file where ``serve`` starts (the keys come from
environment variables or files named in it, never from the file itself, and are never logged);
:func:`alpaca_broker` builds the :class:`~backtestester.live.alpaca.AlpacaBroker` and starts its
trade-updates stream, whose order events the desk applies at once instead of at its next poll
(polling stays the truth).
"""
from __future__ import annotations

from .alpaca import AlpacaBroker
from .keys import read_key
from .port import BrokerConfig

#: Keys accepted in ``--alpaca-config``.
ALPACA_KEYS = ("environment", "account_id", "account_type", "base_url", "data_url", "stream_url", "feed",
               "timeout_s", "stream", "key_id_env", "secret_key_env", "key_id_file", "secret_key_file")
#: Alpaca's SDKs read these variables; so does the config by default.
KEY_ID_ENV, SECRET_KEY_ENV = "APCA_API_KEY_ID", "APCA_API_SECRET_KEY"


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
    table["key_id"] = read_key(table, "key_id", KEY_ID_ENV, f"--alpaca-config {path}", "key_id")
    table["secret_key"] = read_key(table, "secret_key", SECRET_KEY_ENV, f"--alpaca-config {path}", "secret_key")
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
