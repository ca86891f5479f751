"""What a voice sounds like, in numbers: F0 statistics and the average spectral envelope (WORLD).

The analysis of a reference is what the WORLD converter maps toward, and what the library reports.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from polyvox.audio.chunk import FloatArray

FRAME_PERIOD = 5.0
"""WORLD frame period in ms."""
FFT_SIZE = 1024
"""CheapTrick FFT size at 24 kHz: 513 envelope bins."""
F0_FLOOR, F0_CEIL = 60.0, 500.0
_MALE_BELOW_HZ = 165.0  # median F0 under this: probably a male voice (adult speech)

Float64Array = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class WorldFeatures:
    """WORLD's decomposition of one piece of audio."""

    f0: Float64Array
    envelope: Float64Array
    aperiodicity: Float64Array
    rate: int


def world_analyze(samples: FloatArray, rate: int, *, frame_period: float = FRAME_PERIOD) -> WorldFeatures:
    """F0 (DIO + StoneMask), spectral envelope (CheapTrick) and aperiodicity (D4C)."""
    import pyworld

    x = np.ascontiguousarray(samples, dtype=np.float64)
    f0, times = pyworld.dio(x, rate, f0_floor=F0_FLOOR, f0_ceil=F0_CEIL, frame_period=frame_period)
    f0 = pyworld.stonemask(x, f0, times, rate)
    envelope = pyworld.cheaptrick(x, f0, times, rate, fft_size=FFT_SIZE)
    aperiodicity = pyworld.d4c(x, f0, times, rate, fft_size=FFT_SIZE)
    return WorldFeatures(f0=f0, envelope=envelope, aperiodicity=aperiodicity, rate=rate)


def mean_log_envelope(envelope: Float64Array, voiced: npt.NDArray[np.bool_]) -> Float64Array:
    """Average log power envelope over voiced frames (all frames if none is voiced)."""
    frames = envelope[voiced] if voiced.any() else envelope
    result: Float64Array = np.mean(np.log(frames + 1e-16), axis=0)
    return result


def spectral_centroid(samples: FloatArray, rate: int) -> float:
    """Mean magnitude-weighted spectral centroid (Hz) of the 25 ms frames within 30 dB of the loudest."""
    frame, hop = int(0.025 * rate), int(0.010 * rate)
    count = 1 + (len(samples) - frame) // hop if len(samples) >= frame else 0
    if count <= 0:
        return 0.0
    index = np.arange(frame)[None, :] + hop * np.arange(count)[:, None]
    spectra = np.abs(np.fft.rfft(samples[index] * np.hanning(frame), axis=1))
    energy = spectra.sum(axis=1)
    loud = energy > energy.max() * 10 ** (-30 / 20)
    freqs = np.fft.rfftfreq(frame, 1 / rate)
    centroids = (spectra[loud] @ freqs) / energy[loud]
    return float(np.mean(centroids))


def tilt_db_per_khz(log_envelope: Float64Array, rate: int) -> float:
    """Slope of the least-squares line through the envelope in dB per kHz (below 5 kHz)."""
    freqs = np.linspace(0, rate / 2, len(log_envelope))
    band = freqs <= 5000
    slope = np.polyfit(freqs[band] / 1000, 10 * np.log10(np.e) * log_envelope[band], 1)[0]
    return float(slope)


@dataclass(frozen=True, slots=True)
class VoiceAnalysis:
    """Statistics of a reference recording (stored as JSON beside it)."""

    rate: int
    seconds: float
    f0_median: float
    log_f0_mean: float
    log_f0_std: float
    voiced_ratio: float
    centroid_hz: float
    tilt_db_per_khz: float
    gender: str | None
    log_envelope: list[float] = field(default_factory=list)
    """Mean log power envelope over voiced frames (``FFT_SIZE // 2 + 1`` bins from 0 to rate/2)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VoiceAnalysis:
        names = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in names})

    @property
    def envelope(self) -> Float64Array:
        return np.asarray(self.log_envelope, dtype=np.float64)


def analyze_voice(samples: FloatArray, rate: int) -> VoiceAnalysis:
    """F0 statistics, average envelope, centroid, tilt and a gender guess from the median F0."""
    features = world_analyze(samples, rate)
    voiced = features.f0 > 0
    log_f0 = np.log(features.f0[voiced]) if voiced.any() else np.zeros(1)
    envelope = mean_log_envelope(features.envelope, voiced)
    median = float(np.exp(np.median(log_f0))) if voiced.any() else 0.0
    return VoiceAnalysis(
        rate=rate,
        seconds=round(len(samples) / rate, 3),
        f0_median=round(median, 2),
        log_f0_mean=float(np.mean(log_f0)),
        log_f0_std=float(np.std(log_f0)),
        voiced_ratio=round(float(voiced.mean()), 3),
        centroid_hz=round(spectral_centroid(samples, rate), 1),
        tilt_db_per_khz=round(tilt_db_per_khz(envelope, rate), 3),
        gender=None if not voiced.any() else ("male" if median < _MALE_BELOW_HZ else "female"),
        log_envelope=[round(float(v), 4) for v in envelope],
    )
