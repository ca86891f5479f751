"""XTTS v2 and Pocket TTS through a real server, on tiny random checkpoints of their real architectures.

These are CONTRACT tests, not quality tests: the checkpoints (``tests/neural_weights.py``) are randomly
initialised, so the audio is noise. They prove the loading path a user's folder takes
(``DATA_DIR/models/xtts`` and ``engines.model_dirs``), native rate and length, that the reference conditions
the output and its conditioning is cached, seed determinism, parameter ranges, missing and corrupt files (503,
never 500), Wyoming, long-form with Whisper validation (the mechanism: chunks, scores, retries; not the WER
value), and that the server opens no socket off the machine (an audit hook in its interpreter refuses and
records them).
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import shutil
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests import weights_cache
from tests.e2e.conftest import Server, free_port, run_server
from wyoming.audio import AudioChunk, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.tts import Synthesize, SynthesizeVoice

pytestmark = pytest.mark.slow

OFFLINE_SITE = Path(__file__).parent / "offline_site"
ADDRESS_SPACE = 16 * 1024**3
"""The test server's address-space cap: torch reserves far more virtual memory than it touches."""
SENTENCE = "Hello there, this is a test."
REFERENCE_TEXT = "The weather is nice today, and we are going to the park with our friends."
TIMEOUT = 300.0


@dataclass
class NeuralSite:
    server: Server
    wyoming_port: int
    pocket_folder: Path
    pocket_build: Path
    socket_log: Path

    def post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        return httpx.post(f"{self.server.url}{path}", json=body, timeout=TIMEOUT)

    def speech(self, **body: Any) -> httpx.Response:
        return self.post("/v1/synthesize", {"format": "wav", **body})

    def engine(self, name: str) -> dict[str, Any]:
        response = httpx.get(f"{self.server.url}/v1/engines/{name}", timeout=30)
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()
        return data

    def log_count(self, event: str, engine: str) -> int:
        return sum(
            1 for line in self.server.log().splitlines() if event in line and f"engine={engine}" in line
        )


@pytest.fixture(scope="session")
def builds() -> dict[str, Path]:
    """Both tiny checkpoints, built once (in a subprocess: torch stays out of this one) and cached."""
    return {"xtts": weights_cache.neural("xtts"), "pocket": weights_cache.neural("pocket")}


@pytest.fixture(scope="session")
def xtts_build(builds: dict[str, Path]) -> Path:
    return builds["xtts"]


@pytest.fixture(scope="session")
def pocket_build(builds: dict[str, Path]) -> Path:
    return builds["pocket"]


@pytest.fixture(scope="module")
def site(
    tmp_path_factory: pytest.TempPathFactory, xtts_build: Path, pocket_build: Path
) -> Iterator[NeuralSite]:
    """One server: XTTS in DATA_DIR/models/xtts, Pocket's folder (engines.model_dirs) empty at first."""
    base = tmp_path_factory.mktemp("neural-server")
    shutil.copytree(xtts_build, base / "data" / "models" / "xtts")
    pocket_folder = base / "pocket-weights"
    pocket_folder.mkdir()
    socket_log = base / "sockets.log"
    wyoming_port = free_port()
    env = {
        "POLYVOX_ENGINES__MODEL_DIRS": json.dumps({"pocket": str(pocket_folder)}),
        "POLYVOX_ENGINES__TTL": "-1",
        "POLYVOX_ENGINES__WORKERS": "2",
        "POLYVOX_WYOMING__URI": f"tcp://127.0.0.1:{wyoming_port}",
        "POLYVOX_LONGFORM__THRESHOLD_CHARS": "80",
        "POLYVOX_LONGFORM__CHUNK_CHARS": "50",
        "POLYVOX_LONGFORM__VALIDATE_RETRIES": "1",
        "POLYVOX_TEST_SOCKET_LOG": str(socket_log),
        "POLYVOX_TEST_ADDRESS_SPACE": str(ADDRESS_SPACE),
        "PYTHONPATH": os.pathsep.join([str(OFFLINE_SITE), os.environ.get("PYTHONPATH", "")]),
    }
    with run_server(base, **env) as server:
        yield NeuralSite(server, wyoming_port, pocket_folder, pocket_build, socket_log)
    assert server.process.returncode in (0, -15), server.log()


