"""One Wyoming connection: the events Polyvox answers and how (see :mod:`polyvox.wyoming.server`).

``describe`` answers with every engine as a TTS program (:mod:`polyvox.wyoming.info`).
``synthesize`` speaks one text: ``audio-start``, ``audio-chunk`` events sentence by sentence as the pipeline
produces them, ``audio-stop``.

Streaming (``synthesize-start``, ``synthesize-chunk``..., ``synthesize-stop``): the stream is one
:class:`polyvox.session.SpeechSession`: chunks are fed to it as they come, each sentence is spoken the moment
it is complete, and a per-stream task sends the session's audio while further chunks are still being read.
The whole stream is one audio stream (one ``audio-start``, the chunks, one ``audio-stop``), then
``synthesize-stopped``. The plain ``synthesize``
that Home Assistant also sends inside a stream "for backwards compatibility" repeats the same text: it is
ignored while a stream is open, so nothing is spoken twice.

Failures become ``error`` events ``{text, code}`` carrying the :class:`PolyvoxError` code; the connection
stays open. An error inside a stream still ends it with ``synthesize-stopped`` so clients never hang.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

import structlog
from wyoming.audio import AudioChunk as WyomingChunk
from wyoming.audio import AudioStart, AudioStop
from wyoming.error import Error
from wyoming.event import Event, Eventable
from wyoming.info import Describe, SelectProgram
from wyoming.ping import Ping, Pong
from wyoming.server import AsyncEventHandler
from wyoming.tts import (
    Synthesize,
    SynthesizeChunk,
    SynthesizeStart,
    SynthesizeStop,
    SynthesizeStopped,
    SynthesizeVoice,
)

from polyvox.audio.chunk import AudioChunk
from polyvox.engines.base import Voice
from polyvox.errors import InvalidParameterError, LanguageNotSupportedError, PolyvoxError, VoiceNotFoundError
from polyvox.request import SynthesisRequest
from polyvox.service import Polyvox
from polyvox.session import SegmentAudio, SegmentEnd, SpeechSession
from polyvox.tasks import cancel_and_wait
from polyvox.voice_names import find_voice, language_tag, voice_for_language
from polyvox.wyoming.info import build_info
from polyvox.wyoming.read import read_event

log = structlog.get_logger(__name__)

SAMPLE_WIDTH = 2  # bytes: 16-bit PCM
CHANNELS = 1
DEFAULT_SAMPLES_PER_CHUNK = 1024

E = TypeVar("E", bound=Eventable)


class ClientGone(Exception):
    """Writing to the client failed: it disconnected."""


def _parse(kind: type[E], event: Event) -> E:
    """The typed event, or ``invalid_parameter`` for a malformed one."""
    try:
        parsed = kind.from_event(event)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InvalidParameterError(f"malformed {event.type!r} event: {exc!r}", param=event.type) from None
    assert isinstance(parsed, kind)
    return parsed


@dataclass(frozen=True, slots=True)
class _Target:
    """What a Wyoming voice selection resolved to."""

    voice: Voice
    speaker: str | None = None
    language: str | None = None

    def request(self, text: str, sample_rate: int | None) -> SynthesisRequest:
        return SynthesisRequest(
            text=text,
            engine=self.voice.engine,
            voice=self.voice.id,
            speaker=self.speaker,
            language=self.language,
            sample_rate=sample_rate,
        )


@dataclass
class _AudioOut:
    """One outgoing audio stream: its rate is fixed by the first synthesis."""

    rate: int | None = None
    started: bool = False


@dataclass
class _TextStream:
    """An open ``synthesize-start`` ... ``synthesize-stop`` stream."""

    session: SpeechSession | None = None
    audio: _AudioOut = field(default_factory=_AudioOut)
    worker: asyncio.Task[None] | None = None
    failed: bool = False


class PolyvoxEventHandler(AsyncEventHandler):
    """One client connection. Events are dispatched by type through a table."""

    def __init__(
        self,
        polyvox: Polyvox,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        samples_per_chunk: int = DEFAULT_SAMPLES_PER_CHUNK,
    ) -> None:
        super().__init__(reader, writer)
        self.polyvox = polyvox
        self.samples_per_chunk = samples_per_chunk
        self.program: str | None = None
        """Engine chosen with ``select-program`` (bare voice ids are looked up there first)."""
        self.task: asyncio.Task[None] | None = None
        """The task running this connection (the server cancels it on shutdown)."""
        self._stream: _TextStream | None = None
        self._table: dict[str, Callable[[Event], Awaitable[None]]] = {
            Describe().event().type: self._on_describe,
            Synthesize(text="").event().type: self._on_synthesize,
            SynthesizeStart().event().type: self._on_synthesize_start,
            SynthesizeChunk(text="").event().type: self._on_synthesize_chunk,
            SynthesizeStop().event().type: self._on_synthesize_stop,
            Ping().event().type: self._on_ping,
            SelectProgram(name="").event().type: self._on_select_program,
        }

    # -- dispatch ------------------------------------------------------------------------------------
    async def run(self) -> None:
        """Events until the client leaves; one with a declared size over ``wyoming.max_event_bytes`` (or a
        malformed header) gets one error event, then the connection is closed (the rest is unreadable)."""
        self.task = asyncio.current_task()
        cap = self.polyvox.settings.wyoming.max_event_bytes
        try:
            while True:
                try:
                    event = await read_event(self.reader, cap)
                except PolyvoxError as exc:
                    with contextlib.suppress(ClientGone):
                        await self._send_error(exc)
                    break
                if event is None or not await self.handle_event(event):
                    break
        finally:
            await self.disconnect()
            self.writer.close()

    async def handle_event(self, event: Event) -> bool:
        handler = self._table.get(event.type)
        if handler is None:
            log.debug("wyoming_event_ignored", type=event.type)
            return True
        try:
            try:
                await handler(event)
            except PolyvoxError as exc:
                await self._send_error(exc)
            except (ClientGone, asyncio.CancelledError):
                raise
            except Exception as exc:
                log.exception("wyoming_event_failed", type=event.type)
                await self._send_error(PolyvoxError(f"internal error: {exc}"))
        except ClientGone:
            return False
        return True

    async def disconnect(self) -> None:
        """The client is gone: stop any synthesis still running for it."""
        await self._close_stream()

    # -- writing -------------------------------------------------------------------------------------
    async def _write(self, event: Event) -> None:
        try:
            await self.write_event(event)
        except (ConnectionError, OSError, RuntimeError) as exc:
            raise ClientGone(str(exc)) from exc

    async def _send_error(self, exc: PolyvoxError) -> None:
        log.info("wyoming_error", code=exc.code, error=exc.message)
        await self._write(Error(text=exc.message, code=exc.code).event())

    async def _speak(self, target: _Target, text: str, audio: _AudioOut) -> None:
        """Synthesize ``text`` and send its audio as it comes, part by part (audio-start before the first)."""
        stream = await self.polyvox.synthesizer.open(target.request(text, audio.rate))
        async with stream:
            async for chunk in stream:
                await self._send_audio(chunk, audio)

    async def _send_audio(self, chunk: AudioChunk, audio: _AudioOut) -> None:
        """One part of the answer's audio as ``audio-chunk`` events (``audio-start`` before the first)."""
        if not audio.started:
            audio.rate, audio.started = chunk.sample_rate, True
            start = AudioStart(rate=chunk.sample_rate, width=SAMPLE_WIDTH, channels=CHANNELS)
            await self._write(start.event())
        step = self.samples_per_chunk * SAMPLE_WIDTH * CHANNELS
        pcm = chunk.to_int16()
        for offset in range(0, len(pcm), step):
            await self._write(
                WyomingChunk(
                    audio=pcm[offset : offset + step],
                    rate=chunk.sample_rate,
                    width=SAMPLE_WIDTH,
                    channels=CHANNELS,
                ).event()
            )

    # -- voices --------------------------------------------------------------------------------------
    def _named_voice(self, name: str) -> Voice:
        """An engine voice by name, else ``engine/<library voice>`` (natively cloned or converted)."""
        try:
            return find_voice(self.polyvox.registry, name, preferred=self.program)
        except VoiceNotFoundError:
            engine, slash, voice_id = name.strip().partition("/")
            if not slash:
                raise
            return self.polyvox.synthesizer.voices.resolve(engine.strip(), voice_id.strip())

    def _target(self, voice: SynthesizeVoice | None) -> _Target:
        """Map Wyoming's voice selection to an engine voice (raises voice/engine/language errors)."""
        registry = self.polyvox.registry
        if voice is not None and voice.name:
            return _Target(self._named_voice(voice.name), speaker=voice.speaker)
        if voice is not None and voice.language:
            found = voice_for_language(registry, voice.language, preferred=self.program)
            if found is None:
                raise LanguageNotSupportedError(f"no voice speaks {voice.language!r}", param="language")
            return _Target(found, language=language_tag(voice.language))
        engine = self.program or registry.default
        return _Target(registry.resolve_voice(engine, None))

    # -- handlers ------------------------------------------------------------------------------------
    async def _on_describe(self, event: Event) -> None:
        await self._write(build_info(self.polyvox.registry, first=self.program).event())

    async def _on_ping(self, event: Event) -> None:
        await self._write(Pong(text=_parse(Ping, event).text).event())

    async def _on_select_program(self, event: Event) -> None:
        name = _parse(SelectProgram, event).name
        self.polyvox.registry.info(name)  # engine_not_found for an unknown program
        self.program = name

    async def _on_synthesize(self, event: Event) -> None:
        if self._stream is not None:
            # Sent inside a stream for backwards compatibility: the chunks already carry this text.
            log.debug("wyoming_synthesize_ignored_in_stream")
            return
        request = _parse(Synthesize, event)
        audio = _AudioOut()
        try:
            await self._speak(self._target(request.voice), request.text, audio)
        except PolyvoxError as exc:
            if not audio.started:
                raise  # nothing sent yet: the error event is the whole answer
            await self._send_error(exc)  # failed mid-audio: report, then still end the audio
        if audio.started:
            await self._write(AudioStop().event())

    async def _on_synthesize_start(self, event: Event) -> None:
        if self._stream is not None:
            raise InvalidParameterError("synthesize-start while a synthesis stream is open", param="event")
        start = _parse(SynthesizeStart, event)
        stream = _TextStream()
        self._stream = stream
        try:
            target = self._target(start.voice)
            stream.session = await self.polyvox.synthesizer.session(target.request("", None))
        except PolyvoxError:
            stream.failed = True  # chunks are ignored; synthesize-stop still answers synthesize-stopped
            raise
        stream.worker = asyncio.create_task(self._stream_worker(stream), name="wyoming stream")

    async def _on_synthesize_chunk(self, event: Event) -> None:
        stream = self._require_stream(event)
        text = _parse(SynthesizeChunk, event).text
        if not stream.failed and stream.session is not None:
            await stream.session.feed(text)

    async def _on_synthesize_stop(self, event: Event) -> None:
        stream = self._require_stream(event)
        try:
            if stream.session is not None:
                await stream.session.finish()
            if stream.worker is not None:
                await stream.worker
        finally:
            self._stream = None
            if stream.session is not None:
                await stream.session.aclose()
        if stream.audio.started:
            await self._write(AudioStop().event())
        await self._write(SynthesizeStopped().event())

    def _require_stream(self, event: Event) -> _TextStream:
        if self._stream is None:
            raise InvalidParameterError(f"{event.type} without synthesize-start", param="event")
        return self._stream

    async def _stream_worker(self, stream: _TextStream) -> None:
        """Send the session's audio as it comes; the first failed sentence is reported and ends the speech
        (the rest of the stream is read and dropped, ``synthesize-stopped`` still ends it)."""
        assert stream.session is not None
        try:
            async for event in stream.session.events():
                if stream.failed:
                    continue
                if isinstance(event, SegmentAudio):
                    await self._send_audio(event.chunk, stream.audio)
                elif isinstance(event, SegmentEnd) and event.error is not None:
                    stream.failed = True
                    await self._send_error(event.error)
        except (ClientGone, asyncio.CancelledError):
            raise
        except Exception as exc:
            log.exception("wyoming_stream_failed")
            stream.failed = True
            await self._send_error(PolyvoxError(f"internal error: {exc}"))

    async def _close_stream(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None and stream.worker is not None:
            await cancel_and_wait(stream.worker)  # also collects a worker that died of ClientGone
        if stream is not None and stream.session is not None:
            await stream.session.aclose()
