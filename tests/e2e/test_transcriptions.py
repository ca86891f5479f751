"""``POST /v1/audio/transcriptions`` over a real server with the ``openai`` SDK, and the ``openai`` back end.

The speech is Polyvox's own (piper through the server's HTTP API). A second server whose ASR back end is
``openai`` points at the first one's ``/v1``: its transcriptions, long-form validation and captions must all
be answered by the first server (its request counter for the route grows), so the back end really is used.
"""

from __future__ import annotations

import io
import re
import wave
from collections.abc import Iterator

import httpx
import numpy as np
import openai
import pytest
import srt
import webvtt
from tests.e2e.conftest import Server, run_server
from tests.integration.speech import PASSAGE

from polyvox.stt.metrics import word_error_rate

pytestmark = pytest.mark.slow

MAX_SECONDS = 30
MAX_UPLOAD = 2 * 1024 * 1024


@pytest.fixture(scope="module")
def stt_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    env = {
        "POLYVOX_ASR__THREADS": "2",
        "POLYVOX_ASR__MAX_SECONDS": str(MAX_SECONDS),
        "POLYVOX_ASR__MAX_UPLOAD_BYTES": str(MAX_UPLOAD),
    }
    with run_server(tmp_path_factory.mktemp("stt"), **env) as running:
        yield running
    assert running.process.returncode in (0, -15), running.log()


@pytest.fixture(scope="module")
def client(stt_server: Server) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{stt_server.url}/v1", api_key="unused", max_retries=0, timeout=120)


def synthesize(server: Server, text: str, fmt: str) -> bytes:
    response = httpx.post(
        f"{server.url}/v1/synthesize", json={"text": text, "format": fmt, "sample_rate": 22050}, timeout=120
    )
    assert response.status_code == 200, response.text
    return response.content


@pytest.fixture(scope="module")
def speech_wav(stt_server: Server) -> bytes:
    return synthesize(stt_server, PASSAGE, "wav")


def wav_seconds(data: bytes) -> float:
    with wave.open(io.BytesIO(data)) as wav:
        return wav.getnframes() / wav.getframerate()


def requests_served(server: Server, route: str) -> float:
    """The server's request counter for ``route`` (status 200)."""
    text = httpx.get(f"{server.url}/metrics", timeout=10).text
    pattern = rf'^polyvox_http_requests_total\{{(?=[^}}]*route="{re.escape(route)}")(?=[^}}]*status="200")'
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if re.match(pattern, line))


def test_json_text_and_verbose_words(client: openai.OpenAI, speech_wav: bytes) -> None:
    plain = client.audio.transcriptions.create(model="whisper-1", file=("speech.wav", speech_wav))
    assert word_error_rate(PASSAGE, plain.text) <= 0.10, plain.text

    text = client.audio.transcriptions.create(
        model="tiny.en", file=("speech.wav", speech_wav), response_format="text", language="en"
    )
    assert isinstance(text, str) and word_error_rate(PASSAGE, text) <= 0.10, text

    verbose = client.audio.transcriptions.create(
        model="whisper-1",
        file=("speech.wav", speech_wav),
        response_format="verbose_json",
        timestamp_granularities=["word", "segment"],
        prompt="A walk in the park.",
        temperature=0.0,
    )
    duration = wav_seconds(speech_wav)
    assert verbose.language == "en"
    assert verbose.duration == pytest.approx(duration, abs=0.05)
    assert word_error_rate(PASSAGE, verbose.text) <= 0.10, verbose.text
    words = verbose.words or []
    assert word_error_rate(PASSAGE, " ".join(w.word for w in words)) <= 0.10
    starts = [w.start for w in words]
    assert starts == sorted(starts) and all(w.start <= w.end <= duration + 0.05 for w in words)
    # Words are spread over the audio, not bunched at one end.
    assert starts[0] < 0.25 * duration and starts[-1] > 0.75 * duration
    segments = verbose.segments or []
    assert segments and [s.start for s in segments] == sorted(s.start for s in segments)
    assert " ".join(s.text.strip() for s in segments) == verbose.text


