"""Resampling, tempo change and gain on mono float32 audio."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from polyvox.audio.chunk import FloatArray
from polyvox.audio.dsp import Resampler, apply_gain, resample, time_stretch


def tone(seconds: float, rate: int, freq: float = 220.0) -> FloatArray:
    t = np.arange(round(seconds * rate)) / rate
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.mark.parametrize("factor", [0.25, 0.5, 0.8, 1.5, 2.0, 3.0, 4.0])
@pytest.mark.parametrize("seconds", [0.3, 1.0])
def test_time_stretch_changes_duration_by_factor(factor: float, seconds: float) -> None:
    rate = 24000
    x = tone(seconds, rate)
    y = time_stretch(x, rate, factor)
    expected = len(x) / factor
    assert y.dtype == np.float32
    assert abs(len(y) - expected) <= 0.02 * expected
    # The stretched audio is still the tone at the same level, not silence or a clipped mess.
    assert 0.4 < np.abs(y).max() <= 0.55


def test_time_stretch_keeps_pitch() -> None:
    rate = 16000
    y = time_stretch(tone(1.0, rate, freq=500.0), rate, 2.0)
    spectrum = np.abs(np.fft.rfft(y))
    peak_hz = np.argmax(spectrum) * rate / len(y)
    assert abs(peak_hz - 500.0) < 10.0


def test_time_stretch_identity_and_bounds() -> None:
    x = tone(0.5, 24000)
    assert np.array_equal(time_stretch(x, 24000, 1.0), x)
    assert len(time_stretch(np.zeros(0, dtype=np.float32), 24000, 2.0)) == 0
    for bad in (0.2, 4.5, float("nan")):
        with pytest.raises(ValueError):
            time_stretch(x, 24000, bad)


@pytest.mark.parametrize(("src", "dst"), [(22050, 48000), (24000, 16000), (48000, 8000), (16000, 44100)])
def test_streaming_resampler_matches_one_shot(src: int, dst: int) -> None:
    x = tone(1.0, src) + tone(1.0, src, freq=1000.0) * 0.3
    resampler = Resampler(src, dst)
    # Uneven chunk sizes, including an empty one, like sentences of different lengths.
    bounds = [0, 1, 777, 777, 5000, 11025, len(x)]
    pieces = [resampler.process(x[a:b]) for a, b in itertools.pairwise(bounds)]
    streamed = np.concatenate([*pieces, resampler.flush()])
    whole = resample(x, src, dst)
    assert abs(len(streamed) - len(x) * dst / src) <= 2
    assert len(streamed) == len(whole)
    # Continuity: streaming state carries across chunk boundaries, so no click where chunks meet.
    assert np.abs(streamed - whole).max() < 1e-4
    assert np.abs(np.diff(streamed)).max() < 0.3


def test_resampler_identity() -> None:
    x = tone(0.1, 24000)
    resampler = Resampler(24000, 24000)
    assert resampler.is_identity
    assert np.array_equal(resampler.process(x), x)
    assert len(resampler.flush()) == 0
    assert resample(x, 24000, 24000) is x or np.array_equal(resample(x, 24000, 24000), x)


def test_apply_gain_scales_and_clips() -> None:
    x = np.array([0.1, -0.5, 0.9], dtype=np.float32)
    np.testing.assert_allclose(apply_gain(x, 0.5), [0.05, -0.25, 0.45], rtol=1e-6)
    np.testing.assert_allclose(apply_gain(x, 4.0), [0.4, -1.0, 1.0], rtol=1e-6)
    assert not apply_gain(x, 0.0).any()
    assert apply_gain(x, 2.0).dtype == np.float32
    for bad in (-0.1, 4.1):
        with pytest.raises(ValueError):
            apply_gain(x, bad)
