"""Loudness, true peak, trim and joins on synthetic signals."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from polyvox.cache import ChunkCache, chunk_key
from polyvox.config import PostprocessSettings
from polyvox.postprocess import Mastering, join, loudness, normalize_loudness, trim_silence, true_peak_db

RATE = 16_000


def tone(seconds: float, amplitude: float, freq: float = 440.0) -> np.ndarray:
    t = np.arange(round(seconds * RATE)) / RATE
    return (amplitude * np.sin(2 * math.pi * freq * t)).astype(np.float32)


def test_quiet_and_loud_chunks_end_at_the_same_loudness() -> None:
    out = [normalize_loudness(tone(2, a), RATE, -20.0, -1.0)[0] for a in (0.02, 0.5)]
    levels = [loudness(o, RATE) for o in out]
    assert abs(levels[0] - -20.0) < 0.2 and abs(levels[1] - -20.0) < 0.2


def test_true_peak_ceiling_caps_the_gain() -> None:
    out, _ = normalize_loudness(tone(2, 0.5), RATE, -3.0, -6.0)
    assert true_peak_db(out, RATE) <= -6.0 + 0.05
    assert loudness(out, RATE) < -3.0


def test_too_short_audio_gets_the_fallback_gain() -> None:
    _, gain = normalize_loudness(tone(0.1, 0.1), RATE, -20.0, -1.0, fallback_gain_db=6.0)
    assert gain == 6.0 and math.isinf(loudness(tone(0.1, 0.1), RATE))


def test_trim_keeps_the_speech_and_a_little_edge() -> None:
    audio = np.concatenate([np.zeros(RATE), tone(1, 0.3), np.zeros(RATE)])
    trimmed = trim_silence(audio, RATE, -50.0)
    assert 1.0 <= len(trimmed) / RATE <= 1.1
    assert len(trim_silence(np.zeros(RATE, dtype=np.float32), RATE, -50.0)) == 0


def test_join_inserts_pauses_and_reports_starts() -> None:
    audio, starts = join([tone(1, 0.3), tone(0.5, 0.3)], RATE, [0.25, 0.6])
    assert len(audio) == RATE + RATE // 4 + RATE // 2
    assert starts == [0.0, 1.25]


def test_mastering_trims_levels_and_fades_a_segment() -> None:
    quiet = np.concatenate([np.zeros(RATE // 2, np.float32), tone(1, 0.05), np.zeros(RATE // 2, np.float32)])
    post = PostprocessSettings()
    mastered = Mastering(post).apply(quiet, RATE)
    assert 1.0 <= len(mastered) / RATE <= 1.1  # the half seconds of silence either side are gone
    assert abs(loudness(mastered, RATE) - post.target_lufs) < 0.5
    assert mastered[0] == 0.0 and mastered[-1] == 0.0  # faded at both edges: no click where pauses join


def test_cache_round_trip_and_lru_eviction(tmp_path: Path) -> None:
    chunk = np.ones(10_000, dtype=np.float32)  # ~40 KB per entry
    cache = ChunkCache(tmp_path, max_bytes=100_000)
    keys = [chunk_key({"text": str(i)}) for i in range(3)]
    for key in keys[:2]:
        cache.put(key, chunk)
    assert cache.get(keys[0]) is not None  # now keys[1] is the least recently used
    cache.put(keys[2], chunk)
    assert cache.get(keys[1]) is None
    np.testing.assert_array_equal(cache.get(keys[0]), chunk)
    assert cache.size <= 100_000
    assert chunk_key({"a": 1, "b": 2}) == chunk_key({"b": 2, "a": 1})
