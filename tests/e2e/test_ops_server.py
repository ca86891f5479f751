"""Operations against a real server process: SIGTERM with streams in flight, WebSocket auth, bad voices."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import httpx
import pytest
from tests.e2e.conftest import run_server
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

SENTENCES = 5
DELAY = 0.4
TEXT = " ".join(f"Sentence {n}." for n in ("one", "two", "three", "four", "five"))
PCM_BYTES = SENTENCES * 2 * 16000 * 2 * 0.2  # two 0.2 s words per sentence, 16 kHz, 16 bit


def _wait_until_refused(url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=2)
        except httpx.TransportError:
            return
    raise AssertionError(f"{url} still answers 30 s after SIGTERM")


@pytest.mark.slow
def test_sigterm_lets_streams_in_flight_finish(tmp_path: Path) -> None:
    env = {"POLYVOX_ENGINES__DEFAULT": "tone", "POLYVOX_LIMITS__SHUTDOWN_GRACE": "600"}
    with run_server(tmp_path, **env) as server:
        received: list[int] = []
        errors: list[BaseException] = []
        started = threading.Barrier(4)

        def stream() -> None:
            body = {"text": TEXT, "engine": "tone", "format": "pcm", "stream": True, "delay": DELAY}
            try:
                with httpx.stream("POST", f"{server.url}/v1/synthesize", json=body, timeout=30) as response:
                    assert response.status_code == 200
                    size, first = 0, True
                    for piece in response.iter_bytes():
                        size += len(piece)
                        if first:
                            first = False
                            started.wait(timeout=10)
                    received.append(size)
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=stream) for _ in range(3)]
        for thread in threads:
            thread.start()
        started.wait(timeout=10)  # every stream has its first audio
        server.process.send_signal(signal.SIGTERM)
        _wait_until_refused(f"{server.url}/health")  # no longer accepting
        for thread in threads:
            thread.join(timeout=30)
        assert not errors, errors
        assert received == [PCM_BYTES] * 3
        # It ends once the streams are done, not after the 600 s grace.
        assert server.process.wait(timeout=60) == 0
        assert "stream_done" in server.log()


@pytest.mark.slow
def test_websocket_and_http_auth_on_a_real_server(tmp_path: Path) -> None:
    env = {"POLYVOX_ENGINES__DEFAULT": "tone", "POLYVOX_AUTH__API_KEYS": '["s3cret"]'}
    with run_server(tmp_path, **env) as server:
        ws_url = server.url.replace("http", "ws") + "/v1/ws/tts"
        with pytest.raises(InvalidStatus) as refused, connect(ws_url, open_timeout=5):
            pass
        assert refused.value.response.status_code == 401
        with pytest.raises(InvalidStatus), connect(ws_url + "?api_key=wrong", open_timeout=5):
            pass
        with connect(ws_url, additional_headers={"Authorization": "Bearer s3cret"}, open_timeout=5):
            pass
        assert httpx.get(f"{server.url}/v1/engines").status_code == 401
        keyed = httpx.get(f"{server.url}/v1/engines", headers={"Authorization": "Bearer s3cret"})
        assert keyed.status_code == 200
        assert httpx.get(f"{server.url}/metrics").status_code == 200


@pytest.mark.slow
def test_corrupted_voice_files_at_start_up(tmp_path: Path) -> None:
    voices = tmp_path / "voices"
    voices.mkdir()
    (voices / "broken.onnx").write_bytes(b"\x00garbage" * 100)
    (voices / "broken.onnx.json").write_text("{not json")
    (voices / "hollow.onnx").write_bytes(b"not an onnx model")
    (voices / "hollow.onnx.json").write_text(
        '{"audio": {"sample_rate": 22050}, "espeak": {"voice": "en-us"}}'
    )
    with run_server(tmp_path, POLYVOX_VOICES_DIR=str(voices)) as server:
        assert "broken" in server.log()  # the engine reports the unreadable voice
        listed = {v["id"] for v in httpx.get(f"{server.url}/v1/voices?engine=piper").json()["voices"]}
        assert "joe" in listed and "broken" not in listed
        good = {"text": "Still speaking.", "engine": "piper", "voice": "joe", "format": "wav"}
        assert httpx.post(f"{server.url}/v1/synthesize", json=good, timeout=60).status_code == 200
        if "hollow" in listed:  # listed from its config; its model cannot load: a clean error, no crash
            bad = httpx.post(f"{server.url}/v1/synthesize", json=good | {"voice": "hollow"}, timeout=60)
            assert bad.status_code in (404, 422, 500)
            assert "error" in bad.json()
        assert httpx.post(f"{server.url}/v1/synthesize", json=good, timeout=60).status_code == 200
        assert httpx.get(f"{server.url}/health").json()["status"] == "ok"
    assert server.process.returncode == 0