@pytest.mark.parametrize("kind", ["srt", "vtt"])
def test_subtitles_parse(client: openai.OpenAI, speech_wav: bytes, kind: str) -> None:
    body = client.audio.transcriptions.create(
        model="whisper-1", file=("speech.wav", speech_wav), response_format=kind
    )
    assert isinstance(body, str)
    if kind == "srt":
        cues = [(c.start.total_seconds(), c.end.total_seconds(), c.content) for c in srt.parse(body)]
    else:
        parsed = webvtt.from_buffer(io.StringIO(body))
        cues = [(c.start_in_seconds, c.end_in_seconds, c.text) for c in parsed]
    assert cues
    assert all(a < b for a, b, _ in cues) and [a for a, _, _ in cues] == sorted(a for a, _, _ in cues)
    assert cues[-1][1] <= wav_seconds(speech_wav) + 0.05
    assert word_error_rate(PASSAGE, " ".join(t for _, _, t in cues)) <= 0.10


def test_streamed_deltas_then_done(stt_server: Server, client: openai.OpenAI) -> None:
    mp3 = synthesize(stt_server, PASSAGE, "mp3")  # decoded by FFmpeg, not read as WAV
    events = list(
        client.audio.transcriptions.create(model="whisper-1", file=("speech.mp3", mp3), stream=True)
    )
    kinds = [e.type for e in events]
    assert kinds[-1] == "transcript.text.done" and set(kinds[:-1]) == {"transcript.text.delta"}
    done = events[-1]
    assert "".join(e.delta for e in events[:-1]) == done.text  # type: ignore[union-attr]
    assert word_error_rate(PASSAGE, done.text) <= 0.10, done.text  # type: ignore[union-attr]


def _post(server: Server, files: dict[str, tuple[str, bytes]] | None = None, **fields: str) -> httpx.Response:
    return httpx.post(f"{server.url}/v1/audio/transcriptions", data=fields, files=files, timeout=60)


def _silence_wav(seconds: float, rate: int = 8000) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(np.zeros(int(seconds * rate), dtype="<i2").tobytes())
    return buffer.getvalue()


def test_bad_uploads_are_json_4xx(stt_server: Server, speech_wav: bytes) -> None:
    wav = {"file": ("speech.wav", speech_wav)}
    cases: list[tuple[httpx.Response, int, str, str | None]] = [
        (
            httpx.post(f"{stt_server.url}/v1/audio/transcriptions", json={"model": "whisper-1"}, timeout=30),
            415,
            "unsupported_media",
            "content-type",
        ),
        (_post(stt_server, model="whisper-1"), 422, "invalid_parameter", "file"),
        (
            _post(stt_server, {"file": ("notes.txt", b"hello, this is text")}),
            415,
            "unsupported_media",
            "file",
        ),
        (_post(stt_server, {"file": ("cut.wav", speech_wav[:44])}), 422, "undecodable_audio", "file"),
        (
            _post(stt_server, {"file": ("x.wav", b"RIFF\x00\x00\x00\x00WAVEjunk" * 40)}),
            422,
            "undecodable_audio",
            "file",
        ),
        (
            _post(stt_server, {"file": ("long.wav", _silence_wav(MAX_SECONDS + 5))}),
            413,
            "audio_too_long",
            "file",
        ),
        (
            _post(stt_server, {"file": ("big.wav", speech_wav[:44] + bytes(MAX_UPLOAD + 1))}),
            413,
            "payload_too_large",
            "file",
        ),
        (_post(stt_server, wav, model="whisper-9000"), 404, "model_not_found", "model"),
        (_post(stt_server, wav, response_format="xml"), 422, "invalid_parameter", "response_format"),
        (_post(stt_server, wav, temperature="5"), 422, "invalid_parameter", "temperature"),
        (_post(stt_server, wav, temperature="warm"), 422, "invalid_parameter", "temperature"),
        (_post(stt_server, wav, language="fr"), 422, "language_not_supported", "language"),
        (_post(stt_server, wav, stream="true", response_format="srt"), 422, "invalid_parameter", "stream"),
        (_post(stt_server, wav, stream="perhaps"), 422, "invalid_parameter", "stream"),
        (
            _post(stt_server, wav, response_format="verbose_json", **{"timestamp_granularities[]": "char"}),
            422,
            "invalid_parameter",
            "timestamp_granularities[]",
        ),
    ]
    for response, status, code, param in cases:
        assert response.status_code == status, (code, response.text)
        error = response.json()["error"]
        assert (error["code"], error["param"]) == (code, param), error
    assert httpx.get(f"{stt_server.url}/health", timeout=10).status_code == 200


