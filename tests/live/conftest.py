"""Fixtures of the live tests: the fake Tradier server (tests/live/fake_tradier.py)."""
from __future__ import annotations

import pytest

from .tradier_control import T0, FakeTradier


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
