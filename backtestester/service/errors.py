"""The service core's one error form: :class:`ServiceError`, with a :class:`Status` from one vocabulary.

Every refusal of the playground service (bad input, an unknown order, a finished backtest, a
playground that lost its engine) is a ``ServiceError``; each front end maps the status to its own
codes in one place (the gRPC gateway: ``actors.gateway.service``). The names are gRPC's, so that
mapping is by name.
"""
from __future__ import annotations

from enum import Enum


class Status(Enum):
    """Why a call was refused (the gRPC status of the same name)."""

    INVALID_ARGUMENT = "INVALID_ARGUMENT"       # bad input; the message is the spec's text
    NOT_FOUND = "NOT_FOUND"                     # unknown playground, order, symbol; data missing
    FAILED_PRECONDITION = "FAILED_PRECONDITION"  # backtest complete; a saved playground that cannot be restored
    UNAVAILABLE = "UNAVAILABLE"                 # the playground lost its engine or its host: retry later
    RESOURCE_EXHAUSTED = "RESOURCE_EXHAUSTED"   # a limit of the caller's share is reached (playgrounds)


class ServiceError(Exception):
    """A refused call: ``status`` (:class:`Status`) and the ``message`` clients see. Picklable, so
    it crosses a process boundary (a playground holder that is a Ray actor) unchanged."""

    def __init__(self, status: Status, message: str):
        super().__init__(status, message)
        self.status, self.message = status, message

    def __str__(self):
        return self.message
