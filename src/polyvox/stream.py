"""One request's audio, segment by segment: the engine call, post-processing and scheduling.

Scheduling: each stream keeps at most one segment in the shared worker pool (it submits segment i+1 when
segment i is done, before handing i to the consumer). The pool's queue is FIFO, so concurrent requests
interleave segment by segment and a short request never waits behind a whole long one.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from polyvox.audio.chunk import AudioChunk
from polyvox.audio.dsp import apply_gain, resample, time_stretch
from polyvox.engines.base import Engine, SynthesisParams, Voice
from polyvox.errors import AudioTooLongError, PolyvoxError, RequestTimeoutError
from polyvox.ops.isolation import run_isolated
from polyvox.request import SynthesisRequest, rated_speed
from polyvox.text.ssml import Piece

if TYPE_CHECKING:
    from polyvox.synthesis import Synthesizer


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
            speed = rated_speed(request.speed, piece.rate)
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
        limit = self._synthesizer.settings.limits.max_audio_seconds
        if limit > 0 and self.stats.audio_seconds + chunk.seconds > limit:
            # The estimate let it through but the audio says otherwise: stop here, in-band.
            self.error = AudioTooLongError(
                f"the audio passed {limit:g} s (limits.max_audio_seconds) after "
                f"{self.stats.segments_done} of {len(self.segments)} segments"
            )
            raise self.error
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
