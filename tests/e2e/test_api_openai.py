"""The OpenAI-compatible route through the real ``openai`` client against a server subprocess."""

from __future__ import annotations

import base64
import io
import json

import av
import httpx
import numpy as np
import numpy.typing as npt
import pytest
from openai import OpenAI
from tests.conftest import whisper
from tests.e2e.conftest import Server

from polyvox.stt.metrics import word_error_rate

pytestmark = pytest.mark.slow

FORMATS = ("mp3", "opus", "aac", "flac", "wav", "pcm")
SPEECH_TEXT = (
    "The quick brown fox jumps over the lazy dog. "
    "A journey of a thousand miles begins with a single step. "
    "Every morning the baker opens his shop before sunrise."
)
TONE_TEXT = "One two three. Four five six seven. Eight nine ten eleven twelve."


def decode(data: bytes) -> tuple[npt.NDArray[np.float32], int]:
    """Decode a complete file with PyAV (FFmpeg): mono float samples and the decoded rate."""
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        frames = [frame.to_ndarray().reshape(-1) for frame in container.decode(stream)]
        rate = int(stream.rate)
    samples = np.concatenate(frames).astype(np.float32)
    if samples.dtype.kind == "i" or np.abs(samples).max() > 2:
        samples = samples / 32768.0
    return samples, rate


def decode_response(data: bytes, fmt: str, pcm_rate: int) -> tuple[float, int]:
    """Duration in seconds and sample rate of the encoded bytes."""
    if fmt == "pcm":
        return len(data) / 2 / pcm_rate, pcm_rate
    samples, rate = decode(data)
    return len(samples) / rate, rate


@pytest.fixture(scope="module")
def client(server: Server) -> OpenAI:
    return OpenAI(base_url=f"{server.url}/v1", api_key="x", max_retries=0, timeout=120)


def native_seconds(server: Server, **fields: object) -> tuple[float, int]:
    response = httpx.post(f"{server.url}/v1/synthesize", json={"format": "wav", **fields}, timeout=120)
    assert response.status_code == 200, response.text
    return float(response.headers["x-audio-seconds"]), int(response.headers["x-sample-rate"])


# pcm is OpenAI's 24 kHz on this route; the other formats keep the engine's rate (tone: 16 kHz).
EXPECTED_RATES = {"mp3": 16000, "opus": 48000, "aac": 16000, "flac": 16000, "wav": 16000, "pcm": 24000}


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_with_the_tone_engine(server: Server, client: OpenAI, fmt: str) -> None:
    """Deterministic audio: each format decodes to the native route's duration, at the expected rate."""
    reference, _ = native_seconds(server, text=TONE_TEXT, engine="tone")
    response = client.audio.speech.create(model="tone", voice="beep", input=TONE_TEXT, response_format=fmt)  # type: ignore[arg-type]
    assert response.response.headers["x-engine"] == "tone"
    seconds, rate = decode_response(response.content, fmt, EXPECTED_RATES["pcm"])
    assert rate == EXPECTED_RATES[fmt]
    assert seconds == pytest.approx(reference, rel=0.05)


@pytest.fixture(scope="module")
def piper_reference(server: Server) -> float:
    """X-Audio-Seconds of the speech text from the native route (non-streamed wav)."""
    seconds, rate = native_seconds(server, text=SPEECH_TEXT)
    assert rate == 22050
    return seconds


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_with_piper(client: OpenAI, piper_reference: float, fmt: str) -> None:
    """The default engine behind tts-1 and an OpenAI voice name; piper at 22.05 kHz."""
    response = client.audio.speech.create(
        model="tts-1", voice="alloy", input=SPEECH_TEXT, response_format=fmt
    )  # type: ignore[arg-type]
    headers = response.response.headers
    assert (headers["x-engine"], headers["x-voice"]) == ("piper", "joe")
    seconds, rate = decode_response(response.content, fmt, 24000)
    assert rate == {"opus": 48000, "pcm": 24000}.get(fmt, 22050)
    # Piper's duration predictor is noisy: two syntheses of the same text differ by a few percent.
    assert seconds == pytest.approx(piper_reference, rel=0.05)


