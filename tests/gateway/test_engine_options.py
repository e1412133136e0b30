"""CreatePlayground's engine options (additions to v1, docs/wire.md): fill model, margin basis,
stop-loss enforcement, commission and slippage reach the engine, are validated with the engine's
vocabulary, and are kept in the saved config so that a restore replays with the same options."""
from __future__ import annotations

import pytest

from backtestester.engine.costs import Commission, Slippage
from backtestester.rpc import playground_pb2 as pb
from backtestester.service.store import PlaygroundStore, store_path
from backtestester.wire import answers, requests
from backtestester.wire.requests import RequestError

from .conftest import reads, repo

OPTIONS = dict(fill_model="next_open", margin_basis="market", enforce_stop_loss=True, commission_rate=0.001,
               commission_minimum=1.0, slippage_per_share=0.01)


def request(**options):
    return pb.CreatePolygonPlaygroundRequest(balance=10_000, start_date="2024-01-03", stop_date="2024-01-04",
                                             environment="simulator", repositories=[repo("AAA")], **options)


def test_the_options_reach_the_engine_and_unset_ones_are_its_defaults(catalog_dir):
    config = requests.create_config(request(**OPTIONS))
    assert config["engine"] == {"fill_model": "next_open", "margin_basis": "market", "enforce_stop_loss": True,
                                "commission": {"rate": 0.001, "minimum": 1.0}, "slippage": {"per_share": 0.01}}
    pg = answers.created("p-o", config, str(catalog_dir)).pg
    assert (pg.fill_model, pg.margin_basis, pg.enforce_stop_loss) == ("next_open", "market", True)
    assert (pg.commission, pg.slippage) == (Commission(rate=0.001, minimum=1.0), Slippage(per_share=0.01))
    plain = answers.created("p-v1", requests.create_config(request()), str(catalog_dir)).pg  # a v1 request
    assert (plain.fill_model, plain.margin_basis, plain.enforce_stop_loss, plain.commission, plain.slippage) == \
        ("close", "cost", False, None, None)


@pytest.mark.parametrize("options, message", [
    ({"fill_model": "open"}, "invalid fill_model 'open': accepted: close, next_open"),
    ({"margin_basis": "x"}, "invalid margin_basis 'x': accepted: cost, market"),
    ({"commission_rate": -1.0}, "Commission.rate must be a finite number >= 0, got -1.0"),
    ({"slippage_rate": float("nan")}, "Slippage.rate must be a finite number >= 0, got nan"),
])
def test_bad_options_are_invalid_argument_naming_what_is_accepted(options, message):
    with pytest.raises(RequestError) as info:
        requests.create_config(request(**options))
    assert (info.value.code, str(info.value)) == ("INVALID_ARGUMENT", message)


def test_a_restore_replays_with_the_saved_options(tmp_path, catalog_dir):
    """Next-open fills, commissions and an enforced stop-loss/take-profit pair: the restored
    playground (built from the saved config) replays the journal to the identical state."""
    db = store_path(tmp_path)
    a = answers.created("p-s", requests.create_config(request(**OPTIONS)), str(catalog_dir))
    a.tick(60, False, "t0")
    a.tick(60, False, "t1")
    price = a.pg.price("AAA")
    a.place_order(symbol="AAA", side="buy", quantity=10, requested_price=price, sl=price * 0.999, tp=price * 1.001)
    a.save(db)
    for i in range(60):
        a.tick(60, False, f"u{i}")
    orders = a.pg.orders()
    assert any(o.protects for o in orders) and any(t.commission for o in orders for t in o.trades)
    b = answers.restored("p-s", db, str(catalog_dir))
    assert b.config["engine"] == a.config["engine"] and b.pg.fill_model == "next_open"
    assert reads(b) == reads(a)
    PlaygroundStore(db).close()
