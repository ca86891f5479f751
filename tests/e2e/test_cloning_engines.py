"""The cloning engines whose folders a user fills by hand (Chatterbox, its multilingual model, StyleTTS2)
through one real server: tiny random checkpoints of the real architectures, over HTTP and Wyoming.

These are contract tests, not quality tests: the weights are random (tests/e2e/chatterbox_checkpoint.py,
``tests.neural_weights.build_styletts2`` in the official LibriTTS release's layout), so the audio is noise
shaped by the reference. They prove that a folder in the documented layout loads through the user's code
path, that library voices condition the output (once per voice), that seeds, parameter ranges and file
errors behave, and that nothing reaches the network. What every engine shares is one test parametrized over
``ENGINES``; what one engine has or is tested by alone (streamed pieces, the seed driving StyleTTS2's style
diffusion, the OpenAI route, voice conversion, languages) is a test of its own. XTTS and Pocket:
tests/e2e/test_neural_engines.py.

One server holds all three engines (each loads in a worker process of its own), a second one, with empty
folders, the missing- and corrupt-file checks of both.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import time
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from tests import weights_cache
from tests.e2e.conftest import Server, free_port, run_limited_server
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.tts import Synthesize, SynthesizeVoice

RATE = 24_000
"""Every engine here speaks at 24 kHz."""
MEMORY_LIMIT = 14 * 2**30
"""Memory of the server (S3Gen and T3 on the CPU take about 3 GB resident; StyleTTS2 under 1 GB)."""
TWO_SENTENCES = "Hi there. See you."
FLOW_STEPS = 2
"""Chatterbox's S3Gen steps of the HTTP requests, streamed ones included (the real S3Gen is slow on the CPU:
10 steps made the streaming test the slowest of all); Wyoming runs the default 10."""
STYLE_FAST = {"diffusion_steps": 3}
CHECKPOINT_FILES = ("ve.safetensors", "t3_cfg.safetensors", "s3gen.safetensors", "tokenizer.json")
LOOPBACK = ("127.0.0.1", "localhost", "::1")
LONGFORM_TEXT = "The first sentence of the text is here. And the second one follows it."
LONGFORM = {"POLYVOX_LONGFORM__CHUNK_CHARS": "50", "POLYVOX_LONGFORM__VALIDATE_RETRIES": "1"}
"""Long-form settings of the server: one chunk per sentence of LONGFORM_TEXT, one retry each."""


@dataclass(frozen=True)
class Engine:
    """What the shared tests need to know of one cloning engine."""

    name: str
    parameters: frozenset[str]
    fast: dict[str, Any]
    """Request fields that keep its random-weight synthesis short."""
    shortest_hello: float
    """Seconds "Hello." lasts at least over Wyoming (chatterbox ~10 speech tokens, StyleTTS2 ~5 phonemes)."""
    resampled: bool
    """Whether long-form counts it stochastic (``temperature``): a failed chunk is re-sampled by the engine
    itself (seed + 1), so both attempts are noise and the WER stays above the threshold; otherwise the
    fallback engine (piper) speaks it again, resampled to 24 kHz, and Whisper hears speech."""


CHATTERBOX = Engine(
    "chatterbox",
    frozenset({"exaggeration", "cfg_weight", "temperature", "seed"}),
    {"flow_steps": FLOW_STEPS},
    0.2,
    resampled=True,
)
STYLETTS2 = Engine(
    "styletts2",
    frozenset({"alpha", "beta", "diffusion_steps", "embedding_scale", "seed"}),
    STYLE_FAST,
    0.1,
    resampled=False,
)
ENGINES = {engine.name: engine for engine in (CHATTERBOX, STYLETTS2)}
OUT_OF_RANGE = [
    *(("chatterbox", field, value) for field, value in
      [("exaggeration", 5.0), ("cfg_weight", -0.5), ("temperature", 0.0), ("seed", -1), ("seed", 1.5)]),
    *(("styletts2", field, value) for field, value in
      [("alpha", 1.5), ("beta", -0.1), ("diffusion_steps", 0), ("diffusion_steps", 51),
       ("diffusion_steps", 2.5), ("embedding_scale", 11.0), ("seed", -1)]),
]  # fmt: skip

# Every socket connect and name lookup of the server process, written by an audit hook (sitecustomize).
AUDIT_HOOK = """
import json, os, sys
_log = os.environ.get("SOCKET_AUDIT_LOG")
def _record(event, args):
    if event in ("socket.connect", "socket.getaddrinfo"):
        target = args[1] if event == "socket.connect" else args[0]
        with open(_log, "a") as out:
            out.write(json.dumps([event, repr(target)]) + "\\n")
