"""A 1,000,000-character text through the native API, and a long one through the CLI, checked word by word.

The tone engine renders each word as a 150 ms tone (its frequency derived from the word) and a 50 ms gap, so
the finished audio can be read back: chunks are the stretches between the job's pauses, and every word's
tone must be the tone of the word expected at that place. A skipped, duplicated or reordered word, sentence
or chunk anywhere in nine hours of audio fails the test.
"""

from __future__ import annotations

import os
import subprocess
import sys
import wave
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from fastapi import FastAPI
from tests.integration.test_longform import generated_text

from polyvox.api.app import create_app
from polyvox.config import Settings
from polyvox.engines.tone import WORD_SECONDS, word_frequency
from polyvox.text.chunks import chunk_text

pytestmark = pytest.mark.slow

RATE = 8000  # low enough to keep nine hours small, high enough for the tones (300-690 Hz)
WINDOW = (0.03, 0.13)  # the steady part of each word's tone, seconds from its start
_SILENT = 1e-3


FRAME = 80
"""Samples per frame of the coarse pass over the audio (10 ms at 8 kHz): the pauses are found on frames'
peaks (one pass, no index array per loud sample over nine hours), then placed to the sample."""


def _chunk_spans(samples: np.ndarray, rate: int, min_pause: float = 0.15) -> list[tuple[int, int]]:
    """Start and end (samples) of each stretch of sound between pauses of at least ``min_pause``.

    Exactly the stretches a sample-by-sample scan finds: a silence longer than ``min_pause`` holds at least
    ``frames_apart`` wholly silent frames, so every pause is among the candidates, and each candidate is
    measured to the sample before it counts.
    """
    padded = np.concatenate([samples, np.zeros(-len(samples) % FRAME, samples.dtype)])
    frames = padded.reshape(-1, FRAME)
    loud = np.flatnonzero(np.abs(frames).max(axis=1) >= _SILENT)
    if not len(loud):
        return []

    def first_loud(frame: int) -> int:
        return frame * FRAME + int(np.argmax(np.abs(frames[frame]) >= _SILENT))

    def last_loud(frame: int) -> int:
        return frame * FRAME + FRAME - 1 - int(np.argmax(np.abs(frames[frame][::-1]) >= _SILENT))

    frames_apart = int(min_pause * rate) // FRAME - 1
    candidates = np.flatnonzero(np.diff(loud) > frames_apart)
    breaks = [
        i for i in candidates.tolist() if first_loud(loud[i + 1]) - last_loud(loud[i]) > min_pause * rate
    ]
    starts = [first_loud(loud[0]), *(first_loud(loud[i + 1]) for i in breaks)]
    ends = [*(last_loud(loud[i]) + 1 for i in breaks), last_loud(loud[-1]) + 1]
    return list(zip(starts, ends, strict=True))


def _tone_frequencies(samples: np.ndarray, rate: int, offsets: np.ndarray) -> np.ndarray:
    """The dominant frequency (Hz) of the window ``WINDOW`` after each word offset (samples): the peak bin
    of the window's spectrum (10 Hz apart for a 0.1 s window), placed between bins by a parabola through
    the log magnitudes around it (the tones' 10 Hz steps fall on bins; a tone between bins is placed within
    a fraction of a hertz, well inside the 3 Hz the test allows)."""
    first, last = round(WINDOW[0] * rate), round(WINDOW[1] * rate)
    size = last - first
    taper = np.hanning(size).astype(np.float32)
    found = np.empty(len(offsets))
    for batch in range(0, len(offsets), 4096):
        index = offsets[batch : batch + 4096, None] + first + np.arange(size)[None, :]
        spectrum = np.log(np.abs(np.fft.rfft(samples[index] * taper, axis=1)) + 1e-12)
        peak = np.clip(spectrum.argmax(axis=1), 1, spectrum.shape[1] - 2)
        rows = np.arange(len(peak))
        left, mid, right = (spectrum[rows, peak + d] for d in (-1, 0, 1))
        shift = 0.5 * (left - right) / (left - 2 * mid + right)
        found[batch : batch + 4096] = (peak + shift) * rate / size
    return found


