"""The listing, management and speech routes through the in-process app (tone engine as default)."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import threading
import wave
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from tests.conftest import make_settings

from polyvox.api.app import create_app
from polyvox.config import Settings
from polyvox.engines.base import EngineFactory
from polyvox.engines.tone import WORD_SECONDS, ToneEngine


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(
        tmp_path, engines={"default": "tone"}, openai_voices={"alloy": "piper/joe", "nova": "tone/boop"}
    )


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        await app.state.preload_done.wait()
        yield app


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://polyvox") as client:
        yield client


def wav_seconds(data: bytes) -> tuple[float, int]:
    with wave.open(io.BytesIO(data)) as w:
        return w.getnframes() / w.getframerate(), w.getframerate()


# -- native route ---------------------------------------------------------------------------------------
async def test_native_json_and_form_give_the_same_audio(client: httpx.AsyncClient) -> None:
    text = "Hello there. How are you today?"
    as_json = await client.post("/v1/synthesize", json={"text": text, "engine": "tone", "voice": "boop"})
    as_form = await client.post("/v1/synthesize", data={"text": text, "engine": "tone", "voice": "boop"})
    multipart = await client.post(
        "/v1/synthesize", files={"text": (None, text), "engine": (None, "tone"), "voice": (None, "boop")}
    )
    for response in (as_json, as_form, multipart):
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "audio/wav"
        assert response.headers["x-engine"] == "tone"
        assert response.headers["x-voice"] == "boop"
        assert float(response.headers["x-audio-seconds"]) == pytest.approx(6 * WORD_SECONDS, abs=1e-3)
        for name in ("x-synthesis-seconds", "x-real-time-factor", "x-first-chunk-seconds", "x-request-id"):
            assert response.headers[name]
    assert as_json.content == as_form.content == multipart.content
    seconds, rate = wav_seconds(as_json.content)
    assert rate == 16000
    assert seconds == pytest.approx(6 * WORD_SECONDS, abs=1e-3)


async def test_native_options_reach_the_pipeline(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/synthesize",
        data={
            "text": "One two three four.",
            "engine": "tone",
            "sample_rate": "24000",
            "format": "pcm",
            "bit_depth": "24",
            "volume": "0.5",
            "language": "",
            "delay": "0",
        },
        headers={"X-Request-ID": "my-request-1"},
    )
    assert response.status_code == 200, response.text
    assert response.headers["x-request-id"] == "my-request-1"
    assert response.headers["x-sample-rate"] == "24000"
    assert response.headers["content-type"] == "audio/pcm"
    assert len(response.content) == pytest.approx(4 * WORD_SECONDS * 24000 * 3, abs=3 * 24)


async def test_native_streamed_has_no_figures(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/synthesize", json={"text": "One. Two.", "engine": "tone", "stream": True}
    )
    assert response.status_code == 200
    assert response.headers["x-engine"] == "tone"
    assert "x-audio-seconds" not in response.headers
    assert response.content.startswith(b"RIFF")


# -- OpenAI route: model and voice resolution -----------------------------------------------------------
@pytest.mark.parametrize(
    ("fields", "engine", "voice"),
    [
        ({"model": "tts-1"}, "tone", "beep"),
        ({"model": "gpt-4o-mini-tts", "instructions": "Speak cheerfully."}, "tone", "beep"),
        ({"model": "tts-1-hd", "voice": "alloy"}, "tone", "beep"),  # alloy maps to piper: tone's default
        ({"model": "tts-1", "voice": "nova"}, "tone", "boop"),  # nova maps to tone/boop
        ({"model": "tts-1", "voice": "NOVA"}, "tone", "boop"),
        ({"model": "tone", "voice": "boop"}, "tone", "boop"),
        ({"model": "tone/boop", "voice": "alloy"}, "tone", "boop"),
        ({"model": "tts-1", "voice": "tone/boop"}, "tone", "boop"),
        ({"model": "piper", "engine": "tone", "voice": "nova"}, "tone", "boop"),
    ],
)
async def test_model_and_voice_mapping(
    client: httpx.AsyncClient, fields: dict[str, Any], engine: str, voice: str
) -> None:
    response = await client.post(
        "/v1/audio/speech", json={"input": "Hi there.", "response_format": "wav", **fields}
    )
    assert response.status_code == 200, response.text
    assert (response.headers["x-engine"], response.headers["x-voice"]) == (engine, voice)
    assert response.headers["content-type"] == "audio/wav"


async def test_openai_voice_follows_its_mapping_engine(app: FastAPI, client: httpx.AsyncClient) -> None:
    # nova -> tone/boop; with espeak named, the mapping does not apply: espeak's default voice.
    response = await client.post(
        "/v1/audio/speech",
        json={"model": "espeak", "input": "Hi.", "voice": "nova", "response_format": "pcm"},
    )
    assert response.status_code == 200, response.text
    registry = app.state.polyvox.registry
    assert response.headers["x-engine"] == "espeak"
    assert response.headers["x-voice"] == registry.resolve_voice("espeak", None).id


async def test_sse_events(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/audio/speech",
        json={"model": "tone", "input": "One. Two. Three.", "stream_format": "sse", "response_format": "pcm"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = [json.loads(line[6:]) for line in response.text.splitlines() if line.startswith("data: ")]
    deltas = [e for e in events if e["type"] == "speech.audio.delta"]
    # Each sentence arrives as its part, plus the streaming resampler's tail (16 kHz tone → 24 kHz pcm).
    assert len(deltas) >= 3
    assert set(deltas[0]) == {"type", "audio"}
    audio = b"".join(base64.b64decode(e["audio"]) for e in deltas)
    assert len(audio) == round(3 * WORD_SECONDS * 24000) * 2  # OpenAI pcm: 24 kHz
    done = events[-1]
    assert done["type"] == "speech.audio.done"
    assert set(done["usage"]) == {"input_tokens", "output_tokens", "total_tokens"}
    assert done["usage"]["total_tokens"] == done["usage"]["input_tokens"] + done["usage"]["output_tokens"]
    assert done["polyvox"]["audio_seconds"] == pytest.approx(3 * WORD_SECONDS, abs=1e-3)


async def test_sse_error_event_after_audio_started(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, engines={"default": "tone"}, tone={"fail_at": 1})
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://polyvox") as client,
    ):
        response = await client.post(
            "/v1/audio/speech",
            json={
                "input": "One. Two. Three.",
                "model": "tts-1",
                "stream_format": "sse",
                "response_format": "pcm",
            },
        )
        assert response.status_code == 200
        events = [json.loads(line[6:]) for line in response.text.splitlines() if line.startswith("data: ")]
        types = [e["type"] for e in events]
        # The first sentence's audio (its part and the resampler's tail), then the in-band error.
        assert types[-1] == "error" and types[0] == "speech.audio.delta"
        assert set(types[:-1]) == {"speech.audio.delta"}
        assert events[-1] == {
            "type": "error",
            "error": {"code": "engine_failed", "message": "tone engine told to fail at segment 1"},
        }
        # The server is still fine, and the failed stream released its slot.
        assert (await client.get("/health")).json()["active_streams"] == 0


# -- engines, voices, models ----------------------------------------------------------------------------
async def test_engine_listing(client: httpx.AsyncClient) -> None:
    body = (await client.get("/v1/engines")).json()
    assert body["default"] == "tone"
    engines = {e["name"]: e for e in body["engines"]}
    assert {"piper", "kokoro", "espeak", "tone"} <= set(engines)
    tone = engines["tone"]
    assert tone["default"] is True and tone["loaded"] is True
    assert tone["sample_rate"] == 16000
    assert tone["capabilities"]["streaming"] is True
    assert tone["parameters"] == ["delay", "fail_at", "grow_at", "grow_mb", "grow_hold", "parts"]
    assert engines["piper"]["default"] is False
    assert engines["kokoro"]["sample_rate"] == 24000
    for engine in engines.values():
        assert engine["label"] and engine["description"] and engine["languages"]
        assert {"rss_added", "rtf", "load_seconds", "loaded"} <= set(engine)
    one = (await client.get("/v1/engines/piper")).json()
    assert one["name"] == "piper" and one["loaded"] is False


async def test_engine_load_and_unload(client: httpx.AsyncClient) -> None:
    loaded = (await client.post("/v1/engines/espeak/load")).json()
    assert loaded["loaded"] is True
    assert loaded["rtf"] is not None and loaded["rtf"] > 0
    assert loaded["load_seconds"] > 0
    assert loaded["load_count"] == 1
    again = (await client.post("/v1/engines/espeak/load")).json()
    assert again["load_count"] == 1
    unloaded = (await client.post("/v1/engines/espeak/unload")).json()
    assert unloaded["loaded"] is False and unloaded["unload_count"] == 1
    assert (await client.post("/v1/engines/espeak/unload")).status_code == 200


async def test_voice_listings(client: httpx.AsyncClient) -> None:
    voices = (await client.get("/v1/voices")).json()["voices"]
    by_engine = {v["engine"] for v in voices}
    assert {"piper", "kokoro", "espeak", "tone"} <= by_engine
    tone = (await client.get("/v1/voices", params={"engine": "tone"})).json()["voices"]
    assert [v["id"] for v in tone] == ["beep", "boop"]
    japanese = (await client.get("/v1/voices", params={"language": "ja"})).json()["voices"]
    assert japanese and all(v["language"].startswith("ja") or "ja" in v["languages"] for v in japanese)
    assert any(v["id"] == "jf_alpha" for v in japanese)
    simple = (await client.get("/v1/audio/voices")).json()["voices"]
    assert simple and all(set(v) == {"id", "name", "language", "engine", "gender"} for v in simple)
    assert len(simple) == len(voices)


async def test_models(client: httpx.AsyncClient) -> None:
    body = (await client.get("/v1/models")).json()
    assert body["object"] == "list"
    ids = [m["id"] for m in body["data"]]
    assert ids[:2] == ["tts-1", "tts-1-hd"]
    assert {"piper", "kokoro", "espeak", "tone"} <= set(ids)
    for model in body["data"]:
        assert set(model) == {"id", "object", "created", "owned_by"}
        assert model["object"] == "model" and model["owned_by"] == "polyvox"
    assert (await client.get("/v1/models/tts-1")).json()["id"] == "tts-1"
    listing = (await client.get("/models")).json()
    assert listing["current"] == "tone"
    assert [m["id"] for m in listing["models"] if m["default"]] == ["tone"]


async def test_switch_default(client: httpx.AsyncClient) -> None:
    assert (await client.get("/models/current")).json() == {"model": "tone", "loaded": True}
    switched = (await client.post("/models/switch/espeak")).json()
    assert switched == {"model": "espeak", "previous": "tone", "loaded": True}
    response = await client.post(
        "/v1/audio/speech", json={"model": "tts-1", "input": "Hi.", "voice": "alloy"}
    )
    assert response.status_code == 200
    assert response.headers["x-engine"] == "espeak"
    assert (await client.get("/v1/engines")).json()["default"] == "espeak"
    assert (await client.post("/models/switch/tone")).json()["model"] == "tone"


# -- health and readiness -------------------------------------------------------------------------------
async def test_health(client: httpx.AsyncClient) -> None:
    body = (await client.get("/health")).json()
    assert body["status"] == "ok" and body["ready"] is True
    assert body["default_engine"] == "tone"
    assert body["engines"]["tone"] == {"loaded": True, "users": 0}
    assert body["capacity"] == 2 + 64
    assert (await client.get("/ready")).status_code == 200


class GatedEngine(ToneEngine):
    """The tone engine whose load waits for the test to open a gate."""

    gate = threading.Event()

    def load(self) -> None:
        assert self.gate.wait(10)
        super().load()


async def test_ready_only_after_default_engine_loaded(tmp_path: Path) -> None:
    factories: dict[str, EngineFactory] = {"tone": GatedEngine}
    app = create_app(make_settings(tmp_path, engines={"default": "tone"}), factories)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://polyvox") as client,
    ):
        not_ready = await client.get("/ready")
        assert not_ready.status_code == 503
        assert not_ready.json()["ready"] is False
        assert (await client.get("/health")).status_code == 200
        GatedEngine.gate.set()
        await asyncio.wait_for(app.state.preload_done.wait(), 10)
        assert (await client.get("/ready")).json() == {
            "ready": True,
            "default_engine": "tone",
            "detail": None,
        }


# -- OpenAPI --------------------------------------------------------------------------------------------
async def test_openapi_describes_every_route_and_field(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    expected = {
        ("post", "/v1/audio/speech"),
        ("post", "/v1/synthesize"),
        ("get", "/v1/engines"),
        ("get", "/v1/engines/{name}"),
        ("post", "/v1/engines/{name}/load"),
        ("post", "/v1/engines/{name}/unload"),
        ("get", "/v1/voices"),
        ("get", "/v1/audio/voices"),
        ("get", "/v1/models"),
        ("get", "/models"),
        ("get", "/models/current"),
        ("post", "/models/switch/{engine}"),
        ("get", "/health"),
        ("get", "/ready"),
    }
    found = {(method, path) for path, ops in spec["paths"].items() for method in ops}
    assert expected <= found
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            assert op.get("summary") and op.get("description"), (method, path)
    for name, schema in spec["components"]["schemas"].items():
        assert name not in {"HTTPValidationError", "ValidationError"}, "422s must document our error body"
        for field, prop in schema.get("properties", {}).items():
            assert prop.get("description"), f"{name}.{field} has no description"
    native_body = spec["paths"]["/v1/synthesize"]["post"]["requestBody"]["content"]
    assert {"application/json", "application/x-www-form-urlencoded", "multipart/form-data"} <= set(
        native_body
    )
    assert (await client.get("/docs")).status_code == 200