if _log:
    sys.addaudithook(_record)
"""


@pytest.fixture(scope="session")
def checkpoints() -> tuple[Path, Path]:
    """The tiny English and multilingual chatterbox checkpoints, built once in one subprocess (S3Gen peaks
    near 3 GB while built) and cached between runs (tests/weights_cache.py)."""
    return weights_cache.chatterbox(conds=False)


@pytest.fixture(scope="session")
def styletts2_folder() -> Path:
    """The tiny StyleTTS2 checkpoint, built once (in a subprocess: torch stays out of the test process)."""
    return weights_cache.neural("styletts2")


@pytest.fixture(scope="module")
def audit(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A sitecustomize folder that logs sockets, and the log it writes."""
    folder = tmp_path_factory.mktemp("socket-audit")
    (folder / "sitecustomize.py").write_text(AUDIT_HOOK)
    return folder, folder / "sockets.jsonl"


@pytest.fixture(scope="module")
def wyoming_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def site(
    checkpoints: tuple[Path, Path],
    styletts2_folder: Path,
    audit: tuple[Path, Path],
    wyoming_port: int,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Server]:
    """The server under test: piper by default, chatterbox, chatterbox-multilingual and styletts2 reading the
    tiny checkpoints, Wyoming beside it."""
    hook_dir, log = audit
    english, multilingual = checkpoints
    folders = {
        "chatterbox": str(english),
        "chatterbox-multilingual": str(multilingual),
        "styletts2": str(styletts2_folder),
    }
    with run_limited_server(
        tmp_path_factory.mktemp("cloning-server"),
        MEMORY_LIMIT,
        POLYVOX_ENGINES__MODEL_DIRS=json.dumps(folders),
        POLYVOX_ENGINES__TTL="-1",
        POLYVOX_WYOMING__URI=f"tcp://127.0.0.1:{wyoming_port}",
        PYTHONPATH=os.pathsep.join([str(hook_dir), os.getcwd()]),
        SOCKET_AUDIT_LOG=str(log),
        **LONGFORM,
    ) as running:
        yield running
    assert running.process.returncode in (0, -15), running.log()


REFERENCE_PARAMS = {"piper": {"noise_scale": 0.0, "noise_w": 0.0}}
"""The same reference every run: piper samples its delivery, and the conditioning tests compare outputs of
two references through a random-weight model (one sampled reference once came out near the other)."""


