"""``limits.request_timeout``: a synthesis that runs too long is stopped, its queued segments cancelled.

The tone engine sleeps ``delay`` seconds per segment, so the timing is known: before the first audio the
front door answers 504 ``timeout``; after it, the error travels in-band (SSE ``error`` event).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from tests.conftest import make_settings, pool_drained, read_trace, stream_tasks

from polyvox.api.app import create_app
from polyvox.errors import RequestTimeoutError
from polyvox.request import SynthesisRequest
from polyvox.service import Polyvox

FIVE = "One one. Two two. Three three. Four four. Five five."


def _polyvox(tmp_path: Path, timeout: float, delay: float, trace: Path) -> Polyvox:
    settings = make_settings(
        tmp_path,
        engines={"default": "tone", "workers": 1},
        limits={"request_timeout": timeout},
        tone={"delay": delay, "trace_file": trace},
    )
    return Polyvox(settings)


async def test_timeout_before_first_audio_raises_at_open(tmp_path: Path, trace_file: Path) -> None:
    async with _polyvox(tmp_path, timeout=0.2, delay=0.6, trace=trace_file) as polyvox:
        await polyvox.registry.load("tone")
        with pytest.raises(RequestTimeoutError) as raised:
            await polyvox.synthesizer.open(SynthesisRequest(text=FIVE))
        raised_at = time.time()
        assert raised.value.status == 504 and raised.value.code == "timeout"
        assert polyvox.synthesizer.active_streams == 0  # released
        await pool_drained(polyvox)
        trace = read_trace(trace_file)
        assert len(trace) == 1 and trace[0]["end"] > raised_at  # it did not wait for the 0.6 s segment


async def test_timeout_mid_stream_stops_and_cancels_the_rest(tmp_path: Path, trace_file: Path) -> None:
    async with _polyvox(tmp_path, timeout=0.5, delay=0.2, trace=trace_file) as polyvox:
        await polyvox.registry.load("tone")
        stream = await polyvox.synthesizer.open(SynthesisRequest(text=FIVE))
        assert len(stream.segments) == 5
        got = 0
        with pytest.raises(RequestTimeoutError):
            async for _ in stream:
                got += 1
        assert 1 <= got < 5
        assert stream.error is not None and stream.error.code == "timeout"
        assert polyvox.synthesizer.active_streams == 0
        await pool_drained(polyvox)  # anything still queued or running has ended: the trace is complete
        assert stream_tasks() == []  # and nothing is left that could start another segment
        trace = read_trace(trace_file)
        assert len(trace) < 5  # the segments after the timeout never ran
        assert len(trace) <= got + 1  # at most the one segment in flight when the time ran out


async def test_no_timeout_when_zero_or_fast_enough(tmp_path: Path, trace_file: Path) -> None:
    async with _polyvox(tmp_path, timeout=0.0, delay=0.1, trace=trace_file) as polyvox:
        _, chunks = await polyvox.synthesizer.synthesize(SynthesisRequest(text=FIVE))
        assert len(chunks) == 5


def _client(tmp_path: Path, timeout: float, delay: float) -> TestClient:
    settings = make_settings(
        tmp_path,
        engines={"default": "tone", "workers": 1},
        limits={"request_timeout": timeout},
        tone={"delay": delay},
    )
    return TestClient(create_app(settings))


def test_http_answers_504_before_the_first_byte(tmp_path: Path) -> None:
    with _client(tmp_path, timeout=0.2, delay=0.5) as client:
        body = {"text": FIVE, "engine": "tone", "format": "pcm", "stream": True}
        response = client.post("/v1/synthesize", json=body)
        assert response.status_code == 504
        assert response.json()["error"]["code"] == "timeout"
        speech = {"model": "tone", "input": FIVE, "voice": "beep", "response_format": "pcm"}
        assert client.post("/v1/audio/speech", json=speech).status_code == 504


def test_sse_reports_a_timeout_after_streaming_started(tmp_path: Path) -> None:
    with _client(tmp_path, timeout=0.5, delay=0.2) as client:
        speech = {
            "model": "tone",
            "input": FIVE,
            "voice": "beep",
            "response_format": "pcm",
            "stream_format": "sse",
        }
        response = client.post("/v1/audio/speech", json=speech)
        assert response.status_code == 200
        events = [json.loads(line[6:]) for line in response.text.splitlines() if line.startswith("data: ")]
        kinds = [event["type"] for event in events]
        assert kinds[0] == "speech.audio.delta"
        assert kinds[-1] == "error" and "speech.audio.done" not in kinds
        assert events[-1]["error"]["code"] == "timeout"
