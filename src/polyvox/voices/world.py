"""Voice conversion on the CPU with the WORLD vocoder (pyworld).

Each chunk of input is decomposed into F0, spectral envelope and aperiodicity, then
- F0 is mapped in the log domain: ``(log f0 - mu_src) / sd_src * sd_tgt + mu_tgt``;
- the envelope's frequency axis is warped by the factor that best aligns the source's average envelope with
  the target's (formant positions follow the speaker's vocal tract length), then the remaining difference of
  average envelopes, smoothed to its broad shape (tilt, formant regions), is added to every frame;
- aperiodicity is kept as it is (it carries the breathiness of each sound, not the speaker).
Long inputs are converted in chunks that overlap by ``OVERLAP`` seconds and are crossfaded, so memory stays
bounded and the first converted audio is ready after one chunk. Source statistics accumulate over the chunks
of a session, so the mapping settles as more audio is seen.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from polyvox.audio.chunk import FloatArray
from polyvox.audio.dsp import resample
from polyvox.voices.analysis import FFT_SIZE, Float64Array, mean_log_envelope
from polyvox.voices.convert import ConverterCapabilities
from polyvox.voices.decode import LIBRARY_RATE

if TYPE_CHECKING:
    from polyvox.config import Settings
    from polyvox.voices.library import LibraryVoice

CHUNK_SECONDS = 6.0
OVERLAP = 0.1
FRAME_PERIOD = 5.0
_WARPS = np.linspace(0.80, 1.25, 46)  # candidate frequency-warp factors (1 % steps)
_LIFTER = 24  # cepstral coefficients kept when smoothing the average-envelope correction
_MAX_CORRECTION = np.log(10 ** (15 / 10))  # +-15 dB at most per bin
_F0_FLOOR, _F0_CEIL = 60.0, 500.0


def warp_envelope(envelope: Float64Array, alpha: float) -> Float64Array:
    """Move spectral features up in frequency by ``alpha`` (> 1) or down (< 1): out(f) = in(f / alpha)."""
    bins = envelope.shape[-1]
    source = np.minimum(np.arange(bins) / alpha, bins - 1)
    low = np.floor(source).astype(int)
    high = np.minimum(low + 1, bins - 1)
    frac = source - low
    warped: Float64Array = envelope[..., low] * (1 - frac) + envelope[..., high] * frac
    return warped


def best_warp(source: Float64Array, target: Float64Array) -> float:
    """The warp factor making the source's mean log envelope closest to the target's (level removed)."""
    band = slice(4, int(len(target) * 5500 / (LIBRARY_RATE / 2)))  # formant region, 90 Hz - 5.5 kHz
    best, best_cost = 1.0, np.inf
    for alpha in _WARPS:
        diff = warp_envelope(source, alpha)[band] - target[band]
        cost = float(np.var(diff))
        if cost < best_cost:
            best, best_cost = float(alpha), cost
    return best


def smooth_log_spectrum(log_spectrum: Float64Array, lifter: int = _LIFTER) -> Float64Array:
    """Keep only the broad shape of a log spectrum (low-quefrency cepstrum)."""
    cepstrum = np.fft.irfft(log_spectrum)
    cepstrum[lifter:-lifter] = 0
    smooth: Float64Array = np.fft.rfft(cepstrum).real
    return smooth


class WorldSession:
    """Converts one request's audio toward one target (thread-safe; statistics shared across chunks)."""

    sample_rate = LIBRARY_RATE

    def __init__(self, target: LibraryVoice) -> None:
        analysis = target.analysis
        self._target_mu = analysis.log_f0_mean
        self._target_sd = max(analysis.log_f0_std, 1e-3)
        self._target_env = analysis.envelope
        self._lock = threading.Lock()
        # Running sums over voiced source frames: count, sum log f0, sum squares, sum of log envelopes.
        self._n = 0
        self._sum = 0.0
        self._sq = 0.0
        self._env_sum = np.zeros(FFT_SIZE // 2 + 1)
        self._env_n = 0

    def _update_stats(self, f0: Float64Array, envelope: Float64Array) -> tuple[float, float, Float64Array]:
        voiced = f0 > 0
        log_f0 = np.log(f0[voiced])
        with self._lock:
            self._n += int(voiced.sum())
            self._sum += float(log_f0.sum())
            self._sq += float((log_f0**2).sum())
            if voiced.any():
                self._env_sum += mean_log_envelope(envelope, voiced) * voiced.sum()
                self._env_n += int(voiced.sum())
            if self._n < 10:
                return self._target_mu, self._target_sd, self._target_env
            mu = self._sum / self._n
            sd = max(float(np.sqrt(max(self._sq / self._n - mu * mu, 0.0))), 1e-3)
            return mu, sd, self._env_sum / self._env_n

    def _convert_piece(self, x: FloatArray) -> FloatArray:
        import pyworld

        signal = np.ascontiguousarray(x, dtype=np.float64)
        f0, times = pyworld.dio(
            signal, LIBRARY_RATE, f0_floor=_F0_FLOOR, f0_ceil=_F0_CEIL, frame_period=FRAME_PERIOD
        )
        f0 = pyworld.stonemask(signal, f0, times, LIBRARY_RATE)
        envelope = pyworld.cheaptrick(signal, f0, times, LIBRARY_RATE, fft_size=FFT_SIZE)
        # D4C is WORLD's slowest stage and aperiodicity changes slowly: analyze every other frame only.
        coarse = pyworld.d4c(signal, f0[::2].copy(), times[::2].copy(), LIBRARY_RATE, fft_size=FFT_SIZE)
        aperiodicity = np.ascontiguousarray(np.repeat(coarse, 2, axis=0)[: len(f0)])
        mu, sd, source_env = self._update_stats(f0, envelope)

        voiced = f0 > 0
        new_f0 = np.zeros_like(f0)
        new_f0[voiced] = np.exp((np.log(f0[voiced]) - mu) / sd * self._target_sd + self._target_mu)

        alpha = best_warp(source_env, self._target_env)
        log_env = np.log(warp_envelope(envelope, alpha) + 1e-16)
        correction = smooth_log_spectrum(self._target_env - warp_envelope(source_env, alpha))
        correction -= np.mean(correction)  # match the shape, keep the input's level
        log_env += np.clip(correction, -_MAX_CORRECTION, _MAX_CORRECTION)
        out = pyworld.synthesize(
            new_f0, np.ascontiguousarray(np.exp(log_env)), aperiodicity, LIBRARY_RATE, FRAME_PERIOD
        )
        y = np.zeros(len(x), dtype=np.float32)
        n = min(len(out), len(x))
        y[:n] = out[:n]
        # Keep the input's loudness: WORLD resynthesis with a changed envelope drifts in level.
        rms_in, rms_out = float(np.sqrt(np.mean(x**2))), float(np.sqrt(np.mean(y**2)))
        if rms_out > 1e-6:
            y *= rms_in / rms_out
        return np.clip(y, -1.0, 1.0).astype(np.float32)

    def convert(self, samples: FloatArray, rate: int) -> Iterator[FloatArray]:
        """Convert ``samples`` chunk by chunk, yielding each chunk's audio as soon as it is done."""
        x = resample(samples, rate, LIBRARY_RATE) if rate != LIBRARY_RATE else samples
        size, overlap = int(CHUNK_SECONDS * LIBRARY_RATE), int(OVERLAP * LIBRARY_RATE)
        if len(x) == 0:
            return
        fade_in = np.linspace(0.0, 1.0, overlap, dtype=np.float32)
        tail: FloatArray | None = None
        start = 0
        while start < len(x):
            last = start + size >= len(x)
            y = self._convert_piece(x[start : len(x) if last else start + size + overlap])
            if tail is not None:  # crossfade the previous chunk's tail into this chunk's head
                head = len(tail)
                y[:head] = tail * fade_in[::-1][:head] + y[:head] * fade_in[:head]
            if last:
                yield y
                return
            yield y[:size]
            tail = y[size:]
            start += size


class WorldConverter:
    """WORLD vocoder conversion: pitch and timbre toward the target, on the CPU, no weights."""

    name: ClassVar[str] = "world"
    capabilities: ClassVar[ConverterCapabilities] = ConverterCapabilities(
        streaming=True, neural=False, sample_rate=LIBRARY_RATE, min_reference_seconds=1.0
    )

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def open(self, target: LibraryVoice, reference: FloatArray) -> WorldSession:
        """A session toward ``target`` (WORLD needs only its stored analysis, not the audio)."""
        return WorldSession(target)
