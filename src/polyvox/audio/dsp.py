"""Signal processing on mono float32 audio: resampling, tempo change and gain.

Everything here takes and returns ``FloatArray`` (mono float32 in [-1, 1]) so it slots between an engine's
chunks and the encoder without format juggling.
"""

from __future__ import annotations

import math
from fractions import Fraction

import av
import numpy as np
import soxr

from polyvox.audio.chunk import FloatArray

MIN_TEMPO = 0.25
"""Slowest tempo factor :func:`time_stretch` accepts."""
MAX_TEMPO = 4.0
"""Fastest tempo factor :func:`time_stretch` accepts."""
MAX_VOLUME = 4.0
"""Largest linear gain :func:`apply_gain` accepts."""

# soxr's "HQ" is 20-bit quality: far beyond what 16/24-bit speech needs, and still cheap.
_QUALITY = "HQ"
# One atempo instance only keeps good quality inside this range; chain instances for anything beyond it.
_ATEMPO_MIN = 0.5
_ATEMPO_MAX = 2.0
# Silence appended before stretching; longer than atempo's largest window (~0.1 s) at every chained stage.
_TAIL_SECONDS = 0.25


def _as_float32(samples: FloatArray) -> FloatArray:
    return np.ascontiguousarray(samples, dtype=np.float32)


class Resampler:
    """Streaming resampler for one request's audio.

    The filter keeps state between calls, so chunk boundaries leave no clicks and the total output length
    matches a one-shot resample of the concatenated input. Call :meth:`flush` once at the end to get the tail
    that the filter's delay line still holds.
    """

    def __init__(self, from_rate: int, to_rate: int) -> None:
        if from_rate <= 0 or to_rate <= 0:
            raise ValueError(f"sample rates must be positive, got {from_rate} -> {to_rate}")
        self.from_rate = from_rate
        self.to_rate = to_rate
        # No stream at all when the rates match: identity must be exact and free.
        self._stream: soxr.ResampleStream | None = (
            None
            if from_rate == to_rate
            else soxr.ResampleStream(from_rate, to_rate, 1, dtype="float32", quality=_QUALITY)
        )

    @property
    def is_identity(self) -> bool:
        """True when input and output rates are equal and samples pass through untouched."""
        return self._stream is None

    def process(self, samples: FloatArray) -> FloatArray:
        """Resample the next piece of the stream; may return fewer samples than the ratio suggests."""
        samples = _as_float32(samples)
        if self._stream is None:
            return samples
        out: FloatArray = self._stream.resample_chunk(samples, last=False)
        return out

    def flush(self) -> FloatArray:
        """Drain the filter's delay line; call once, after the last :meth:`process`."""
        if self._stream is None:
            return np.zeros(0, dtype=np.float32)
        out: FloatArray = self._stream.resample_chunk(np.zeros(0, dtype=np.float32), last=True)
        return out


def resample(samples: FloatArray, from_rate: int, to_rate: int) -> FloatArray:
    """Resample a whole buffer in one go (identity when the rates are equal)."""
    samples = _as_float32(samples)
    if from_rate == to_rate:
        return samples
    out: FloatArray = soxr.resample(samples, from_rate, to_rate, quality=_QUALITY)
    return _as_float32(out)


def _atempo_steps(factor: float) -> list[float]:
    """Split ``factor`` into a product of factors that each lie in [0.5, 2.0]."""
    steps: list[float] = []
    remaining = factor
    while remaining > _ATEMPO_MAX:
        steps.append(_ATEMPO_MAX)
        remaining /= _ATEMPO_MAX
    while remaining < _ATEMPO_MIN:
        steps.append(_ATEMPO_MIN)
        remaining /= _ATEMPO_MIN
    steps.append(remaining)
    return steps


def time_stretch(samples: FloatArray, sample_rate: int, factor: float) -> FloatArray:
    """Change tempo by ``factor`` without changing pitch; the result lasts ``len(samples) / factor``.

    ``factor`` > 1 speeds speech up, < 1 slows it down; it must lie in [0.25, 4.0]. This covers the part of a
    requested speed that an engine cannot render natively, using FFmpeg's ``atempo`` (WSOLA) filter.
    """
    if not MIN_TEMPO <= factor <= MAX_TEMPO or math.isnan(factor):
        raise ValueError(f"tempo factor must be in [{MIN_TEMPO}, {MAX_TEMPO}], got {factor}")
    samples = _as_float32(samples)
    if factor == 1.0 or len(samples) == 0:
        return samples

    target = round(len(samples) / factor)
    # atempo's end-of-stream flush drops or adds a few window lengths, a large error on a short sentence.
    # Feed a silent tail so the real audio is fully rendered, then cut the result to the exact length.
    padded = np.concatenate([samples, np.zeros(math.ceil(sample_rate * _TAIL_SECONDS), dtype=np.float32)])

    graph = av.filter.Graph()
    nodes = [graph.add_abuffer(sample_rate=sample_rate, format="flt", layout="mono")]
    nodes += [graph.add("atempo", f"{step:.6f}") for step in _atempo_steps(factor)]
    # Pin the sink's format so the frames we pull are always packed float32, whatever atempo prefers.
    nodes.append(graph.add("aformat", sample_fmts="flt", channel_layouts="mono"))
    nodes.append(graph.add("abuffersink"))
    graph.link_nodes(*nodes).configure()

    frame = av.AudioFrame.from_ndarray(padded.reshape(1, -1), format="flt", layout="mono")
    frame.sample_rate = sample_rate
    frame.pts = 0
    frame.time_base = Fraction(1, sample_rate)
    graph.push(frame)
    graph.push(None)  # end of stream: atempo flushes its overlap buffer

    pieces: list[FloatArray] = []
    while True:
        try:
            out = graph.pull()
        except (av.error.EOFError, av.error.BlockingIOError):
            break
        assert isinstance(out, av.AudioFrame)
        pieces.append(out.to_ndarray().reshape(-1).astype(np.float32, copy=False))
    out_samples = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.float32)
    if len(out_samples) < target:  # never expected with the silent tail, but keep the length promise
        out_samples = np.concatenate([out_samples, np.zeros(target - len(out_samples), dtype=np.float32)])
    result: FloatArray = out_samples[:target]
    return result


SILENCE_LEVEL = 0.01
"""Amplitude under which a sample counts as silence (about -40 dBFS)."""


def trim_edge(samples: FloatArray, sample_rate: int, keep: float, *, tail: bool) -> FloatArray:
    """``samples`` with the silence at its start (or, ``tail``, its end) cut to at most ``keep`` seconds."""
    loud = np.flatnonzero(np.abs(samples) > SILENCE_LEVEL)
    if not len(loud):
        return samples
    kept = round(keep * sample_rate)
    if tail:
        return samples[: min(len(samples), int(loud[-1]) + 1 + kept)]
    return samples[max(0, int(loud[0]) - kept) :]


def apply_gain(samples: FloatArray, volume: float) -> FloatArray:
    """Scale by a linear ``volume`` in [0.0, 4.0] and clip to [-1, 1] so loud settings never wrap."""
    if not 0.0 <= volume <= MAX_VOLUME:
        raise ValueError(f"volume must be in [0.0, {MAX_VOLUME}], got {volume}")
    samples = _as_float32(samples)
    if volume == 1.0:
        return samples
    out: FloatArray = np.clip(samples * np.float32(volume), -1.0, 1.0).astype(np.float32, copy=False)
    return out
