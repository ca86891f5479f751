"""StyleTTS2 through a real server: a tiny random checkpoint of the real architecture, over HTTP and Wyoming.

These are contract tests, not quality tests: the weights are random (``tests.neural_weights.build_styletts2``
writes them in the official LibriTTS release's layout), so the audio is noise shaped by the reference style.
They prove that such a folder loads through the user's code path, that library voices condition the output
(once per voice), that seeds, parameter ranges and file errors behave, and that nothing reaches the network.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import wave
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from tests import weights_cache
from tests.e2e.conftest import Server, free_port, run_limited_server
from tests.e2e.test_engine_chatterbox import (
    AUDIT_HOOK,
    LONGFORM,
    TORCH_THREADS,
    assert_no_outbound_socket,
    validated_longform,
)
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.tts import Synthesize, SynthesizeVoice

RATE = 24_000
MEMORY_LIMIT = 8 * 2**30
TEXT = "Hi there. See you."
FAST = {"diffusion_steps": 3}


@pytest.fixture(scope="session")
def styletts2_folder() -> Path:
    """The tiny checkpoint, built once (in a subprocess: torch stays out of the test process) and cached."""
    return weights_cache.neural("styletts2")


@pytest.fixture(scope="module")
def audit(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("socket-audit")
    (folder / "sitecustomize.py").write_text(AUDIT_HOOK)
    return folder, folder / "sockets.jsonl"


@pytest.fixture(scope="module")
def wyoming_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def st(
    styletts2_folder: Path,
    audit: tuple[Path, Path],
    wyoming_port: int,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Server]:
    """The server under test: piper by default, styletts2 reading the tiny checkpoint, Wyoming beside it."""
    hook_dir, log = audit
    with run_limited_server(
        tmp_path_factory.mktemp("styletts2-server"),
        MEMORY_LIMIT,
        POLYVOX_ENGINES__MODEL_DIRS=json.dumps({"styletts2": str(styletts2_folder)}),
        POLYVOX_ENGINES__TTL="-1",
        OMP_NUM_THREADS=TORCH_THREADS,
        POLYVOX_WYOMING__URI=f"tcp://127.0.0.1:{wyoming_port}",
        PYTHONPATH=os.pathsep.join([str(hook_dir), os.getcwd()]),
        SOCKET_AUDIT_LOG=str(log),
        **LONGFORM,
    ) as running:
        yield running
    assert running.process.returncode in (0, -15), running.log()


def _add_voice(server: Server, name: str, engine: str, voice: str) -> str:
    text = "Good morning, how are you?"
    audio = httpx.post(
        f"{server.url}/v1/synthesize",
        json={"text": text, "engine": engine, "voice": voice, "language": "en-us"},
        timeout=120,
    )
    assert audio.status_code == 200, audio.text
    created = httpx.post(
        f"{server.url}/v1/voices",
        data={"name": name, "language": "en-us", "transcript": text},
        files={"file": ("ref.wav", audio.content, "audio/wav")},
        timeout=60,
    )
    assert created.status_code in (200, 201), created.text
    voice_id: str = created.json()["id"]
    return voice_id


@pytest.fixture(scope="module")
def voices(st: Server) -> tuple[str, str]:
    """Two library voices from two different speakers (piper's joe, eSpeak's en-us)."""
    return _add_voice(st, "Ref Joe", "piper", "joe"), _add_voice(st, "Ref Espeak", "espeak", "en-us")


def _pcm(server: Server, voice: str, seed: int, **extra: float) -> np.ndarray:
    body = {
        "text": TEXT,
        "engine": "styletts2",
        "voice": voice,
        "format": "pcm",
        "seed": seed,
        **FAST,
        **extra,
    }
    response = httpx.post(f"{server.url}/v1/synthesize", json=body, timeout=300)
    assert response.status_code == 200, response.text
    assert response.headers["x-sample-rate"] == str(RATE)
    return np.frombuffer(response.content, "<i2").astype(np.float32)


def _computed(server: Server, voice: str) -> int:
    lines = [line for line in server.log().splitlines() if "conditioning_computed" in line]
    return sum(1 for line in lines if "styletts2" in line and f"voice={voice}" in line)


def test_listed_ready_with_its_parameters(st: Server) -> None:
    engines = {e["name"]: e for e in httpx.get(f"{st.url}/v1/engines").json()["engines"]}
    entry = engines["styletts2"]
    assert entry["state"] == "ready" and entry["missing_files"] == []
    assert entry["sample_rate"] == RATE
    assert entry["capabilities"]["cloning_mode"] == "native"
    assert {"alpha", "beta", "diffusion_steps", "embedding_scale", "seed"} <= set(entry["parameters"])


@pytest.mark.parametrize(
    ("field", "value"),
    [("alpha", 1.5), ("beta", -0.1), ("diffusion_steps", 0), ("diffusion_steps", 51),
     ("diffusion_steps", 2.5), ("embedding_scale", 11.0), ("seed", -1)],
)  # fmt: skip
def test_parameter_out_of_range_is_422(st: Server, field: str, value: float) -> None:
    body = {"text": "Hi.", "engine": "styletts2", "voice": "library:whoever", field: value}
    response = httpx.post(f"{st.url}/v1/synthesize", json=body, timeout=60)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["param"] == field


def test_clones_and_seeds(st: Server, voices: tuple[str, str]) -> None:
    joe, espeak = voices
    first = _pcm(st, joe, seed=7)
    seconds = first.size / RATE
    assert 0.3 < seconds < 6.0, seconds  # ~14 phonemes at ~3 frames (37 ms) each, plus the pause
    assert np.abs(first).max() > 0  # not silence
    assert np.array_equal(_pcm(st, joe, seed=7), first)  # same seed, same samples
    assert not np.array_equal(_pcm(st, joe, seed=8), first)  # the seed drives the style diffusion
    other = _pcm(st, espeak, seed=7)
    n = min(first.size, other.size)
    assert np.mean(np.abs(first[:n] - other[:n])) > 0.05 * np.mean(np.abs(first[:n]))  # the reference counts
    assert _computed(st, joe) == 1 and _computed(st, espeak) == 1  # conditioning computed once per voice


def test_openai_speech_route(st: Server, voices: tuple[str, str]) -> None:
    joe, _ = voices
    speech = httpx.post(
        f"{st.url}/v1/audio/speech",
        json={"model": "styletts2", "voice": joe, "input": "Hello.", "response_format": "wav"},
        timeout=300,
    )
    assert speech.status_code == 200, speech.text
    with wave.open(io.BytesIO(speech.content)) as out:
        assert out.getframerate() == RATE
        seconds = len(out.readframes(2**31 - 1)) / 2 / RATE
    assert 0.1 < seconds < 3.0, seconds


async def test_wyoming_speaks_a_library_voice(st: Server, voices: tuple[str, str], wyoming_port: int) -> None:
    _, espeak = voices
    samples, rate = 0, None
    async with AsyncTcpClient("127.0.0.1", wyoming_port) as client:
        voice = SynthesizeVoice(name=f"styletts2/library:{espeak}")
        await client.write_event(Synthesize(text="Hello.", voice=voice).event())
        while True:
            event = await client.read_event()
            assert event is not None
            if AudioStart.is_type(event.type):
                rate = AudioStart.from_event(event).rate
            elif AudioChunk.is_type(event.type):
                samples += len(AudioChunk.from_event(event).audio) // 2
            elif AudioStop.is_type(event.type):
                break
            else:
                raise AssertionError(f"unexpected {event.type}: {event.data}")
    assert rate == RATE
    assert 0.1 < samples / RATE < 3.0
    assert _computed(st, espeak) == 1  # the cached conditioning again


def test_longform_with_whisper_validation(st: Server, voices: tuple[str, str]) -> None:
    """Long-form with Whisper validation (a contract test on random weights).

    StyleTTS2 has neither ``noise_scale`` nor ``temperature``, so long-form does not count it stochastic:
    a chunk that fails validation (every chunk: Whisper hears noise) is re-synthesized by the fallback
    engine, piper (``longform.fallback_engine``), resampled to StyleTTS2's 24 kHz. Whisper hears piper's
    speech, so the reported WER (the best attempt per chunk) falls under the 0.35 threshold: proof the
    fallback spoke, which random weights could not.
    """
    joe, _ = voices
    response = validated_longform(st, {"engine": "styletts2", "voice": joe, "seed": 5, **FAST}, RATE)
    assert float(response.headers["X-WER"]) <= 0.35


def test_no_outbound_socket(st: Server, audit: tuple[Path, Path]) -> None:
    """Every connect and lookup of the server went to this machine (the hook itself is checked first)."""
    assert_no_outbound_socket(audit)


def test_missing_then_corrupt_files_are_503(styletts2_folder: Path, tmp_path: Path) -> None:
    folder = tmp_path / "weights"
    folder.mkdir()
    with run_limited_server(
        tmp_path / "server", MEMORY_LIMIT, POLYVOX_ENGINES__MODEL_DIRS=json.dumps({"styletts2": str(folder)})
    ) as server:

        def entry() -> dict[str, object]:
            listed = httpx.get(f"{server.url}/v1/engines").json()["engines"]
            found: dict[str, object] = next(e for e in listed if e["name"] == "styletts2")
            return found

        assert entry()["state"] == "needs_weights" and entry()["missing_files"] == ["config.yml"]
        assert entry()["model_dir"] == str(folder)
        body = {"text": "Hi.", "engine": "styletts2", "voice": _add_voice(server, "Ref", "piper", "joe")}
        missing = httpx.post(f"{server.url}/v1/synthesize", json=body, timeout=60)
        assert missing.status_code == 503 and missing.json()["error"]["code"] == "engine_unavailable"
        assert "config.yml" in missing.json()["error"]["message"]

        # The config alone: every file it names is reported missing; a path outside the folder is refused.
        shutil.copy(styletts2_folder / "config.yml", folder / "config.yml")
        listed = entry()["missing_files"]
        assert isinstance(listed, list)
        assert {"Utils/ASR/config.yml", "Utils/JDC/bst.t7", "the checkpoint *.pth"} <= set(listed)
        escaping = (folder / "config.yml").read_text().replace("Utils/JDC/bst.t7", "../../bst.t7")
        (folder / "config.yml").write_text(escaping)
        assert "../../bst.t7 (outside the folder: refused)" in str(entry()["missing_files"])

        for name in ("config.yml", "epochs_2nd_00020.pth", "Utils"):
            (folder / name).unlink(missing_ok=True)
            (folder / name).symlink_to(styletts2_folder / name)
        (folder / "epochs_2nd_00020.pth").unlink()
        (folder / "epochs_2nd_00020.pth").write_bytes(b"not a torch checkpoint" * 10)
        assert entry()["state"] == "ready"
        corrupt = httpx.post(f"{server.url}/v1/synthesize", json=body, timeout=300)
        assert corrupt.status_code == 503, corrupt.text
        error = corrupt.json()["error"]
        assert error["code"] == "engine_unavailable" and str(folder) in error["message"]
        assert httpx.get(f"{server.url}/health").status_code == 200
