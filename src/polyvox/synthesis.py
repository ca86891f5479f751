"""The one synthesis pipeline every front door uses.

``Synthesizer.open()`` validates a request, resolves engine and voice, leases the engine and synthesizes the
first segment before it returns, so a front door can still answer any failure with a proper status. The
returned ``SynthesisStream`` yields one post-processed ``AudioChunk`` per segment.

Scheduling: each stream keeps at most one segment in the shared worker pool (it submits segment i+1 when
segment i is done, before handing i to the consumer). The pool's queue is FIFO, so concurrent requests
interleave segment by segment and a short request never waits behind a whole long one.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from polyvox.audio.chunk import AudioChunk
from polyvox.audio.dsp import apply_gain, resample, time_stretch
from polyvox.engines.base import Engine, EngineInfo, SynthesisParams, Voice
from polyvox.errors import (
    BusyError,
    EmptyTextError,
    EngineNotFoundError,
    InvalidParameterError,
    LanguageNotSupportedError,
    PolyvoxError,
    RequestTimeoutError,
    TextTooLongError,
)
from polyvox.ops.isolation import run_isolated
from polyvox.scaleout.runner import LocalRunner, SegmentRunner
from polyvox.text.lexicon import Lexicon
from polyvox.text.prepare import prepare_text, takes_phoneme_blocks
from polyvox.text.segment import segment_text
from polyvox.text.ssml import Piece, is_ssml, parse_ssml, plain_text
from polyvox.voices.cloning import VoiceRouter

if TYPE_CHECKING:
    from polyvox.config import Settings
    from polyvox.engines.registry import EngineRegistry

MIN_SPEED, MAX_SPEED = 0.25, 4.0
MIN_RATE, MAX_RATE = 8000, 48000
MAX_VOLUME = 4.0
_SEGMENT_IN_THREAD_CHARS = 2000  # pysbd on long texts is slow enough to keep off the event loop


@dataclass(frozen=True, slots=True)
class SynthesisRequest:
    """What every front door turns its input into."""

    text: str
    engine: str | None = None
    voice: str | None = None
    language: str | None = None
    speaker: str | None = None
    speed: float = 1.0
    volume: float = 1.0
    sample_rate: int | None = None
    """Output rate in Hz; None keeps the engine's native rate."""
    extra: Mapping[str, Any] = field(default_factory=dict)
    """Engine-specific parameters (noise_scale, noise_w, pitch...)."""
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    normalize: bool | None = None
    """Rewrite numbers, dates, units... into words (English only); None: the ``text.normalize`` setting."""
    lexicon: bool = True
    """Apply the user pronunciation lexicon."""
    input_type: str | None = None
    """``"text"``, ``"ssml"`` or None: SSML when the text starts with ``<speak``."""

    @property
    def is_ssml(self) -> bool:
        """Whether the text is read as SSML (pauses, rates, say-as...; see polyvox.text.ssml)."""
        return self.input_type == "ssml" or (self.input_type is None and is_ssml(self.text))


@dataclass(slots=True)
class SynthesisStats:
    """Measured figures of one synthesis."""

    started: float = field(default_factory=time.perf_counter)
    first_chunk_seconds: float | None = None
    synthesis_seconds: float = 0.0
    audio_seconds: float = 0.0
    segments_done: int = 0

    @property
    def real_time_factor(self) -> float | None:
        return self.synthesis_seconds / self.audio_seconds if self.audio_seconds else None


def _language_supported(language: str, info: EngineInfo, voices: list[Voice]) -> bool:
    known = {code.lower() for code in info.languages}
    for voice in voices:
        known.add(voice.language.lower())
        known.update(code.lower() for code in voice.languages)
    wanted = language.lower().replace("_", "-")
    return wanted in known or any(code.split("-")[0] == wanted for code in known)


def _check_range(value: float, low: float, high: float, param: str) -> None:
    if not (low <= value <= high) or value != value:  # value != value catches NaN
        raise InvalidParameterError(f"{param} must be between {low} and {high}, got {value}", param=param)


@dataclass(frozen=True, slots=True)
class SegmentCall:
    """One segment's engine call: its text and parameters, and the time-stretch applied afterwards."""

    text: str
    params: SynthesisParams
    stretch: float