def test_extensions_sample_rate_and_24_bit(server: Server, client: OpenAI) -> None:
    response = client.audio.speech.create(
        model="tone",
        voice="beep",
        input=TONE_TEXT,
        response_format="flac",
        extra_body={"sample_rate": 24000, "bit_depth": 24},
    )
    with av.open(io.BytesIO(response.content)) as container:
        stream = container.streams.audio[0]
        assert stream.rate == 24000
        frame = next(container.decode(stream))
        assert frame.format.name.startswith("s32")  # FLAC carries 24-bit samples in 32-bit words


def test_streaming_response_arrives_in_chunks(client: OpenAI, piper_reference: float) -> None:
    chunks: list[bytes] = []
    with client.audio.speech.with_streaming_response.create(
        model="tts-1", voice="alloy", input=SPEECH_TEXT, response_format="pcm"
    ) as response:
        assert response.headers["x-engine"] == "piper"
        assert response.headers.get("transfer-encoding") == "chunked"
        assert "x-audio-seconds" not in response.headers
        chunks.extend(response.iter_bytes())
    data = b"".join(chunks)
    assert len(chunks) >= 2
    assert len(data) / 2 / 24000 == pytest.approx(piper_reference, rel=0.05)  # OpenAI's pcm rate


def test_sse_stream(server: Server, client: OpenAI) -> None:
    with client.audio.speech.with_streaming_response.create(
        model="tone", voice="beep", input=TONE_TEXT, response_format="pcm", stream_format="sse"
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [
            json.loads(line[len("data: ") :]) for line in response.iter_lines() if line.startswith("data: ")
        ]
    *deltas, done = events
    assert len(deltas) >= 3  # per sentence its part, and the streaming resampler's tail (16 → 24 kHz)
    assert all(set(e) == {"type", "audio"} and e["type"] == "speech.audio.delta" for e in deltas)
    audio = b"".join(base64.b64decode(e["audio"]) for e in deltas)
    reference, _ = native_seconds(server, text=TONE_TEXT, engine="tone")
    assert len(audio) / 2 / 24000 == pytest.approx(reference, abs=1e-3)
    assert done["type"] == "speech.audio.done"
    usage = done["usage"]
    assert set(usage) == {"input_tokens", "output_tokens", "total_tokens"}
    assert usage["input_tokens"] > 0 and usage["output_tokens"] > 0
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    figures = done["polyvox"]
    assert figures["engine"] == "tone" and figures["voice"] == "beep"
    assert figures["audio_seconds"] == pytest.approx(reference, abs=1e-3)
    assert figures["real_time_factor"] is not None


def test_errors_reach_the_openai_client_as_status_errors(client: OpenAI) -> None:
    import openai

    with pytest.raises(openai.NotFoundError) as not_found:
        client.audio.speech.create(model="tts-1", voice="nobody", input="Hello.")
    assert not_found.value.status_code == 404
    assert isinstance(not_found.value.body, dict) and not_found.value.body["code"] == "voice_not_found"
    with pytest.raises(openai.UnprocessableEntityError):
        client.audio.speech.create(model="tts-1", voice="alloy", input="Hello.", speed=9)


def test_whisper_understands_piper(client: OpenAI) -> None:
    response = client.audio.speech.create(
        model="tts-1", voice="alloy", input=SPEECH_TEXT, response_format="flac"
    )
    samples, rate = decode(response.content)
    transcriber = whisper()
    heard = transcriber.transcribe(samples, rate).text
    wer = word_error_rate(SPEECH_TEXT, heard)
    assert wer <= 0.10, f"WER {wer:.2f}: heard {heard!r}"
