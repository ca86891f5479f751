"""The one call shape every runner implements: a segment call in, raw samples and their rate out.

``parts`` yields the engine's audio as the engine produces it (one :class:`RawSegment` per chunk, so the
stream can deliver a sentence before the engine finished it); ``run`` is the same call joined into one.

A runner is where an engine call runs: this process's worker pool (``thread`` isolation), an engine
worker process (``process`` isolation, polyvox.runners.process) or a Ray Serve replica
(polyvox.runners.ray_runner).
Whichever it is, the stream that asked post-processes the raw audio itself (voice conversion, time-stretch,
resampling, volume), so every runner returns the engine's audio unchanged.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from polyvox.audio.chunk import AudioChunk, FloatArray
from polyvox.engines.base import SynthesisParams, Voice


@dataclass(frozen=True, slots=True)
class SegmentCall:
    """One engine call: which engine, the text of one segment, the voice and the engine's parameters."""

    engine: str
    text: str
    voice: Voice
    params: SynthesisParams
    due: float | None = None
    """``time.monotonic()`` by which the listener needs it (None: now); the worker pool runs the earliest
    deadline first (polyvox.runners.deadline_pool)."""


@dataclass(frozen=True, slots=True)
class RawSegment:
    """The engine's audio of one segment, before any post-processing."""

    samples: FloatArray
    sample_rate: int
    engine_seconds: float
    """Seconds the engine call took where it ran (the worker's or replica's own clock, not the proxy's)."""

    @property
    def seconds(self) -> float:
        return len(self.samples) / self.sample_rate if self.sample_rate else 0.0

    @classmethod
    def of(cls, parts: list[AudioChunk], fallback_rate: int, engine_seconds: float) -> RawSegment:
        """The engine's chunks of one segment joined into one array."""
        if not parts:
            return cls(np.zeros(0, dtype=np.float32), fallback_rate, engine_seconds)
        samples = (
            parts[0].samples
            if len(parts) == 1
            else np.concatenate([p.samples for p in parts]).astype(np.float32, copy=False)
        )
        return cls(samples.astype(np.float32, copy=False), parts[0].sample_rate, engine_seconds)

    @classmethod
    def joined(cls, parts: list[RawSegment], fallback_rate: int) -> RawSegment:
        """The parts of one segment (``SegmentRunner.parts``) as one."""
        seconds = sum(p.engine_seconds for p in parts)
        chunks = [AudioChunk(p.samples, p.sample_rate) for p in parts]
        return cls.of(chunks, fallback_rate, seconds)


@runtime_checkable
class SegmentRunner(Protocol):
    """Runs engine calls; errors are ``PolyvoxError``s (an engine's own typed errors keep their type)."""

    async def run(self, call: SegmentCall) -> RawSegment:
        """Synthesize one segment. Cancelling the awaiting task stops the engine within one chunk where the
        runner can (worker processes, Ray replicas); in a thread the running call finishes and is dropped."""
        ...

    def parts(self, call: SegmentCall) -> AsyncIterator[RawSegment]:
        """The same call, its audio as the engine produces it: one item per engine chunk, each with the
        engine seconds since the previous one. Closing or cancelling the iteration stops the engine within
        one chunk where the runner can (a thread, a worker process); Ray yields the whole segment once."""
        ...

    async def aclose(self) -> None:
        """Release what the runner holds (worker processes, connections, deployments it started)."""
        ...