@pytest.fixture(scope="module")
def references(site: NeuralSite) -> dict[str, bytes]:
    """Two library voices with different references: piper's joe, and eSpeak reading the same text."""
    clips = {
        "ref-piper": site.speech(text=REFERENCE_TEXT, engine="piper"),
        "ref-espeak": site.speech(text=REFERENCE_TEXT, engine="espeak"),
    }
    for name, clip in clips.items():
        assert clip.status_code == 200, clip.text
        created = httpx.post(
            f"{site.server.url}/v1/voices",
            data={"name": name, "language": "en-us", "transcript": REFERENCE_TEXT},
            files={"file": ("ref.wav", clip.content, "audio/wav")},
            timeout=60,
        )
        assert created.status_code == 201, created.text
    return {name: clip.content for name, clip in clips.items()}


def wav_info(data: bytes) -> tuple[int, float]:
    """(rate, seconds) of a wav body."""
    with wave.open(io.BytesIO(data), "rb") as handle:
        return handle.getframerate(), handle.getnframes() / handle.getframerate()


def assert_unavailable(response: httpx.Response, *fragments: str) -> None:
    assert response.status_code == 503, response.text
    error = response.json()["error"]
    assert error["code"] == "engine_unavailable"
    for fragment in fragments:
        assert fragment in error["message"], error["message"]


# -- listing and missing weights -----------------------------------------------------------------------
def test_listing_reports_weights_state_folder_and_native_cloning(site: NeuralSite) -> None:
    xtts = site.engine("xtts")
    assert xtts["state"] == "ready" and xtts["missing_files"] == []
    assert xtts["model_dir"].endswith(str(Path("data") / "models" / "xtts"))
    assert xtts["capabilities"]["cloning"] and xtts["capabilities"]["cloning_mode"] == "native"
    assert xtts["sample_rate"] == 24_000
    assert {
        "temperature",
        "top_k",
        "top_p",
        "repetition_penalty",
        "length_penalty",
        "gpt_cond_len",
        "seed",
    } <= set(xtts["parameters"])
    pocket = site.engine("pocket")
    assert pocket["state"] == "needs_weights"
    assert pocket["model_dir"] == str(site.pocket_folder) and pocket["missing_files"] == ["config.yaml"]
    listed = httpx.get(f"{site.server.url}/v1/engines", timeout=30).json()["engines"]
    assert {e["name"]: e["state"] for e in listed}["pocket"] == "needs_weights"
    assert {e["name"]: e["state"] for e in listed}["piper"] == "ready"

    refused = site.post("/v1/audio/speech", {"model": "pocket", "input": SENTENCE, "voice": "random"})
    assert_unavailable(refused, str(site.pocket_folder), "config.yaml")
    assert site.engine("pocket")["loaded"] is False


def test_pocket_folder_filled_later_corrupt_then_good(site: NeuralSite) -> None:
    """The folder is read again on every listing and load: no restart; a corrupt file is a clear 503."""
    shutil.copy(site.pocket_build / "config.yaml", site.pocket_folder / "config.yaml")
    assert site.engine("pocket")["missing_files"] == ["model.safetensors", "tokenizer.model"]
    shutil.copy(site.pocket_build / "tokenizer.model", site.pocket_folder / "tokenizer.model")
    shutil.copytree(site.pocket_build / "voices", site.pocket_folder / "voices")
    (site.pocket_folder / "model.safetensors").write_bytes(b"not a safetensors file" * 10)
    assert site.engine("pocket")["state"] == "ready"
    corrupt = site.speech(text=SENTENCE, engine="pocket", voice="random")
    assert_unavailable(corrupt, "could not load its weights", str(site.pocket_folder))

    shutil.copy(site.pocket_build / "model.safetensors", site.pocket_folder / "model.safetensors")
    spoken = site.speech(text=SENTENCE, engine="pocket", voice="random", seed=5)
    assert spoken.status_code == 200, spoken.text
    rate, seconds = wav_info(spoken.content)
    assert rate == 24_000 and 0.3 < seconds < 20
    again = site.speech(text=SENTENCE, engine="pocket", voice="random", seed=5)
    assert again.content == spoken.content
    other = site.speech(text=SENTENCE, engine="pocket", voice="random", seed=6)
    assert other.status_code == 200 and other.content != spoken.content


