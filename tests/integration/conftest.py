"""Shared fixtures for tests that run real engines and Whisper."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import pytest

from polyvox.audio.chunk import AudioChunk
from polyvox.config import Settings
from polyvox.stt.metrics import word_error_rate
from polyvox.stt.transcriber import Transcriber

WORDS_PER_SECOND = 2.5
"""A typical English speaking rate (150 words per minute), for duration sanity checks."""


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One data dir for the session, so the Kokoro model is assembled once."""
    return tmp_path_factory.mktemp("data")


@pytest.fixture(scope="module")
def voices_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty voices directory per test module."""
    return tmp_path_factory.mktemp("voices")


@pytest.fixture(scope="module")
def settings(data_dir: Path, voices_dir: Path) -> Settings:
    """Settings with a temporary data dir and voices dir; two onnx threads (this machine's cores)."""
    return Settings(data_dir=data_dir, voices_dir=voices_dir, engines={"onnx_threads": 2})


@pytest.fixture(scope="session")
def check_speech(transcriber: Transcriber) -> Callable[[Iterable[AudioChunk], str], AudioChunk]:
    """Check that chunks speak ``reference``: sane level, plausible duration, Whisper WER <= 0.10."""

    def check(chunks: Iterable[AudioChunk], reference: str) -> AudioChunk:
        parts = list(chunks)
        assert parts, "the engine yielded no audio"
        assert len({c.sample_rate for c in parts}) == 1
        audio = AudioChunk(np.concatenate([c.samples for c in parts]), parts[0].sample_rate)
        assert audio.samples.dtype == np.float32
        assert np.all(np.abs(audio.samples) <= 1.0)
        assert np.sqrt(np.mean(audio.samples**2)) > 0.01, "audio is (nearly) silent"
        expected = len(reference.split()) / WORDS_PER_SECOND
        assert 0.5 * expected <= audio.seconds <= 2.0 * expected, (audio.seconds, expected)
        heard = transcriber.transcribe(audio.samples, audio.sample_rate).text
        wer = word_error_rate(reference, heard)
        assert wer <= 0.10, f"WER {wer:.2f}: heard {heard!r} for {reference!r}"
        return audio

    return check
