"""The API shapes of the servers Polyvox replaces (``polyvox.api.routes.chatterbox_server`` and
``outputs``, the polling monitor), on one piper server whose monitor may read ``logs/``."""

from __future__ import annotations

import functools
import hashlib
import io
import json
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import av
import httpx
import numpy as np
import pytest
from tests.conftest import whisper
from tests.e2e.conftest import Server, run_server
from websockets.asyncio.client import connect

from polyvox.stt.metrics import word_error_rate

pytestmark = pytest.mark.slow

TEXT = "The package will arrive on Tuesday morning."


REFERENCE_TEXT = "Hello there. This is how I sound when I read a few sentences aloud."
MEDIA_HOST = "127.0.0.2"
"""The test's media server: a loopback address the server is told to allow (127.0.0.1 stays refused)."""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Path]]:
    base = tmp_path_factory.mktemp("seed")
    logs = base / "logs"
    logs.mkdir()
    with run_server(
        base / "server",
        POLYVOX_MONITOR__ALLOWED_ROOTS=json.dumps([str(logs)]),
        POLYVOX_VOICES__URL_ALLOW_NETWORKS=json.dumps([f"{MEDIA_HOST}/32"]),
    ) as server:
        yield server, logs


def heard(data: bytes) -> str:
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        samples = np.concatenate([f.to_ndarray().reshape(-1) for f in container.decode(stream)])
        rate = int(stream.rate)
    floats = samples.astype(np.float32) / (32768.0 if samples.dtype.kind == "i" else 1.0)
    return whisper().transcribe(floats, rate).text


def test_tts_as_audio_and_as_url(site: tuple[Server, Path]) -> None:
    server, _ = site
    audio = httpx.post(
        f"{server.url}/api/v1/tts", json={"text": TEXT, "voice": "alloy", "exaggeration": 0.7}, timeout=120
    )
    assert audio.status_code == 200 and audio.content[:4] == b"RIFF"
    assert audio.headers["x-polyvox-ignored"] == "exaggeration"  # piper has no such control
    assert word_error_rate(TEXT, heard(audio.content)) <= 0.15
    linked = httpx.post(
        f"{server.url}/api/v1/tts",
        json={"text": TEXT, "output_format": "mp3", "response": "url"},
        timeout=120,
    )
    body = linked.json()
    assert (
        body["url"].startswith("/api/v1/outputs/") and body["url"].endswith(".mp3") and body["duration"] > 1
    )
    file = httpx.get(f"{server.url}{body['url']}")
    assert file.status_code == 200 and file.headers["content-type"] == "audio/mpeg"
    assert word_error_rate(TEXT, heard(file.content)) <= 0.15
    for name in ("nonesuch.wav", "..%2Fserver.log", ".hidden"):
        assert httpx.get(f"{server.url}/api/v1/outputs/{name}").status_code == 404


def test_tts_errors_are_json(site: tuple[Server, Path]) -> None:
    server, _ = site
    for body, code in [
        ({"text": "..."}, "empty_text"),
        ({"text": "Hi.", "voice": "nobody"}, "voice_not_found"),
    ]:
        response = httpx.post(f"{server.url}/api/v1/tts", json=body, timeout=60)
        assert response.json()["error"]["code"] == code


def test_aliases(site: tuple[Server, Path]) -> None:
    server, _ = site
    assert httpx.get(f"{server.url}/api/v1/health").json()["status"] == "ok"
    assert httpx.get(f"{server.url}/api/v1/config").json() == httpx.get(f"{server.url}/v1/config").json()
    voices = httpx.get(f"{server.url}/api/v1/voices").json()["voices"]
    assert voices == httpx.get(f"{server.url}/v1/audio/voices").json()["voices"]
    ui = httpx.get(f"{server.url}/ui", follow_redirects=True)
    assert ui.status_code == 200 and "<html" in ui.text.lower()
    config = httpx.get(f"{server.url}/v1/synthesis-config").json()
    assert (config["engine"], config["voice"], config["sample_rate"]) == ("piper", "joe", 22050)
    assert "ulaw" in config["formats"] and "marin" in config["openai_voices"]
    vc = httpx.post(f"{server.url}/api/v1/vc", data={"target": "nobody"}, timeout=30)
    assert vc.status_code == 404 and vc.json()["error"]["code"] == "voice_not_found"  # /v1/vc's answer
    paths = httpx.get(f"{server.url}/openapi.json").json()["paths"]
    for path in ("/api/v1/tts", "/api/v1/vc", "/v1/monitor/read-file", "/v1/monitor/process-queue"):
        assert path in paths


async def test_ws_tts_alias(site: tuple[Server, Path]) -> None:
    server, _ = site
    audio = 0
    async with connect(server.url.replace("http://", "ws://") + "/ws/tts") as ws:
        await ws.send(json.dumps({"type": "start", "format": "pcm"}))
        await ws.send(json.dumps({"type": "text", "text": "Hello there. "}))
        await ws.send(json.dumps({"type": "stop"}))
        async for raw in ws:
            audio += len(raw) if isinstance(raw, bytes) else 0
    assert audio > 10000