def assert_every_word_in_order(samples: np.ndarray, rate: int, text: str, chunk_chars: int) -> None:
    chunks = chunk_text(text, "en-us", chunk_chars)
    spans = _chunk_spans(samples, rate)
    assert len(spans) == len(chunks), f"{len(spans)} stretches of sound for {len(chunks)} chunks"
    words = [chunk.text.split() for chunk in chunks]
    # Each stretch lasts its words' tones: n words end with a tone, not a gap.
    heard_counts = [round(((end - start) / rate + 0.05) / WORD_SECONDS) for start, end in spans]
    mismatched = [i for i, (n, w) in enumerate(zip(heard_counts, words, strict=True)) if n != len(w)]
    assert not mismatched, f"chunks {mismatched[:5]} have the wrong number of words"
    step = round(WORD_SECONDS * rate)
    starts = [start for start, _ in spans]
    offsets = np.concatenate([s + step * np.arange(len(w)) for s, w in zip(starts, words, strict=True)])
    expected = np.array([word_frequency(word) for chunk in words for word in chunk])
    heard = _tone_frequencies(samples, rate, offsets)
    wrong = np.flatnonzero(np.abs(heard - expected) > 3.0)
    assert not len(wrong), f"{len(wrong)} of {len(expected)} words differ, first at word {wrong[:1]}"


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[FastAPI]:
    settings = Settings(
        data_dir=tmp_path,
        engines={"enable_test_engines": True, "workers": 2},
        server={"preload_default": False},
        cache={"enabled": False},
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app


async def test_a_million_characters_through_the_native_api(app: FastAPI) -> None:
    text = generated_text(180_000)[0][:1_000_000]
    text = text[: text.rindex(".") + 1]  # whole sentences only
    assert len(text) > 999_900
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://polyvox", timeout=900
    ) as client:
        reply = await client.post(
            "/v1/synthesize",
            json={"text": text, "engine": "tone", "format": "pcm", "sample_rate": RATE, "normalize": False},
        )
    assert reply.status_code == 200, reply.text[:500]
    samples = np.frombuffer(reply.content, dtype="<i2").astype(np.float32) / 32768.0
    del reply
    chunk_chars = Settings().longform.chunk_chars
    assert len(samples) / RATE > 9 * 3600  # about nine and a half hours
    assert_every_word_in_order(samples, RATE, text, chunk_chars)


async def test_texts_longer_than_one_request_are_refused_with_413(app: FastAPI) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://polyvox", timeout=60
    ) as client:
        over = await client.post("/v1/synthesize", json={"text": "word " * 200_001, "engine": "tone"})
        streamed = await client.post(
            "/v1/synthesize", json={"text": "word " * 30_000, "engine": "tone", "stream": True}
        )
    assert over.status_code == 413 and over.json()["error"]["code"] == "text_too_long"
    # Streaming keeps the per-request limit (max_text_length, 100,000 characters by default).
    assert streamed.status_code == 413 and streamed.json()["error"]["code"] == "text_too_long"


def test_the_cli_speaks_a_text_longer_than_one_request(tmp_path: Path) -> None:
    text = generated_text(25_000)[0]
    assert len(text) > Settings().max_text_length  # only a long-form job takes it
    output = tmp_path / "long.wav"
    env = {**os.environ, "POLYVOX_DATA_DIR": str(tmp_path / "data")}
    env["POLYVOX_ENGINES__ENABLE_TEST_ENGINES"] = "1"
    say = ["say", "-", "-o", str(output), "-e", "tone", "-r", str(RATE), "--no-normalize"]
    done = subprocess.run(
        [sys.executable, "-m", "polyvox.cli", *say],
        input=text,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr

    with wave.open(str(output)) as wav:
        assert wav.getframerate() == RATE
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").astype(np.float32) / 32768.0
    assert_every_word_in_order(samples, RATE, text, Settings().longform.chunk_chars)
    assert not list(tmp_path.glob("*.tmp*")) and not list(tmp_path.glob(".*long*"))
