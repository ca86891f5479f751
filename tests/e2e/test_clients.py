"""The requests popular OpenAI-TTS clients send, byte for byte as their public source builds them.

* Open WebUI (backend/open_webui/routers/audio.py): ``GET {base}/audio/models`` and
  ``GET {base}/audio/voices`` fill its lists; speech is ``POST {base}/audio/speech`` with
  ``{"input", "voice"}`` plus its configured ``model``, ``Content-Type: application/json`` and
  ``Authorization: Bearer <key>``.
* Home Assistant's OpenAI TTS integration (sfortis/openai_tts, openaitts_engine.py): ``User-Agent:
  HomeAssistant-OpenAI-TTS``; ``model, input, voice, response_format, speed`` and ``instructions``; mp3, or
  opus read in chunks when streaming.
* SillyTavern's "OpenAI Compatible" provider (src/endpoints/openai.js, custom/generate-voice): its server
  posts ``input, response_format, voice, speed, model`` with ``Authorization: Bearer`` (no key set).
* LiveKit's OpenAI plugin (livekit-plugins-openai tts.py) and Pipecat's OpenAITTSService: the ``AsyncOpenAI``
  SDK, ``with_streaming_response``, and they take ``pcm`` to be 24 kHz.
"""

from __future__ import annotations

import io

import av
import httpx
import numpy as np
import numpy.typing as npt
import pytest
from openai import AsyncOpenAI
from tests.e2e.conftest import Server

from polyvox.stt.metrics import word_error_rate
from polyvox.stt.transcriber import Transcriber

pytestmark = pytest.mark.slow

SPOKEN = "Good evening. The lights in the kitchen are now off."
SHORT = "Hello there."


def decode(data: bytes) -> tuple[npt.NDArray[np.float32], int]:
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        frames = [frame.to_ndarray().reshape(-1) for frame in container.decode(stream)]
        return np.concatenate(frames).astype(np.float32), int(stream.rate)


# -- Open WebUI ----------------------------------------------------------------------------------------
def open_webui_speech(server: Server, voice: str, model: str = "tts-1") -> httpx.Response:
    return httpx.post(
        f"{server.url}/v1/audio/speech",
        json={"input": SHORT, "voice": voice, "model": model},
        headers={"Content-Type": "application/json", "Authorization": "Bearer sk-open-webui"},
        timeout=120,
    )


def test_open_webui_lists_models_and_every_listed_voice_speaks(server: Server) -> None:
    models = httpx.get(f"{server.url}/v1/audio/models").json()["models"]
    ids = [m["id"] for m in models]
    assert ids[:4] == ["tts-1", "tts-1-hd", "gpt-4o-mini-tts", "gpt-4o-mini-tts-2025-12-15"]
    assert {"piper", "kokoro", "espeak"} <= set(ids)
    voices = {v["id"]: v["name"] for v in httpx.get(f"{server.url}/v1/audio/voices").json()["voices"]}
    assert len(voices) > 100 and "joe" in voices and "kokoro/jf_alpha" in voices
    failed = {}
    for voice in voices:
        response = open_webui_speech(server, voice)
        if response.status_code != 200 or decode(response.content)[0].size == 0:
            failed[voice] = response.text[:200]
    assert not failed, failed


@pytest.mark.parametrize("model", ["kokoro", "espeak", "tts-1-hd"])
def test_open_webui_voices_for_a_model(server: Server, model: str) -> None:
    voices = httpx.get(f"{server.url}/v1/audio/voices", params={"model": model}).json()["voices"]
    engines = {v["engine"] for v in voices}
    if model == "tts-1-hd":
        assert {"piper", "kokoro", "espeak"} <= engines
    else:
        assert engines == {model} and all("/" not in v["id"] for v in voices)
    for voice in (voices[0], voices[-1]):
        response = open_webui_speech(server, voice["id"], model)
        assert response.status_code == 200, response.text
        assert response.headers["x-engine"] == voice["engine"]


def test_open_webui_unknown_model_is_a_clear_404(server: Server) -> None:
    response = httpx.get(f"{server.url}/v1/audio/voices", params={"model": "nonesuch"})
    assert response.status_code == 404 and response.json()["error"]["code"] == "engine_not_found"


# -- Home Assistant ------------------------------------------------------------------------------------
HA_HEADERS = {
    "Content-Type": "application/json",
    "User-Agent": "HomeAssistant-OpenAI-TTS",
    "Authorization": "Bearer sk-home",
}


def test_home_assistant_openai_tts(server: Server, transcriber: Transcriber) -> None:
    payload = {
        "model": "gpt-4o-mini-tts",
        "input": SPOKEN,
        "voice": "shimmer",
        "response_format": "mp3",
        "speed": 1.0,
        "instructions": "Speak calmly.",
    }
    response = httpx.post(f"{server.url}/v1/audio/speech", json=payload, headers=HA_HEADERS, timeout=120)
    assert response.status_code == 200 and response.headers["content-type"] == "audio/mpeg"
    assert response.headers["x-polyvox-ignored"] == "instructions"
    samples, rate = decode(response.content)
    assert word_error_rate(SPOKEN, transcriber.transcribe(samples, rate).text) <= 0.15


def test_home_assistant_streams_opus(server: Server) -> None:
    payload = {"model": "tts-1", "input": SPOKEN, "voice": "nova", "response_format": "opus", "speed": 1.2}
    pieces = []
    with httpx.stream(
        "POST", f"{server.url}/v1/audio/speech", json=payload, headers=HA_HEADERS, timeout=120
    ) as response:
        assert response.status_code == 200
        pieces = list(response.iter_bytes(4096))
    samples, rate = decode(b"".join(pieces))
    assert rate == 48000 and samples.size / rate > 1.5


# -- SillyTavern ---------------------------------------------------------------------------------------
def test_sillytavern_openai_compatible(server: Server, transcriber: Transcriber) -> None:
    body = {"input": SPOKEN, "response_format": "mp3", "voice": "fable", "speed": 1, "model": "tts-1"}
    response = httpx.post(
        f"{server.url}/v1/audio/speech",
        json=body,
        # No key set: "Bearer " + "", which fetch() normalizes (trims) to this on the wire.
        headers={"Content-Type": "application/json", "Authorization": "Bearer"},
        timeout=120,
    )
    assert response.status_code == 200, response.text
    samples, rate = decode(response.content)
    assert word_error_rate(SPOKEN, transcriber.transcribe(samples, rate).text) <= 0.15


# -- LiveKit and Pipecat (the AsyncOpenAI SDK, pcm assumed 24 kHz) ---------------------------------------
@pytest.mark.parametrize(
    ("model", "voice", "instructions"),
    [("gpt-4o-mini-tts", "ash", "Speak warmly."), ("tts-1", "alloy", None)],  # LiveKit's, Pipecat's defaults
)
async def test_livekit_and_pipecat_pcm(
    server: Server, transcriber: Transcriber, model: str, voice: str, instructions: str | None
) -> None:
    client = AsyncOpenAI(base_url=f"{server.url}/v1", api_key="sk-agent", max_retries=0)
    extra = {"instructions": instructions} if instructions else {}
    async with client.audio.speech.with_streaming_response.create(
        input=SPOKEN, model=model, voice=voice, response_format="pcm", speed=1.0, **extra
    ) as stream:
        assert stream.headers["x-sample-rate"] == "24000"
        data = b"".join([piece async for piece in stream.iter_bytes()])
    await client.close()
    samples = np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0
    assert word_error_rate(SPOKEN, transcriber.transcribe(samples, 24000).text) <= 0.15