# -- XTTS over HTTP: cloning, caching, seeds, ranges ------------------------------------------------
def test_xtts_clones_library_voices_with_cached_latents(
    site: NeuralSite, references: dict[str, bytes]
) -> None:
    before = site.log_count("conditioning_computed", "xtts")
    first = site.speech(text=SENTENCE, engine="xtts", voice="ref-piper", seed=11)
    assert first.status_code == 200, first.text
    rate, seconds = wav_info(first.content)
    assert rate == 24_000 and 0.3 < seconds < 10  # at most gpt_max_audio_tokens of audio per sentence
    assert first.headers["X-Voice"] == "library:ref-piper"
    repeat = site.speech(text=SENTENCE, engine="xtts", voice="ref-piper", seed=11)
    assert repeat.content == first.content  # same seed, same samples
    other = site.speech(text=SENTENCE, engine="xtts", voice="ref-espeak", seed=11)
    assert other.status_code == 200 and other.content != first.content  # the reference conditions it
    assert site.log_count("conditioning_computed", "xtts") == before + 2  # one per reference, reused once

    openai = site.post(
        "/v1/audio/speech",
        {"model": "xtts", "voice": "ada-random", "input": SENTENCE, "response_format": "wav"},
    )
    assert openai.status_code == 200, openai.text
    assert wav_info(openai.content)[0] == 24_000

    assert httpx.delete(f"{site.server.url}/v1/voices/ref-espeak", timeout=30).status_code == 204
    gone = site.speech(text=SENTENCE, engine="xtts", voice="ref-espeak")
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "voice_not_found"
    reused = site.speech(text=SENTENCE, engine="xtts", voice="ref-piper", seed=11)
    assert reused.content == first.content
    assert site.log_count("conditioning_dropped", "xtts") == 1  # ref-espeak's latents are gone


@pytest.mark.parametrize(
    ("field", "value"),
    [("temperature", 5.0), ("top_k", 0), ("top_p", 1.5), ("repetition_penalty", 0.5), ("gpt_cond_len", 99),
     ("seed", -1), ("length_penalty", 50.0)],
)  # fmt: skip
def test_xtts_parameter_out_of_range_is_422(site: NeuralSite, field: str, value: float) -> None:
    response = site.speech(text=SENTENCE, engine="xtts", voice="ada-random", **{field: value})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_parameter" and error["param"] == field


def test_engines_stream_several_pieces_per_sentence(site: NeuralSite) -> None:
    """XTTS (``inference_stream``) and Pocket yield audio before the sentence is finished."""
    for engine in ("xtts", "pocket"):
        pieces = [
            int(line.split("pieces=")[1].split()[0])
            for line in site.server.log().splitlines()
            if "neural_generated" in line and f"engine={engine}" in line
        ]
        assert pieces and max(pieces) >= 2, (engine, pieces)


def test_xtts_parts_reach_the_client_before_the_sentence_is_done(site: NeuralSite) -> None:
    """One sentence streams as several HTTP chunks (resampled part by part to 16 kHz), and its audio is as
    long as the same sentence rendered whole at the native 24 kHz."""
    body = {"text": SENTENCE, "engine": "xtts", "voice": "ada-random", "seed": 5}
    pieces: list[bytes] = []
    stream = {**body, "stream": True, "format": "pcm", "sample_rate": 16_000}
    with httpx.stream("POST", f"{site.server.url}/v1/synthesize", json=stream, timeout=TIMEOUT) as response:
        assert response.status_code == 200, response.read()
        pieces = [piece for piece in response.iter_raw() if piece]
    whole = site.speech(**body)
    assert whole.status_code == 200, whole.text
    rate, whole_seconds = wav_info(whole.content)
    assert rate == 24_000
    assert len(pieces) > 1, "the sentence came in one piece"
    streamed_seconds = sum(len(p) for p in pieces) / 2 / 16_000
    assert abs(streamed_seconds - whole_seconds) < 0.02, (streamed_seconds, whole_seconds)


