"""One segment's audio: the engine call through the runner, then the one post-processing chain.

A :class:`SegmentRenderer` knows what each segment of a request is asked of the engine
(:meth:`SegmentRenderer.segment_call`: its text, speed, SSML rate or pause, the seams of a phrase cut from
its sentence) and what happens after the call: conversion toward a library voice, time-stretch, resampling,
mastering (files), volume — per part where that is exact (a streaming resampler, volume), else on the whole
segment. :class:`polyvox.stream.SynthesisStream` adds the scheduling and the consumer's side.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from polyvox.audio.chunk import AudioChunk, FloatArray
from polyvox.audio.dsp import Resampler, apply_gain, resample, time_stretch, trim_edge
from polyvox.engines.base import EngineInfo, SynthesisParams, Voice
from polyvox.request import SynthesisRequest, rated_speed
from polyvox.runners.segment import RawSegment, SegmentCall, SegmentRunner
from polyvox.stream_mode import BACKGROUND_SLACK, StreamMode
from polyvox.text.ssml import Piece

if TYPE_CHECKING:
    from polyvox.postprocess import Mastering
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


SEAM_TAIL = 0.03
SEAM_HEAD = 0.02
"""Seconds of silence kept after a first phrase and before the rest of its sentence (polyvox.text.phrases):
each rendered alone ends and starts with the engine's silence, which together would be a pause the sentence
does not have."""


@dataclass(frozen=True, slots=True)
class PlannedSegment:
    """One segment's engine call, and the time-stretch applied to its audio afterwards."""

    call: SegmentCall
    stretch: float
    seam_after: bool = False
    """The segment is a first phrase: its trailing silence is trimmed (it is rendered whole)."""
    seam_before: bool = False
    """The segment continues the sentence of a first phrase: its leading silence is trimmed."""

    @property
    def text(self) -> str:
        return self.call.text


@dataclass(frozen=True, slots=True)
class StreamContext:
    """What a stream is given when it is built: where its engine calls run and whom it reports to."""

    runner: SegmentRunner
    """Runs each segment's engine call (worker pool, worker process or Ray replica)."""
    record: Callable[[str, float, float, int, float], None]
    """Folds (engine, engine seconds, audio seconds, characters, engine speed) of each segment into the
    engine's measured speed and reading rate."""
    release: Callable[[Any], None]
    """Called once with the stream when it closes (the synthesizer's admission count and listeners); typed
    loosely: the stream (polyvox.stream) sits on this module."""
    request_timeout: float = 0.0
    """``limits.request_timeout``, for the message when the deadline passes."""
    max_audio_seconds: float = 0.0
    """``limits.max_audio_seconds``: a stream whose audio passes it ends in-band (0: no limit)."""
    mastering: Mastering | None = None
    """The finish of long-form jobs (and of every file with ``postprocess.master_files``); None: none."""
    master_files: bool = False
    """``postprocess.master_files``: FILE streams are mastered as long-form jobs are."""
    workers: int = 1
    """``engines.workers``: how many segments a LONGFORM stream renders at once."""


