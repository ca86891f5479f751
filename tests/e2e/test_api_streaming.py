"""Streaming over a real socket, observed through the tone engine's trace: first bytes before the last
segment is done, disconnect cancels the rest, mid-stream faults truncate, and overload answers 429."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.e2e.conftest import Server, run_server

pytestmark = pytest.mark.slow

DELAY = 0.3
SIX_SENTENCES = "One two. Three four. Five six. Seven eight. Nine ten. Eleven twelve."


def tone_request(**fields: Any) -> dict[str, Any]:
    return {
        "text": SIX_SENTENCES,
        "engine": "tone",
        "delay": DELAY,
        "stream": True,
        "format": "wav",
        **fields,
    }


def wait_for_stable_trace(server: Server, request_id: str, quiet: float = 4 * DELAY) -> list[dict[str, Any]]:
    """Poll the trace until no record of the request has appeared for ``quiet`` seconds."""
    records = server.trace(request_id)
    last_change = time.monotonic()
    deadline = last_change + 30
    while time.monotonic() - last_change < quiet:
        assert time.monotonic() < deadline, "trace never settled"
        time.sleep(0.05)
        now = server.trace(request_id)
        if len(now) != len(records):
            records, last_change = now, time.monotonic()
    return records


def test_first_bytes_arrive_before_synthesis_ends(server: Server) -> None:
    request_id = uuid.uuid4().hex
    first_bytes_at: float | None = None
    body = bytearray()
    with (
        httpx.Client(timeout=30) as client,
        client.stream(
            "POST", f"{server.url}/v1/synthesize", json=tone_request(), headers={"X-Request-ID": request_id}
        ) as response,
    ):
        assert response.status_code == 200
        assert response.headers["x-request-id"] == request_id
        for chunk in response.iter_raw():
            if chunk and first_bytes_at is None:
                first_bytes_at = time.time()
            body += chunk
    records = wait_for_stable_trace(server, request_id, quiet=0.2)
    assert [r["segment_index"] for r in records] == list(range(6))
    last_end = max(r["end"] for r in records)
    assert first_bytes_at is not None
    assert first_bytes_at < last_end
    # Streaming, not buffering: the first sentence came while most of the work was still ahead.
    assert last_end - first_bytes_at > 3 * DELAY
    assert len(body) == 44 + 12 * 3200 * 2  # wav header + 12 words of 0.2 s at 16 kHz, s16


def test_disconnect_cancels_the_rest(server: Server) -> None:
    request_id = uuid.uuid4().hex
    text = " ".join(f"Sentence number {n}." for n in range(12))
    client = httpx.Client(timeout=30)
    with client.stream(
        "POST",
        f"{server.url}/v1/synthesize",
        json=tone_request(text=text),
        headers={"X-Request-ID": request_id},
    ) as response:
        assert response.status_code == 200
        next(response.iter_raw())
        disconnected_at = time.time()
        # Leaving the block closes the half-read response, and with it the connection.
    client.close()
    records = wait_for_stable_trace(server, request_id)
    started_after = [r for r in records if r["start"] > disconnected_at]
    assert len(started_after) <= 1, records
    assert len(records) <= 3, f"{len(records)} of 12 segments were synthesized"
    # The stream released its slot.
    deadline = time.monotonic() + 10
    while httpx.get(f"{server.url}/health").json()["active_streams"] != 0:
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_fault_after_first_audio_truncates_the_body(server: Server) -> None:
    request_id = uuid.uuid4().hex
    received = bytearray()
    with (
        httpx.Client(timeout=30) as client,
        client.stream(
            "POST",
            f"{server.url}/v1/synthesize",
            json=tone_request(delay=0, fail_at=2, format="pcm"),
            headers={"X-Request-ID": request_id},
        ) as response,
    ):
        assert response.status_code == 200
        with pytest.raises(httpx.RemoteProtocolError):
            for chunk in response.iter_raw():
                received += chunk
    assert len(received) == 2 * 2 * 3200 * 2  # the two sentences before the fault, nothing after
    assert "stream_truncated" in server.log()
    assert httpx.get(f"{server.url}/health").status_code == 200


def test_non_streamed_fault_is_a_500(server: Server) -> None:
    response = httpx.post(f"{server.url}/v1/synthesize", json=tone_request(delay=0, fail_at=3, stream=False))
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "engine_failed"


@pytest.fixture(scope="module")
def busy_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One worker, no queue: the second concurrent request is refused."""
    with run_server(
        tmp_path_factory.mktemp("busy"),
        POLYVOX_ENGINES__DEFAULT="tone",
        POLYVOX_ENGINES__WORKERS="1",
        POLYVOX_SERVER__MAX_QUEUE="0",
    ) as running:
        yield running


def test_over_capacity_is_429_with_retry_after(busy_server: Server, tmp_path: Path) -> None:
    async def fire() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=busy_server.url, timeout=30) as client:
            body = {"text": "One. Two. Three.", "engine": "tone", "delay": 0.5}
            return await asyncio.gather(*(client.post("/v1/synthesize", json=body) for _ in range(3)))

    responses = asyncio.run(fire())
    statuses = sorted(r.status_code for r in responses)
    assert 200 in statuses and 429 in statuses, statuses
    for response in responses:
        if response.status_code == 429:
            assert response.json()["error"]["code"] == "busy"
            assert int(response.headers["retry-after"]) >= 1
    # Capacity frees up once the running request is done.
    assert (
        httpx.post(f"{busy_server.url}/v1/synthesize", json={"text": "Hi.", "engine": "tone"}).status_code
        == 200
    )


def test_client_giving_up_on_a_whole_response_stops_synthesis(server: Server) -> None:
    request_id = uuid.uuid4().hex
    text = " ".join(f"Sentence number {n}." for n in range(12))
    started = time.time()
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(
            f"{server.url}/v1/synthesize",
            json=tone_request(text=text, stream=False),
            headers={"X-Request-ID": request_id},
            timeout=httpx.Timeout(30, read=2.5 * DELAY),
        )
    gave_up_at = time.time()
    records = wait_for_stable_trace(server, request_id)
    assert len(records) < 12
    # The check runs after each sentence: at most the one running and the one queued after giving up.
    assert len([r for r in records if r["start"] > gave_up_at]) <= 1, (started, gave_up_at, records)
