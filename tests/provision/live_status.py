"""What the gateway knows of one live client's playground, for the provisioning end-to-end test.

    python live_status.py HOST:PORT CLIENT_ID --min-filled N   exit 0 when exactly one live playground
                                                               has that client id and >= N filled orders
    python live_status.py HOST:PORT CLIENT_ID --field NAME      print playground_id or filled

Exit 1 (with the reason on stderr) when the condition does not hold yet, so e2e.sh can poll it.
Not collected by pytest.
"""
from __future__ import annotations

import argparse
import sys

from backtestester.remote.client import PlaygroundClient


def status(address: str, client_id: str) -> dict:
    """The one live playground with ``client_id`` and its number of filled orders."""
    with PlaygroundClient(address, timeout=10, retries=0) as client:
        mine = [p for p in client.get_playgrounds() if p.meta.client_id == client_id and p.meta.environment == "live"]
        if len(mine) != 1:
            raise LookupError(f"{len(mine)} live playgrounds have client id {client_id!r}")
        account = client.get_account(mine[0].playground_id, fetch_orders=True)
    filled = sum(1 for order in account.orders if order.status == "filled")
    return {"playground_id": mine[0].playground_id, "filled": filled}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("address")
    parser.add_argument("client_id")
    parser.add_argument("--min-filled", type=int)
    parser.add_argument("--field", choices=("playground_id", "filled"))
    args = parser.parse_args()
    try:
        found = status(args.address, args.client_id)
    except Exception as exc:  # noqa: BLE001  (the gateway not up yet, no playground yet: poll again)
        print(f"not yet: {exc}", file=sys.stderr)
        return 1
    if args.field:
        print(found[args.field])
        return 0
    if found["filled"] < (args.min_filled or 0):
        print(f"not yet: {found['filled']} filled orders", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
