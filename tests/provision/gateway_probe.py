"""What the provisioned gateway holds, asked over TLS with a token, for the provisioning e2e.

    python gateway_probe.py ADDRESS --tls-ca PEM live CLIENT_ID --min-filled N
        exit 0 when exactly one live playground has that client id and >= N filled orders
    python gateway_probe.py ADDRESS --tls-ca PEM live CLIENT_ID --field playground_id|filled
    python gateway_probe.py ADDRESS --tls-ca PEM save-one
        create a simulator playground on SYNTH, trade a little, save it; print its id
    python gateway_probe.py ADDRESS --tls-ca PEM state
        print the tenant's playgrounds (id, environment, client id, clock, balance, equity) as JSON

The token is BACKTESTESTER_TOKEN. Exit 1 (with the reason on stderr) when the condition does
not hold yet or the gateway does not answer, so e2e.sh can poll. Not collected by pytest.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from backtestester.remote.client import PlaygroundClient


def connect(args) -> PlaygroundClient:
    return PlaygroundClient(args.address, timeout=10, retries=0, token=os.environ["BACKTESTESTER_TOKEN"],
                            root_certificates=Path(args.tls_ca).read_bytes())


def live(client: PlaygroundClient, client_id: str) -> dict:
    """The one live playground with ``client_id`` and its number of filled orders."""
    mine = [p for p in client.get_playgrounds() if p.meta.client_id == client_id and p.meta.environment == "live"]
    if len(mine) != 1:
        raise LookupError(f"{len(mine)} live playgrounds have client id {client_id!r}")
    account = client.get_account(mine[0].playground_id, fetch_orders=True)
    filled = sum(1 for order in account.orders if order.status == "filled")
    return {"playground_id": mine[0].playground_id, "filled": filled}


def save_one(client: PlaygroundClient) -> str:
    """A saved simulator playground with one filled order, as a user's research would leave one."""
    pid = client.create_playground(balance=10_000, start_date="2024-01-02", stop_date="2024-01-04",
                                   repositories=[("SYNTH", 1, "minute")], client_id="e2e-saved")
    client.next_tick(pid, 600)
    price = client.get_candles(pid, "SYNTH", 60, "2024-01-02", "2024-01-04")[-1].close
    client.place_order(pid, "SYNTH", "buy", 5, requested_price=price)
    client.next_tick(pid, 600)
    client.save_playground(pid)
    return pid


def state(client: PlaygroundClient) -> dict:
    return {p.playground_id: {"environment": p.meta.environment, "client_id": p.meta.client_id,
                              "balance": round(p.balance, 6), "equity": round(p.equity, 6)}
            for p in client.get_playgrounds()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("address")
    parser.add_argument("--tls-ca", required=True)
    sub = parser.add_subparsers(dest="what", required=True)
    one = sub.add_parser("live")
    one.add_argument("client_id")
    one.add_argument("--min-filled", type=int, default=0)
    one.add_argument("--field", choices=("playground_id", "filled"))
    sub.add_parser("save-one")
    sub.add_parser("state")
    args = parser.parse_args()
    try:
        with connect(args) as client:
            if args.what == "save-one":
                print(save_one(client))
                return 0
            if args.what == "state":
                print(json.dumps(state(client), sort_keys=True))
                return 0
            found = live(client, args.client_id)
    except Exception as exc:  # noqa: BLE001  (the gateway not up yet, no playground yet: poll again)
        print(f"not yet: {exc}", file=sys.stderr)
        return 1
    if args.field:
        print(found[args.field])
        return 0
    if found["filled"] < args.min_filled:
        print(f"not yet: {found['filled']} filled orders", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
