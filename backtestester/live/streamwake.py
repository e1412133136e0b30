"""A poll loop's wake-up: broker streams ring it so the next poll comes at once instead of at its
period. Streams are accelerators only; the poll they bring forward is the truth.

:class:`StreamWake` is bound to an asyncio loop (the gateway's); a stream thread calls
:meth:`StreamWake.ring` (thread-safe, through the stream's ``on_event``); the loop awaits
:meth:`StreamWake.pause` between two polls; :meth:`StreamWake.stop` stops the attached streams.
"""
from __future__ import annotations

import asyncio


class StreamWake:
    """Rings the poll loop when a broker stream reports activity, and stops the streams at the end.

    :meth:`bind` it to the event loop first; a stream thread calls :meth:`ring` (thread-safe)."""

    def __init__(self):
        self.streams: list = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event: asyncio.Event | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop, self._event = loop, asyncio.Event()

    def attach(self, stream) -> None:
        """Make ``stream`` (its ``on_event``) ring this wake; :meth:`stop` stops it."""
        stream.on_event = self.ring
        self.streams.append(stream)

    def ring(self) -> None:
        if self._loop is not None and self._event is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._event.set)

    async def pause(self, seconds: float) -> None:
        """Wait ``seconds`` or until a stream rings, whichever comes first."""
        if self._event is None:
            await asyncio.sleep(seconds)
            return
        try:
            await asyncio.wait_for(self._event.wait(), seconds)
        except asyncio.TimeoutError:
            pass
        self._event.clear()

    def stop(self) -> None:
        for stream in self.streams:
            stream.stop()
        self.streams.clear()