class SynthesisStream:
    """Audio of one request, segment by segment. Always close it (``async with`` or ``aclose()``)."""

    def __init__(
        self,
        synthesizer: Synthesizer,
        request: SynthesisRequest,
        engine: Engine,
        voice: Voice,
        segments: list[str],
        sample_rate: int,
        lease: contextlib.AsyncExitStack,
        deadline: float | None = None,
    ) -> None:
        self.request = request
        self.engine_name = engine.info.name
        self.voice = voice
        self.segments = segments
        self.sample_rate = sample_rate
        self.stats = SynthesisStats()
        self._synthesizer = synthesizer
        self._engine = engine
        self._lease = lease
        self._engine_speed = min(max(request.speed, engine.info.speed_range[0]), engine.info.speed_range[1])
        self._stretch = request.speed / self._engine_speed
        self._pending: asyncio.Future[AudioChunk] | None = None
        self._next_index = 0
        self._primed: AudioChunk | None = None
        self._closed = False
        # A library voice on an engine that cannot clone: convert each segment toward it.
        self._conversion = synthesizer.voices.session(voice)
        self._deadline = deadline
        """``time.monotonic()`` past which waiting for a segment fails (``limits.request_timeout``)."""
        self.plan: list[Piece] | None = None
        """Per segment, for SSML: its rate, or (no text) the pause it stands for."""
        self.error: PolyvoxError | None = None
        """The error that ended the stream, if one did."""

    # -- one segment, in a worker thread -------------------------------------------------------------
    def render(self, index: int) -> AudioChunk:
        """Synthesize segment ``index`` (blocking; long-form jobs call it from several workers at once)."""
        return self._render(index)

    def _render(self, index: int) -> AudioChunk:
        call = self.segment_call(index)
        if isinstance(call, AudioChunk):
            return call
        started = time.perf_counter()
        # Retries a transient failure once; a failing engine is marked for reload (polyvox.ops.isolation).
        parts = run_isolated(
            self._synthesizer.registry,
            self.engine_name,
            lambda: list(self._engine.synthesize(call.text, self.voice, call.params)),
        )
        return self.finish(call, parts, started)

    def segment_call(self, index: int) -> SegmentCall | AudioChunk:
        """What the engine is asked for segment ``index``, or the finished chunk of an SSML pause."""
        request = self.request
        engine_speed, stretch = self._engine_speed, self._stretch
        piece = self.plan[index] if self.plan is not None else None
        if piece is not None and not piece.text:  # an SSML <break>: silence, no engine call
            silence = np.zeros(round(piece.pause * self.sample_rate), dtype=np.float32)
            return AudioChunk(samples=silence, sample_rate=self.sample_rate, text="")
        if piece is not None and piece.rate != 1.0:  # <prosody rate>: this segment's own speed
            speed = min(max(request.speed * piece.rate, MIN_SPEED), MAX_SPEED)
            low, high = self._engine.info.speed_range
            engine_speed = min(max(speed, low), high)
            stretch = speed / engine_speed
        params = SynthesisParams(
            speed=engine_speed,
            language=request.language,
            speaker=request.speaker,
            extra=request.extra,
            request_id=request.request_id,
            segment_index=index,
        )
        return SegmentCall(self.segments[index], params, stretch)

    def finish(self, call: SegmentCall, parts: list[AudioChunk], started: float) -> AudioChunk:
        """Post-process the engine's audio of one segment: conversion, speed, rate, volume; count it."""
        request, text, stretch = self.request, call.text, call.stretch
        native_rate = parts[0].sample_rate if parts else self._engine.info.sample_rate
        samples = (
            np.concatenate([p.samples for p in parts]).astype(np.float32, copy=False)
            if parts
            else np.zeros(0, dtype=np.float32)
        )
        if self._conversion is not None and len(samples):
            samples = np.concatenate(list(self._conversion.convert(samples, native_rate)))
            native_rate = self._conversion.sample_rate
        if stretch != 1.0 and len(samples):
            samples = time_stretch(samples, native_rate, stretch)
        if native_rate != self.sample_rate:
            samples = resample(samples, native_rate, self.sample_rate)
        if request.volume != 1.0:
            samples = apply_gain(samples, request.volume)
        elapsed = time.perf_counter() - started
        self.stats.synthesis_seconds += elapsed
        chunk = AudioChunk(samples=samples, sample_rate=self.sample_rate, text=text)
        self._synthesizer.registry.record(self.engine_name, elapsed, chunk.seconds)
        return chunk

    def _submit_next(self) -> None:
        if self._next_index < len(self.segments):
            index, self._next_index = self._next_index, self._next_index + 1
            self._pending = asyncio.ensure_future(self._synthesizer.runner.render(self, index))
        else:
            self._pending = None

    async def _take(self) -> AudioChunk:
        assert self._pending is not None
        try:
            chunk = await self._wait(self._pending)
        except PolyvoxError as exc:
            self.error = exc
            raise
        # Queue the next segment before the consumer encodes and sends this one.
        self._submit_next()
        self.stats.segments_done += 1
        self.stats.audio_seconds += chunk.seconds
        if self.stats.first_chunk_seconds is None:
            self.stats.first_chunk_seconds = time.perf_counter() - self.stats.started
        return chunk

    async def _wait(self, pending: asyncio.Future[AudioChunk]) -> AudioChunk:
        if self._deadline is None:
            return await pending
        remaining = self._deadline - time.monotonic()
        try:
            # On expiry wait_for cancels the segment: dropped from the pool's queue if it has not started
            # (a running engine call cannot be interrupted; its result is discarded).
            return await asyncio.wait_for(pending, max(remaining, 0.0))
        except TimeoutError:
            timeout = self._synthesizer.settings.limits.request_timeout
            raise RequestTimeoutError(
                f"synthesis took longer than {timeout} s (limits.request_timeout); "
                f"{self.stats.segments_done} of {len(self.segments)} segments done"
            ) from None

    async def prime(self) -> None:
        """Synthesize the first segment now; any error is raised here, before a response starts."""
        self._submit_next()
        try:
            self._primed = await self._take()
        except BaseException:
            await self.aclose()
            raise

    # -- consumer side -------------------------------------------------------------------------------
    def __aiter__(self) -> AsyncIterator[AudioChunk]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[AudioChunk]:
        try:
            if self._primed is not None:
                chunk, self._primed = self._primed, None
                yield chunk
            while self._pending is not None:
                yield await self._take()
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        """Stop synthesis: a queued segment is cancelled, a running one finishes and is dropped."""
        if self._closed:
            return
        self._closed = True
        pending, self._pending = self._pending, None
        if pending is not None and not pending.done():
            pending.cancel()
            with contextlib.suppress(BaseException):
                await pending
        self._synthesizer._release(self)
        await self._lease.aclose()

    async def __aenter__(self) -> SynthesisStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class Synthesizer:
    """Validates requests and runs them through engine, resampling, speed and volume."""

    def __init__(
        self, settings: Settings, registry: EngineRegistry, runner: SegmentRunner | None = None
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.runner: SegmentRunner = runner or LocalRunner(registry)
        """Renders each segment: this process's worker pool, or Ray Serve replicas (polyvox.scaleout)."""
        self._active: set[SynthesisStream] = set()
        self._admitted = 0
        self.lexicon = Lexicon(settings.text.lexicon_file or settings.data_dir / "lexicon.json")
        """The user pronunciation lexicon (reloaded when its file changes)."""
        self.voices = VoiceRouter(settings, registry)
        """Resolves engine voices, Kokoro blends and library voices (polyvox.voices.cloning)."""
        self.listeners: list[Callable[[SynthesisStream], None]] = []
        """Called with each stream when it is released (metrics, request logs)."""

    @property
    def active_streams(self) -> int:
        return len(self._active)

    @property
    def capacity(self) -> int:
        """Streams allowed at once: one per worker plus the configured queue."""
        return self.settings.engines.workers + self.settings.server.max_queue

    def _release(self, stream: SynthesisStream) -> None:
        if stream in self._active:
            self._active.discard(stream)
            self._admitted -= 1
            for listener in self.listeners:
                with contextlib.suppress(Exception):
                    listener(stream)

    def validate(self, request: SynthesisRequest) -> tuple[str, Voice]:
        """Check everything that can be checked without synthesizing; returns engine name and voice."""
        if not request.text or not request.text.strip():
            raise EmptyTextError("text is empty", param="text")
        if len(request.text) > self.settings.max_text_length:
            raise TextTooLongError(
                f"text has {len(request.text)} characters; the limit is {self.settings.max_text_length}",
                param="text",
            )
        _check_range(request.speed, MIN_SPEED, MAX_SPEED, "speed")
        _check_range(request.volume, 0.0, MAX_VOLUME, "volume")
        if request.sample_rate is not None:
            _check_range(request.sample_rate, MIN_RATE, MAX_RATE, "sample_rate")
        if request.input_type not in (None, "text", "ssml"):
            raise InvalidParameterError("input_type must be 'text' or 'ssml'", param="input_type")
        name = request.engine or self.registry.default
        info = self.registry.info(name)
        if name not in self.registry.names():
            raise EngineNotFoundError(f"unknown engine {name!r}", param="engine")  # a hidden test engine
        voice = self.voices.resolve(name, request.voice)
        if request.language and not _language_supported(request.language, info, self.registry.voices(name)):
            raise LanguageNotSupportedError(
                f"engine {name!r} does not speak {request.language!r}; it speaks {', '.join(info.languages)}",
                param="language",
            )
        return name, voice

    def prepare(self, request: SynthesisRequest, engine: str, language: str | None) -> str:
        """The text the engine reads: lexicon, English normalization, inline phoneme overrides.

        SSML is read as its words alone here; paths that honour its pauses and rates go through
        :meth:`ssml_pieces` and :meth:`prepare_piece` instead.
        """
        text = request.text
        if request.is_ssml:
            text = plain_text(self.ssml_pieces(request, engine))
        return self.prepare_piece(text, request, engine, language)

    def ssml_pieces(self, request: SynthesisRequest, engine: str) -> list[Piece]:
        """The request's SSML document as pieces: text at a rate, or a pause."""
        return parse_ssml(request.text, takes_phoneme_blocks(engine))

    def prepare_piece(self, text: str, request: SynthesisRequest, engine: str, language: str | None) -> str:
        """One piece of text as the engine reads it (see :meth:`prepare`)."""
        normalize = self.settings.text.normalize if request.normalize is None else request.normalize
        return prepare_text(
            text,
            language,
            normalize=normalize,
            lexicon=self.lexicon if request.lexicon else None,
            phonemes_ok=takes_phoneme_blocks(engine),
        )

    def _segments(self, request: SynthesisRequest, engine: str, language: str | None) -> list[str]:
        text = self.prepare(request, engine, language)
        return segment_text(text, language, batch_chars=self.registry.info(engine).batch_chars)

    def _ssml_segments(
        self, request: SynthesisRequest, engine: str, language: str | None
    ) -> tuple[list[str], list[Piece]]:
        """SSML pieces as segments, with the plan that gives each its rate or pause."""
        segments: list[str] = []
        plan: list[Piece] = []
        batch_chars = self.registry.info(engine).batch_chars
        for piece in self.ssml_pieces(request, engine):
            if not piece.text:
                segments.append("")
                plan.append(piece)
                continue
            text = self.prepare_piece(piece.text, request, engine, language)
            for segment in segment_text(text, language, batch_chars=batch_chars):
                segments.append(segment)
                plan.append(Piece(segment, rate=piece.rate))
        return segments, plan

    async def open(
        self,
        request: SynthesisRequest,
        *,
        rate_for: Callable[[int], int] | None = None,
        segments: list[str] | None = None,
        prime: bool = True,
    ) -> SynthesisStream:
        """Validate, lease the engine and synthesize the first segment.

        ``rate_for`` maps the wanted output rate to one the caller's encoder supports (opus, mp3).
        ``segments`` (already prepared text) replaces the request's own segmentation, and ``prime=False``
        returns without synthesizing anything: long-form jobs render the segments themselves, in parallel.
        """
        name, voice = self.validate(request)
        if self._admitted >= self.capacity:
            raise BusyError(f"{self._admitted} syntheses are running or queued; try again shortly")
        self._admitted += 1
        timeout = self.settings.limits.request_timeout
        # The clock starts at admission; long-form jobs (prime=False) render on their own and are exempt.
        deadline = time.monotonic() + timeout if timeout > 0 and prime else None
        lease = contextlib.AsyncExitStack()
        try:
            language = request.language or voice.language
            plan: list[Piece] | None = None
            if segments is None and request.is_ssml:
                segments, plan = self._ssml_segments(request, name, language)
            elif segments is None and len(request.text) > _SEGMENT_IN_THREAD_CHARS:
                segments = await asyncio.to_thread(self._segments, request, name, language)
            elif segments is None:
                segments = self._segments(request, name, language)
            if not segments:
                raise EmptyTextError("text has nothing to speak", param="text")
            engine = await lease.enter_async_context(self.registry.acquire(name))
            rate = request.sample_rate or engine.info.sample_rate
            if rate_for is not None:
                rate = rate_for(rate)
            stream = SynthesisStream(self, request, engine, voice, segments, rate, lease, deadline)
            stream.plan = plan
        except BaseException:
            self._admitted -= 1
            await lease.aclose()
            raise
        self._active.add(stream)
        if prime:
            await stream.prime()
        return stream

    async def synthesize(self, request: SynthesisRequest) -> tuple[SynthesisStream, list[AudioChunk]]:
        """Synthesize a whole request (non-streaming front doors)."""
        stream = await self.open(request)
        async with stream:
            chunks = [chunk async for chunk in stream]
        return stream, chunks
