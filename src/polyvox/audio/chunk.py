"""Audio as a value: mono float32 samples in [-1, 1] with their rate."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from polyvox.audio.pcm import float_to_int16, int16_to_float

FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class WordTiming:
    """A word and when it is spoken, in seconds from the start of its chunk."""

    word: str
    start: float
    end: float


@dataclass(frozen=True, slots=True)
class AudioChunk:
    """One piece of synthesized speech, usually one sentence.

    Samples are mono float32 in [-1, 1]; encoders turn them into 16- or 24-bit PCM at the very end, so no
    precision is lost between the engine and the encoder.
    """

    samples: FloatArray
    sample_rate: int
    text: str = ""
    """The text this audio speaks (the segment that produced it), empty for silence."""

    @property
    def seconds(self) -> float:
        return len(self.samples) / self.sample_rate if self.sample_rate else 0.0

    @property
    def num_samples(self) -> int:
        return len(self.samples)

    @classmethod
    def from_int16(cls, pcm: bytes, sample_rate: int, text: str = "") -> AudioChunk:
        return cls(samples=int16_to_float(pcm), sample_rate=sample_rate, text=text)

    @classmethod
    def silence(cls, seconds: float, sample_rate: int) -> AudioChunk:
        return cls(samples=np.zeros(round(seconds * sample_rate), dtype=np.float32), sample_rate=sample_rate)

    def to_int16(self) -> bytes:
        return float_to_int16(self.samples)
