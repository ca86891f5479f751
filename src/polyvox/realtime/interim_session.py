"""A stand-in for :mod:`polyvox.session` (``Synthesizer.session``) until it lands: the same API, over
``Synthesizer.open`` per sentence. The Realtime door speaks only through it, so swapping it is one import.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field

from polyvox.audio.chunk import AudioChunk
from polyvox.engines.base import Voice
from polyvox.errors import PolyvoxError
from polyvox.request import SynthesisRequest
from polyvox.synthesis import Synthesizer
from polyvox.text.incremental import IncrementalSegmenter


@dataclass(frozen=True, slots=True)
class SessionVoice:
    engine: str | None = None
    voice: str | None = None
    language: str | None = None
    speaker: str | None = None
    speed: float = 1.0
    volume: float = 1.0
    sample_rate: int | None = None
    extra: Mapping[str, object] = field(default_factory=dict)


@dataclass(slots=True)
class SegmentAudio:
    utterance: int
    segment: int
    text: str
    chunk: AudioChunk
    first: bool


@dataclass(slots=True)
class SegmentEnd:
    utterance: int
    segment: int
    text: str
    seconds: float
    error: PolyvoxError | None


@dataclass(slots=True)
class UtteranceEnd:
    utterance: int


SessionEvent = SegmentAudio | SegmentEnd | UtteranceEnd


class SpeechSession:
    """Text in, segment audio out, in order; see :mod:`polyvox.session` for the contract."""

    def __init__(
        self, synthesizer: Synthesizer, voice: SessionVoice, engine: str, resolved: Voice, *, max_chars: int
    ) -> None:
        self.synthesizer = synthesizer
        self.spec = voice
        self.engine_name = engine
        self.voice = resolved
        self.sample_rate = voice.sample_rate or synthesizer.registry.info(engine).sample_rate
        self.delivered_seconds = 0.0
        self._language = voice.language or resolved.language
        self._max_chars = max_chars
        self._segmenter = IncrementalSegmenter(self._language, max_chars=max_chars)
        self._utterance = 1
        self._segments = itertools.count()
        self._admitted = False
        self._text: asyncio.Queue[tuple[int, str] | UtteranceEnd | None] = asyncio.Queue()
        self._out: asyncio.Queue[SessionEvent | None] = asyncio.Queue(maxsize=4)
        self._spoken: list[tuple[float, str]] = []  # (seconds before it, text) of the current utterance
        self._current = 0.0
        self._tracked = 0
        self._last_ended = 0
        self._worker = asyncio.create_task(self._run())

    async def feed(self, text: str) -> None:
        for segment in self._segmenter.feed(text):
            self._text.put_nowait((self._utterance, segment))

    def flush(self) -> int:
        rest = self._segmenter.flush()
        if rest:
            self._text.put_nowait((self._utterance, rest))
        utterance, self._utterance = self._utterance, self._utterance + 1
        self._text.put_nowait(UtteranceEnd(utterance))
        return utterance

    async def cancel(self) -> float:
        self._segmenter = IncrementalSegmenter(self._language, max_chars=self._max_chars)
        self._worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._worker
        self._text = asyncio.Queue()
        while not self._out.empty():  # the reader may be waiting on this queue: empty it, keep it
            self._out.get_nowait()
        self._utterance += 1
        self._worker = asyncio.create_task(self._run())
        return 0.0 if self._tracked <= self._last_ended else self._current

    async def finish(self) -> None:
        self.flush()
        self._text.put_nowait(None)

    async def aclose(self) -> None:
        self._worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._worker

    async def events(self) -> AsyncIterator[SessionEvent]:
        while True:
            event = await self._out.get()
            if event is None:
                return
            if isinstance(event, SegmentAudio):
                if event.utterance != self._tracked:  # a new utterance: the last one's record goes
                    self._tracked, self._spoken, self._current = event.utterance, [], 0.0
                if event.first:
                    self._spoken.append((self._current, event.text))
                self._current += event.chunk.seconds
                self.delivered_seconds += event.chunk.seconds
            elif isinstance(event, UtteranceEnd):
                self._last_ended = event.utterance
            yield event

    def delivered_text(self, seconds: float) -> str:
        """Segments whose audio had started by ``seconds`` (the last one cut in proportion, by words)."""
        words: list[str] = []
        for index, (start, text) in enumerate(self._spoken):
            if start >= seconds:
                break
            end = self._spoken[index + 1][0] if index + 1 < len(self._spoken) else self._current
            share = 1.0 if end <= seconds else (seconds - start) / max(end - start, 1e-6)
            parts = text.split()
            words += parts[: max(1, round(len(parts) * share))]
        return " ".join(words)

    async def _run(self) -> None:
        while (item := await self._text.get()) is not None:
            if isinstance(item, UtteranceEnd):
                await self._out.put(item)
                continue
            utterance, text = item
            await self._speak(utterance, text)
        await self._out.put(None)

    async def _speak(self, utterance: int, text: str) -> None:
        index = next(self._segments)
        spec = self.spec
        request = SynthesisRequest(
            text=text,
            engine=self.engine_name,
            voice=self.voice.id,
            language=self._language,
            speaker=spec.speaker,
            speed=spec.speed,
            volume=spec.volume,
            sample_rate=spec.sample_rate,
            extra=dict(spec.extra),
        )
        seconds, first = 0.0, True
        try:
            stream = await self.synthesizer.open(request, admit=not self._admitted)
            self._admitted = True
            async with stream:
                async for chunk in stream:
                    await self._out.put(SegmentAudio(utterance, index, text, chunk, first))
                    seconds += chunk.seconds
                    first = False
        except PolyvoxError as exc:
            await self._out.put(SegmentEnd(utterance, index, text, seconds, exc))
            return
        await self._out.put(SegmentEnd(utterance, index, text, seconds, None))


async def open_session(synthesizer: Synthesizer, voice: SessionVoice, *, max_chars: int) -> SpeechSession:
    """Validate the voice (PolyvoxError 4xx) and open a session on it."""
    engine, resolved = synthesizer.resolve(voice.engine, voice.voice, voice.language, extra=voice.extra)
    return SpeechSession(synthesizer, voice, engine, resolved, max_chars=max_chars)
