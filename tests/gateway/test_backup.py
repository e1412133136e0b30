"""`backtestester backup` against a real gateway (embedded Ray, OS-chosen port, real SQLite): a
backup taken while the gateway serves a saved simulator playground and a live playground restores
into a fresh data directory where a new gateway shows the same playgrounds (ids, client ids,
balances, orders, positions); a restore into the served directory is refused and changes nothing."""
from __future__ import annotations

from actors.cli import main
from backtestester.rpc import playground_pb2 as pb
from backtestester.service.backup import list_backups, sha256_of, state_files

from .conftest import DEADLINE, call, create, order_req, save, tick
from .livekit import Ticks, buy, create_live, data_dir, live_config, live_gateways, until


def _view(stub) -> dict:
    """What a client sees of every playground: id -> (client id, environment, balance, orders, positions)."""
    out = {}
    for s in stub.GetPlaygrounds(pb.GetPlaygroundsRequest(), timeout=DEADLINE).playgrounds:
        acc = stub.GetAccount(pb.GetAccountRequest(playground_id=s.playground_id, fetch_orders=True), timeout=DEADLINE)
        orders = sorted((o.id, o.symbol, o.side, o.quantity, o.status, tuple((t.quantity, t.price) for t in o.trades))
                        for o in acc.orders)
        positions = sorted((k, p.quantity, p.cost_basis) for k, p in acc.positions.items())
        out[s.playground_id] = (s.meta.client_id, acc.meta.environment, acc.balance, orders, positions)
    return out


def _files(path) -> dict:
    return {p.name: p.stat().st_size for p in path.iterdir()}


def test_a_backup_of_a_serving_gateway_restores_into_an_equal_gateway(ray_cluster, tmp_path, capsys):
    served, backups = data_dir(tmp_path / "a"), tmp_path / "backups"
    config = live_config()
    with live_gateways(ray_cluster) as gws:
        _, stub, _ = gws.start(served, config)
        sim = create(stub, symbols=("AAA",), client_id="saved-1")
        tick(stub, sim, 120)
        call(stub, "PlaceOrder", order_req(sim, "buy", 10))
        tick(stub, sim, 120)
        save(stub, sim)
        live = create_live(stub, client_id="live-1")
        ticks = Ticks(stub, live)
        until(lambda: ticks.pull() and ticks.candles, "the first live candle")
        buy(stub, live, 7)
        until(lambda: ticks.pull() and ticks.trades, "the live fill")
        before = _view(stub)
        assert set(before) == {sim, live} and before[sim][3] and before[live][4] == [("AAA", 7.0, before[live][4][0][2])]

        assert main(["backup", "create", "--data-dir", str(served), "--to", str(backups)]) == 0  # while it serves
        [made] = list_backups(backups)
        assert capsys.readouterr().out.strip() == str(made.path)
        assert {f["file"] for f in made.files} >= {"gateway.sqlite3", "live.sqlite3", "live-sim.sqlite3",
                                                    "live-replay.json"}

        files = _files(served)
        assert main(["backup", "restore", "--from", str(made.path), "--data-dir", str(served)]) == 1
        err = capsys.readouterr().err
        assert "another gateway serves data directory" in err and "stop the gateway before restoring" in err
        assert not any(name.startswith("replaced-") for name in _files(served))
        assert set(_files(served)) == set(files)  # nothing moved, nothing added
        assert _view(stub) == before

    restored = data_dir(tmp_path / "b")  # a fresh data directory with the same catalog
    assert main(["backup", "restore", "--from", str(made.path), "--data-dir", str(restored)]) == 0
    assert {p.name for p in state_files(restored)} == {f["file"] for f in made.files}
    assert all(sha256_of(restored / f["file"]) == f["sha256"] for f in made.files)
    with live_gateways(ray_cluster) as gws:
        _, stub, _ = gws.start(restored, config)
        assert _view(stub) == before
