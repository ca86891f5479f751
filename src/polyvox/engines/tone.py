"""A deterministic test engine: every word becomes a short sine tone.

It needs no model, renders the same samples for the same text every time and can be told to sleep or fail
at a given segment, so pipeline tests can assert exact durations, ordering and error handling.
"""

from __future__ import annotations

import functools
import json
import math
import threading
import time
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from polyvox.audio.chunk import AudioChunk, FloatArray
from polyvox.engines.base import Capabilities, EngineInfo, Param, SynthesisParams, Voice
from polyvox.errors import EngineFailedError, InvalidParameterError

if TYPE_CHECKING:
    from polyvox.config import Settings

SAMPLE_RATE = 16_000
TONE_SECONDS = 0.150
GAP_SECONDS = 0.050
WORD_SECONDS = TONE_SECONDS + GAP_SECONDS
_AMPLITUDE = 0.5
_FADE_SECONDS = 0.005
# "boop" is "beep" an octave lower.
_VOICE_FACTORS = {"beep": 1.0, "boop": 0.5}


def word_frequency(word: str) -> float:
    """The tone frequency (Hz) of ``word``: 300-690 Hz, derived from its UTF-8 bytes only."""
    return 300.0 + (sum(word.encode("utf-8")) % 40) * 10.0


@functools.cache  # 40 frequencies per voice: nine hours of tones are copies of 80 arrays
def _word_samples(frequency: float) -> FloatArray:
    """One word's tone and gap (read-only: callers concatenate it)."""
    n_tone = round(TONE_SECONDS * SAMPLE_RATE)
    t = np.arange(n_tone, dtype=np.float64) / SAMPLE_RATE
    tone = _AMPLITUDE * np.sin(2.0 * math.pi * frequency * t)
    # Short fades so word boundaries do not click (keeps level tests clean).
    n_fade = round(_FADE_SECONDS * SAMPLE_RATE)
    ramp = np.linspace(0.0, 1.0, n_fade)
    tone[:n_fade] *= ramp
    tone[-n_fade:] *= ramp[::-1]
    gap = np.zeros(round(GAP_SECONDS * SAMPLE_RATE))
    samples = np.concatenate([tone, gap]).astype(np.float32)
    samples.flags.writeable = False
    return samples


def _number(extra: Mapping[str, Any], key: str, default: float) -> float:
    value = extra.get(key, default)
    try:
        return float(value)
    except (TypeError, ValueError):
        raise InvalidParameterError(f"{key} must be a number, got {value!r}", param=key) from None


class ToneEngine:
    """Deterministic tones instead of speech; for tests and benchmarks of the pipeline itself.

    Parameters in ``SynthesisParams.extra``: ``delay`` (seconds slept per call) and ``fail_at`` (segment index
    that raises ``EngineFailedError``), both defaulting to ``settings.tone``; ``grow_mb`` MiB allocated at
    segment ``grow_at`` and held through its delay, or ``grow_hold`` seconds if longer (memory-limit tests of
    worker processes); ``parts``: the
    segment comes as that many chunks, each after its own ``delay`` and traced with its ``part`` index (tests
    of part-by-part streaming).
    """

    info: ClassVar[EngineInfo] = EngineInfo(
        name="tone",
        label="Tone (test)",
        description="Deterministic sine tones, one per word; for testing the pipeline.",
        languages=("en-us",),
        sample_rate=SAMPLE_RATE,
        capabilities=Capabilities(streaming=True),
        speed_range=(1.0, 1.0),
        phrase_first=True,
        for_tests=True,
        parameters=(
            Param("delay", 0.0, 60.0, 0.0, description="Seconds slept per engine call."),
            Param("fail_at", -1, 1_000_000, -1, integer=True, description="Segment index that fails."),
            Param("grow_at", -1, 1_000_000, -1, integer=True, description="Segment index that grows."),
            Param("grow_mb", 0, 4096, 0, integer=True, description="MiB that segment holds while it sleeps."),
            Param("grow_hold", 0.0, 60.0, 0.0, description="Seconds the growing segment sleeps at least."),
            Param("parts", 1, 1000, 1, integer=True, description="Chunks per segment, each after `delay`."),
        ),
    )

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._lock = threading.Lock()
        self.calls = 0
        """Number of ``synthesize`` calls that started (tests read it)."""
        self.loads = 0
        """Number of ``load`` calls (tests read it)."""
        self.loaded = False

    def load(self) -> None:
        """Nothing to read; only counts."""
        with self._lock:
            self.loads += 1
            self.loaded = True

    def unload(self) -> None:
        """Nothing to free; only records the state."""
        self.loaded = False

    def voices(self) -> list[Voice]:
        """The two tone voices."""
        return [
            Voice(id=voice_id, name=voice_id.title(), engine="tone", language="en-us")
            for voice_id in _VOICE_FACTORS
        ]

    def default_voice(self) -> str:
        """``beep``."""
        return "beep"

    def render(self, text: str, voice_id: str = "beep") -> FloatArray:
        """The samples ``synthesize`` yields for ``text``, without delay, faults or tracing."""
        factor = _VOICE_FACTORS.get(voice_id, 1.0)
        words = text.split()
        if not words:
            return np.zeros(0, dtype=np.float32)
        return np.concatenate([_word_samples(word_frequency(w) * factor) for w in words])

    def synthesize(self, text: str, voice: Voice, params: SynthesisParams) -> Iterator[AudioChunk]:
        """Per part: sleep ``delay``, fail at segment ``fail_at``, else yield that part of ``text``."""
        tone = self._settings.tone
        delay = _number(params.extra, "delay", tone.delay)
        fail_at = int(_number(params.extra, "fail_at", tone.fail_at))
        parts = max(1, int(_number(params.extra, "parts", 1)))
        with self._lock:
            self.calls += 1
        held = None
        if params.segment_index == int(_number(params.extra, "grow_at", -1)):
            held = np.ones(int(_number(params.extra, "grow_mb", 0)) * 2**20, dtype=np.uint8)  # touched pages
            delay = max(delay, _number(params.extra, "grow_hold", 0.0))
        samples = self.render(text, voice.id)
        bounds = np.linspace(0, len(samples), parts + 1).round().astype(int)
        try:
            for part in range(parts):
                start, failed = time.time(), False
                try:
                    if delay > 0:
                        time.sleep(delay)
                    if params.segment_index == fail_at:
                        failed = True
                        raise EngineFailedError(f"tone engine told to fail at segment {fail_at}")
                finally:
                    self._trace(params, text, start, failed, part if parts > 1 else None)
                piece = samples[bounds[part] : bounds[part + 1]]
                yield AudioChunk(samples=piece, sample_rate=SAMPLE_RATE, text=text)
        finally:
            del held

    def _trace(
        self, params: SynthesisParams, text: str, start: float, failed: bool, part: int | None = None
    ) -> None:
        path = self._settings.tone.trace_file
        if path is None:
            return
        record = {
            "request_id": params.request_id,
            "segment_index": params.segment_index,
            "text": text,
            "start": start,
            "end": time.time(),
            "failed": failed,
        }
        if part is not None:
            record["part"] = part
        # One write per line under the lock so concurrent workers never interleave partial lines.
        with self._lock, open(path, "a", encoding="utf-8") as trace:
            trace.write(json.dumps(record) + "\n")
