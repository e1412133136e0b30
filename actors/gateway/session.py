"""The Session RPC (an addition, docs/wire.md): one bidirectional stream per playground.

The client's commands (``SessionCommand``: open, advance, place_order, cancel_order, get_account)
are handled one after another, in the order they arrive, and each is answered by
``SessionEvent`` messages carrying its ``request_id``. A command does exactly what its unary RPC
does: place/cancel/get_account run the body of PlaceOrder, CancelOrder and GetAccount of
:class:`~actors.gateway.service.PlaygroundService` (same engine, same texts, same journal, same
tenancy; a live playground goes to the live desk as with the unary calls); an advance is a run of
NextTicks (:func:`backtestester.wire.answers.advance`, or the live desk's ``next_tick``) with
per-tick request ids ``<request_id>/<i>``, so its ticks are journalled and cached exactly as
NextTick's. Each command is charged to the caller's rate limit as its unary RPC. The first
:data:`INLINE_TICKS` ticks of an advance (:data:`INLINE_COMPACT_TICKS` of a compact one) on an
unsaved in-process playground run on the event loop itself (a millisecond or two at most),
sparing the hop to a thread that dominates a short command; the rest, if the advance goes on,
run on the playground's thread.

A refused command is answered with a ``SessionError`` event (the status code name and text the
unary RPC would end with) and the stream stays usable. A client that goes away mid-session loses
nothing: every command it sent was applied (and, for a saved playground, written through) before
its answer was written, as with unary calls.
"""
from __future__ import annotations

from backtestester.rpc import playground_pb2 as pb
from backtestester.service.errors import ServiceError, Status
from backtestester.service.journal import stream_request_id
from backtestester.wire import answers, codec, requests

from .security import current_principal

MAX_ADVANCE_TICKS = 1024  # ticks one advance command may ask for (one playground call on its host)
INLINE_TICKS = 16  # the first ticks of an advance run on the event loop (unsaved in-process playgrounds)
INLINE_COMPACT_TICKS = 48  # ... of a compact advance: about the same time on the loop (8 µs a tick, not 25)
COMMANDS = ("open", "advance", "place_order", "cancel_order", "get_account")
# What each command is charged as (the rate limit); opening is paid by the Session call itself.
UNARY = {"advance": "NextTick", "place_order": "PlaceOrder", "cancel_order": "CancelOrder", "get_account": "GetAccount"}


def _error_event(service, rid: str, exc) -> pb.SessionEvent:
    code, text = service.refusal_status(exc)
    return pb.SessionEvent(request_id=rid, error=pb.SessionError(code=code.name, message=text))


async def serve_session(service, commands, context):
    """The Session RPC's answers (an async generator of ``SessionEvent``) to ``commands``."""
    state = {"pid": None}
    async for cmd in commands:
        rid = cmd.request_id
        try:
            events = await _handle(service, state, cmd, context)
        except service.refusals as exc:
            yield _error_event(service, rid, exc)
            continue
        for event in events:
            yield event


async def _handle(service, state: dict, cmd, context) -> list:
    """The events answering one command; a refusal is raised (``service.refusals``)."""
    kind = cmd.WhichOneof("command")
    rid = cmd.request_id
    if kind is None:
        raise ServiceError(Status.INVALID_ARGUMENT, f"a session command needs one of: {', '.join(COMMANDS)}")
    method = UNARY.get(kind)
    refusal = (service.charge(context, f"/playground.PlaygroundService/{method}", current_principal())
               if method and service.charge else None)
    if refusal:
        raise ServiceError(Status.RESOURCE_EXHAUSTED, refusal)
    if kind == "open":
        return [await _open(service, state, cmd.open.playground_id, rid)]
    pid = state["pid"]
    if pid is None:
        raise ServiceError(Status.FAILED_PRECONDITION, f"the session is not open: send open (with a playground_id) "
                           f"before {kind}")
    cls = type(service)
    if kind == "advance":
        return await _advance(service, pid, cmd.advance, rid)
    request = getattr(cmd, kind)
    if request.playground_id and request.playground_id != pid:
        raise ServiceError(Status.INVALID_ARGUMENT, f"{kind}.playground_id must be empty or the session's "
                           f"playground {pid}, got {request.playground_id[:64]!r}")
    request.playground_id = pid
    if kind == "get_account":
        return [pb.SessionEvent(request_id=rid, account=await cls.GetAccount.__wrapped__(service, request, context))]
    rpc = cls.PlaceOrder if kind == "place_order" else cls.CancelOrder
    return [pb.SessionEvent(request_id=rid, order=await rpc.__wrapped__(service, request, context))]