def test_polling_monitor(site: tuple[Server, Path]) -> None:
    server, logs = site
    log = logs / "chat.log"
    log.write_text("First line is old.\n")
    first = httpx.post(f"{server.url}/v1/monitor/read-file", json={"file_path": str(log)}).json()
    assert first["lines"] == ["First line is old."] and first["line_count"] == 1
    with log.open("a") as handle:
        handle.write(f"{TEXT}\n---\n")
    fresh = httpx.post(
        f"{server.url}/v1/monitor/read-file", json={"file_path": str(log), "last_line_count": 1}
    ).json()
    assert fresh["lines"] == [TEXT, "---"] and fresh["line_count"] == 3
    spoken = httpx.post(
        f"{server.url}/v1/monitor/process-queue",
        json={"file_path": str(log), "last_line_count": 1, "engine": "piper", "format": "mp3"},
        timeout=120,
    ).json()
    assert spoken["line_count"] == 3
    first_item, separator = spoken["items"]
    assert first_item["line"] == TEXT and separator == {"line": "---", "url": None}
    assert word_error_rate(TEXT, heard(httpx.get(f"{server.url}{first_item['url']}").content)) <= 0.15
    outside = httpx.post(f"{server.url}/v1/monitor/read-file", json={"file_path": "/etc/passwd"})
    assert outside.status_code == 403 and outside.json()["error"]["code"] == "path_not_allowed"


@pytest.fixture(scope="module")
def reference(site: tuple[Server, Path], tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """Piper speech from the server's own OpenAI route, as a WAV file to clone."""
    server, _ = site
    response = httpx.post(
        f"{server.url}/v1/audio/speech",
        json={"model": "tts-1", "input": REFERENCE_TEXT, "voice": "alloy", "response_format": "wav"},
        timeout=120,
    )
    assert response.status_code == 200 and response.content[:4] == b"RIFF"
    return response.content


@pytest.fixture(scope="module")
def media(reference: bytes, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A plain HTTP server on ``MEDIA_HOST`` serving the reference as ``ref.wav``."""
    folder = tmp_path_factory.mktemp("media")
    (folder / "ref.wav").write_bytes(reference)
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(folder))
    server = ThreadingHTTPServer((MEDIA_HOST, 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://{MEDIA_HOST}:{server.server_port}"
    server.shutdown()
    server.server_close()


def _reference_voices(server: Server) -> list[str]:
    voices = httpx.get(f"{server.url}/v1/voices").json()["voices"]
    return [v["id"] for v in voices if v["id"].startswith("ref-")]


def test_tts_with_uploaded_reference(site: tuple[Server, Path], reference: bytes) -> None:
    server, _ = site
    voice_id = "ref-" + hashlib.sha256(reference).hexdigest()[:12]
    spoken: list[bytes] = []
    for _ in range(2):  # the same file twice: stored once, reused
        response = httpx.post(
            f"{server.url}/api/v1/tts",
            data={"text": TEXT, "output_format": "wav"},
            files={"reference_audio": ("me.wav", reference, "audio/wav")},
            timeout=180,
        )
        assert response.status_code == 200, response.text
        assert response.content[:4] == b"RIFF"
        spoken.append(response.content)
    assert _reference_voices(server) == [voice_id]
    assert word_error_rate(TEXT, heard(spoken[0])) <= 0.2


def test_tts_with_reference_url(site: tuple[Server, Path], reference: bytes, media: str) -> None:
    server, _ = site
    port = media.rsplit(":", 1)[1]
    refused = httpx.post(
        f"{server.url}/api/v1/tts",
        json={"text": TEXT, "reference_audio_url": f"http://127.0.0.1:{port}/ref.wav"},
        timeout=60,
    )
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "url_refused"
    fetched = httpx.post(
        f"{server.url}/api/v1/tts",
        json={"text": TEXT, "reference_audio_url": f"{media}/ref.wav"},
        timeout=180,
    )
    assert fetched.status_code == 200, fetched.text
    assert _reference_voices(server) == ["ref-" + hashlib.sha256(reference).hexdigest()[:12]]
    assert word_error_rate(TEXT, heard(fetched.content)) <= 0.2


def test_tts_reference_errors(site: tuple[Server, Path], reference: bytes) -> None:
    server, _ = site
    for data, files, status, code in [
        (
            {"text": TEXT},
            {"reference_audio": ("x.wav", b"not audio at all " * 100)},
            415,
            "unsupported_media",
        ),
        (
            {"text": TEXT},
            {"reference_audio": ("x.wav", b"RIFF\0\0\0\0WAVEfmt " + b"\xff" * 300)},
            422,
            "undecodable_audio",
        ),
        (
            {"text": TEXT, "voice": "alloy"},
            {"reference_audio": ("me.wav", reference)},
            422,
            "invalid_parameter",
        ),
        ({"text": TEXT}, {"other": ("me.wav", reference)}, 422, "invalid_parameter"),
    ]:
        response = httpx.post(f"{server.url}/api/v1/tts", data=data, files=files, timeout=60)
        assert (response.status_code, response.json()["error"]["code"]) == (status, code), response.text
    both = httpx.post(
        f"{server.url}/api/v1/tts",
        json={"text": TEXT, "voice": "alloy", "reference_audio_url": "http://127.0.0.1/x.wav"},
        timeout=60,
    )
    assert both.status_code == 422 and both.json()["error"]["code"] == "invalid_parameter"
    schema = httpx.get(f"{server.url}/openapi.json").json()["paths"]["/api/v1/tts"]["post"]["requestBody"]
    assert "reference_audio" in schema["content"]["multipart/form-data"]["schema"]["properties"]
    assert "reference_audio_url" in schema["content"]["application/json"]["schema"]["properties"]
