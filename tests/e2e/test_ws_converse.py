"""``WS /v1/ws/converse`` against a real server subprocess and a scripted upstream LLM.

The language model is an external service; :class:`ScriptedLLM` stands in for it at the network boundary: a
small HTTP server on 127.0.0.1 that streams a scripted chat completion in OpenAI's SSE format at a set
token rate. The user's question is real speech (piper, through the server's own HTTP API) and the spoken
reply is checked with Whisper.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from tests.conftest import whisper
from tests.e2e.conftest import Server, free_port, run_server
from tests.e2e.test_ws_tts import Received, collect, wait_for
from websockets.asyncio.client import connect

from polyvox.stt.metrics import word_error_rate

QUESTION = "What is the capital of France?"
NO_NOISE = {"noise_scale": 0.0, "noise_w": 0.0}
REPLY = "Paris is the capital of France. It is famous for the Eiffel Tower and many fine museums."


class ScriptedLLM:
    """An OpenAI-compatible ``/v1/chat/completions`` that streams ``reply`` word by word."""

    def __init__(
        self,
        port: int,
        reply: str,
        tokens_per_second: float = 30.0,
        check: Callable[[dict[str, Any]], str | None] | None = None,
        tool_call: tuple[str, str] | None = None,
    ) -> None:
        self.port = port
        self.check = check
        """Called with each request body; a returned message is answered HTTP 400 with it."""
        self.tool_call = tool_call
        """``(name, arguments)``: a request whose last message is not a tool result is answered with this
        call (its arguments streamed in pieces) instead of ``reply``."""
        self.reply = reply
        self.tokens_per_second = tokens_per_second
        self.requests: list[dict[str, Any]] = []
        self.token_times: list[float] = []
        self._server: ThreadingHTTPServer | None = None

    def tokens(self) -> list[str]:
        return re.findall(r"\s*\S+", self.reply)

    def deltas(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        """The ``choices[0].delta`` objects that answer ``body``."""
        if self.tool_call is None or body["messages"][-1]["role"] == "tool":
            return [{"content": token} for token in self.tokens()]
        name, arguments = self.tool_call
        first = {"index": 0, "id": "call_1", "type": "function", "function": {"name": name, "arguments": ""}}
        pieces = [arguments[i : i + 8] for i in range(0, len(arguments), 8)]
        return [{"tool_calls": [first]}] + [
            {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]} for piece in pieces
        ]

    def start(self) -> ScriptedLLM:
        scripted = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                scripted.requests.append(body)
                problem = scripted.check(body) if scripted.check is not None else None
                if problem is not None:
                    payload = json.dumps({"error": {"message": problem, "type": "invalid_request_error"}})
                    self.send_response(400)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload.encode())
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                try:
                    for delta in scripted.deltas(body):
                        time.sleep(1.0 / scripted.tokens_per_second)
                        event = {"object": "chat.completion.chunk", "choices": [{"delta": delta}]}
                        self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
                        self.wfile.flush()
                        scripted.token_times.append(time.perf_counter())
                    self.wfile.write(b"data: [DONE]\n\n")
                except (BrokenPipeError, ConnectionResetError):
                    pass  # Polyvox hung up (a barge-in cancels the reply): nothing more to send

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


@pytest.fixture(scope="module")
def llm_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def converse_server(tmp_path_factory: pytest.TempPathFactory, llm_port: int) -> Iterator[Server]:
    env = {"POLYVOX_LLM__BASE_URL": f"http://127.0.0.1:{llm_port}/v1", "POLYVOX_LLM__TIMEOUT": "5"}
    with run_server(tmp_path_factory.mktemp("converse"), **env) as running:
        yield running


@pytest.fixture(scope="module")
def question_pcm(converse_server: Server) -> bytes:
    """The spoken question: 16 kHz s16le from piper, through the server's HTTP API."""
    body = {"text": QUESTION, "format": "pcm", "sample_rate": 16000}
    response = httpx.post(f"{converse_server.url}/v1/synthesize", json=body, timeout=60)
    assert response.status_code == 200, response.text
    return response.content


