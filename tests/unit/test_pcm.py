"""The one float <-> int16 conversion: rounding to the nearest step, clipping, byte order, round trips."""

from __future__ import annotations

import numpy as np

from polyvox.audio.chunk import AudioChunk
from polyvox.audio.encode import to_pcm
from polyvox.audio.pcm import float_to_int16, float_to_int24, int16_to_float

STEP = 1 / 32767


def ints(pcm: bytes, dtype: str = "<i2") -> list[int]:
    return np.frombuffer(pcm, dtype=dtype).tolist()


def test_floats_round_to_the_nearest_step() -> None:
    # Truncation (astype) would give 0, 0, 1, 100, -100: every sample pulled towards zero.
    values = np.array([0.6, -0.6, 1.4, 100.7, -100.7, 0.4, -0.4], dtype=np.float64) * STEP
    assert ints(float_to_int16(values.astype(np.float32))) == [1, -1, 1, 101, -101, 0, 0]
    # AudioChunk, the raw formats and the Wyoming door all quantize the same way.
    chunk = AudioChunk(values.astype(np.float32), 16000)
    assert chunk.to_int16() == to_pcm(chunk.samples, 16) == float_to_int16(chunk.samples)


def test_out_of_range_samples_clip_to_full_scale() -> None:
    samples = np.array([2.0, -2.0, 1.0, -1.0, np.inf, -np.inf, 0.0], dtype=np.float32)
    assert ints(float_to_int16(samples)) == [32767, -32767, 32767, -32767, 32767, -32767, 0]
    packed = float_to_int24(samples)
    assert [int.from_bytes(packed[i : i + 3], "little", signed=True) for i in range(0, len(packed), 3)] == [
        8388607,
        -8388607,
        8388607,
        -8388607,
        8388607,
        -8388607,
        0,
    ]


def test_byte_order_is_explicit() -> None:
    samples = np.array([STEP, -STEP, 0.5], dtype=np.float32)
    little, big = float_to_int16(samples), float_to_int16(samples, "big")
    assert little[:2] == b"\x01\x00" and big[:2] == b"\x00\x01"
    assert ints(big, ">i2") == ints(little) == [1, -1, 16384]
    assert np.array_equal(int16_to_float(big, "big"), int16_to_float(little))


def test_int16_float_int16_gives_every_value_back() -> None:
    every = np.arange(-32768, 32768, dtype=np.int16)
    floats = int16_to_float(every.tobytes())
    assert floats.dtype == np.float32
    assert floats.min() == -1.0 and floats.max() == 1.0  # -32768 has no positive twin: it reads as -1.0
    back = np.frombuffer(float_to_int16(floats), dtype="<i2")
    assert back[0] == -32767
    assert np.array_equal(back[1:], every[1:])
    # So repeated conversions (store a reference clip, read it, store it again) never drift.
    assert float_to_int16(int16_to_float(float_to_int16(floats))) == float_to_int16(floats)
    assert np.array_equal(AudioChunk.from_int16(every.tobytes(), 8000).samples, floats)


def test_float_int16_float_is_within_half_a_step() -> None:
    samples = np.random.default_rng(0).uniform(-1.0, 1.0, 100_000).astype(np.float32)
    error = np.abs(int16_to_float(float_to_int16(samples)).astype(np.float64) - samples)
    assert error.max() <= 0.5 * STEP * (1 + 1e-6)
    assert error.mean() > 0.2 * STEP  # the error is quantization, spread over the step, not a fixed offset
