"""Realtime audio in and out: the session's formats (``audio/pcm`` at its rate, ``audio/pcmu``,
``audio/pcma``) to and from float samples, and the input buffer that server VAD watches.

The buffer holds 16 kHz audio (what VAD and ASR take) of the turn being spoken; while nobody speaks it keeps
only the last ``keep`` seconds, so a client streaming silence for hours holds a constant amount of memory.
"""

from __future__ import annotations

import base64

import numpy as np

from polyvox.audio.chunk import FloatArray
from polyvox.audio.dsp import Resampler
from polyvox.audio.pcm import float_to_int16, int16_to_float
from polyvox.realtime.g711 import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode
from polyvox.realtime.openai_config import AudioFormat
from polyvox.realtime.openai_events import BufferFullError, InvalidAudioError
from polyvox.realtime.vad import VAD_RATE


def decode_audio(data: bytes, fmt: AudioFormat) -> FloatArray:
    """One append's bytes as float samples at ``fmt.rate``; odd-length pcm16 is refused."""
    if fmt.type == "audio/pcmu":
        data = ulaw_decode(data)
    elif fmt.type == "audio/pcma":
        data = alaw_decode(data)
    elif len(data) % 2:
        raise InvalidAudioError(
            f"audio/pcm is 16-bit: {len(data)} bytes is not a whole number of samples", param="audio"
        )
    return int16_to_float(data)


def encode_audio(samples: FloatArray, fmt: AudioFormat) -> str:
    """Float samples at ``fmt.rate`` as the base64 of one ``response.output_audio.delta``."""
    pcm = float_to_int16(samples)
    if fmt.type == "audio/pcmu":
        pcm = ulaw_encode(pcm)
    elif fmt.type == "audio/pcma":
        pcm = alaw_encode(pcm)
    return base64.b64encode(pcm).decode("ascii")


class InputBuffer:
    """The uncommitted input audio at 16 kHz, and where it starts in the session's audio (for ``*_ms``)."""

    def __init__(self, rate: int, max_seconds: float, keep: float = 1.0) -> None:
        self.max_samples = int(max_seconds * VAD_RATE)
        self.keep = int(keep * VAD_RATE)
        self.offset = 0
        """Samples of the session's audio before this buffer's first sample."""
        self._parts: list[FloatArray] = []
        self.samples = 0
        self._resampler = Resampler(rate, VAD_RATE)

    def set_rate(self, rate: int) -> None:
        if rate != self._resampler.from_rate:
            self._resampler = Resampler(rate, VAD_RATE)

    def ms(self, sample: int) -> int:
        """A sample of this buffer as milliseconds of session audio."""
        return (self.offset + sample) * 1000 // VAD_RATE

    def append(self, samples: FloatArray) -> None:
        converted = self._resampler.process(samples)
        if self.samples + len(converted) > self.max_samples:
            raise BufferFullError(
                f"the input audio buffer holds {self.samples / VAD_RATE:.1f} s and may hold at most "
                f"{self.max_samples / VAD_RATE:g} s (realtime.max_turn_seconds): commit or clear it; "
                "this audio was dropped",
                param="audio",
            )
        self._parts.append(converted)
        self.samples += len(converted)

    def audio(self) -> FloatArray:
        if len(self._parts) > 1:
            self._parts = [np.concatenate(self._parts)]
        return self._parts[0] if self._parts else np.zeros(0, dtype=np.float32)

    def take(self, start: int = 0, end: int | None = None) -> FloatArray:
        """The samples from ``start`` to ``end`` (None: all); the buffer keeps only those after ``end``."""
        whole = self.audio()
        end = len(whole) if end is None else end
        rest = whole[end:]
        self._parts, self.samples = ([rest] if len(rest) else []), len(rest)
        self.offset += end
        return whole[start:end]

    def trim(self, seen: int) -> bool:
        """Drop what VAD saw but the last ``keep`` samples (nobody spoke); True if anything was dropped."""
        drop = seen - self.keep
        if drop <= 0:
            return False
        self._parts = [self.audio()[drop:]]
        self.samples -= drop
        self.offset += drop
        return True