def test_xtts_over_wyoming(site: NeuralSite) -> None:
    async def speak() -> tuple[int, int]:
        async with AsyncTcpClient("127.0.0.1", site.wyoming_port) as client:
            await client.write_event(
                Synthesize(text=SENTENCE, voice=SynthesizeVoice(name="xtts/bob-random")).event()
            )
            rate, samples = 0, 0
            while True:
                event = await asyncio.wait_for(client.read_event(), TIMEOUT)
                assert event is not None and event.type != "error", event
                if AudioChunk.is_type(event.type):
                    chunk = AudioChunk.from_event(event)
                    rate, samples = chunk.rate, samples + len(chunk.audio) // 2
                if AudioStop.is_type(event.type):
                    return rate, samples

    rate, samples = asyncio.run(speak())
    assert rate == 24_000 and 0.3 < samples / rate < 10


def test_longform_with_whisper_validation_on_neural_engines(
    site: NeuralSite, references: dict[str, bytes]
) -> None:
    """Chunks, Whisper scores and retries are reported; the WER of noise is not the point."""
    text = "The first chunk of this long text is here. And the second chunk of it follows right after."
    for engine, voice in (("pocket", "ref-piper"), ("xtts", "ref-piper")):
        response = site.speech(text=text, engine=engine, voice=voice, validate=True)
        assert response.status_code == 200, response.text
        chunks = int(response.headers["X-Chunks"])
        assert chunks >= 2
        # Whisper hears noise as (nearly) nothing: every chunk fails validation and is synthesized again.
        assert float(response.headers["X-WER"]) > 0.35
        assert int(response.headers["X-Resynthesized"]) == chunks
        assert wav_info(response.content)[0] == 24_000


def _rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def test_unload_gives_memory_back(site: NeuralSite) -> None:
    """XTTS runs in a worker process of its own (torch engines default to it): unload ends that process,
    so all its memory returns to the system (on CUDA its GPU memory too)."""
    loaded = site.engine("xtts")
    assert loaded["loaded"] and loaded["isolation"] == "process"
    pid = loaded["pid"]
    assert pid and pid != site.server.process.pid
    assert loaded["worker_rss"] > 50_000_000 and _rss(pid) > 50_000_000
    unloaded = httpx.post(f"{site.server.url}/v1/engines/xtts/unload", timeout=60).json()
    assert unloaded["loaded"] is False and unloaded["unload_count"] == 1
    assert unloaded["pid"] is None and unloaded["worker_rss"] == 0
    assert not Path(f"/proc/{pid}").exists()  # the worker was reaped, not left a zombie


def test_corrupt_xtts_checkpoint_is_engine_unavailable(site: NeuralSite) -> None:
    """A truncated model.pth (an interrupted download) is a 503 naming the folder, never a 500."""
    folder = site.server.trace_file.parent / "data" / "models" / "xtts"
    good = (folder / "model.pth").read_bytes()
    assert site.engine("xtts")["loaded"] is False  # unloaded by the test before
    try:
        (folder / "model.pth").write_bytes(good[:4096])
        refused = site.speech(text=SENTENCE, engine="xtts", voice="ada-random")
        assert_unavailable(refused, "could not load its weights", str(folder))
        assert site.engine("xtts")["loaded"] is False
    finally:
        (folder / "model.pth").write_bytes(good)


def test_no_socket_left_the_machine(site: NeuralSite) -> None:
    lines = site.socket_log.read_text(encoding="utf-8").splitlines()
    assert f"armed pid={site.server.process.pid}" in lines  # the hook ran in the server's interpreter
    assert [line for line in lines if not line.startswith("armed")] == []
