"""G.711 μ-law / A-law against the reference tables (``audioop`` where Python still has it, fixed points)."""

from __future__ import annotations

import importlib
import warnings

import numpy as np
import pytest

from polyvox.realtime.g711 import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode

EVERY_SAMPLE = np.arange(-32768, 32768, dtype="<i2").tobytes()
EVERY_CODE = bytes(range(256))


def test_known_points() -> None:
    silence = np.zeros(4, dtype="<i2").tobytes()
    assert ulaw_encode(silence) == b"\xff" * 4 and alaw_encode(silence) == b"\xd5" * 4
    extremes = np.array([32767, -32768], dtype="<i2").tobytes()
    assert ulaw_encode(extremes) == b"\x80\x00" and alaw_encode(extremes) == b"\xaa\x2a"
    assert np.frombuffer(ulaw_decode(b"\x80\x00"), "<i2").tolist() == [32124, -32124]
    assert np.frombuffer(alaw_decode(b"\xaa\x2a"), "<i2").tolist() == [32256, -32256]


def test_round_trip_error_is_within_one_step() -> None:
    samples = np.frombuffer(EVERY_SAMPLE, "<i2").astype(np.int32)
    for encode, decode in ((ulaw_encode, ulaw_decode), (alaw_encode, alaw_decode)):
        back = np.frombuffer(decode(encode(EVERY_SAMPLE)), "<i2").astype(np.int32)
        # Logarithmic steps: the error grows with the level, at most 1/16 of it (plus the finest step).
        assert np.all(np.abs(back - samples) <= np.abs(samples) // 16 + 64)


def test_same_bytes_as_audioop() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            audioop = importlib.import_module("audioop")
        except ImportError:
            pytest.skip("audioop is gone (Python 3.13+)")
    assert ulaw_encode(EVERY_SAMPLE) == audioop.lin2ulaw(EVERY_SAMPLE, 2)
    assert alaw_encode(EVERY_SAMPLE) == audioop.lin2alaw(EVERY_SAMPLE, 2)
    assert ulaw_decode(EVERY_CODE) == audioop.ulaw2lin(EVERY_CODE, 2)
    assert alaw_decode(EVERY_CODE) == audioop.alaw2lin(EVERY_CODE, 2)
