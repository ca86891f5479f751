"""The one speech session (polyvox.session) of a Realtime connection, read by one pump into a queue that
responses take from.

The session's event iterator has one consumer for the connection's life (the pump), so cancelling a
response never cancels a read inside the iterator. After a barge-in the cancelled utterance's late events
are dropped: :meth:`Voice.cancel` closes an empty utterance right after the cancel, and everything up to
and including it is stale.
"""

from __future__ import annotations

import asyncio
import contextlib

from polyvox.session import (
    SegmentAudio,
    SegmentEnd,
    SessionEvent,
    SessionVoice,
    SpeechSession,
    UtteranceEnd,
)
from polyvox.synthesis import Synthesizer
from polyvox.tasks import cancel_and_wait

QUEUED = 2
"""Events rendered ahead of the socket; the pump waits beyond that (memory stays bounded)."""

__all__ = ["SegmentAudio", "SegmentEnd", "SessionVoice", "UtteranceEnd", "Voice"]


class Voice:
    """A speech session opened on first use and reopened when the voice or the output format changes."""

    def __init__(self, synthesizer: Synthesizer, max_chars: int) -> None:
        self.synthesizer = synthesizer
        self.max_chars = max_chars
        self.session: SpeechSession | None = None
        self.spec: SessionVoice | None = None
        self.queue: asyncio.Queue[SessionEvent] = asyncio.Queue(QUEUED)
        self._stale_upto = -1  # utterances are numbered from 0
        self._pump: asyncio.Task[None] | None = None
        self._opening = asyncio.Lock()

    async def open(self, spec: SessionVoice) -> SpeechSession:
        """The session speaking ``spec`` (PolyvoxError 4xx if it cannot)."""
        async with self._opening:
            if self.session is not None and spec == self.spec:
                return self.session
            await self.aclose()
            self.session = await self.synthesizer.session(spec, max_chars=self.max_chars)
            self.spec = spec
            self.queue = asyncio.Queue(QUEUED)
            self._stale_upto = -1
            self._pump = asyncio.create_task(self._run(self.session, self.queue))
            return self.session

    async def prepare(self, spec: SessionVoice) -> None:
        """Open the session ahead of the first response (while the user speaks); a failure is left for the
        response to report."""
        with contextlib.suppress(Exception):
            await self.open(spec)

    async def _run(self, session: SpeechSession, queue: asyncio.Queue[SessionEvent]) -> None:
        async for event in session.events():
            if event.utterance > self._stale_upto:
                await queue.put(event)

    async def next(self) -> SessionEvent:
        """The next event of an utterance not cancelled."""
        while True:
            event = await self.queue.get()
            if event.utterance > self._stale_upto:
                return event

    async def cancel(self) -> tuple[float, str]:
        """Stop speaking; the seconds delivered of the cancelled utterance and the text they spoke."""
        if self.session is None:
            return 0.0, ""
        seconds = await self.session.cancel()
        text = self.session.delivered_text(seconds)
        self._stale_upto = await self.session.flush()
        while not self.queue.empty():
            self.queue.get_nowait()
        return seconds, text

    async def aclose(self) -> None:
        session, self.session = self.session, None
        if session is not None:
            with contextlib.suppress(Exception):
                await session.aclose()
        if self._pump is not None:
            await cancel_and_wait(self._pump)
            self._pump = None
