"""Audio-native turns on ``/v1/ws/converse`` (``POLYVOX_LLM__AUDIO_INPUT=true``): the model hears the user.

The upstream is :class:`ScriptedLLM` on loopback with a check: each request must be a valid OpenAI streaming
chat request (every content part validated against the ``openai`` SDK's own types) whose last user message
carries the turn's audio as an ``input_audio`` WAV part; anything else is answered HTTP 400, which the socket
would report as ``llm_failed``. The WAV the model received is transcribed to show it is the user's question,
and the spoken reply is checked with Whisper.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import io
import json
import wave
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest
from openai.types.chat import ChatCompletionContentPartParam
from pydantic import TypeAdapter, ValidationError
from tests.conftest import whisper
from tests.e2e.conftest import Server, free_port, run_server
from tests.e2e.test_ws_converse import QUESTION, REPLY, ScriptedLLM, send_turn, url
from tests.e2e.test_ws_tts import Received, collect, wait_for
from websockets.asyncio.client import connect

from polyvox.stt.metrics import word_error_rate

pytestmark = pytest.mark.slow

MODEL = "voxtral-mini"
PART = TypeAdapter(ChatCompletionContentPartParam)


def audio_request_problem(body: dict[str, Any]) -> str | None:
    """Why ``body`` is not a streaming chat request ending in the user's audio (None when it is)."""
    if body.get("model") != MODEL or body.get("stream") is not True:
        return f"expected model {MODEL!r} and stream true"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages must be a non-empty list"
    if messages[0] != {"role": "system", "content": messages[0].get("content")} or not isinstance(
        messages[0]["content"], str
    ):
        return "the first message must be the system prompt"
    for message in messages[1:]:
        content = message.get("content")
        if message.get("role") not in ("user", "assistant"):
            return f"unexpected role {message.get('role')!r}"
        if isinstance(content, list):
            try:
                for part in content:
                    PART.validate_python(part)
            except ValidationError as exc:
                return f"invalid content part: {exc}"
        elif not isinstance(content, str):
            return "content must be text or a list of parts"
    last = messages[-1]
    if last["role"] != "user" or not isinstance(last["content"], list) or len(last["content"]) != 1:
        return "the last message must be the user's audio, one part"
    part = last["content"][0]
    if part.get("type") != "input_audio" or part["input_audio"].get("format") != "wav":
        return "the user's part must be input_audio in wav"
    try:
        data = base64.b64decode(part["input_audio"]["data"], validate=True)
    except (binascii.Error, ValueError):
        return "input_audio data is not base64"
    return None if data[:4] == b"RIFF" and data[8:12] == b"WAVE" else "input_audio data is not a WAV file"


def wav_samples(part: dict[str, Any]) -> tuple[np.ndarray[Any, Any], int]:
    with wave.open(io.BytesIO(base64.b64decode(part["input_audio"]["data"]))) as wav:
        assert (wav.getnchannels(), wav.getsampwidth()) == (1, 2)
        frames = wav.readframes(wav.getnframes())
        return np.frombuffer(frames, "<i2").astype(np.float32) / 32768.0, wav.getframerate()


@pytest.fixture(scope="module")
def llm() -> Iterator[ScriptedLLM]:
    scripted = ScriptedLLM(free_port(), REPLY, tokens_per_second=60, check=audio_request_problem).start()
    yield scripted
    scripted.stop()


@pytest.fixture(scope="module")
def audio_server(tmp_path_factory: pytest.TempPathFactory, llm: ScriptedLLM) -> Iterator[Server]:
    env = {
        "POLYVOX_LLM__BASE_URL": f"http://127.0.0.1:{llm.port}/v1",
        "POLYVOX_LLM__MODEL": MODEL,
        "POLYVOX_LLM__AUDIO_INPUT": "true",
        "POLYVOX_LLM__TIMEOUT": "10",
    }
    with run_server(tmp_path_factory.mktemp("converse-audio"), **env) as running:
        yield running
    assert running.process.returncode in (0, -15), running.log()


async def test_the_model_hears_the_audio_and_its_reply_is_spoken(
    audio_server: Server, llm: ScriptedLLM
) -> None:
    async with httpx.AsyncClient(timeout=60) as http:
        reply = await http.post(
            f"{audio_server.url}/v1/synthesize",
            json={"text": QUESTION, "format": "pcm", "sample_rate": 16000},
        )
    question = reply.content
    received = Received()
    async with connect(url(audio_server), max_size=None) as ws:
        reader = asyncio.create_task(collect(ws, received))
        await ws.send(json.dumps({"type": "start", "sample_rate": 16000, "format": "pcm"}))
        await send_turn(ws, question)
        await wait_for(received, "turn_done", 1, within=60)
        mark = len(received.frames)
        await send_turn(ws, question)
        await wait_for(received, "turn_done", 2, within=60)
        await ws.send(json.dumps({"type": "stop"}))
        await asyncio.wait_for(reader, 30)

    assert not received.messages("error"), received.messages("error")
    assert not received.messages("transcript")  # no ASR ran
    assert len(llm.requests) == 2 and all(audio_request_problem(r) is None for r in llm.requests)

    # What the model received is the user's question, at 16 kHz.
    samples, rate = wav_samples(llm.requests[0]["messages"][-1]["content"][0])
    assert rate == 16000 and len(samples) == len(question) // 2
    transcriber = whisper()
    assert word_error_rate(QUESTION, transcriber.transcribe(samples, rate).text) <= 0.10

    # The second turn carries the first exchange: the audio part and the spoken reply.
    history = llm.requests[1]["messages"]
    assert [m["role"] for m in history] == ["system", "user", "assistant", "user"]
    assert history[1]["content"] == llm.requests[0]["messages"][-1]["content"]
    assert history[2]["content"] == REPLY

    started = received.first("started")
    turn1 = Received(received.frames[:mark])
    chunks = turn1.messages("text_chunk")
    assert " ".join(c["text"] for c in chunks) == REPLY and all(c["has_audio"] for c in chunks)
    audio = turn1.audio_by_chunk()
    pcm = b"".join(audio[c["chunk_id"]] for c in chunks)
    spoken = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
    heard = transcriber.transcribe(spoken, started["sample_rate"]).text
    assert word_error_rate(REPLY, heard) <= 0.15, heard

    done = turn1.first("turn_done")
    assert done["asr_ms"] is None
    assert 0 < done["llm_first_token_ms"] < done["ttfa_ms"] < done["total_ms"]
    assert done["audio_seconds"] == pytest.approx(len(spoken) / started["sample_rate"], abs=0.01)
