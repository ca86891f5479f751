"""OpenAI's voice names map to distinct voices of the default engine where it has them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from tests.conftest import make_settings

from polyvox.api.app import create_app
from polyvox.engines.base import Voice
from polyvox.openai_names import OPENAI_VOICES, assignment


def test_names_take_distinct_voices_of_their_gender_first() -> None:
    voices = [
        Voice(id=f"{gender}{i}", name="", engine="x", language="en-us", gender=gender)
        for gender in ("female", "male")
        for i in range(7)
    ] + [Voice(id="french", name="", engine="x", language="fr", gender="female")]
    chosen = assignment(voices, voices[-2])
    assert chosen["alloy"].gender == "female" and chosen["ash"].id == "male6"  # the default voice first
    assert len({v.id for v in chosen.values()}) == 13  # enough voices: no two names share one
    assert all(chosen[name].gender == gender for name, gender in OPENAI_VOICES.items())
    assert "french" not in {v.id for v in chosen.values()}
    only = assignment(voices[:1], voices[0])
    assert {v.id for v in only.values()} == {"female0"}  # one voice: every name speaks with it


@pytest.fixture
async def espeak_client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(make_settings(tmp_path, engines={"default": "espeak"}))
    async with app.router.lifespan_context(app):
        await app.state.preload_done.wait()
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://polyvox") as client:
            yield client


async def test_espeak_speaks_the_names_with_nine_voices(espeak_client: httpx.AsyncClient) -> None:
    heard = {}
    for name in OPENAI_VOICES:
        body = {"model": "tts-1", "voice": name, "input": "Hi.", "response_format": "pcm"}
        response = await espeak_client.post("/v1/audio/speech", json=body)
        assert response.status_code == 200, response.text
        heard[name] = response.headers["x-voice"]
    assert heard["alloy"] == "en-us"  # espeak's default voice
    assert len(set(heard.values())) == 9  # espeak has nine English voices
    assert (voices := list(heard.values()))[:9] == list(dict.fromkeys(voices))
