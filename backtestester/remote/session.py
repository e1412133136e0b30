"""The Session RPC from Python (an addition, docs/wire.md): one bidirectional stream per playground.

:class:`SessionClient` is a :class:`~backtestester.remote.client.PlaygroundClient` bound to one
playground whose NextTick, PlaceOrder, CancelOrder and GetAccount go as commands of one Session
stream instead of unary calls (the other RPCs stay unary, on the same channel), plus
:meth:`SessionClient.advance`: several ticks in one command, answered in one message with the
account after each tick. Answers are matched to commands by request id; a refused command raises
:class:`SessionRefused`, a :class:`grpc.RpcError` with the code and text its unary RPC would end
with, so callers handle both transports alike. :meth:`SessionClient.pipeline` sends several
commands before reading their answers.

A broken stream (UNAVAILABLE) is re-opened and the command sent again, with the retries and
back-off of the unary calls; an advance's request id makes its ticks idempotent (the gateway
replays the ticks it ran from NextTick's cache), an order's ``client_request_id`` as with PlaceOrder.
The Session is gRPC only: Twirp has no streams.
"""
from __future__ import annotations

import queue
import uuid
from collections.abc import Iterable

import grpc

from backtestester.rpc import playground_pb2 as pb

from .client import RETRYABLE, PlaygroundClient

MAX_ADVANCE_TICKS = 1024  # the gateway's limit of one advance command


class SessionRefused(grpc.RpcError):
    """A command the gateway refused: ``code()`` and ``details()`` as its unary RPC's error."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self._code = getattr(grpc.StatusCode, code, grpc.StatusCode.UNKNOWN)
        self._message = message

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._message


class SessionClient(PlaygroundClient):
    """``client``'s RPCs with a Session on ``playground_id`` (see the module docstring). The
    Session has no deadline (a backtest may take long); ``close()`` ends the stream, not the channel."""

    SESSION_RPCS = {"NextTick": "advance", "PlaceOrder": "place_order", "CancelOrder": "cancel_order",
                    "GetAccount": "get_account"}

    def __init__(self, client: PlaygroundClient, playground_id: str):
        if not client.sessions:
            raise ValueError("the Session is gRPC only (Twirp has no streams): use the unary transport")
        super().__init__(stub=client.stub, timeout=client.timeout, retries=client.retries, backoff=client.backoff,
                         max_backoff=client.max_backoff, sleep=client._sleep)
        self._channel = None  # the parent's: closing the session leaves it open
        self.playground_id = playground_id
        self._prefix = uuid.uuid4().hex
        self._count = 0
        self._queue = self._stream = None
        self.opened = self._command(pb.SessionCommand(open=pb.SessionOpen(playground_id=playground_id))).opened

    # --- the stream ---------------------------------------------------------------------------
    def _open(self) -> None:
        self._queue = queue.SimpleQueue()
        self._stream = self.stub.Session(iter(self._queue.get, None))
        if self._count:  # re-opened: bind it again first
            self._queue.put(pb.SessionCommand(request_id=f"{self._prefix}-open",
                                              open=pb.SessionOpen(playground_id=self.playground_id)))
            self._answer(next(self._stream))

    def _next_id(self) -> str:
        self._count += 1
        return f"{self._prefix}-{self._count}"

    @staticmethod
    def _answer(event: pb.SessionEvent) -> pb.SessionEvent:
        if event.WhichOneof("event") == "error":
            raise SessionRefused(event.error.code, event.error.message)
        return event

    def pipeline(self, commands: Iterable[pb.SessionCommand]) -> list[pb.SessionEvent]:
        """Send ``commands`` (request ids set when empty) without waiting, then read their answers,
        one each, in order. Refusals are returned as error events, not raised."""
        for attempt in range(self.retries + 1):
            try:
                if self._stream is None:
                    self._open()
                commands = list(commands)
                for cmd in commands:
                    cmd.request_id = cmd.request_id or self._next_id()
                    self._queue.put(cmd)
                events = [next(self._stream) for _ in commands]
            except grpc.RpcError as exc:
                self._stream = None
                if exc.code() not in RETRYABLE or attempt == self.retries:
                    raise
                self._sleep(min(self.max_backoff, self.backoff * 2 ** attempt))
                continue
            for cmd, event in zip(commands, events):
                if event.request_id != cmd.request_id:
                    raise RuntimeError(f"session answer for {event.request_id!r} where {cmd.request_id!r} was expected")
            return events
        raise AssertionError("unreachable")

    def _command(self, cmd: pb.SessionCommand) -> pb.SessionEvent:
        return self._answer(self.pipeline([cmd])[0])

    def close(self) -> None:
        """End the stream (the playground stays; the channel stays open)."""
        if self._queue is not None:
            self._queue.put(None)
        if self._stream is not None:
            self._stream.cancel()
        self._queue = self._stream = None

    # --- commands -----------------------------------------------------------------------------
    def advance(self, seconds: int, *, max_ticks: int = 1, stop_periods: Iterable[int] = (),
                with_accounts: bool = True, request_id: str | None = None, compact: bool = False) -> pb.SessionTicks:
        """Up to ``max_ticks`` ticks of ``seconds`` in one command (see SessionAdvance): stops after
        a tick with trades, invalid orders or events, after the one completing the backtest, or
        after one revealing a candle of ``stop_periods``. A refused first tick raises
        :class:`SessionRefused`; a later refusal is in the answer's ``error``. ``compact``: the
        quiet ticks may come as columns (``quiet``), followed by ``deltas``."""
        adv = pb.SessionAdvance(seconds=seconds, max_ticks=max_ticks, stop_periods=list(stop_periods),
                                with_accounts=with_accounts, compact=compact)
        return self._command(pb.SessionCommand(request_id=request_id or self._next_id(), advance=adv)).ticks

    def _invoke(self, rpc: str, request, timeout: float):
        """NextTick, PlaceOrder, CancelOrder and GetAccount as Session commands; the rest unary."""
        kind = self.SESSION_RPCS.get(rpc)
        if kind is None or request.playground_id != self.playground_id:
            return super()._invoke(rpc, request, timeout)
        if kind == "advance":
            if request.is_preview:
                return super()._invoke(rpc, request, timeout)
            return self._next_tick(request)
        request.playground_id = ""  # the session's
        return getattr(self._answer(self.pipeline([pb.SessionCommand(**{kind: request})])[0]),
                       "order" if kind != "get_account" else "account")

    def _next_tick(self, request) -> pb.TickDelta:
        ticks = self.advance(request.seconds, with_accounts=False, request_id=request.request_id)
        if ticks.HasField("error"):  # cannot happen for one tick; kept for clarity
            raise SessionRefused(ticks.error.code, ticks.error.message)
        return ticks.deltas[0]
