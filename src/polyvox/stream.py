"""One request's audio, segment by segment: the engine call, post-processing and scheduling.

The stream is given its collaborators when it is built (:class:`StreamContext`): the runner that runs each
segment's engine call and returns raw audio (polyvox.scaleout.segment), and whom it reports to. It owns
everything after the engine call: conversion, time-stretch, resampling and volume.

Scheduling: each stream keeps at most one segment in the shared worker pool (it submits segment i+1 when
segment i is done, before handing i to the consumer), due when the audio it has delivered runs out. The
pool runs the earliest deadline first (polyvox.scaleout.deadline_pool): a new stream's first segment (due
now) overtakes the queued segments of streams that are ahead, and a short request never waits behind a long
one.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from polyvox.audio.chunk import AudioChunk
from polyvox.audio.dsp import apply_gain, resample, time_stretch
from polyvox.engines.base import EngineInfo, SynthesisParams, Voice
from polyvox.errors import AudioTooLongError, PolyvoxError, RequestTimeoutError
from polyvox.request import SynthesisRequest, rated_speed
from polyvox.scaleout.segment import RawSegment, SegmentCall, SegmentRunner
from polyvox.text.ssml import Piece

if TYPE_CHECKING:
    from polyvox.voices.convert import ConversionSession


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
class PlannedSegment:
    """One segment's engine call, and the time-stretch applied to its audio afterwards."""

    call: SegmentCall
    stretch: float

    @property
    def text(self) -> str:
        return self.call.text


@dataclass(frozen=True, slots=True)
class StreamContext:
    """What a stream is given when it is built: where its engine calls run and whom it reports to."""

    runner: SegmentRunner
    """Runs each segment's engine call (worker pool, worker process or Ray replica)."""
    record: Callable[[str, float, float], None]
    """Folds (engine, engine seconds, audio seconds) of each segment into the engine's measured speed."""
    release: Callable[[SynthesisStream], None]
    """Called once when the stream closes (the synthesizer's admission count and listeners)."""
    request_timeout: float = 0.0
    """``limits.request_timeout``, for the message when the deadline passes."""
    max_audio_seconds: float = 0.0
    """``limits.max_audio_seconds``: a stream whose audio passes it ends in-band (0: no limit)."""


