"""Rough edges a newcomer hits: nothing to say, one voice resolution everywhere, telephony formats, rates a
format cannot carry, and the command line's output handling. All against the shared piper server."""

from __future__ import annotations

import base64
import io
import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import av
import httpx
import numpy as np
import openai
import pytest
from openai import OpenAI
from tests.conftest import whisper
from tests.e2e.conftest import Server
from websockets.asyncio.client import connect

from polyvox.stt.metrics import word_error_rate

pytestmark = pytest.mark.slow

NOTHING = ["...", "?! -- ;"]
TEXT = "Please hold while we connect your call."


@pytest.fixture(scope="module")
def client(server: Server) -> OpenAI:
    return OpenAI(base_url=f"{server.url}/v1", api_key="x", max_retries=0, timeout=120)


# -- 3. nothing to speak ------------------------------------------------------------------------------
@pytest.mark.parametrize("text", NOTHING)
def test_nothing_to_speak_is_empty_text_on_every_http_door(server: Server, client: OpenAI, text: str) -> None:
    with pytest.raises(openai.UnprocessableEntityError) as caught:
        client.audio.speech.create(model="tts-1", voice="alloy", input=text)
    assert caught.value.response.json()["error"]["code"] == "empty_text"
    for path, body in [
        ("/v1/synthesize", {"text": text}),
        ("/v1/synthesize", {"text": text, "stream": True}),
        ("/v1/audio/speech/captioned", {"input": text}),
        ("/v1/audio/speech", {"input": text, "stream_format": "sse"}),
    ]:
        response = httpx.post(f"{server.url}{path}", json=body, timeout=60)
        assert response.status_code == 422, (path, response.text)
        assert response.json()["error"]["code"] == "empty_text", path
    mary = httpx.post(f"{server.url}/process", data={"INPUT_TEXT": text, "LOCALE": "en_US"}, timeout=60)
    assert mary.status_code == 422 and mary.text.startswith("empty_text: ")


async def test_nothing_to_speak_on_the_websocket_is_words_without_audio(server: Server) -> None:
    """An LLM's "..." between sentences is passed on as text, neither an error nor silence."""
    url = server.url.replace("http://", "ws://") + "/v1/ws/tts"
    frames: list[dict[str, object] | bytes] = []
    async with connect(url) as ws:
        await ws.send(json.dumps({"type": "start", "format": "pcm"}))
        for text in ("... ", "Hello there. "):
            await ws.send(json.dumps({"type": "text", "text": text}))
            await ws.send(json.dumps({"type": "flush"}))
        await ws.send(json.dumps({"type": "stop"}))
        async for raw in ws:
            frames.append(raw if isinstance(raw, bytes) else json.loads(raw))
    messages = [f for f in frames if isinstance(f, dict)]
    assert not [m for m in messages if m["type"] == "error"], messages
    texts = [str(m["text"]).strip() for m in messages if m["type"] == "text_chunk"]
    assert texts == ["...", "Hello there."]
    assert sum(len(f) for f in frames if isinstance(f, bytes)) > 10000


# -- 4. one voice resolution -----------------------------------------------------------------------------
@pytest.mark.parametrize("voice", ["alloy", "marin", "piper/joe", "joe"])
def test_captioned_takes_the_voices_speech_takes(server: Server, voice: str) -> None:
    response = httpx.post(
        f"{server.url}/v1/audio/speech/captioned", json={"input": "Hello there.", "voice": voice}, timeout=120
    )
    assert response.status_code == 200, response.text
    assert response.json()["voice"] == "joe"


def test_native_route_takes_openai_names(server: Server) -> None:
    response = httpx.post(
        f"{server.url}/v1/synthesize", json={"text": "Hello.", "voice": "cedar"}, timeout=60
    )
    assert response.status_code == 200 and response.headers["x-voice"] == "joe"


# -- 8. telephony and rates ----------------------------------------------------------------------------
def g711_samples(data: bytes, muxer: str) -> np.ndarray:
    options = {"sample_rate": "8000"} if muxer != "wav" else {}
    with av.open(io.BytesIO(data), format=muxer, options=options) as container:
        stream = container.streams.audio[0]
        assert stream.rate == 8000
        return np.concatenate([f.to_ndarray().reshape(-1) for f in container.decode(stream)])


@pytest.mark.parametrize(
    ("fmt", "muxer", "codec"), [("ulaw", "mulaw", "pcm_mulaw"), ("alaw", "alaw", "pcm_alaw")]
)
def test_g711_raw_and_in_wav(client: OpenAI, fmt: str, muxer: str, codec: str) -> None:
    raw = client.audio.speech.create(model="tts-1", voice="alloy", input=TEXT, response_format=fmt)  # type: ignore[arg-type]
    assert raw.response.headers["x-sample-rate"] == "8000"
    assert raw.response.headers["content-type"] == ("audio/basic" if fmt == "ulaw" else "audio/x-alaw-basic")
    wav = client.audio.speech.create(model="tts-1", voice="alloy", input=TEXT, response_format=f"wav_{fmt}")  # type: ignore[arg-type]
    assert wav.content[:4] == b"RIFF"
    with av.open(io.BytesIO(wav.content)) as container:
        assert container.streams.audio[0].codec_context.name == codec
    samples = g711_samples(raw.content, muxer)
    assert len(samples) == len(raw.content)  # one byte a sample
    assert len(g711_samples(wav.content, "wav")) == pytest.approx(len(samples), rel=0.15)  # piper varies
    floats = samples.astype(np.float32) / 32768.0
    heard = whisper().transcribe(floats, 8000).text
    assert word_error_rate(TEXT, heard) <= 0.15, heard