def _add_voice(server: Server, name: str, engine: str, voice: str) -> str:
    """A library voice made from ``engine``'s speech (about 1.5 s); returns its id."""
    text = "Good morning, how are you?"
    audio = httpx.post(
        f"{server.url}/v1/synthesize",
        json={
            "text": text,
            "engine": engine,
            "voice": voice,
            "language": "en-us",
            **REFERENCE_PARAMS.get(engine, {}),
        },
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
def voices(site: Server) -> tuple[str, str]:
    """Two library voices from two different speakers (piper's joe, eSpeak's en-us)."""
    return _add_voice(site, "Ref Joe", "piper", "joe"), _add_voice(site, "Ref Espeak", "espeak", "en-us")


def _computed(server: Server, engine: str, voice: str) -> int:
    """How often the server computed ``engine``'s conditioning for ``voice`` (its log says each time)."""
    lines = [line for line in server.log().splitlines() if "conditioning_computed" in line]
    return sum(1 for line in lines if {f"engine={engine}", f"voice={voice}"} <= set(line.split()))


def _engine_entry(server: Server, name: str) -> dict[str, Any]:
    listed = httpx.get(f"{server.url}/v1/engines", timeout=30).json()["engines"]
    found: dict[str, Any] = next(e for e in listed if e["name"] == name)
    return found


# -- what every engine shares -----------------------------------------------------------------------
@pytest.mark.parametrize("engine", ENGINES.values(), ids=ENGINES.keys())
def test_listed_ready_with_its_parameters(site: Server, engine: Engine) -> None:
    entry = _engine_entry(site, engine.name)
    assert entry["state"] == "ready" and entry["missing_files"] == []
    assert entry["sample_rate"] == RATE
    assert entry["capabilities"]["cloning_mode"] == "native"
    assert engine.parameters <= set(entry["parameters"])


@pytest.mark.parametrize(("engine", "field", "value"), OUT_OF_RANGE)
def test_parameter_out_of_range_is_422(site: Server, engine: str, field: str, value: float) -> None:
    body = {"text": "Hi.", "engine": engine, "voice": "library:whoever", field: value}
    response = httpx.post(f"{site.url}/v1/synthesize", json=body, timeout=60)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["param"] == field


# -- chatterbox: streamed pieces, seeds, conditioning ---------------------------------------------------
def _stream(server: Server, voice: str, seed: int, text: str = TWO_SENTENCES) -> tuple[bytes, list[float]]:
    """16-bit PCM of a streamed native chatterbox request, and when each piece of it arrived."""
    body = {
        "text": text,
        "engine": "chatterbox",
        "voice": voice,
        "format": "pcm",
        "stream": True,
        "seed": seed,
        "flow_steps": FLOW_STEPS,
    }
    pieces, arrivals = [], []
    with httpx.stream("POST", f"{server.url}/v1/synthesize", json=body, timeout=600) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["x-sample-rate"] == str(RATE)
        for piece in response.iter_bytes():
            pieces.append(piece)
            arrivals.append(time.monotonic())
    return b"".join(pieces), arrivals


def test_chatterbox_clones_streams_and_seeds(site: Server, voices: tuple[str, str]) -> None:
    joe, espeak = voices
    first, arrivals = _stream(site, joe, seed=7)
    # One piece per sentence at least, the first before the last (arrival order, not a duration).
    assert len(arrivals) >= 2 and arrivals[-1] > arrivals[0]
    seconds = len(first) / 2 / RATE
    assert 0.5 < seconds < 6.0, seconds  # ~15 speech tokens (0.6 s) per sentence, plus pauses
    again, _ = _stream(site, joe, seed=7)
    assert again == first  # same seed, same samples
    other, _ = _stream(site, espeak, seed=7)
    a = np.frombuffer(first, "<i2").astype(np.float32)
    b = np.frombuffer(other, "<i2").astype(np.float32)
    n = min(len(a), len(b))
    assert np.mean(np.abs(a[:n] - b[:n])) > 0.05 * np.mean(np.abs(a[:n]))  # the reference conditions it
    # Conditioning is computed once per voice and reused for the second request.
    assert _computed(site, "chatterbox", joe) == 1 and _computed(site, "chatterbox", espeak) == 1


# -- styletts2: seeds drive the style diffusion, the OpenAI route ---------------------------------------
def _style_pcm(server: Server, voice: str, seed: int) -> np.ndarray:
    body = {"text": TWO_SENTENCES, "engine": "styletts2", "voice": voice, "format": "pcm", "seed": seed}
    response = httpx.post(f"{server.url}/v1/synthesize", json=body | STYLE_FAST, timeout=300)
    assert response.status_code == 200, response.text
    assert response.headers["x-sample-rate"] == str(RATE)
    return np.frombuffer(response.content, "<i2").astype(np.float32)


def test_styletts2_clones_and_seeds(site: Server, voices: tuple[str, str]) -> None:
    joe, espeak = voices
    first = _style_pcm(site, joe, seed=7)
    seconds = first.size / RATE
    assert 0.3 < seconds < 6.0, seconds  # ~14 phonemes at ~3 frames (37 ms) each, plus the pause
    assert np.abs(first).max() > 0  # not silence
    assert np.array_equal(_style_pcm(site, joe, seed=7), first)  # same seed, same samples
    assert not np.array_equal(_style_pcm(site, joe, seed=8), first)  # the seed drives the style diffusion
    other = _style_pcm(site, espeak, seed=7)
    n = min(first.size, other.size)
    assert np.mean(np.abs(first[:n] - other[:n])) > 0.05 * np.mean(np.abs(first[:n]))  # the reference counts
    assert _computed(site, "styletts2", joe) == 1 and _computed(site, "styletts2", espeak) == 1


def test_styletts2_openai_speech_route(site: Server, voices: tuple[str, str]) -> None:
    joe, _ = voices
    speech = httpx.post(
        f"{site.url}/v1/audio/speech",
        json={"model": "styletts2", "voice": joe, "input": "Hello.", "response_format": "wav"},
        timeout=300,
    )
    assert speech.status_code == 200, speech.text
    with wave.open(io.BytesIO(speech.content)) as out:
        assert out.getframerate() == RATE
        seconds = len(out.readframes(2**31 - 1)) / 2 / RATE
    assert 0.1 < seconds < 3.0, seconds


# -- Wyoming and long-form, every engine ------------------------------------------------------------------
@pytest.mark.parametrize("engine", ENGINES.values(), ids=ENGINES.keys())
async def test_wyoming_speaks_a_library_voice(
    site: Server, voices: tuple[str, str], wyoming_port: int, engine: Engine
) -> None:
    _, espeak = voices
    samples, rate = 0, None
    async with AsyncTcpClient("127.0.0.1", wyoming_port) as client:
        voice = SynthesizeVoice(name=f"{engine.name}/library:{espeak}")
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
    assert engine.shortest_hello < samples / RATE < 3.0
    assert _computed(site, engine.name, espeak) == 1  # the cached conditioning again


def validated_longform(server: Server, body: dict[str, object], rate: int) -> httpx.Response:
    """A non-streamed native request of LONGFORM_TEXT with Whisper validation; checks what every engine
    shares: 200, one chunk per sentence, every chunk failed validation (random weights: Whisper hears
    noise) and was synthesized again, audio at the engine's native ``rate``. Returns the response."""
    payload = {"text": LONGFORM_TEXT, "format": "wav", "validate": True, **body}
    response = httpx.post(f"{server.url}/v1/synthesize", json=payload, timeout=600)
    assert response.status_code == 200, response.text
    chunks = int(response.headers["X-Chunks"])
    assert chunks >= 2
    assert int(response.headers["X-Resynthesized"]) == chunks
    with wave.open(io.BytesIO(response.content)) as audio:
        assert audio.getframerate() == rate
        assert len(audio.readframes(2**31 - 1)) / 2 / rate > 0.5
    return response


@pytest.mark.parametrize("engine", ENGINES.values(), ids=ENGINES.keys())
def test_longform_with_whisper_validation(site: Server, voices: tuple[str, str], engine: Engine) -> None:
    """Long-form with Whisper validation (a contract test on random weights). A stochastic engine re-samples
    a failed chunk itself, with the request's seed + 1 (the same seed would give the same samples), and with
    one retry per chunk (LONGFORM) both attempts are noise: the reported WER stays above the threshold.
    Another engine's failed chunk is spoken by the fallback engine (piper), whose speech Whisper hears: the
    WER (the best attempt per chunk) falls under it, proof the fallback spoke, which random weights could
    not."""
    joe, _ = voices
    body = {"engine": engine.name, "voice": joe, "seed": 5, **engine.fast}
    wer = float(validated_longform(site, body, RATE).headers["X-WER"])
    assert wer > 0.35 if engine.resampled else wer <= 0.35, wer


# -- chatterbox only: voice conversion, the multilingual model ---------------------------------------
def test_chatterbox_voice_conversion(site: Server, voices: tuple[str, str]) -> None:
    """With s3gen.safetensors in the folder, /v1/vc converts with Chatterbox's S3Gen (not WORLD)."""
    joe, _ = voices
    source = httpx.post(
        f"{site.url}/v1/synthesize",
        json={"text": "One two three.", "engine": "piper", "format": "wav"},
        timeout=60,
    )
    assert source.status_code == 200
    converted = httpx.post(
        f"{site.url}/v1/vc",
        data={"target": joe, "response_format": "wav"},
        files={"file": ("in.wav", source.content, "audio/wav")},
        timeout=600,
    )
    assert converted.status_code == 200, converted.text
    assert converted.headers["x-converter"] == "chatterbox"
    with wave.open(io.BytesIO(converted.content)) as out, wave.open(io.BytesIO(source.content)) as into:
        assert out.getframerate() == RATE
        seconds_in = into.getnframes() / into.getframerate()
        seconds_out = len(out.readframes(2**31 - 1)) / 2 / RATE  # streamed: the header has no length
    assert abs(seconds_out - seconds_in) < 0.2  # 25 tokens a second, re-spoken at that pace


def test_chatterbox_multilingual_speaks_the_requested_language(site: Server, voices: tuple[str, str]) -> None:
    """chatterbox-multilingual from the multilingual file set (ve.pt, t3_mtl23ls_v2, the MTL tokenizer).

    A contract test, not a quality test: the weights are random, so it proves the languages listed, the
    request's language reaching chatterbox as its ``language_id`` (the engine logs it per segment), 24 kHz
    audio of the rigged length, seeding with a library voice, and the refusal of a language it lacks.
    """
    name = "chatterbox-multilingual"
    entry = _engine_entry(site, name)
    assert entry["state"] == "ready" and entry["missing_files"] == [], entry
    assert {"en-us", "fr", "de", "es", "ja", "zh", "ar", "hi", "sw"} <= set(entry["languages"])
    joe, _ = voices
    # The other models are done with here (chatterbox is only refused below, which loads nothing): their
    # memory goes first.
    for done in ("chatterbox", "styletts2"):
        assert httpx.post(f"{site.url}/v1/engines/{done}/unload", timeout=120).status_code == 200

    def say(text: str, language: str) -> httpx.Response:
        body = {"text": text, "engine": name, "voice": joe, "language": language, "seed": 3, "format": "wav"}
        return httpx.post(f"{site.url}/v1/synthesize", json=body | {"flow_steps": FLOW_STEPS}, timeout=600)

    spoken = {}
    for key, text, language in (
        ("fr", "Bonjour, ça va?", "fr"),
        ("fr again", "Bonjour, ça va?", "fr"),
        ("en", "Hello there.", "en-us"),
    ):
        response = say(text, language)
        assert response.status_code == 200, response.text
        with wave.open(io.BytesIO(response.content)) as audio:
            assert audio.getframerate() == RATE
            spoken[key] = audio.readframes(2**31 - 1)
        assert 0.2 < len(spoken[key]) / 2 / RATE < 2.0  # ~10 speech tokens (0.4 s), the last one dropped
    assert spoken["fr again"] == spoken["fr"]  # same seed, same samples
    told = [line for line in site.log().splitlines() if "chatterbox_language" in line]
    ids = [line.split("language_id=")[1].split()[0].strip("'\"") for line in told]
    assert ids[-3:] == ["fr", "fr", "en"], told
    # Czech is in neither engine's table; French is not the English model's.
    for engine, language in ((name, "cs"), ("chatterbox", "cs"), ("chatterbox", "fr")):
        body = {"text": "Ahoj.", "engine": engine, "voice": joe, "language": language}
        refused = httpx.post(f"{site.url}/v1/synthesize", json=body, timeout=60)
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"]["code"] == "language_not_supported"


def test_chatterbox_multilingual_longform_with_whisper_validation(
    site: Server, voices: tuple[str, str]
) -> None:
    """Long-form with Whisper validation on chatterbox-multilingual (a contract test on random weights):
    stochastic like the English model, so each failed chunk is re-sampled by the same engine and the WER
    of its noise stays above the threshold. Runs after the test above, which loaded the model."""
    name = "chatterbox-multilingual"
    joe, _ = voices
    body = {"engine": name, "voice": joe, "language": "en-us", "seed": 5, "flow_steps": FLOW_STEPS}
    response = validated_longform(site, body, RATE)
    assert float(response.headers["X-WER"]) > 0.35
    assert httpx.post(f"{site.url}/v1/engines/{name}/unload", timeout=120).status_code == 200  # its 3 GB


# -- the network, and folders that lack or break files ------------------------------------------------
def test_no_outbound_socket(site: Server, audit: tuple[Path, Path]) -> None:
    """Every connect and lookup of the server went to this machine (the hook itself is checked first)."""
    hook_dir, log = audit
    probe = hook_dir / "probe.jsonl"
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import socket\ntry: socket.getaddrinfo('huggingface.co', 443)\nexcept OSError: pass",
        ],
        env={**os.environ, "PYTHONPATH": str(hook_dir), "SOCKET_AUDIT_LOG": str(probe)},
        check=True,
        timeout=60,
    )
    assert "huggingface.co" in probe.read_text()
    records = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    outside = [r for r in records if not any(host in r[1] for host in LOOPBACK)]
    assert not outside, outside