def url(server: Server) -> str:
    return server.url.replace("http://", "ws://") + "/v1/ws/converse"


async def send_turn(ws: Any, pcm: bytes, frame_bytes: int = 3200) -> None:
    """Stream the turn in 100 ms frames, then mark its end."""
    for i in range(0, len(pcm), frame_bytes):
        await ws.send(pcm[i : i + frame_bytes])
    await ws.send(json.dumps({"type": "end_of_turn"}))


@pytest.mark.slow
async def test_upstream_down_then_a_spoken_reply(
    converse_server: Server, question_pcm: bytes, llm_port: int
) -> None:
    received = Received()
    llm = ScriptedLLM(llm_port, REPLY)
    try:
        async with connect(url(converse_server), max_size=None) as ws:
            reader = asyncio.create_task(collect(ws, received))
            # Without piper's sampled noise: Whisper tiny once misheard a noisy rendering of the reply.
            start = {"type": "start", "sample_rate": 16000, "format": "pcm", "extra": NO_NOISE}
            await ws.send(json.dumps(start))
            # Turn 1: nothing listens on the LLM's port yet.
            await send_turn(ws, question_pcm)
            await wait_for(received, "turn_done", 1)
            error = received.first("error")
            assert error["code"] == "llm_unavailable" and error["turn_id"] == 1
            assert not received.messages("text_chunk")
            # Turn 2: the upstream is back.
            llm.start()
            mark = len(received.frames)
            await send_turn(ws, question_pcm)
            await wait_for(received, "turn_done", 2, within=60)
            await ws.send(json.dumps({"type": "stop"}))
            await asyncio.wait_for(reader, 30)
    finally:
        llm.stop()

    started = received.first("started")
    transcripts = received.messages("transcript")
    assert [t["turn_id"] for t in transcripts] == [1, 2]
    assert all(word_error_rate(QUESTION, t["text"]) <= 0.10 for t in transcripts), transcripts

    # The upstream got the system prompt and the question (the failed turn left no history).
    messages = llm.requests[0]["messages"]
    assert llm.requests[0]["stream"] is True
    assert [m["role"] for m in messages] == ["system", "user"]
    assert word_error_rate(QUESTION, messages[-1]["content"]) <= 0.10

    turn2 = Received(received.frames[mark:])
    chunks = turn2.messages("text_chunk")
    assert " ".join(c["text"] for c in chunks) == REPLY
    assert all(c["has_audio"] for c in chunks)
    audio = turn2.audio_by_chunk()
    pcm = b"".join(audio[c["chunk_id"]] for c in chunks)
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
    heard = whisper().transcribe(samples, started["sample_rate"]).text
    assert word_error_rate(REPLY, heard) <= 0.15, heard

    done = turn2.first("turn_done")
    assert done["turn_id"] == 2
    assert 0 < done["asr_ms"] < 10_000
    assert 0 < done["llm_first_token_ms"] < 5_000
    assert done["asr_ms"] < done["ttfa_ms"] < done["total_ms"]
    assert done["audio_seconds"] == pytest.approx(len(samples) / started["sample_rate"], abs=0.01)
    # The first sentence was spoken before the model finished its reply.
    first_audio = next(t for t, f in turn2.frames if isinstance(f, bytes))
    assert first_audio < llm.token_times[-1] + 0.5