class SegmentRenderer:
    """Renders the segments of one request (see the module docstring); the stream is one."""

    def __init__(
        self,
        context: StreamContext,
        request: SynthesisRequest,
        info: EngineInfo,
        voice: Voice,
        segments: list[str],
        sample_rate: int,
        conversion: ConversionSession | None = None,
        mode: StreamMode = StreamMode.LIVE,
    ) -> None:
        self.request = request
        self.mode = mode
        self.mastered = mode.mastered(context.master_files)
        """Whether each segment is finished by the mastering chain (and pauses follow it)."""
        self.engine_name = info.name
        self.voice = voice
        self.segments = segments
        self.sample_rate = sample_rate
        self.stats = SynthesisStats()
        self._context = context
        self._info = info
        self._engine_speed = min(max(request.speed, info.speed_range[0]), info.speed_range[1])
        self._stretch = request.speed / self._engine_speed
        # A library voice on an engine that cannot clone: convert each segment toward it.
        self._conversion = conversion
        self.plan: list[Piece] | None = None
        """Per segment, for SSML: its rate, or (no text) the pause it stands for; a first phrase's seam."""

    @property
    def background(self) -> bool:
        """Due "eventually" (long-form jobs): not counted as a listener's demand on the workers."""
        return self.mode is StreamMode.LONGFORM

    async def render(self, index: int, due: float | None = None) -> AudioChunk:
        """Segment ``index`` through the runner, post-processed (long-form jobs render several at once).

        ``due`` (``time.monotonic()``; None: now, or "eventually" in LONGFORM mode) orders it in the
        worker pool (see :meth:`_submit_next`).
        """
        planned = self.segment_call(index)
        if isinstance(planned, AudioChunk):
            return planned
        if due is None and self.background:
            due = time.monotonic() + BACKGROUND_SLACK
        call = planned.call if due is None else dataclasses.replace(planned.call, due=due)
        raw = await self._context.runner.run(call)
        # Post-processing grows with the segment: off the event loop.
        return await asyncio.to_thread(self.finish, planned, raw)

    async def render_parts(self, index: int, due: float | None = None) -> AsyncIterator[AudioChunk]:
        """Segment ``index`` post-processed part by part, as the engine produces it (at least one part).

        Parts are exact where post-processing can run per part (a streaming resampler, volume); a
        conversion, a time-stretch or a file's mastering needs the whole segment, so it is rendered whole.
        """
        planned = self.segment_call(index)
        if isinstance(planned, AudioChunk):
            yield planned
            return
        call = planned.call if due is None else dataclasses.replace(planned.call, due=due)
        if self._conversion is not None or planned.stretch != 1.0 or self.mastered or planned.seam_after:
            raw = await self._context.runner.run(call)
            yield await asyncio.to_thread(self.finish, planned, raw)
            return
        resampler: Resampler | None = None
        engine_seconds = audio_seconds = 0.0
        yielded = False
        started = time.perf_counter()
        async for part in self._context.runner.parts(call):
            engine_seconds += part.engine_seconds
            audio_seconds += part.seconds
            samples = part.samples
            if resampler is None:
                resampler = Resampler(part.sample_rate, self.sample_rate)
                if planned.seam_before:  # the rest of a phrase's sentence: no pause of its own at the seam
                    # (a scan of the part: it grows with it, so off the event loop)
                    samples = await asyncio.to_thread(
                        trim_edge, samples, part.sample_rate, SEAM_HEAD, tail=False
                    )
            if resampler.is_identity and self.request.volume == 1.0:
                chunk = self._part(samples, planned.text, resampler)
            else:  # grows with the part (one part may be the whole segment): off the event loop
                chunk = await asyncio.to_thread(self._part, samples, planned.text, resampler)
            if chunk.num_samples:
                yielded = True
                yield chunk
        tail = resampler.flush() if resampler is not None else np.zeros(0, dtype=np.float32)
        if len(tail) or not yielded:  # the filter's last samples; an empty segment still has its part
            yield self._part(tail, planned.text, None)
        post = time.perf_counter() - started - engine_seconds
        self.stats.synthesis_seconds += engine_seconds + max(post, 0.0)
        self._record(planned, engine_seconds, audio_seconds)

    def _part(self, samples: FloatArray, text: str, resampler: Resampler | None) -> AudioChunk:
        """One part post-processed: the segment's streaming resampler, then volume."""
        if resampler is not None and len(samples):
            samples = resampler.process(samples)
        if self.request.volume != 1.0:
            samples = apply_gain(samples, self.request.volume)
        return AudioChunk(samples=samples, sample_rate=self.sample_rate, text=text)

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
        previous = self.plan[index - 1] if self.plan is not None and index > 0 else None
        seam_after = piece is not None and piece.joins_next
        seam_before = previous is not None and previous.joins_next
        params = SynthesisParams(
            speed=engine_speed,
            language=request.language,
            speaker=request.speaker,
            extra=request.extra,
            request_id=request.request_id,
            segment_index=index,
        )
        call = SegmentCall(self.engine_name, self.segments[index], self.voice, params)
        return PlannedSegment(call, stretch, seam_after, seam_before)

    def finish(self, planned: PlannedSegment, raw: RawSegment) -> AudioChunk:
        """The one post-processing chain of a whole segment: conversion, speed, rate, (files) mastering,
        volume; count it."""
        started = time.perf_counter()
        request, text, stretch = self.request, planned.text, planned.stretch
        samples, native_rate = raw.samples, raw.sample_rate
        if planned.seam_after:  # a first phrase: the rest of its sentence follows at once
            samples = trim_edge(samples, native_rate, SEAM_TAIL, tail=True)
        if planned.seam_before:
            samples = trim_edge(samples, native_rate, SEAM_HEAD, tail=False)
        if self._conversion is not None and len(samples):
            samples = np.concatenate(list(self._conversion.convert(samples, native_rate)))
            native_rate = self._conversion.sample_rate
        if stretch != 1.0 and len(samples):
            samples = time_stretch(samples, native_rate, stretch)
        if native_rate != self.sample_rate:
            samples = resample(samples, native_rate, self.sample_rate)
        mastering = self._context.mastering
        if self.mastered and mastering is not None and len(samples):
            samples = mastering.apply(samples, self.sample_rate)
        if request.volume != 1.0:  # after mastering: relative to the loudness target, not undone by it
            samples = apply_gain(samples, request.volume)
        self.stats.synthesis_seconds += raw.engine_seconds + (time.perf_counter() - started)
        self._record(planned, raw.engine_seconds, raw.seconds)
        return AudioChunk(samples=samples, sample_rate=self.sample_rate, text=text)

    def _record(self, planned: PlannedSegment, engine_seconds: float, audio_seconds: float) -> None:
        """The segment's measured figures, for the engine's speed and reading rate (admission reads them)."""
        speed = planned.call.params.speed
        self._context.record(self.engine_name, engine_seconds, audio_seconds, len(planned.text), speed)
