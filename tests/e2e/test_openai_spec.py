"""The OpenAI route against OpenAI's own published spec (``tests/data/openai_create_speech_request.yaml``).

Every enum value of ``CreateSpeechRequest`` (model, voice, response_format, stream_format) and both speed
bounds go through the real ``openai`` SDK to the shared piper server.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import av
import httpx
import numpy as np
import openai
import pytest
import yaml
from openai import OpenAI
from tests.conftest import whisper
from tests.e2e.conftest import Server

from polyvox.stt.metrics import word_error_rate

pytestmark = pytest.mark.slow

SPEC = yaml.safe_load((Path(__file__).parents[1] / "data" / "openai_create_speech_request.yaml").read_text())
SCHEMAS = SPEC["components"]["schemas"]
REQUEST = SCHEMAS["CreateSpeechRequest"]["properties"]
TEXT = "The quick brown fox jumps over the lazy dog."


def enum_of(schema: dict[str, Any]) -> list[str]:
    """The ``enum`` of a property, directly or inside ``anyOf``."""
    if "enum" in schema:
        return list(schema["enum"])
    return [value for option in schema.get("anyOf", []) for value in option.get("enum", [])]


MODELS = enum_of(REQUEST["model"])
# The voice enum lacks three names that the voice's own description lists (fable, onyx, nova): send both.
VOICES = list(
    dict.fromkeys(
        [
            *enum_of(SCHEMAS["VoiceIdsShared"]),
            *re.findall(
                r"`([a-z]+)`", REQUEST["voice"]["description"].partition("voices are")[2].split(".")[0]
            ),
        ]
    )
)
FORMATS = REQUEST["response_format"]["enum"]
STREAM_FORMATS = REQUEST["stream_format"]["enum"]
SPEED_MIN, SPEED_MAX = REQUEST["speed"]["minimum"], REQUEST["speed"]["maximum"]


def test_the_vendored_spec_is_the_one_the_issue_names() -> None:
    assert "gpt-4o-mini-tts-2025-12-15" in MODELS and {"marin", "cedar", "fable"} <= set(VOICES)
    assert len(VOICES) == 13 and set(FORMATS) == {"mp3", "opus", "aac", "flac", "wav", "pcm"}
    assert (SPEED_MIN, SPEED_MAX) == (0.25, 4)


@pytest.fixture(scope="module")
def client(server: Server) -> OpenAI:
    return OpenAI(base_url=f"{server.url}/v1", api_key="x", max_retries=0, timeout=120)


def seconds_of(data: bytes, fmt: str) -> tuple[float, int]:
    """Duration and rate of a response body (pcm: OpenAI's 24 kHz s16le)."""
    if fmt == "pcm":
        return len(data) / 2 / 24000, 24000
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        samples = sum(frame.samples for frame in container.decode(stream))
        return samples / stream.rate, int(stream.rate)


@pytest.fixture(scope="module")
def wav_seconds(client: OpenAI) -> float:
    response = client.audio.speech.create(model="tts-1", voice="alloy", input=TEXT, response_format="wav")
    return seconds_of(response.content, "wav")[0]


@pytest.mark.parametrize("model", MODELS)
def test_every_model(client: OpenAI, model: str, wav_seconds: float) -> None:
    response = client.audio.speech.create(model=model, voice="ash", input=TEXT, response_format="wav")
    assert response.response.headers["x-engine"] == "piper"
    assert seconds_of(response.content, "wav")[0] == pytest.approx(wav_seconds, rel=0.15)


@pytest.mark.parametrize("voice", VOICES)
def test_every_voice(client: OpenAI, voice: str) -> None:
    response = client.audio.speech.create(model="tts-1", voice=voice, input=TEXT, response_format="wav")
    assert response.response.headers["x-engine"] == "piper"
    assert response.response.headers["x-voice"] == "joe"  # piper's only installed voice
    assert seconds_of(response.content, "wav")[0] > 1.5


@pytest.mark.parametrize("voice", [{"id": "joe"}, {"id": "piper/joe"}, {"id": "marin"}])
def test_custom_voice_object(client: OpenAI, voice: dict[str, str]) -> None:
    response = client.audio.speech.create(
        model="gpt-4o-mini-tts",
        voice=voice,  # type: ignore[arg-type]  # the SDK in use may still type voice as a name only
        input=TEXT,
        response_format="wav",
    )
    assert response.response.headers["x-voice"] == "joe"


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_response_format(client: OpenAI, fmt: str, wav_seconds: float) -> None:
    response = client.audio.speech.create(
        model="tts-1",
        voice="alloy",
        input=TEXT,
        response_format=fmt,  # type: ignore[arg-type]
    )
    assert response.response.headers["x-engine"] == "piper"
    # Piper's durations vary by several percent from one synthesis to the next; tone below is exact.
    assert seconds_of(response.content, fmt)[0] == pytest.approx(wav_seconds, rel=0.15)
    if fmt == "pcm":
        assert response.response.headers["x-sample-rate"] == "24000"


def test_pcm_is_24_khz_as_openai_says(server: Server, client: OpenAI) -> None:
    """Headerless pcm at 24 kHz: played at 24 kHz (the SDK's LocalAudioPlayer) it lasts what it should."""
    native = httpx.post(
        f"{server.url}/v1/synthesize", json={"text": "One two three four.", "engine": "tone"}, timeout=60
    )
    seconds = float(native.headers["x-audio-seconds"])
    response = client.audio.speech.create(
        model="tone", voice="beep", input="One two three four.", response_format="pcm"
    )
    assert len(response.content) / 2 / 24000 == pytest.approx(seconds, abs=1e-3)


def test_pcm_sample_rate_extension_still_wins(client: OpenAI, wav_seconds: float) -> None:
    response = client.audio.speech.create(
        model="tts-1", voice="alloy", input=TEXT, response_format="pcm", extra_body={"sample_rate": 16000}
    )
    assert response.response.headers["x-sample-rate"] == "16000"
    assert len(response.content) / 2 / 16000 == pytest.approx(wav_seconds, rel=0.15)


def test_whisper_hears_the_24_khz_pcm(client: OpenAI) -> None:
    response = client.audio.speech.create(model="tts-1", voice="coral", input=TEXT, response_format="pcm")
    samples = np.frombuffer(response.content, dtype="<i2").astype(np.float32) / 32768.0
    heard = whisper().transcribe(samples, 24000).text
    assert word_error_rate(TEXT, heard) <= 0.1, heard


@pytest.mark.parametrize("stream_format", STREAM_FORMATS)
def test_every_stream_format(server: Server, stream_format: str) -> None:
    body = {"model": "gpt-4o-mini-tts", "voice": "cedar", "input": TEXT, "stream_format": stream_format}
    with httpx.stream("POST", f"{server.url}/v1/audio/speech", json=body, timeout=120) as response:
        assert response.status_code == 200
        data = response.read()
    if stream_format == "sse":
        assert response.headers["content-type"].startswith("text/event-stream")
        assert b'"speech.audio.delta"' in data and b'"speech.audio.done"' in data
    else:
        assert response.headers["content-type"] == "audio/mpeg"
        assert seconds_of(data, "mp3")[0] > 1.5


def test_speed_bounds(client: OpenAI, wav_seconds: float) -> None:
    for speed in (SPEED_MIN, SPEED_MAX):
        response = client.audio.speech.create(
            model="tts-1", voice="alloy", input=TEXT, response_format="wav", speed=speed
        )
        assert seconds_of(response.content, "wav")[0] == pytest.approx(wav_seconds / speed, rel=0.25)
    for speed in (SPEED_MIN - 0.01, SPEED_MAX + 0.01):
        with pytest.raises(openai.UnprocessableEntityError) as caught:
            client.audio.speech.create(model="tts-1", voice="alloy", input=TEXT, speed=speed)
        assert caught.value.response.json()["error"]["param"] == "speed"


@pytest.mark.parametrize("model", MODELS)
def test_instructions_with_every_model_are_said_to_be_ignored(client: OpenAI, model: str) -> None:
    """No bundled engine follows instructions: accepted, and named in X-Polyvox-Ignored."""
    response = client.audio.speech.create(
        model=model, voice="sage", input=TEXT, instructions="Speak in a cheerful tone.", response_format="wav"
    )
    assert response.response.headers["x-polyvox-ignored"] == "instructions"


def test_unknown_fields_are_named_as_ignored(client: OpenAI) -> None:
    response = client.audio.speech.create(
        model="tts-1", voice="alloy", input=TEXT, extra_body={"custom_setting": 1, "another": "x"}
    )
    assert response.response.headers["x-polyvox-ignored"] == "another, custom_setting"
    plain = client.audio.speech.create(model="tts-1", voice="alloy", input=TEXT)
    assert "x-polyvox-ignored" not in plain.response.headers
