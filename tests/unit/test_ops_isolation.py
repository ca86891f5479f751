"""Engine isolation: retries, unhealthy engines reloaded on next use, load timeouts, failures in-band."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest
from fastapi.testclient import TestClient
from tests.conftest import make_settings

from polyvox.api.app import create_app
from polyvox.audio.chunk import AudioChunk
from polyvox.engines.base import SynthesisParams, Voice
from polyvox.engines.tone import ToneEngine
from polyvox.errors import EngineFailedError
from polyvox.request import SynthesisRequest
from polyvox.service import Polyvox


class FlakyEngine(ToneEngine):
    """The tone engine, failing with a plain exception for the next ``failures`` calls (class-wide)."""

    failures: ClassVar[int] = 0
    load_gate: ClassVar[threading.Event | None] = None
    """When set, ``load`` waits for it (at most 30 s), as a model still loading does."""

    def load(self) -> None:
        if FlakyEngine.load_gate is not None:
            FlakyEngine.load_gate.wait(30)
        super().load()

    def synthesize(self, text: str, voice: Voice, params: SynthesisParams) -> Iterator[AudioChunk]:
        if FlakyEngine.failures > 0:
            FlakyEngine.failures -= 1
            raise RuntimeError("onnxruntime hiccup")
        yield from super().synthesize(text, voice, params)


@pytest.fixture
def flaky(tmp_path: Path) -> Iterator[Polyvox]:
    FlakyEngine.failures = 0
    FlakyEngine.load_gate = None
    settings = make_settings(tmp_path, engines={"default": "tone"})
    yield Polyvox(settings, {"tone": FlakyEngine})


async def test_one_retry_hides_a_transient_failure(flaky: Polyvox) -> None:
    FlakyEngine.failures = 1
    async with flaky:
        _, chunks = await flaky.synthesizer.synthesize(SynthesisRequest(text="one two"))
        assert sum(c.seconds for c in chunks) == pytest.approx(0.4)
        status = flaky.registry.status("tone")
        assert (status.retries, status.failures, status.healthy) == (1, 0, True)


async def test_failing_engine_is_marked_unhealthy_and_reloaded_on_next_use(flaky: Polyvox) -> None:
    FlakyEngine.failures = 2
    async with flaky:
        with pytest.raises(EngineFailedError, match="hiccup"):
            await flaky.synthesizer.synthesize(SynthesisRequest(text="one two"))
        status = flaky.registry.status("tone")
        assert (status.healthy, status.failures, status.load_count) == (False, 1, 1)
        _, chunks = await flaky.synthesizer.synthesize(SynthesisRequest(text="three"))
        assert chunks
        status = flaky.registry.status("tone")
        assert (status.healthy, status.load_count, status.unload_count) == (True, 2, 1)


async def test_unhealthy_engine_waits_for_other_users_before_reloading(flaky: Polyvox) -> None:
    async with flaky:
        async with flaky.registry.acquire("tone"):
            flaky.registry.mark_unhealthy("tone", "boom")
            async with flaky.registry.acquire("tone"):  # someone still uses it: no reload under them
                assert flaky.registry.status("tone").load_count == 1
        async with flaky.registry.acquire("tone"):
            assert flaky.registry.status("tone").load_count == 2


async def test_load_timeout(tmp_path: Path) -> None:
    # The load is held until the test lets it go: the timeout's error must come while it is still held (a
    # registry that waited for the load would get it only after the gate's 30 s, loaded, and not raise).
    FlakyEngine.load_gate = gate = threading.Event()
    settings = make_settings(tmp_path, engines={"default": "tone"}, limits={"engine_load_timeout": 0.1})
    try:
        async with Polyvox(settings, {"tone": FlakyEngine}) as polyvox:
            with pytest.raises(EngineFailedError, match="did not load within"):
                await polyvox.registry.load("tone")
            assert not gate.is_set() and not polyvox.registry.status("tone").loaded
            gate.set()
    finally:
        FlakyEngine.load_gate = None


def test_engine_exception_mid_stream_is_reported_in_band_and_server_stays_healthy(tmp_path: Path) -> None:
    # Every request's segment 1 fails (settings); single-sentence requests never reach it.
    settings = make_settings(tmp_path, engines={"default": "tone"}, tone={"fail_at": 1})
    with TestClient(create_app(settings)) as client:
        text = "This is the first sentence. This is the second one. And a third."
        body = {"model": "tone", "input": text, "voice": "beep", "stream_format": "sse"}
        response = client.post("/v1/audio/speech", json=body)
        assert response.status_code == 200
        events = [json.loads(line[6:]) for line in response.text.splitlines() if line.startswith("data: ")]
        assert events[0]["type"] == "speech.audio.delta" and base64.b64decode(events[0]["audio"])
        assert events[-1]["type"] == "error"
        assert events[-1]["error"]["code"] == "engine_failed"
        health = client.get("/health").json()
        assert any("tone" in w for w in health["warnings"])
        again = client.post("/v1/synthesize", json={"text": "fine again", "engine": "tone", "format": "pcm"})
        assert again.status_code == 200 and len(again.content) == 2 * 16000 * 0.4
        assert client.get("/health").json()["warnings"] == []
        metrics = client.get("/metrics").text
        assert 'polyvox_syntheses_total{engine="tone",outcome="failed"} 1.0' in metrics
        assert 'polyvox_engine_loads_total{engine="tone"} 2.0' in metrics
