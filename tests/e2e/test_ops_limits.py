"""Limits against a real server: request timeout, WebSocket idle timeout and message cap, body cap.

One server, tight limits: ``limits.request_timeout`` 1 s, ``realtime.idle_timeout`` 1 s,
``realtime.max_message_bytes`` 2 KiB and ``limits.max_body_bytes`` 4 KiB; the tone engine's per-segment
``delay`` makes every timing known.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from tests.e2e.conftest import Server, run_server
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

IDLE = 1.0
MAX_MESSAGE = 2048
MAX_BODY = 4096
FIVE = "One one. Two two. Three three. Four four. Five five."


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    env = {
        "POLYVOX_ENGINES__DEFAULT": "tone",
        "POLYVOX_LIMITS__REQUEST_TIMEOUT": "1.0",
        "POLYVOX_LIMITS__MAX_BODY_BYTES": str(MAX_BODY),
        "POLYVOX_REALTIME__IDLE_TIMEOUT": str(IDLE),
        "POLYVOX_REALTIME__MAX_MESSAGE_BYTES": str(MAX_MESSAGE),
    }
    with run_server(tmp_path_factory.mktemp("limited"), **env) as running:
        yield running
    assert running.process.returncode in (0, -15), running.log()


def ws(server: Server, route: str) -> ClientConnection:
    return connect(server.url.replace("http://", "ws://") + route, open_timeout=10, max_size=None)


def receive_json(socket: ClientConnection, timeout: float = 5.0) -> dict[str, Any]:
    """The next JSON message, skipping binary audio frames."""
    while True:
        frame = socket.recv(timeout=timeout)
        if isinstance(frame, str):
            message: dict[str, Any] = json.loads(frame)
            return message


# -- per-request timeout ------------------------------------------------------------------------------
@pytest.mark.slow
def test_request_timeout_504_before_audio_and_truncation_after(limited: Server) -> None:
    slow = {"text": FIVE, "engine": "tone", "format": "pcm", "stream": True, "delay": 1.5}
    refused = httpx.post(f"{limited.url}/v1/synthesize", json=slow, timeout=10)
    assert refused.status_code == 504
    assert refused.json()["error"]["code"] == "timeout"
    received = bytearray()
    body = slow | {"delay": 0.4}  # first segment at 0.4 s, then the 1 s budget runs out mid-stream
    with httpx.stream("POST", f"{limited.url}/v1/synthesize", json=body, timeout=10) as response:
        assert response.status_code == 200
        with pytest.raises(httpx.RemoteProtocolError):  # the body ends without its terminating chunk
            for piece in response.iter_raw():
                received += piece
    assert 0 < len(received) < 5 * 2 * 3200 * 2
    assert "timeout" in limited.log() and "stream_truncated" in limited.log()


# -- WebSocket message cap ----------------------------------------------------------------------------
@pytest.mark.slow
def test_ws_tts_oversized_message_is_refused_and_the_socket_stays_usable(limited: Server) -> None:
    with ws(limited, "/v1/ws/tts") as socket:
        socket.send(json.dumps({"type": "text", "text": "x" * (MAX_MESSAGE + 1)}))
        error = receive_json(socket)
        assert error["type"] == "error" and error["code"] == "message_too_large"
        socket.send(b"\x00" * (MAX_MESSAGE + 1))
        assert receive_json(socket)["code"] == "message_too_large"
        socket.send(json.dumps({"type": "start", "engine": "tone"}))
        assert receive_json(socket)["type"] == "started"
        socket.send(json.dumps({"type": "text", "text": "Still here.", "flush": True}))
        socket.send(json.dumps({"type": "stop"}))
        kinds = []
        while "done" not in kinds:
            kinds.append(receive_json(socket)["type"])
        assert "text_chunk" in kinds


@pytest.mark.slow
def test_ws_converse_oversized_audio_frame_is_dropped(limited: Server) -> None:
    with ws(limited, "/v1/ws/converse") as socket:
        socket.send(json.dumps({"type": "start", "engine": "tone", "sample_rate": 16000}))
        assert receive_json(socket)["type"] == "started"
        socket.send(b"\x00\x00" * MAX_MESSAGE)  # 4 KiB of audio in one frame: over the 2 KiB cap
        assert receive_json(socket)["code"] == "message_too_large"
        socket.send(json.dumps({"type": "nonsense"}))  # still answered: the socket is usable
        assert receive_json(socket)["code"] == "unknown_type"


@pytest.mark.slow
def test_ws_frame_beyond_the_transport_ceiling_closes_with_1009(limited: Server) -> None:
    with ws(limited, "/v1/ws/tts") as socket:
        socket.send(b"\x00" * (17 * 1024 * 1024))  # uvicorn's ws_max_size is 16 MiB
        with pytest.raises(ConnectionClosed) as closed:
            receive_json(socket, timeout=10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


# -- WebSocket idle timeout ---------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("route", ["/v1/ws/tts", "/v1/ws/converse"])
def test_idle_socket_is_told_and_closed_with_1001(limited: Server, route: str) -> None:
    with ws(limited, route) as socket:
        started = time.monotonic()
        error = receive_json(socket, timeout=5)
        waited = time.monotonic() - started
        assert error["type"] == "error" and error["code"] == "idle_timeout"
        assert waited >= IDLE * 0.9  # not before the idle timeout (receive_json bounds the wait above)
        with pytest.raises(ConnectionClosed) as closed:
            socket.recv(timeout=5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001


@pytest.mark.slow
def test_audio_going_out_keeps_a_quiet_client_connected(limited: Server) -> None:
    with ws(limited, "/v1/ws/tts") as socket:
        socket.send(json.dumps({"type": "start", "engine": "tone", "extra": {"delay": 0.6}}))
        assert receive_json(socket)["type"] == "started"
        socket.send(json.dumps({"type": "text", "text": FIVE, "flush": True}))
        started = time.monotonic()
        chunks = 0
        while chunks < 5:  # ~3 s of replies, one every 0.6 s: longer than the idle timeout
            message = receive_json(socket)
            assert message["type"] == "text_chunk", message
            chunks += 1
        assert time.monotonic() - started > IDLE * 2
        assert receive_json(socket)["code"] == "idle_timeout"  # then quiet both ways: closed


# -- request body cap without Content-Length -----------------------------------------------------------
@pytest.mark.slow
def test_chunked_body_without_content_length_is_capped(limited: Server) -> None:
    def pieces(total: int) -> Iterator[bytes]:
        text = json.dumps({"text": "a " * (total // 2), "engine": "tone", "format": "pcm"}).encode()
        for i in range(0, len(text), 1024):
            yield text[i : i + 1024]

    with httpx.Client(timeout=10) as client:
        json_type = {"Content-Type": "application/json"}
        big = client.post(f"{limited.url}/v1/synthesize", content=pieces(MAX_BODY * 3), headers=json_type)
        assert "content-length" not in big.request.headers  # streamed: chunked transfer
        assert big.request.headers["transfer-encoding"] == "chunked"
        assert big.status_code == 413
        assert big.json()["error"]["code"] == "payload_too_large"
        small = client.post(
            f"{limited.url}/v1/synthesize",
            content=pieces(200),
            headers=json_type,
        )
        assert small.status_code == 200, small.text
        speech = {"model": "tone", "input": "a " * MAX_BODY, "voice": "beep"}
        blob = json.dumps(speech).encode()
        openai = client.post(
            f"{limited.url}/v1/audio/speech",
            content=iter([blob[:1000], blob[1000:]]),
            headers=json_type,
        )
        assert openai.status_code == 413  # FastAPI-parsed bodies get the same answer
