"""Post-processing of whole chunks: loudness to a LUFS target under a true-peak ceiling, silence trim, joins.

Engines differ by 10 dB and more (piper's raw output sits near -24 LUFS, espeak much hotter), and a long job
that falls back to another engine for one chunk must not jump in level. Each chunk is therefore brought to
the same integrated loudness (ITU-R BS.1770 via pyloudnorm), then the gain is capped so the true peak (4x
oversampled) stays under the ceiling. Trimming each chunk's own leading/trailing silence and inserting
configured pauses makes the rhythm between sentences and paragraphs the same whatever the engine pads.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import soxr

from polyvox.audio.chunk import FloatArray
from polyvox.config import PostprocessSettings

_MIN_LOUDNESS_SECONDS = 0.4  # one BS.1770 gating block: shorter audio has no integrated loudness
_OVERSAMPLE = 4
_TRIM_WINDOW = 0.01
_TRIM_KEEP = 0.03  # keep a little of the quiet edge so plosives and breaths are not clipped


def loudness(samples: FloatArray, rate: int) -> float:
    """Integrated loudness in LUFS; ``-inf`` for silence or audio shorter than one gating block."""
    if len(samples) < _MIN_LOUDNESS_SECONDS * rate or not np.any(samples):
        return -math.inf
    import pyloudnorm  # pulls in scipy.signal (2 s): only when a long-form job is measured

    meter = pyloudnorm.Meter(rate)
    return float(meter.integrated_loudness(samples.astype(np.float64)))


def true_peak_db(samples: FloatArray, rate: int) -> float:
    """True peak in dBTP: the peak of the 4x oversampled signal (inter-sample peaks included)."""
    if not len(samples):
        return -math.inf
    upsampled = soxr.resample(samples.astype(np.float32), rate, rate * _OVERSAMPLE)
    peak = float(np.max(np.abs(upsampled))) if len(upsampled) else 0.0
    return 20 * math.log10(peak) if peak > 0 else -math.inf


def normalize_loudness(
    samples: FloatArray, rate: int, target_lufs: float, peak_db: float, fallback_gain_db: float = 0.0
) -> tuple[FloatArray, float]:
    """Gain ``samples`` to ``target_lufs`` (capped by the true-peak ceiling); returns audio and gain in dB.

    Audio too short to measure gets ``fallback_gain_db`` (callers pass the gain of its neighbours).
    """
    measured = loudness(samples, rate)
    gain_db = target_lufs - measured if math.isfinite(measured) else fallback_gain_db
    peak = true_peak_db(samples, rate)
    if math.isfinite(peak):
        gain_db = min(gain_db, peak_db - peak)
    out = (samples * np.float32(10 ** (gain_db / 20))).astype(np.float32)
    return np.clip(out, -1.0, 1.0), gain_db


def trim_silence(samples: FloatArray, rate: int, threshold_db: float) -> FloatArray:
    """Cut leading and trailing audio whose 10 ms RMS stays below ``threshold_db`` (dBFS)."""
    window = max(1, round(_TRIM_WINDOW * rate))
    frames = len(samples) // window
    if frames == 0:
        return samples
    blocks = samples[: frames * window].reshape(frames, window).astype(np.float64)
    rms = np.sqrt(np.mean(blocks**2, axis=1))
    loud = np.nonzero(rms > 10 ** (threshold_db / 20))[0]
    if not len(loud):
        return samples[:0]
    keep = round(_TRIM_KEEP * rate)
    start = max(0, loud[0] * window - keep)
    end = min(len(samples), (loud[-1] + 1) * window + keep)
    return samples[start:end]


def fade_edges(samples: FloatArray, rate: int, seconds: float) -> FloatArray:
    """Short linear fade-in and fade-out so joined chunks never click."""
    out = samples.copy()
    _fade_in_place(out, rate, seconds)
    return out


def _fade_in_place(samples: FloatArray, rate: int, seconds: float) -> None:
    n = min(round(seconds * rate), len(samples) // 2)
    if n <= 0:
        return
    ramp = np.linspace(0.0, 1.0, n, dtype=np.float32)
    samples[:n] *= ramp
    samples[-n:] *= ramp[::-1]


@dataclass(frozen=True, slots=True)
class Mastering:
    """The finish of every file Polyvox writes, short or long: one chain, so a text sounds the same.

    Each segment's audio is trimmed of its own leading and trailing silence, brought to the loudness
    target under the true-peak ceiling and faded at its edges; the file then has the configured pause
    after each segment (:func:`pause_after`). Streams to a listener skip it: loudness needs the whole
    segment, and a listener waits for its first audio.
    """

    settings: PostprocessSettings

    def apply(self, samples: FloatArray, rate: int) -> FloatArray:
        post = self.settings
        trimmed = trim_silence(samples, rate, post.trim_db)
        louder, _ = normalize_loudness(trimmed, rate, post.target_lufs, post.true_peak_db)
        _fade_in_place(louder, rate, post.crossfade)
        return louder


def join(
    pieces: Sequence[FloatArray],
    rate: int,
    pauses: Sequence[float],
    lead: float = 0.0,
    allocate: Callable[[int], FloatArray] | None = None,
) -> tuple[FloatArray, list[float]]:
    """Concatenate pieces with ``pauses[i]`` seconds of silence after piece i (none after the last).

    ``lead`` seconds of silence come first. Returns the audio and the start time (seconds) of every piece
    in it, for captions. The output is allocated once and filled in place: a book-length job holds its
    audio twice at most (the pieces and the result), not three or four times. ``allocate(n)`` provides the
    zeroed output (default ``np.zeros``; long-form jobs pass a file-backed one, see polyvox.spill).
    """
    gaps = [round(p * rate) if i < len(pieces) - 1 and p > 0 else 0 for i, p in enumerate(pauses)]
    length = round(lead * rate) + sum(len(p) for p in pieces) + sum(gaps)
    # ``allocate`` gives a zeroed array of that length (long-form jobs: one backed by a temp file).
    audio = allocate(length) if allocate is not None else np.zeros(length, dtype=np.float32)
    starts: list[float] = []
    position = round(lead * rate)
    for piece, gap in zip(pieces, gaps, strict=True):
        starts.append(position / rate)
        target = audio[position : position + len(piece)]
        target[:] = piece
        position += len(piece) + gap
    return audio, starts
