"""Part-by-part streaming over a real socket, in a thread and in an engine worker process: the first bytes of
a one-sentence request arrive before the engine finished the sentence, and a client that leaves
mid-sentence stops the engine within one part. Ordering is read from the tone engine's per-part trace."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from tests.e2e.conftest import Server, run_server

pytestmark = pytest.mark.slow

DELAY = 0.3
"""Seconds per part: long against one HTTP round trip on a loopback socket."""
SENTENCE = "One two three four five six seven eight."
WORD_BYTES = 3200 * 2  # one tone word: 0.2 s at 16 kHz, s16


@pytest.fixture(scope="module", params=["thread", "process"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    isolation = json.dumps({"tone": request.param})
    directory = tmp_path_factory.mktemp(f"parts-{request.param}")
    with run_server(directory, POLYVOX_ENGINES__ISOLATION=isolation) as running:
        yield running


def tone_request(text: str, parts: int) -> dict[str, Any]:
    return {"text": text, "engine": "tone", "delay": DELAY, "parts": parts, "stream": True, "format": "pcm"}


def settled_trace(server: Server, request_id: str, count: int | None = None) -> list[dict[str, Any]]:
    """The request's trace once ``count`` records are there, or (None) once none came for 3 parts' time."""
    records, last_change = server.trace(request_id), time.monotonic()
    deadline = last_change + 30
    while len(records) != count if count is not None else time.monotonic() - last_change < 3 * DELAY:
        assert time.monotonic() < deadline, f"trace never settled: {records}"
        time.sleep(0.05)
        now = server.trace(request_id)
        if len(now) != len(records):
            records, last_change = now, time.monotonic()
    return records


def test_first_part_arrives_before_the_sentence_is_done(server: Server) -> None:
    request_id = uuid.uuid4().hex
    first_bytes_at: float | None = None
    body = bytearray()
    with httpx.stream(
        "POST",
        f"{server.url}/v1/synthesize",
        json=tone_request(SENTENCE, parts=4),
        headers={"X-Request-ID": request_id},
        timeout=30,
    ) as response:
        assert response.status_code == 200, response.read()
        for piece in response.iter_raw():
            if piece and first_bytes_at is None:
                first_bytes_at = time.time()
            body += piece
    records = settled_trace(server, request_id, count=4)
    assert [(r["segment_index"], r["part"]) for r in records] == [(0, p) for p in range(4)]
    assert first_bytes_at is not None
    # The client held audio of the sentence before the engine had produced its third part.
    assert first_bytes_at < records[2]["end"], (first_bytes_at, records)
    assert len(body) == 8 * WORD_BYTES  # every part, once, in order of length


def test_leaving_mid_sentence_stops_the_engine_within_one_part(server: Server) -> None:
    request_id = uuid.uuid4().hex
    text = " ".join(["word"] * 24) + "."
    with (
        httpx.Client(timeout=30) as client,
        client.stream(
            "POST",
            f"{server.url}/v1/synthesize",
            json=tone_request(text, parts=12),
            headers={"X-Request-ID": request_id},
        ) as response,
    ):
        assert response.status_code == 200
        next(response.iter_raw())
        disconnected_at = time.time()
    records = settled_trace(server, request_id)
    started_after = [r for r in records if r["start"] > disconnected_at]
    assert len(started_after) <= 1, records
    assert len(records) < 12, f"{len(records)} of 12 parts were synthesized"
    deadline = time.monotonic() + 10
    while httpx.get(f"{server.url}/health").json()["active_streams"] != 0:
        assert time.monotonic() < deadline
        time.sleep(0.05)
