"""Fixtures of the live tests: the fake Tradier and Alpaca servers (tests/live/fake_*.py), and desks
on the simulated broker (tests/live/deskkit.py)."""
from __future__ import annotations

import pytest

from .alpaca_control import FakeAlpaca
from .deskkit import T0 as DESK_T0
from .deskkit import FaultyBroker, Rig
from .tradier_control import T0, FakeTradier


@pytest.fixture
def rig(tmp_path):
    """A desk on the simulated broker, driven by an injected clock."""
    return Rig(tmp_path)


@pytest.fixture
def faulty_rig(tmp_path):
    """A desk whose broker line can fail (a lost answer, a timeout, a death inside ``place``)
    in front of the real simulated broker (``rig.line``)."""
    rig = Rig(tmp_path)
    rig.line = FaultyBroker(rig.sim)
    rig.open(broker=rig.line)
    return rig


@pytest.fixture(scope="session")
def fake_tradier_server():
    """One fake Tradier server process for the session, stopped by its pid at the end."""
    server = FakeTradier.start()
    yield server
    server.stop()


@pytest.fixture
def fake_tradier(fake_tradier_server):
    """The fake server, reset for this test: no orders, no faults, its clock fixed at ``T0``."""
    fake_tradier_server.reset(time_ns=T0)
    yield fake_tradier_server
    fake_tradier_server.release()


@pytest.fixture(scope="session")
def fake_alpaca_server():
    """One fake Alpaca server process for the session, stopped by its pid at the end."""
    server = FakeAlpaca.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def fake_polygon_server():
    """One fake Polygon/Massive server process for the session (tests/live/fake_polygon.py), stopped by its pid."""
    from .polygon_control import FakePolygon

    server = FakePolygon.start()
    yield server
    server.stop()


@pytest.fixture
def fake_alpaca(fake_alpaca_server):
    """The fake Alpaca server, reset for this test: no orders, faults or streams, its clock at the desk kit's ``T0``."""
    fake_alpaca_server.reset(time_ns=DESK_T0)
    yield fake_alpaca_server
    fake_alpaca_server.release()


@pytest.fixture
def fake_polygon(fake_polygon_server):
    """The fake Polygon server, reset for this test: no bars, no faults, no sockets."""
    fake_polygon_server.reset()
    yield fake_polygon_server
