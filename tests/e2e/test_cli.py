"""The ``polyvox`` command end to end, in subprocesses, with real engines and Whisper."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

from polyvox.stt.metrics import word_error_rate
from polyvox.stt.transcriber import Transcriber

pytestmark = pytest.mark.slow

ENGLISH = "Hello there. The weather is lovely today, so we are going for a walk."


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "POLYVOX_DATA_DIR": str(tmp_path / "data")}


def polyvox(*args: str, env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "polyvox.cli", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=180,
    )


def decode(path: Path) -> tuple[np.ndarray, int]:
    with av.open(io.BytesIO(path.read_bytes())) as container:
        stream = container.streams.audio[0]
        frames = [f.to_ndarray().astype(np.float32).reshape(-1) for f in container.decode(stream)]
        rate = stream.rate
    samples = np.concatenate(frames)
    if np.abs(samples).max() > 2:  # integer sample formats
        samples = samples / 32768.0
    return samples, rate


@pytest.mark.parametrize(
    ("args", "name"),
    [
        ((), "hello.mp3"),
        (("--engine", "kokoro", "--voice", "jm_kumo"), "kumo.wav"),
        (("--engine", "espeak", "--voice", "en-us"), "espeak.flac"),
    ],
)
def test_say_speaks_english(
    args: tuple[str, ...], name: str, tmp_path: Path, env: dict[str, str], transcriber: Transcriber
) -> None:
    out = tmp_path / name
    result = polyvox("say", ENGLISH, "-o", str(out), *args, env=env)
    assert result.returncode == 0, result.stderr
    samples, rate = decode(out)
    seconds = len(samples) / rate
    assert 2.5 < seconds < 8.0  # 14 words at a natural pace
    text = transcriber.transcribe(samples, rate).text
    assert word_error_rate(ENGLISH, text) <= 0.10, text


def test_say_french_with_espeak_and_stdin(tmp_path: Path, env: dict[str, str]) -> None:
    out = tmp_path / "fr.opus"
    result = polyvox(
        "say", "-", "-o", str(out), "--engine", "espeak", "--voice", "fr", env=env, stdin="Bonjour à tous."
    )
    assert result.returncode == 0, result.stderr
    samples, rate = decode(out)
    assert rate == 48000 and 0.5 < len(samples) / rate < 3.0


def test_say_to_stdout_streams_wav(env: dict[str, str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "polyvox.cli", "say", "Short test.", "-o", "-", "-r", "16000"],
        env=env,
        capture_output=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout[:4] == b"RIFF" and len(result.stdout) > 16000


def test_engines_and_voices_listings(env: dict[str, str]) -> None:
    engines = polyvox("engines", env=env)
    assert engines.returncode == 0, engines.stderr
    for name in ("piper", "kokoro", "espeak"):
        assert name in engines.stdout
    assert "tone" not in engines.stdout  # the test engine stays hidden by default
    voices = polyvox("voices", "--engine", "kokoro", env=env)
    assert voices.returncode == 0, voices.stderr
    for voice in ("jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo"):
        assert voice in voices.stdout


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("say", "hi", "-o", "x.wav", "--engine", "nope"), "engine_not_found"),
        (("say", "hi", "-o", "x.wav", "--voice", "nope"), "voice_not_found"),
        (("say", "   ", "-o", "x.wav"), "empty_text"),
        (("say", "hi", "-o", "x.wav", "--speed", "9"), "invalid_parameter"),
        (("say", "hi", "-o", "x.xyz"), "unsupported_format"),
        (("say", "hi", "-o", "x.mp3", "--bit-depth", "24"), "invalid_parameter"),
        (("say", "hi", "-o", "x.wav", "--engine", "kokoro", "--language", "xx"), "language_not_supported"),
        (("voices", "--engine", "nope"), "engine_not_found"),
    ],
)
def test_errors_print_one_line_and_exit_non_zero(
    args: tuple[str, ...], code: str, tmp_path: Path, env: dict[str, str]
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "polyvox.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and code in lines[0], result.stderr
    assert not list(tmp_path.glob("x.*"))


def test_failure_midway_leaves_no_partial_file(tmp_path: Path, env: dict[str, str]) -> None:
    env = {**env, "POLYVOX_ENGINES__ENABLE_TEST_ENGINES": "true", "POLYVOX_TONE__FAIL_AT": "2"}
    out = tmp_path / "broken.wav"
    # Four paragraphs: a file's four chunks (segments); the third fails after two were written.
    text = "One.\nTwo.\nThree.\nFour."
    result = polyvox("say", text, "--engine", "tone", "-o", str(out), env=env)
    assert result.returncode == 2 and "engine_failed" in result.stderr
    assert not out.exists()
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".broken")]
