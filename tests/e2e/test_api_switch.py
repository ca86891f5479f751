"""Switching the default engine under load: nothing fails, and requests keep the engine they started on."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from tests.e2e.conftest import Server

pytestmark = pytest.mark.slow

TEXT = "The default engine may change at any moment. Requests already running keep their engine."


async def _start_streamed(client: httpx.AsyncClient, count: int) -> list[httpx.Response]:
    """Send ``count`` streamed requests naming no engine; return once each has its headers.

    Headers come only after the first sentence is synthesized, so each request has been accepted (and its
    engine chosen) by then; the bodies are still in flight.
    """
    requests = [
        client.build_request("POST", "/v1/synthesize", json={"text": TEXT, "stream": True, "format": "pcm"})
        for _ in range(count)
    ]
    return list(await asyncio.gather(*(client.send(r, stream=True) for r in requests)))


async def _switch(client: httpx.AsyncClient, engine: str) -> None:
    response = await client.post(f"/models/switch/{engine}")
    assert response.status_code == 200, response.text
    assert response.json()["model"] == engine


async def _finish(response: httpx.Response) -> bytes:
    try:
        return await response.aread()
    finally:
        await response.aclose()


def test_switch_default_under_load(server: Server) -> None:
    async def scenario() -> None:
        async with httpx.AsyncClient(base_url=server.url, timeout=120) as client:
            assert (await client.get("/models/current")).json()["model"] == "piper"
            wave1 = await _start_streamed(client, 7)  # accepted while piper is the default
            await _switch(client, "espeak")
            wave2 = await _start_streamed(client, 7)  # accepted while espeak is the default
            await _switch(client, "piper")
            body = {"text": TEXT, "format": "wav"}
            wave3 = list(await asyncio.gather(*(client.post("/v1/synthesize", json=body) for _ in range(6))))
            bodies = await asyncio.gather(*(_finish(r) for r in wave1 + wave2))

            for response in wave1 + wave2 + wave3:
                assert response.status_code == 200
            assert {r.headers["x-engine"] for r in wave1} == {"piper"}
            assert {r.headers["x-engine"] for r in wave2} == {"espeak"}
            assert {r.headers["x-engine"] for r in wave3} == {"piper"}
            # Every in-flight stream finished on its engine, complete: seconds of speech each.
            for response, data in zip(wave1 + wave2, bodies, strict=True):
                rate = int(response.headers["x-sample-rate"])
                assert len(data) / 2 / rate > 2.0
            for response in wave3:
                assert float(response.headers["x-audio-seconds"]) > 2.0
            assert len(wave1 + wave2 + wave3) == 20
            health = (await client.get("/health")).json()
            assert health["default_engine"] == "piper"
            assert health["active_streams"] == 0

    asyncio.run(scenario())
