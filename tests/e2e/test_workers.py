"""Engines in worker processes (``engines.isolation``) behind a real server: piper (real speech) and tone
(exact fault timing) each run in a worker of their own. Speech, the worker's pid/RSS/RTF in /v1/engines,
SIGKILL of a worker mid-stream, a worker over its memory limit, client disconnects and unload."""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest
from tests.conftest import whisper
from tests.e2e.conftest import Server, run_server
from tests.e2e.test_api_streaming import wait_for_stable_trace
from tests.integration.speech import PASSAGE

from polyvox.stt.metrics import word_error_rate

pytestmark = pytest.mark.slow

DELAY = 0.3
SIX = "One two. Three four. Five six. Seven eight. Nine ten. Eleven twelve."
SEGMENT_BYTES = 2 * 3200 * 2  # two tone words of 0.2 s at 16 kHz, s16
MEMORY_LIMIT = 600 * 2**20


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    isolation = json.dumps({"piper": "process", "tone": "process"})
    with run_server(
        tmp_path_factory.mktemp("workers"),
        POLYVOX_ENGINES__ISOLATION=isolation,
        POLYVOX_ENGINES__WORKER_MEMORY_LIMIT=str(MEMORY_LIMIT),
        POLYVOX_ENGINES__TTL="-1",
    ) as running:
        yield running
    assert running.process.returncode in (0, -15), running.log()


def engine(server: Server, name: str) -> dict[str, Any]:
    response = httpx.get(f"{server.url}/v1/engines/{name}", timeout=10)
    assert response.status_code == 200
    data: dict[str, Any] = response.json()
    return data


def stream_pcm(server: Server, body: dict[str, Any], on_first: Any = None) -> tuple[bytes, bool]:
    """Stream a request as raw PCM; returns the bytes and whether the body ended normally."""
    received = bytearray()
    with httpx.stream("POST", f"{server.url}/v1/synthesize", json=body, timeout=60) as response:
        assert response.status_code == 200, response.read()
        try:
            for piece in response.iter_raw():
                if not received and on_first is not None:
                    on_first()
                received += piece
        except httpx.RemoteProtocolError:  # the in-band end of a failed stream: a truncated body
            return bytes(received), False
    return bytes(received), True


def tone(**fields: Any) -> dict[str, Any]:
    return {"text": SIX, "engine": "tone", "delay": DELAY, "stream": True, "format": "pcm", **fields}


def loaded_worker(server: Server, name: str) -> int:
    """Load the engine if needed; its worker's pid."""
    assert httpx.post(f"{server.url}/v1/engines/{name}/load", timeout=120).status_code == 200
    pid = engine(server, name)["pid"]
    assert isinstance(pid, int) and pid != server.process.pid
    return pid


def test_piper_speaks_from_its_worker_process(server: Server) -> None:
    data, complete = stream_pcm(server, {"text": PASSAGE, "engine": "piper", "stream": True, "format": "pcm"})
    assert complete
    samples = np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0
    heard = whisper().transcribe(samples, 22050).text
    assert word_error_rate(PASSAGE, heard) <= 0.10, heard
    status = engine(server, "piper")
    assert status["isolation"] == "process" and status["loaded"]
    assert status["pid"] != server.process.pid and os.path.exists(f"/proc/{status['pid']}")
    assert status["worker_rss"] > 50 * 2**20  # the model lives in the worker
    assert status["rtf"] is not None and 0 < status["rtf"] < 5  # measured in the worker
    # Its math libraries get an engine call's share of the cores (two workers here), not one per core each.
    with open(f"/proc/{status['pid']}/environ") as variables:
        environ = dict(line.split("=", 1) for line in variables.read().split("\0") if "=" in line)
    assert environ["OMP_NUM_THREADS"] == str(max(1, len(os.sched_getaffinity(0)) // 2))


def test_sigkill_mid_stream_ends_it_in_band_and_the_next_request_gets_a_fresh_worker(server: Server) -> None:
    victim = loaded_worker(server, "tone")
    data, complete = stream_pcm(server, tone(), on_first=lambda: os.kill(victim, signal.SIGKILL))
    assert not complete
    assert len(data) % SEGMENT_BYTES == 0 and len(data) < 6 * SEGMENT_BYTES, len(data)
    server.wait_for_log("stream_truncated", "died of signal SIGKILL")
    data, complete = stream_pcm(server, tone(delay=0))
    assert complete and len(data) == 6 * SEGMENT_BYTES
    assert engine(server, "tone")["pid"] not in (None, victim)
    assert httpx.get(f"{server.url}/health").status_code == 200


def test_piper_worker_killed_mid_stream_then_speaks_again(server: Server) -> None:
    victim = loaded_worker(server, "piper")
    text = " ".join(f"This is sentence number {n} of a longer story." for n in range(1, 9))
    body = {"text": text, "engine": "piper", "stream": True, "format": "pcm"}
    data, complete = stream_pcm(server, body, on_first=lambda: os.kill(victim, signal.SIGKILL))
    assert not complete and data
    data, complete = stream_pcm(server, {**body, "text": "Hello again."})
    assert complete and len(data) / 2 / 22050 > 0.4
    assert engine(server, "piper")["pid"] not in (None, victim)


def test_worker_over_its_memory_limit_is_killed_and_reported(server: Server) -> None:
    loaded_worker(server, "tone")
    grow = 2 * MEMORY_LIMIT // 2**20
    # Segment 0 at once; segment 1 grows and holds its memory up to 30 s: the watchdog ends it first.
    data, complete = stream_pcm(server, tone(delay=0, grow_at=1, grow_mb=grow, grow_hold=30))
    assert not complete and len(data) == SEGMENT_BYTES  # segment 0 delivered, segment 1 killed
    assert "engines.worker_memory_limit" in server.log()
    status = engine(server, "tone")
    assert not status["healthy"] and "memory" in status["last_error"]
    warnings = httpx.get(f"{server.url}/health").json()["warnings"]
    assert any("memory" in w for w in warnings), warnings
    data, complete = stream_pcm(server, tone(delay=0))
    assert complete and len(data) == 6 * SEGMENT_BYTES


def test_disconnect_stops_the_worker_within_a_segment(server: Server) -> None:
    request_id = uuid.uuid4().hex
    text = " ".join(f"Sentence number {n}." for n in range(12))
    client = httpx.Client(timeout=30)
    body = tone(text=text, format="wav")
    with client.stream(
        "POST", f"{server.url}/v1/synthesize", json=body, headers={"X-Request-ID": request_id}
    ) as response:
        assert response.status_code == 200
        next(response.iter_raw())
        disconnected_at = time.time()
    client.close()
    records = wait_for_stable_trace(server, request_id, quiet=4 * DELAY)
    assert len([r for r in records if r["start"] > disconnected_at]) <= 1, records
    assert len(records) <= 3, f"{len(records)} of 12 segments were synthesized"


def test_engine_failure_in_the_worker_is_engine_failed(server: Server) -> None:
    response = httpx.post(
        f"{server.url}/v1/synthesize", json={**tone(delay=0, fail_at=0), "stream": False}, timeout=30
    )
    assert response.status_code == 500 and response.json()["error"]["code"] == "engine_failed"


def test_unload_ends_the_worker_process(server: Server) -> None:
    pid = loaded_worker(server, "tone")
    response = httpx.post(f"{server.url}/v1/engines/tone/unload", timeout=30)
    assert response.status_code == 200
    status = engine(server, "tone")
    assert not status["loaded"] and status["pid"] is None and status["worker_rss"] == 0
    assert not os.path.exists(f"/proc/{pid}")  # ended and reaped, its memory back to the system
