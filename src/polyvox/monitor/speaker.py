"""One monitor: a :class:`FileWatcher` feeding a bounded queue that a speaker task turns into audio.

Queue policy: at most ``queue_size`` lines wait to be spoken. When a new line arrives and the queue is full,
the *oldest waiting* line is dropped and counted (``dropped``), so speech stays close to what is being
written now (a chat log or captions matter while they are fresh).

Lines are spoken through one :class:`polyvox.session.SpeechSession` (admitted and leased once, reopened
when :meth:`Monitor.select` changes the voice): each line is fed and flushed, and its audio is collected
until its utterance ends. Each spoken line becomes one :class:`SpokenLine` (text and 16-bit mono WAV) kept
in a short history and handed to followers (the ``/v1/monitor/{id}/events`` feed) and to an optional sink
(the CLI's files).
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import structlog

from polyvox.audio.chunk import FloatArray
from polyvox.audio.encode import encode_whole
from polyvox.audio.formats import AudioFormat
from polyvox.config import MonitorSettings
from polyvox.errors import PolyvoxError
from polyvox.monitor.watcher import FileWatcher
from polyvox.session import (
    SegmentAudio,
    SegmentEnd,
    SessionEvent,
    SessionVoice,
    SpeechSession,
    UtteranceEnd,
)
from polyvox.synthesis import Synthesizer

log = structlog.get_logger(__name__)

Mode = Literal["lines", "paragraphs"]


@dataclass(frozen=True, slots=True)
class MonitorConfig:
    """What to watch and how to speak it."""

    path: Path
    engine: str | None = None
    voice: str | None = None
    language: str | None = None
    mode: Mode = "lines"
    from_start: bool = False
    speed: float = 1.0


@dataclass(frozen=True, slots=True)
class SpokenLine:
    """One line (or paragraph) and its audio, a WAV file."""

    seq: int
    text: str
    wav: bytes
    sample_rate: int
    seconds: float
    engine: str
    voice: str

    def event(self) -> dict[str, Any]:
        """The JSON of one feed event."""
        return {
            "seq": self.seq,
            "text": self.text,
            "engine": self.engine,
            "voice": self.voice,
            "format": "wav",
            "sample_rate": self.sample_rate,
            "seconds": round(self.seconds, 4),
            "audio": base64.b64encode(self.wav).decode("ascii"),
        }


Sink = Callable[[SpokenLine], Awaitable[None]]


@dataclass(slots=True)
class _Counters:
    queued: collections.deque[str] = field(default_factory=collections.deque)
    spoken: int = 0
    dropped: int = 0
    errors: int = 0
    last_error: str | None = None


class Monitor:
    """Watches one file and speaks what is appended to it. Call :meth:`start`, then :meth:`stop`."""

    def __init__(
        self,
        monitor_id: str,
        config: MonitorConfig,
        synthesizer: Synthesizer,
        settings: MonitorSettings,
        sink: Sink | None = None,
    ) -> None:
        self.id = monitor_id
        self.config = config
        self.started_at = time.time()
        self._synthesizer = synthesizer
        self._settings = settings
        self._sink = sink
        self._watcher = FileWatcher(
            config.path,
            from_start=config.from_start,
            max_line_bytes=settings.max_line_bytes,
            roots=settings.allowed_roots,
        )
        self._counters = _Counters()
        self._paragraph: list[str] = []
        self._last_text_at = 0.0
        self._wakeup = asyncio.Event()
        self._published = asyncio.Event()
        self._history: collections.deque[SpokenLine] = collections.deque(maxlen=settings.history)
        self._seq = 0
        self._listeners = 0
        self._tasks: list[asyncio.Task[None]] = []
        self.stopped = False
        self.failed: str | None = None
        """Why the watcher died, if it did (the monitor is then stopped and its slot free)."""
        self._session: SpeechSession | None = None
        self._session_voice: SessionVoice | None = None
        self._events: AsyncIterator[SessionEvent] | None = None

    # -- lifecycle ------------------------------------------------------------------------------------
    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._watch(), name=f"monitor-{self.id}-watch"),
            asyncio.create_task(self._speak(), name=f"monitor-{self.id}-speak"),
        ]

    async def stop(self) -> None:
        """Stop watching and speaking; followers get the end of the feed."""
        if self.stopped:
            return
        self.stopped = True
        self._watcher.stop()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._close_session()
        self._notify()

    def select(self, engine: str | None, voice: str | None, language: str | None) -> None:
        """Speak the following lines with another engine/voice (already validated by the caller)."""
        self.config = replace(self.config, engine=engine, voice=voice, language=language)

    @property
    def last_seq(self) -> int:
        """The seq of the last spoken line (0 before the first)."""
        return self._seq

    # -- status ---------------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        counters, watch = self._counters, self._watcher.stats
        return {
            "id": self.id,
            "path": str(self.config.path),
            "engine": self.config.engine or self._synthesizer.registry.default,
            "voice": self.config.voice,
            "language": self.config.language,
            "mode": self.config.mode,
            "state": "failed" if self.failed else "stopped" if self.stopped else watch.state,
            "queue_length": len(counters.queued),
            "lines_read": watch.lines_read,
            "lines_spoken": counters.spoken,
            "dropped": counters.dropped,
            "errors": counters.errors,
            "undecodable_lines": watch.undecodable_lines,
            "rotations": watch.rotations,
            "truncations": watch.truncations,
            "deletions": watch.deletions,
            "last_error": counters.last_error,
            "listeners": self._listeners,
            "recent": [line.text for line in list(self._history)[-5:]],
            "last_seq": self._seq,
        }

    # -- reading --------------------------------------------------------------------------------------
    def _enqueue(self, text: str) -> None:
        queued = self._counters.queued
        if len(queued) >= self._settings.queue_size:
            queued.popleft()
            self._counters.dropped += 1
        queued.append(text)
        self._wakeup.set()

    def _take_paragraph(self) -> None:
        if self._paragraph:
            self._enqueue(" ".join(self._paragraph))
            self._paragraph = []

    async def _watch(self) -> None:
        try:
            await self._follow_file()
        except Exception as exc:  # the watcher died: say why, stop, free the slot
            self.failed = f"{type(exc).__name__}: {exc}"
            self._counters.last_error = f"watch_failed: {exc}"
            self.stopped = True
            log.warning("monitor_watch_failed", monitor=self.id, error=self.failed)
            for task in self._tasks:
                if task is not asyncio.current_task():
                    task.cancel()
            self._notify()

    async def _follow_file(self) -> None:
        async for raw in self._watcher.lines():
            text = raw.strip()
            if self.config.mode == "lines":
                if text:
                    self._enqueue(text)
            elif text:
                self._paragraph.append(text)
                self._last_text_at = time.monotonic()
            else:
                self._take_paragraph()

    # -- speaking -------------------------------------------------------------------------------------
    async def _next_text(self) -> str:
        idle = self._settings.paragraph_idle
        while not self._counters.queued:
            self._wakeup.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), timeout=idle / 4)
            if self._paragraph and time.monotonic() - self._last_text_at >= idle:
                self._take_paragraph()
        return self._counters.queued.popleft()

    async def _speak(self) -> None:
        while True:
            text = await self._next_text()
            try:
                line = await self._render(text)
            except PolyvoxError as exc:
                self._counters.errors += 1
                self._counters.last_error = f"{exc.code}: {exc.message}"
                log.warning("monitor_line_failed", monitor=self.id, code=exc.code, error=exc.message)
                continue
            self._counters.spoken += 1
            self._history.append(line)
            self._notify()
            if self._sink is not None:
                await self._sink(line)

    async def _open_session(self) -> SpeechSession:
        """The monitor's session: opened at its first line, again after :meth:`select` changed the voice."""
        config = self.config
        voice = SessionVoice(config.engine, config.voice, config.language, speed=config.speed)
        if self._session is not None and self._session_voice == voice:
            return self._session
        await self._close_session()
        self._session = await self._synthesizer.session(voice)
        self._session_voice = voice
        self._events = aiter(self._session.events())
        return self._session

    async def _close_session(self) -> None:
        session, self._session, self._events = self._session, None, None
        if session is not None:
            await session.aclose()

    async def _render(self, text: str) -> SpokenLine:
        """One line through the monitor's session: fed, flushed, its audio collected until it ends."""
        session = await self._open_session()
        await session.feed(text)
        utterance = await session.flush()
        assert self._events is not None
        chunks: list[FloatArray] = []
        error: PolyvoxError | None = None
        async for event in self._events:
            if isinstance(event, SegmentAudio):
                chunks.append(event.chunk.samples)
            elif isinstance(event, SegmentEnd) and error is None:
                error = event.error  # the line is not published half-spoken
            elif isinstance(event, UtteranceEnd) and event.utterance == utterance:
                break
        if error is not None:
            raise error
        samples = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)
        rate = session.sample_rate
        wav = await asyncio.to_thread(encode_whole, samples, AudioFormat.WAV, rate)  # grows with the line
        self._seq += 1
        return SpokenLine(
            seq=self._seq,
            text=text,
            wav=wav,
            sample_rate=rate,
            seconds=len(samples) / rate,
            engine=session.engine_name,
            voice=session.stream.voice.id,
        )

    # -- following ------------------------------------------------------------------------------------
    def _notify(self) -> None:
        self._published.set()
        self._published = asyncio.Event()

    async def follow(self, since: int = 0, keepalive: float = 15.0) -> AsyncIterator[SpokenLine | None]:
        """Spoken lines with ``seq > since`` as they are produced; ``None`` every ``keepalive`` idle seconds.

        Ends when the monitor stops (after the lines already spoken).
        """
        self._listeners += 1
        try:
            while True:
                for line in list(self._history):
                    if line.seq > since:
                        since = line.seq
                        yield line
                if self.stopped:
                    return
                published = self._published
                try:
                    await asyncio.wait_for(published.wait(), timeout=keepalive)
                except TimeoutError:
                    yield None
        finally:
            self._listeners -= 1