async def test_text_only_replies_when_tts_is_off_or_a_sentence_fails(
    converse_server: Server, question_pcm: bytes, llm_port: int, tmp_path: Path
) -> None:
    llm = ScriptedLLM(llm_port, REPLY, tokens_per_second=200).start()
    try:
        for start in (
            {"type": "start", "tts": False},
            {"type": "start", "engine": "tone", "extra": {"fail_at": 0}},
        ):
            received = Received()
            async with connect(url(converse_server), max_size=None) as ws:
                reader = asyncio.create_task(collect(ws, received))
                await ws.send(json.dumps(start))
                await send_turn(ws, question_pcm)
                await wait_for(received, "turn_done", within=60)
                await ws.send(json.dumps({"type": "stop"}))
                await asyncio.wait_for(reader, 30)
            chunks = received.messages("text_chunk")
            assert " ".join(c["text"] for c in chunks) == REPLY
            errors = [e["code"] for e in received.messages("error")]
            if start.get("tts") is False:
                assert not any(c["has_audio"] for c in chunks)
                assert not [f for _, f in received.frames if isinstance(f, bytes)]
                assert errors == []
            else:  # the reply's first segment fails: said as words, the error once; the session goes on
                assert not chunks[0]["has_audio"] and all(c["has_audio"] for c in chunks[1:])
                assert errors == ["engine_failed"]
    finally:
        llm.stop()


async def test_bad_messages_keep_the_connection(converse_server: Server) -> None:
    received = Received()
    async with connect(url(converse_server)) as ws:
        reader = asyncio.create_task(collect(ws, received))
        await ws.send(b"\x00\x00" * 160)  # audio before start
        await ws.send("[1, 2]")
        await ws.send(json.dumps({"type": "end_of_turn"}))
        await ws.send(json.dumps({"type": "start", "sample_rate": 5}))
        await ws.send(json.dumps({"type": "start"}))
        await wait_for(received, "started")
        await ws.send(json.dumps({"type": "start"}))
        await ws.send(json.dumps({"type": "stop"}))
        await asyncio.wait_for(reader, 30)
    codes = [e["code"] for e in received.messages("error")]
    assert codes == ["not_started", "invalid_message", "not_started", "invalid_message", "invalid_message"]


@pytest.mark.slow
async def test_server_vad_ends_turns_and_a_new_turn_interrupts_the_reply(
    converse_server: Server, question_pcm: bytes, llm_port: int
) -> None:
    silence = b"\x00\x00" * 16000  # one second
    llm = ScriptedLLM(llm_port, REPLY, tokens_per_second=4).start()  # slow: the reply is still going
    received = Received()
    try:
        async with connect(url(converse_server), max_size=None) as ws:
            reader = asyncio.create_task(collect(ws, received))
            await ws.send(json.dumps({"type": "start", "engine": "tone", "vad": True}))
            for i in range(0, len(question_pcm + silence), 3200):
                await ws.send((question_pcm + silence)[i : i + 3200])
                await asyncio.sleep(0.02)
            await wait_for(received, "text_chunk", within=30)  # VAD ended turn 1; its reply is speaking
            for i in range(0, len(question_pcm + silence), 3200):
                await ws.send((question_pcm + silence)[i : i + 3200])
                await asyncio.sleep(0.02)
            await wait_for(received, "transcript", 2, within=30)
            interrupted_at = next(
                t for t, f in received.frames if isinstance(f, dict) and f["type"] == "interrupted"
            )
            await ws.send(json.dumps({"type": "cancel"}))
            await ws.send(json.dumps({"type": "stop"}))
            await asyncio.wait_for(reader, 30)
    finally:
        llm.stop()
    turn1 = [c for c in received.messages("text_chunk") if c["context_id"] == "turn-1"]
    assert turn1 and " ".join(c["text"] for c in turn1) != REPLY  # cut short
    late = [f for t, f in received.frames if t > interrupted_at and isinstance(f, dict)]
    assert not [f for f in late if f.get("context_id") == "turn-1"], late
    assert [t["turn_id"] for t in received.messages("transcript")] == [1, 2]
    # The interrupted exchange is history for the next request.
    if len(llm.requests) > 1:
        assert [m["role"] for m in llm.requests[1]["messages"]] == ["system", "user", "assistant", "user"]