def test_sdk_raises_typed_errors(client: openai.OpenAI, speech_wav: bytes) -> None:
    with pytest.raises(openai.NotFoundError) as missing:
        client.audio.transcriptions.create(model="large-v9", file=("speech.wav", speech_wav))
    assert missing.value.code == "model_not_found"


@pytest.fixture(scope="module")
def relay(stt_server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A second server whose ASR back end is the first server's OpenAI-compatible endpoint."""
    env = {
        "POLYVOX_ASR__BACKEND": "openai",
        "POLYVOX_ASR__OPENAI__BASE_URL": f"{stt_server.url}/v1",
        "POLYVOX_ASR__OPENAI__MODEL": "tiny.en",
        "POLYVOX_ASR__OPENAI__API_KEY": "sk-relay",
    }
    with run_server(tmp_path_factory.mktemp("relay"), **env) as running:
        yield running
    assert running.process.returncode in (0, -15), running.log()


def test_openai_backend_serves_transcriptions_validation_and_captions(
    stt_server: Server, relay: Server, speech_wav: bytes
) -> None:
    route = "/v1/audio/transcriptions"
    before = requests_served(stt_server, route)
    client = openai.OpenAI(base_url=f"{relay.url}/v1", api_key="unused", max_retries=0, timeout=120)
    verbose = client.audio.transcriptions.create(
        model="tiny.en",
        file=("speech.wav", speech_wav),
        response_format="verbose_json",
        timestamp_granularities=["word"],
    )
    assert word_error_rate(PASSAGE, verbose.text) <= 0.10, verbose.text
    starts = [w.start for w in verbose.words or []]
    assert len(starts) >= 0.9 * len(PASSAGE.split()) and starts == sorted(starts)
    assert requests_served(stt_server, route) == before + 1

    validated = httpx.post(
        f"{relay.url}/v1/synthesize", json={"text": PASSAGE, "format": "wav", "validate": True}, timeout=120
    )
    assert validated.status_code == 200, validated.text
    assert float(validated.headers["X-WER"]) <= 0.20  # re-synthesis bounds it; WER ≤ 10 % is checked above
    after_validation = requests_served(stt_server, route)
    assert after_validation >= before + 2  # every chunk was checked upstream

    captioned = httpx.post(
        f"{relay.url}/v1/audio/speech/captioned",
        json={"input": PASSAGE, "response_format": "wav"},
        timeout=120,
    )
    assert captioned.status_code == 200, captioned.text
    words = captioned.json()["words"]
    assert [w["word"] for w in words] == PASSAGE.split()
    assert requests_served(stt_server, route) == after_validation + 1  # one pass over the joined audio


def test_openai_backend_sends_translations_to_the_upstream_translations_route(
    relay: Server, speech_wav: bytes
) -> None:
    """A translation through the relay goes to the upstream's ``/audio/translations``, whose only model
    (tiny.en) cannot translate: its 422 comes back as the relay's 502 ``asr_failed``, naming the cause."""
    client = openai.OpenAI(base_url=f"{relay.url}/v1", api_key="unused", max_retries=0, timeout=120)
    with pytest.raises(openai.APIStatusError) as failed:
        client.audio.translations.create(model="tiny.en", file=("speech.wav", speech_wav))
    assert failed.value.status_code == 502
    error = failed.value.body
    assert error["code"] == "asr_failed" and "translation_model_missing" in error["message"]  # type: ignore[index]