async def _open(service, state: dict, pid: str, rid: str) -> pb.SessionEvent:
    if state["pid"] is not None:
        raise ServiceError(Status.FAILED_PRECONDITION, f"the session is open on playground {state['pid']} already: "
                           f"one playground per session (open another session for another playground)")
    if service.is_live(pid):
        summary = next((s for s in await service.live.summaries(()) if s.playground_id == pid), None)
        if summary is None:
            raise ServiceError(Status.NOT_FOUND, "playground not found")
    else:
        summary = await service.call(pid, answers.summary)
    state["pid"] = pid
    return pb.SessionEvent(request_id=rid, opened=summary)


async def _advance(service, pid: str, adv, rid: str) -> list:
    if not rid:
        raise ServiceError(Status.INVALID_ARGUMENT, "request id is empty")
    requests.identifier(rid, "request_id")
    if adv.max_ticks > MAX_ADVANCE_TICKS:
        raise ServiceError(Status.INVALID_ARGUMENT, f"advance.max_ticks must be 1 to {MAX_ADVANCE_TICKS} "
                           f"(0 counts as 1), got {adv.max_ticks}")
    n, stops = max(1, adv.max_ticks), frozenset(adv.stop_periods)
    if service.is_live(pid):
        ticks, error = await _advance_live(service, pid, n, stops, rid, adv.with_accounts)
    else:
        ticks, error = await _advance_local(service, pid, adv, n, stops, rid)
    if error is not None:
        ticks.error.CopyFrom(_error_event(service, rid, error).error)
    return [pb.SessionEvent(request_id=rid, ticks=ticks)]


async def _advance_local(service, pid: str, adv, n: int, stops: frozenset, rid: str):
    """The first :data:`INLINE_TICKS` (compact: :data:`INLINE_COMPACT_TICKS`) ticks on the event
    loop (most advances stop there), the rest
    on the playground's thread. A compact advance whose first part went into ``deltas`` (an
    answer replayed from the cache) goes on in full."""
    head = min(n, INLINE_COMPACT_TICKS if adv.compact else INLINE_TICKS)
    ticks, error = await service.call(pid, answers.advance, int(adv.seconds), head, stops, rid, adv.with_accounts,
                                      0, adv.compact, inline=True)
    if n == head or error is not None or answers.advanced_to_stop(ticks, stops):
        return ticks, error
    try:
        rest, error = await service.call(pid, answers.advance, int(adv.seconds), n - head, stops, rid,
                                         adv.with_accounts, head, adv.compact and not ticks.deltas)
    except service.refusals as exc:  # the tick after the inline ones: refused after some ran
        return ticks, exc
    codec.extend_quiet(ticks.quiet, rest.quiet)
    ticks.deltas.extend(rest.deltas)
    ticks.accounts.extend(rest.accounts)
    return ticks, error


async def _advance_live(service, pid: str, n: int, stops: frozenset, rid: str, with_accounts: bool):
    """An advance on a live playground: the live desk's NextTick, tick by tick (a live tick never blocks)."""
    ticks = pb.SessionTicks()
    for i in range(n):
        try:
            delta = await service.live.next_tick(pid, stream_request_id(rid, i))
        except service.refusals as exc:
            if i == 0:
                raise
            return ticks, exc
        ticks.deltas.append(delta)
        if with_accounts:
            ticks.accounts.append(await service.live.account(pid, False, {}))
        if answers.advance_stops(delta, stops):
            break
    return ticks, None