class SynthesisStream:
    """Audio of one request, segment by segment. Always close it (``async with`` or ``aclose()``)."""

    def __init__(
        self,
        context: StreamContext,
        request: SynthesisRequest,
        info: EngineInfo,
        voice: Voice,
        segments: list[str],
        sample_rate: int,
        lease: contextlib.AsyncExitStack,
        deadline: float | None = None,
        conversion: ConversionSession | None = None,
    ) -> None:
        self.request = request
        self.engine_name = info.name
        self.voice = voice
        self.segments = segments
        self.sample_rate = sample_rate
        self.stats = SynthesisStats()
        self._context = context
        self._info = info
        self._lease = lease
        self._engine_speed = min(max(request.speed, info.speed_range[0]), info.speed_range[1])
        self._stretch = request.speed / self._engine_speed
        self._pending: asyncio.Future[AudioChunk] | None = None
        self._next_index = 0
        self._primed: AudioChunk | None = None
        self._closed = False
        self._playing_since: float | None = None
        """``time.monotonic()`` when the first chunk was ready: the listener's playback clock starts."""
        # A library voice on an engine that cannot clone: convert each segment toward it.
        self._conversion = conversion
        self._deadline = deadline
        """``time.monotonic()`` past which waiting for a segment fails (``limits.request_timeout``)."""
        self.plan: list[Piece] | None = None
        """Per segment, for SSML: its rate, or (no text) the pause it stands for."""
        self.error: PolyvoxError | None = None
        """The error that ended the stream, if one did."""

    # -- one segment ---------------------------------------------------------------------------------
    async def render(self, index: int, due: float | None = None) -> AudioChunk:
        """Segment ``index`` through the runner, post-processed (long-form jobs render several at once).

        ``due`` (``time.monotonic()``, None: now) orders it in the worker pool (see :meth:`_submit_next`).
        """
        planned = self.segment_call(index)
        if isinstance(planned, AudioChunk):
            return planned
        call = planned.call if due is None else dataclasses.replace(planned.call, due=due)
        raw = await self._context.runner.run(call)
        # Post-processing grows with the segment: off the event loop.
        return await asyncio.to_thread(self.finish, planned, raw)

    def segment_call(self, index: int) -> PlannedSegment | AudioChunk:
        """What the engine is asked for segment ``index``, or the finished chunk of an SSML pause."""
        request = self.request
        engine_speed, stretch = self._engine_speed, self._stretch
        piece = self.plan[index] if self.plan is not None else None
        if piece is not None and not piece.text:  # an SSML <break>: silence, no engine call
            silence = np.zeros(round(piece.pause * self.sample_rate), dtype=np.float32)
            return AudioChunk(samples=silence, sample_rate=self.sample_rate, text="")
        if piece is not None and piece.rate != 1.0:  # <prosody rate>: this segment's own speed
            speed = rated_speed(request.speed, piece.rate)
            low, high = self._info.speed_range
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
        call = SegmentCall(self.engine_name, self.segments[index], self.voice, params)
        return PlannedSegment(call, stretch)

    def finish(self, planned: PlannedSegment, raw: RawSegment) -> AudioChunk:
        """Post-process the engine's audio of one segment: conversion, speed, rate, volume; count it."""
        started = time.perf_counter()
        request, text, stretch = self.request, planned.text, planned.stretch
        samples, native_rate = raw.samples, raw.sample_rate
        if self._conversion is not None and len(samples):
            samples = np.concatenate(list(self._conversion.convert(samples, native_rate)))
            native_rate = self._conversion.sample_rate
        if stretch != 1.0 and len(samples):
            samples = time_stretch(samples, native_rate, stretch)
        if native_rate != self.sample_rate:
            samples = resample(samples, native_rate, self.sample_rate)
        if request.volume != 1.0:
            samples = apply_gain(samples, request.volume)
        self.stats.synthesis_seconds += raw.engine_seconds + (time.perf_counter() - started)
        self._context.record(self.engine_name, raw.engine_seconds, raw.seconds)
        return AudioChunk(samples=samples, sample_rate=self.sample_rate, text=text)

    def _submit_next(self) -> None:
        if self._next_index < len(self.segments):
            index, self._next_index = self._next_index, self._next_index + 1
            # Due when the audio already delivered runs out: now for the first segment, else the first
            # chunk's arrival plus the audio seconds delivered since (a stream far ahead waits).
            playing = self._playing_since
            due = None if playing is None else playing + self.stats.audio_seconds
            self._pending = asyncio.ensure_future(self.render(index, due))
        else:
            self._pending = None

    async def _take(self) -> AudioChunk:
        assert self._pending is not None
        try:
            chunk = await self._wait(self._pending)
        except PolyvoxError as exc:
            self.error = exc
            raise
        limit = self._context.max_audio_seconds
        if limit > 0 and self.stats.audio_seconds + chunk.seconds > limit:
            # The estimate let it through but the audio says otherwise: stop here, in-band.
            self.error = AudioTooLongError(
                f"the audio passed {limit:g} s (limits.max_audio_seconds) after "
                f"{self.stats.segments_done} of {len(self.segments)} segments"
            )
            raise self.error
        self.stats.segments_done += 1
        self.stats.audio_seconds += chunk.seconds
        if self.stats.first_chunk_seconds is None:
            self.stats.first_chunk_seconds = time.perf_counter() - self.stats.started
            self._playing_since = time.monotonic()
        # Queue the next segment before the consumer encodes and sends this one.
        self._submit_next()
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
            raise RequestTimeoutError(
                f"synthesis took longer than {self._context.request_timeout} s (limits.request_timeout); "
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
        self._context.release(self)
        await self._lease.aclose()

    async def __aenter__(self) -> SynthesisStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
