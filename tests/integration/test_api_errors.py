"""Every error a client can provoke, through the in-process app: documented status, code and param."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from tests.conftest import make_settings

from polyvox.api.app import create_app
from polyvox.config import Settings

MAX_TEXT = 300


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[FastAPI]:
    settings = make_settings(tmp_path, engines={"default": "tone"}, max_text_length=MAX_TEXT)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        await app.state.preload_done.wait()
        yield app


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://polyvox") as client:
        yield client


SPEECH = "/v1/audio/speech"
NATIVE = "/v1/synthesize"


def speech(**fields: Any) -> dict[str, Any]:
    return {"json": {"model": "tone", "input": "Hello there.", **fields}}


def native(**fields: Any) -> dict[str, Any]:
    return {"json": {"engine": "tone", "text": "Hello there.", **fields}}


# (id, method, path, request kwargs, status, code, param)
CASES: list[tuple[str, str, str, dict[str, Any], int, str, str | None]] = [
    ("speech-missing-input", "POST", SPEECH, {"json": {"model": "tone"}}, 422, "invalid_parameter", "input"),
    ("speech-empty-input", "POST", SPEECH, speech(input=""), 422, "empty_text", "text"),
    ("speech-blank-input", "POST", SPEECH, speech(input="  \n "), 422, "empty_text", "text"),
    ("speech-too-long", "POST", SPEECH, speech(input="word " * MAX_TEXT), 413, "text_too_long", "text"),
    ("speech-unknown-model", "POST", SPEECH, speech(model="nope"), 404, "engine_not_found", "model"),
    ("speech-unknown-engine", "POST", SPEECH, speech(engine="nope"), 404, "engine_not_found", "engine"),
    ("speech-unknown-voice", "POST", SPEECH, speech(voice="nope"), 404, "voice_not_found", "voice"),
    ("speech-model-voice", "POST", SPEECH, speech(model="tone/nope"), 404, "voice_not_found", "voice"),
    (
        "speech-format",
        "POST",
        SPEECH,
        speech(response_format="ogg"),
        422,
        "unsupported_format",
        "response_format",
    ),
    ("speech-speed-high", "POST", SPEECH, speech(speed=4.5), 422, "invalid_parameter", "speed"),
    ("speech-speed-low", "POST", SPEECH, speech(speed=0.1), 422, "invalid_parameter", "speed"),
    ("speech-speed-text", "POST", SPEECH, speech(speed="fast"), 422, "invalid_parameter", "speed"),
    ("speech-rate", "POST", SPEECH, speech(sample_rate=1000), 422, "invalid_parameter", "sample_rate"),
    ("speech-bit-depth", "POST", SPEECH, speech(bit_depth=12), 422, "invalid_parameter", "bit_depth"),
    ("speech-24bit-mp3", "POST", SPEECH, speech(bit_depth=24), 422, "invalid_parameter", "bit_depth"),
    (
        "speech-stream-format",
        "POST",
        SPEECH,
        speech(stream_format="ws"),
        422,
        "invalid_parameter",
        "stream_format",
    ),
    ("speech-language", "POST", SPEECH, speech(language="xx"), 422, "language_not_supported", "language"),
    (
        "speech-voice-of-other-engine",
        "POST",
        SPEECH,
        speech(voice="piper/joe"),
        422,
        "invalid_parameter",
        "voice",
    ),
    (
        "speech-bad-json",
        "POST",
        SPEECH,
        {"content": b'{"input": ', "headers": {"content-type": "application/json"}},
        422,
        "invalid_parameter",
        "body",
    ),
    ("speech-form", "POST", SPEECH, {"data": {"input": "hi"}}, 415, "unsupported_media", "content-type"),
    (
        "speech-text-plain",
        "POST",
        SPEECH,
        {"content": b"hi", "headers": {"content-type": "text/plain"}},
        415,
        "unsupported_media",
        "content-type",
    ),
    ("native-missing-text", "POST", NATIVE, {"json": {"engine": "tone"}}, 422, "invalid_parameter", "text"),
    ("native-empty-form-text", "POST", NATIVE, {"data": {"text": ""}}, 422, "empty_text", "text"),
    ("native-too-long", "POST", NATIVE, native(text="x" * (MAX_TEXT + 1)), 413, "text_too_long", "text"),
    ("native-unknown-engine", "POST", NATIVE, native(engine="nope"), 404, "engine_not_found", "engine"),
    ("native-unknown-voice", "POST", NATIVE, native(voice="nope"), 404, "voice_not_found", "voice"),
    ("native-format", "POST", NATIVE, native(format="ogg"), 422, "unsupported_format", "format"),
    (
        "native-form-format",
        "POST",
        NATIVE,
        {"data": {"text": "hi", "format": "wma"}},
        422,
        "unsupported_format",
        "format",
    ),
    (
        "native-form-speed",
        "POST",
        NATIVE,
        {"data": {"text": "hi", "speed": "9"}},
        422,
        "invalid_parameter",
        "speed",
    ),
    ("native-volume", "POST", NATIVE, native(volume=5), 422, "invalid_parameter", "volume"),
    ("native-stream-flag", "POST", NATIVE, native(stream="perhaps"), 422, "invalid_parameter", "stream"),
    ("native-delay-type", "POST", NATIVE, native(delay="slow"), 422, "invalid_parameter", "delay"),
    ("native-json-array", "POST", NATIVE, {"json": ["hi"]}, 422, "invalid_parameter", "body"),
    (
        "native-text-plain",
        "POST",
        NATIVE,
        {"content": b"hi", "headers": {"content-type": "text/plain"}},
        415,
        "unsupported_media",
        "content-type",
    ),
    ("native-no-content-type", "POST", NATIVE, {"content": b"hi"}, 415, "unsupported_media", "content-type"),
    (
        "native-file-field",
        "POST",
        NATIVE,
        {"data": {"text": "hi"}, "files": {"voice": ("v.wav", b"RIFF")}},
        422,
        "invalid_parameter",
        "voice",
    ),
    ("native-fails-first-segment", "POST", NATIVE, native(fail_at=0), 500, "engine_failed", None),
    ("engine-unknown", "GET", "/v1/engines/nope", {}, 404, "engine_not_found", "engine"),
    ("engine-load-unknown", "POST", "/v1/engines/nope/load", {}, 404, "engine_not_found", "engine"),
    ("engine-unload-unknown", "POST", "/v1/engines/nope/unload", {}, 404, "engine_not_found", "engine"),
    ("voices-unknown-engine", "GET", "/v1/voices?engine=nope", {}, 404, "engine_not_found", "engine"),
    ("model-unknown", "GET", "/v1/models/nope", {}, 404, "engine_not_found", "model"),
    ("switch-unknown", "POST", "/models/switch/nope", {}, 404, "engine_not_found", "engine"),
    ("library-unknown", "GET", "/v1/voices/my", {}, 404, "voice_not_found", "voice"),
    ("library-preview-unknown", "GET", "/v1/voices/my/preview", {}, 404, "voice_not_found", "voice"),
    ("library-delete-unknown", "DELETE", "/v1/voices/my", {}, 404, "voice_not_found", "voice"),
    ("no-route", "GET", "/v2/nothing", {}, 404, "not_found", None),
    ("wrong-method", "GET", SPEECH, {}, 405, "method_not_allowed", None),
]


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "code", "param"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
async def test_error_cases(
    client: httpx.AsyncClient,
    method: str,
    path: str,
    kwargs: dict[str, Any],
    status: int,
    code: str,
    param: str | None,
) -> None:
    response = await client.request(method, path, **kwargs)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert error["code"] == code
    assert error["param"] == param
    assert error["message"]
    assert error["type"] == ("server_error" if status >= 500 else "invalid_request_error")


async def test_body_far_over_the_limit_is_refused_before_reading(client: httpx.AsyncClient) -> None:
    response = await client.post(SPEECH, json={"input": "x" * (MAX_TEXT * 4 + 70_000)})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    # The native route runs long-form jobs: its bodies may carry up to longform.max_chars.
    long_limit = Settings().longform.max_chars
    response = await client.post(NATIVE, json={"text": "x" * (MAX_TEXT * 4 + 70_000)})
    assert response.status_code == 200  # 2,000+ characters: a long-form job of the tone engine
    response = await client.post(NATIVE, json={"text": "x" * (long_limit * 4 + 70_000)})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


async def test_hidden_test_engine_is_unknown(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, engines={"default": "espeak", "enable_test_engines": False})
    settings.server.preload_default = False
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://polyvox") as client,
    ):
        response = await client.post(NATIVE, json={"engine": "tone", "text": "Hello."})
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "engine_not_found"
        names = [e["name"] for e in (await client.get("/v1/engines")).json()["engines"]]
        assert "tone" not in names


async def test_busy_is_429_with_retry_after(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, engines={"default": "tone", "workers": 1}, server={"max_queue": 0})
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://polyvox") as client,
    ):
        # Hold the only slot with an open stream, as a slow request would.
        from polyvox.request import SynthesisRequest

        stream = await app.state.polyvox.synthesizer.open(SynthesisRequest(text="One. Two.", engine="tone"))
        async with stream:
            response = await client.post(NATIVE, json={"engine": "tone", "text": "Hello."})
        assert response.status_code == 429
        assert response.json()["error"]["code"] == "busy"
        assert int(response.headers["retry-after"]) >= 1
        assert (await client.post(NATIVE, json={"engine": "tone", "text": "Hello."})).status_code == 200


async def test_unload_in_use_is_409(app: FastAPI, client: httpx.AsyncClient) -> None:
    registry = app.state.polyvox.registry
    async with registry.acquire("tone"):
        response = await client.post("/v1/engines/tone/unload")
        assert response.status_code == 409
        assert response.json()["error"]["code"] == "engine_in_use"
    response = await client.post("/v1/engines/tone/unload")
    assert response.status_code == 200
    assert response.json()["loaded"] is False