@pytest.mark.parametrize(
    ("fmt", "rate"), [("mp3", 12345), ("opus", 44100), ("aac", 9000), ("ulaw", 16000), ("wav_alaw", 24000)]
)
def test_a_rate_the_format_cannot_carry_is_refused(client: OpenAI, fmt: str, rate: int) -> None:
    with pytest.raises(openai.UnprocessableEntityError) as caught:
        client.audio.speech.create(
            model="tts-1",
            voice="alloy",
            input=TEXT,
            response_format=fmt,
            extra_body={"sample_rate": rate},  # type: ignore[arg-type]
        )
    error = caught.value.response.json()["error"]
    assert (error["code"], error["param"]) == ("invalid_parameter", "sample_rate")
    assert str(rate) in error["message"]


def test_a_rate_the_format_carries_is_kept(client: OpenAI) -> None:
    response = client.audio.speech.create(
        model="tts-1", voice="alloy", input=TEXT, response_format="mp3", extra_body={"sample_rate": 11025}
    )
    with av.open(io.BytesIO(response.content)) as container:
        assert container.streams.audio[0].rate == 11025


# -- 5. the command line -------------------------------------------------------------------------------
def polyvox(*args: str, cwd: Path, umask: int = 0o022) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("POLYVOX_")}
    env |= {"POLYVOX_DATA_DIR": str(cwd / "data"), "POLYVOX_ENGINES__ONNX_THREADS": "2"}
    return subprocess.run(
        [sys.executable, "-m", "polyvox.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=lambda: os.umask(umask),  # the child sets its own umask before exec
    )


def test_cli_errors_are_one_line_and_exit_2(tmp_path: Path) -> None:
    for args in (["say", "Hello.", "-o", str(tmp_path / "missing" / "x.wav")], ["say", "...", "-o", "x.wav"]):
        done = polyvox(*args, cwd=tmp_path)
        assert done.returncode == 2, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error ["), done.stderr
    assert not (tmp_path / "x.wav").exists()


def test_cli_files_honour_the_umask(tmp_path: Path) -> None:
    done = polyvox("say", "Hello there, this file is private.", "-o", "hello.ulaw", cwd=tmp_path, umask=0o027)
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE((tmp_path / "hello.ulaw").stat().st_mode) == 0o640
    # Six words are about two seconds; one byte a sample at 8 kHz. (A bound near "Hello."'s 0.5 s failed on
    # piper's sampled length.)
    assert (tmp_path / "hello.ulaw").stat().st_size > 8000


def test_cli_voices_json_and_plain_when_piped(tmp_path: Path) -> None:
    listed = json.loads(polyvox("voices", "--json", cwd=tmp_path).stdout)
    assert {"engine": "piper", "id": "joe"}.items() <= listed[0].items() or any(
        v["engine"] == "piper" and v["id"] == "joe" for v in listed
    )
    plain = polyvox("voices", "--engine", "espeak", cwd=tmp_path).stdout.splitlines()
    assert plain[0].split("\t")[:2] == ["engine", "voice"]
    ids = {line.split("\t")[1] for line in plain[1:]}
    assert ids == {v["id"] for v in listed if v["engine"] == "espeak"}  # nothing cut short


def test_cli_serve_help_shows_the_extra_literally(tmp_path: Path) -> None:
    done = polyvox("serve", "--help", cwd=tmp_path)
    assert "polyvox[ray]" in done.stdout.replace("\n", "").replace(" ", "").replace("│", "")


def _logged(server: Server, marker: str) -> list[str]:
    """The log lines naming ``marker``, once at least one was written (the log line follows the response)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        lines = [line for line in server.log().splitlines() if marker in line]
        if lines:
            return lines
        time.sleep(0.05)
    return []


def test_each_request_is_logged_once(server: Server) -> None:
    response = httpx.get(f"{server.url}/v1/engines", headers={"X-Request-ID": "once-only-42"})
    assert response.status_code == 200
    # A second request's line written means the first request's lines are all written (one log, in order).
    httpx.get(f"{server.url}/v1/engines", headers={"X-Request-ID": "after-once-only-42"})
    assert _logged(server, "after-once-only-42")
    lines = [line for line in server.log().splitlines() if "once-only-42" in line and "after-" not in line]
    assert len(lines) == 1, lines
    assert not [line for line in server.log().splitlines() if '"GET /v1/engines HTTP/1.1" 200' in line]


def test_sse_audio_of_g711_is_base64_of_the_raw_bytes(server: Server) -> None:
    body = {"input": TEXT, "response_format": "ulaw", "stream_format": "sse"}
    response = httpx.post(f"{server.url}/v1/audio/speech", json=body, timeout=120)
    events = [json.loads(line[6:]) for line in response.text.splitlines() if line.startswith("data: ")]
    audio = b"".join(base64.b64decode(e["audio"]) for e in events if e["type"] == "speech.audio.delta")
    assert len(audio) == pytest.approx(8000 * 2.3, rel=0.35)
