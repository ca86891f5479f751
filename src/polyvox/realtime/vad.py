"""Server-side end of turn: Silero VAD (shipped inside faster-whisper) over the turn's audio so far.

A turn ends once speech was heard and has been followed by ``silence_ms`` of silence. The detector only
re-runs the (cheap, but not free) model every ``step_ms`` of new audio.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from polyvox.audio.chunk import FloatArray

VAD_RATE = 16_000


@dataclass(frozen=True, slots=True)
class VadResult:
    speech: bool
    """Speech has been heard in this turn."""
    ended: bool
    """Speech was followed by enough silence: the turn is over."""
    start: int = 0
    """Sample where the turn's speech began (when ``speech``)."""
    end: int = 0
    """Sample where its last speech ended so far."""


class TurnDetector:
    """Decides from a growing buffer of 16 kHz audio whether the user spoke and has stopped."""

    def __init__(self, *, silence_ms: int = 700, threshold: float = 0.5, step_ms: int = 200) -> None:
        self.silence_ms = silence_ms
        self.threshold = threshold
        self._step = VAD_RATE * step_ms // 1000
        self._checked = 0

    def due(self, buffered: int) -> bool:
        """Whether ``buffered`` samples hold enough new audio for another look."""
        return buffered - self._checked >= self._step

    def backlog(self, buffered: int) -> int:
        """Samples of ``buffered`` not looked at yet."""
        return buffered - self._checked

    def reset(self) -> None:
        self._checked = 0

    def analyse(self, audio: FloatArray) -> VadResult:
        """Run Silero VAD over the whole turn (blocking: call it in a thread)."""
        from faster_whisper.vad import VadOptions, get_speech_timestamps

        self._checked = len(audio)
        options = VadOptions(
            threshold=self.threshold, min_silence_duration_ms=self.silence_ms, speech_pad_ms=0
        )
        spans = get_speech_timestamps(np.asarray(audio, dtype=np.float32), options, sampling_rate=VAD_RATE)
        if not spans:
            return VadResult(speech=False, ended=False)
        silence = len(audio) - int(spans[-1]["end"])
        ended = silence >= VAD_RATE * self.silence_ms // 1000
        return VadResult(speech=True, ended=ended, start=int(spans[0]["start"]), end=int(spans[-1]["end"]))
