"""SSML through the native API with the tone engine: breaks and rates change durations exactly."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from polyvox.api.app import create_app
from polyvox.config import Settings

WORD = 0.2  # the tone engine: 150 ms tone + 50 ms gap per word
RATE = 16_000


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        data_dir=tmp_path,
        engines={"enable_test_engines": True, "default": "tone", "workers": 2},
        server={"preload_default": False},
    )
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://polyvox") as client,
    ):
        yield client


async def seconds(client: httpx.AsyncClient, text: str, **fields: object) -> float:
    reply = await client.post(
        "/v1/synthesize", json={"text": text, "engine": "tone", "format": "pcm", **fields}
    )
    assert reply.status_code == 200, reply.text
    return len(reply.content) / 2 / RATE


async def test_break_adds_its_time_and_prosody_rate_stretches_a_piece(client: httpx.AsyncClient) -> None:
    plain = await seconds(client, "one two three four")
    assert plain == pytest.approx(4 * WORD, abs=1e-9)
    paused = await seconds(client, '<speak>one two <break time="1s"/> three four</speak>')
    assert paused - plain == pytest.approx(1.0, abs=1e-9)
    slow = await seconds(client, '<speak>one two <prosody rate="50%">three four</prosody></speak>')
    assert slow == pytest.approx(2 * WORD + 2 * (2 * WORD), abs=1e-9)  # the piece lasts twice as long


async def test_input_type_selects_ssml_or_plain_text(client: httpx.AsyncClient) -> None:
    document = '<speak>one <break time="500ms"/> two</speak>'
    assert await seconds(client, document, input_type="ssml") == pytest.approx(2 * WORD + 0.5, abs=1e-9)
    # As plain text the markup is read as words, not obeyed.
    as_text = await seconds(client, document, input_type="text")
    assert as_text != pytest.approx(2 * WORD + 0.5, abs=1e-3)
    reply = await client.post("/v1/synthesize", json={"text": "<speak>one <break", "engine": "tone"})
    assert reply.status_code == 422  # invalid_parameter, answered before any audio
    error = reply.json()["error"]
    assert error["code"] == "invalid_parameter" and error["param"] == "text"