@dataclass
class Bare:
    """A server whose chatterbox and styletts2 folders start empty, and a library voice on it."""

    server: Server
    folders: dict[str, Path]
    voice: str


@pytest.fixture(scope="module")
def bare(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bare]:
    base = tmp_path_factory.mktemp("bare-weights")
    folders = {name: base / name for name in ENGINES}
    for folder in folders.values():
        folder.mkdir()
    dirs = json.dumps({name: str(folder) for name, folder in folders.items()})
    with run_limited_server(base / "server", MEMORY_LIMIT, POLYVOX_ENGINES__MODEL_DIRS=dirs) as server:
        yield Bare(server, folders, _add_voice(server, "Ref", "piper", "joe"))
    assert server.process.returncode in (0, -15), server.log()


def test_chatterbox_missing_then_corrupt_files_are_503(checkpoints: tuple[Path, Path], bare: Bare) -> None:
    server, folder, source = bare.server, bare.folders["chatterbox"], checkpoints[0]
    entry = _engine_entry(server, "chatterbox")
    assert entry["state"] == "needs_weights"
    assert entry["model_dir"] == str(folder) and sorted(entry["missing_files"]) == sorted(CHECKPOINT_FILES)
    body = {"text": "Hi.", "engine": "chatterbox", "voice": bare.voice}
    missing = httpx.post(f"{server.url}/v1/synthesize", json=body, timeout=60)
    assert missing.status_code == 503 and missing.json()["error"]["code"] == "engine_unavailable"
    assert "t3_cfg.safetensors" in missing.json()["error"]["message"]

    for name in (*CHECKPOINT_FILES, "t3_config.json"):
        (folder / name).symlink_to(source / name)
    (folder / "t3_cfg.safetensors").unlink()
    (folder / "t3_cfg.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}garbage")
    corrupt = httpx.post(f"{server.url}/v1/synthesize", json=body, timeout=300)
    assert corrupt.status_code == 503, corrupt.text
    error = corrupt.json()["error"]
    assert error["code"] == "engine_unavailable" and str(folder) in error["message"]
    assert httpx.get(f"{server.url}/health").status_code == 200


def test_styletts2_missing_then_corrupt_files_are_503(styletts2_folder: Path, bare: Bare) -> None:
    server, folder = bare.server, bare.folders["styletts2"]

    def entry() -> dict[str, Any]:
        return _engine_entry(server, "styletts2")

    assert entry()["state"] == "needs_weights" and entry()["missing_files"] == ["config.yml"]
    assert entry()["model_dir"] == str(folder)
    body = {"text": "Hi.", "engine": "styletts2", "voice": bare.voice}
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
