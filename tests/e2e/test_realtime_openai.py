"""``WS /v1/realtime`` driven by the ``openai`` SDK's own realtime client (sync and async), on a real server.

The upstream model is :class:`ScriptedLLM` (an OpenAI-compatible chat server on loopback, as in the
converse tests); the user's speech is piper's, fetched from the server at 24 kHz, and the spoken replies
are checked with Whisper. One server (under a memory cap) serves the module.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest
import soxr
from openai import AsyncOpenAI, OpenAI
from tests.conftest import whisper
from tests.e2e.conftest import Server, free_port, run_limited_server
from tests.e2e.memory import rss_bytes
from tests.e2e.test_hostile import HealthWatch
from tests.e2e.test_ws_converse import NO_NOISE, QUESTION, REPLY, ScriptedLLM
from websockets.asyncio.client import connect

from polyvox.realtime.g711 import ulaw_encode
from polyvox.stt.metrics import word_error_rate

pytestmark = pytest.mark.slow

MEMORY_CAP = 3 * 2**30
MAX_TURN_SECONDS = 20
MAX_EVENT_BYTES = 512 * 1024
OVERSIZED = "A" * (MAX_EVENT_BYTES + 1)
INSTRUCTIONS = "You are a geography tutor."
SILENCE = b"\x00\x00" * 24000  # one second at 24 kHz
WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
WEATHER_REPLY = "It is sunny in Paris today."
AGENT_REPLY = "The weather in Paris is sunny and warm today, with a light breeze coming off the river."


@pytest.fixture(scope="module")
def llm_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def realtime_server(tmp_path_factory: pytest.TempPathFactory, llm_port: int) -> Iterator[Server]:
    env = {
        "POLYVOX_LLM__BASE_URL": f"http://127.0.0.1:{llm_port}/v1",
        "POLYVOX_LLM__TIMEOUT": "5",
        "POLYVOX_REALTIME__MAX_TURN_SECONDS": str(MAX_TURN_SECONDS),
        # A stuck (sync) client is cut off by the server within a minute instead of five.
        "POLYVOX_REALTIME__IDLE_TIMEOUT": "60",
        # Big enough for a whole utterance in one append (the Agents SDK sends one), small for the test.
        "POLYVOX_REALTIME__MAX_EVENT_BYTES": str(MAX_EVENT_BYTES),
    }
    with run_limited_server(tmp_path_factory.mktemp("realtime"), MEMORY_CAP, **env) as running:
        yield running


@pytest.fixture(scope="module")
def question(realtime_server: Server) -> bytes:
    """The spoken question: 24 kHz s16le from piper, through the server's HTTP API."""
    body = {"text": QUESTION, "format": "pcm", "sample_rate": 24000}
    response = httpx.post(f"{realtime_server.url}/v1/synthesize", json=body, timeout=60)
    assert response.status_code == 200, response.text
    return response.content


def chunks(pcm: bytes, size: int = 9600) -> Iterator[str]:
    """200 ms pieces of 24 kHz pcm16, base64 (what ``input_audio_buffer.append`` carries)."""
    for i in range(0, len(pcm), size):
        yield base64.b64encode(pcm[i : i + size]).decode()


def heard(deltas: list[str], rate: int = 24000) -> str:
    pcm = b"".join(base64.b64decode(d) for d in deltas)
    return whisper().transcribe(np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0, rate).text


def audio_session(**more: Any) -> dict[str, Any]:
    """A conversation session: server VAD, input transcription, piper without sampled noise."""
    audio = {
        "input": {
            "format": {"type": "audio/pcm", "rate": 24000},
            "transcription": {"model": "whisper-1", "language": "en"},
            "turn_detection": {"type": "server_vad", "silence_duration_ms": 500},
        },
        "output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "alloy"},
    }
    return {
        "type": "realtime",
        "instructions": INSTRUCTIONS,
        "audio": audio,
        "polyvox": {"extra": NO_NOISE},
    } | more


def test_sync_client_full_spoken_turn(realtime_server: Server, question: bytes, llm_port: int) -> None:
    llm = ScriptedLLM(llm_port, REPLY, tokens_per_second=100).start()
    events: list[Any] = []
    try:
        client = OpenAI(base_url=f"{realtime_server.url}/v1", api_key="unused")
        with client.realtime.connect(model="gpt-realtime") as conn:
            conn.session.update(session=audio_session())  # type: ignore[arg-type]  # the polyvox extension
            for piece in chunks(question + SILENCE):
                conn.input_audio_buffer.append(audio=piece)
            for event in conn:
                events.append(event)
                if event.type in ("response.done", "error"):
                    break
    finally:
        llm.stop()
    kinds = [e.type for e in events]
    assert kinds[:2] == ["session.created", "session.updated"]
    order = [
        "input_audio_buffer.speech_started",
        "input_audio_buffer.speech_stopped",
        "input_audio_buffer.committed",
        "response.created",
        "response.output_audio.delta",
        "response.done",
    ]
    assert [kinds.index(k) for k in order] == sorted(kinds.index(k) for k in order), kinds
    transcript = next(e for e in events if e.type == "conversation.item.input_audio_transcription.completed")
    assert word_error_rate(QUESTION, transcript.transcript) <= 0.10, transcript.transcript
    # The upstream got the session's instructions and the user's words.
    messages = llm.requests[0]["messages"]
    assert messages[0] == {"role": "system", "content": INSTRUCTIONS}
    assert messages[-1]["role"] == "user" and word_error_rate(QUESTION, messages[-1]["content"]) <= 0.10
    done = events[-1].response
    assert done.status == "completed" and done.usage is not None and done.usage.output_tokens > 0
    spoken = next(e for e in events if e.type == "response.output_audio_transcript.done").transcript
    assert spoken == REPLY
    deltas = [e.delta for e in events if e.type == "response.output_audio.delta"]
    assert word_error_rate(REPLY, heard(deltas)) <= 0.15
    assert done.output[0].content[0].transcript == REPLY


async def test_async_client_tool_call_round_trip(realtime_server: Server, llm_port: int) -> None:
    llm = ScriptedLLM(
        llm_port, WEATHER_REPLY, tokens_per_second=100, tool_call=("get_weather", '{"city": "Paris"}')
    )
    llm.start()
    try:
        client = AsyncOpenAI(base_url=f"{realtime_server.url}/v1", api_key="unused")
        async with client.realtime.connect(model="gpt-realtime") as conn:
            session = audio_session(tools=[WEATHER_TOOL], tool_choice="auto")
            await conn.session.update(session=session)  # type: ignore[arg-type]
            text = {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "Weather in Paris?"}],
            }
            await conn.conversation.item.create(item=text)  # type: ignore[arg-type]
            await conn.response.create()
            first = [e async for e in until(conn, "response.done")]
            call = next(e for e in first if e.type == "response.function_call_arguments.done")
            assert (call.name, json.loads(call.arguments)) == ("get_weather", {"city": "Paris"})
            assert first[-1].response.status == "completed"
            output = {"type": "function_call_output", "call_id": call.call_id, "output": '{"sky": "sunny"}'}
            await conn.conversation.item.create(item=output)  # type: ignore[arg-type]
            await conn.response.create()
            second = [e async for e in until(conn, "response.done")]
    finally:
        llm.stop()
    # Tools went to the upstream in chat-completions shape; the answer request carried the call and result.
    assert llm.requests[0]["tools"][0]["function"]["name"] == "get_weather"
    roles = [m["role"] for m in llm.requests[1]["messages"]]
    assert roles == ["system", "user", "assistant", "tool"]
    assert llm.requests[1]["messages"][2]["tool_calls"][0]["id"] == call.call_id
    assert llm.requests[1]["messages"][3] == {
        "role": "tool",
        "tool_call_id": call.call_id,
        "content": '{"sky": "sunny"}',
    }
    spoken = next(e for e in second if e.type == "response.output_audio_transcript.done").transcript
    assert spoken == WEATHER_REPLY
    deltas = [e.delta for e in second if e.type == "response.output_audio.delta"]
    assert word_error_rate(WEATHER_REPLY, heard(deltas)) <= 0.2


async def until(conn: Any, kind: str, within: float = 120) -> Any:
    """The connection's events up to and including the first of type ``kind`` (a test that never gets it
    fails instead of waiting for the server's idle timeout)."""
    async with asyncio.timeout(within):
        async for event in conn:
            yield event
            if event.type == kind:
                return
    raise AssertionError(f"the connection closed before {kind}")


async def test_barge_in_cancels_the_reply_mid_audio(
    realtime_server: Server, question: bytes, llm_port: int
) -> None:
    llm = ScriptedLLM(llm_port, REPLY, tokens_per_second=4).start()  # slow: the reply is still coming
    events: list[Any] = []
    try:
        client = AsyncOpenAI(base_url=f"{realtime_server.url}/v1", api_key="unused")
        async with client.realtime.connect(model="gpt-realtime") as conn:
            await conn.session.update(session=audio_session(polyvox={"engine": "tone"}))  # type: ignore[arg-type]
            for piece in chunks(question + SILENCE):
                await conn.input_audio_buffer.append(audio=piece)
            events += [e async for e in until(conn, "response.output_audio.delta")]
            # The user talks over the reply.
            for piece in chunks(question + SILENCE):
                await conn.input_audio_buffer.append(audio=piece)
            events += [e async for e in until(conn, "response.done")]
            cancelled = events[-1].response
            events += [e async for e in until(conn, "response.done")]  # the answer to the second turn
    finally:
        llm.stop()
    assert cancelled.status == "cancelled" and cancelled.status_details.reason == "turn_detected"
    kept = cancelled.output[0].content[0].transcript
    assert kept and REPLY.startswith(kept) and len(kept) < len(REPLY), kept
    # Nothing of the cancelled response came after its response.done; the next turn was answered.
    at = next(i for i, e in enumerate(events) if e.type == "response.done")
    late = [e for e in events[at + 1 :] if getattr(e, "response_id", None) == cancelled.id]
    assert not late
    assert [e.type for e in events].count("input_audio_buffer.committed") == 2
    assert events[-1].response.status == "completed"


async def test_transcription_session_with_g711(realtime_server: Server, question: bytes) -> None:
    samples = np.frombuffer(question + SILENCE, dtype="<i2").astype(np.float32) / 32768.0
    narrow = (soxr.resample(samples, 24000, 8000) * 32767).astype("<i2").tobytes()
    ulaw = ulaw_encode(narrow)
    client = AsyncOpenAI(base_url=f"{realtime_server.url}/v1", api_key="unused")
    async with client.realtime.connect(
        model="gpt-4o-transcribe", extra_query={"intent": "transcription"}
    ) as conn:
        created = await conn.recv()
        assert created.type == "session.created" and created.session.type == "transcription"
        audio_in: dict[str, Any] = {
            "format": {"type": "audio/pcmu"},
            "transcription": {"model": "gpt-4o-transcribe", "language": "en"},
            "turn_detection": {"type": "server_vad"},
        }
        session: Any = {"type": "transcription", "audio": {"input": audio_in}}
        await conn.session.update(session=session)
        for i in range(0, len(ulaw), 1600):
            await conn.input_audio_buffer.append(audio=base64.b64encode(ulaw[i : i + 1600]).decode())
        events = [e async for e in until(conn, "conversation.item.input_audio_transcription.completed")]
        await conn.response.create()
        refused = await conn.recv()
    kinds = [e.type for e in events]
    assert "input_audio_buffer.speech_started" in kinds and "input_audio_buffer.committed" in kinds
    assert "response.created" not in kinds
    deltas = "".join(e.delta for e in events if e.type == "conversation.item.input_audio_transcription.delta")
    assert deltas == events[-1].transcript
    assert word_error_rate(QUESTION, events[-1].transcript) <= 0.15, events[-1].transcript
    assert refused.type == "error"


def ws_url(server: Server) -> str:
    return server.url.replace("http://", "ws://") + "/v1/realtime?model=gpt-realtime"


async def test_bad_input_is_answered_and_the_socket_stays(realtime_server: Server) -> None:
    health = HealthWatch(realtime_server.url)
    health.start()
    before, _ = rss_bytes(realtime_server.process.pid)
    second = base64.b64encode(SILENCE).decode()
    try:
        async with connect(ws_url(realtime_server), max_size=None) as ws:
            assert json.loads(await ws.recv())["type"] == "session.created"

            async def answer(event: str | dict[str, Any]) -> dict[str, Any]:
                await ws.send(event if isinstance(event, str) else json.dumps(event))
                reply: dict[str, Any] = json.loads(await ws.recv())
                return reply

            bad: list[tuple[str | dict[str, Any], str]] = [
                ("{not json", "invalid_event"),
                ({"type": "no.such.event", "event_id": "e1"}, "unknown_event"),
                ({"type": "input_audio_buffer.append", "event_id": "e2", "audio": "***"}, "invalid_audio"),
                ({"type": "input_audio_buffer.append", "event_id": "e3", "audio": "AAAA"}, "invalid_audio"),
                (
                    {"type": "input_audio_buffer.append", "event_id": "e4", "audio": OVERSIZED},
                    "message_too_large",
                ),
                ({"type": "input_audio_buffer.commit", "event_id": "e5"}, "input_audio_buffer_commit_empty"),
                ({"type": "response.cancel", "event_id": "e6"}, "response_cancel_not_active"),
                ({"type": "conversation.item.delete", "event_id": "e7", "item_id": "nope"}, "item_not_found"),
                (
                    {
                        "type": "session.update",
                        "event_id": "e8",
                        "session": {"audio": {"input": {"format": "mp3"}}},
                    },
                    "invalid_value",
                ),
            ]
            for event, code in bad:
                reply = await answer(event)
                assert reply["type"] == "error" and reply["error"]["code"] == code, (event, reply)
                expected = event.get("event_id") if isinstance(event, dict) else None
                assert reply["error"]["event_id"] == expected
            # A session that never commits: the buffer refuses audio past realtime.max_turn_seconds.
            no_vad = {"type": "session.update", "session": {"audio": {"input": {"turn_detection": None}}}}
            assert (await answer(no_vad))["type"] == "session.updated"
            for _ in range(MAX_TURN_SECONDS):
                await ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": second}))
            full = await answer({"type": "input_audio_buffer.append", "event_id": "e9", "audio": second})
            assert full["error"]["code"] == "input_audio_buffer_full" and full["error"]["event_id"] == "e9"
            # Silence streamed for long with server VAD on is trimmed, never refused.
            vad = {
                "type": "session.update",
                "session": {"audio": {"input": {"turn_detection": {"type": "server_vad"}}}},
            }
            assert (await answer({"type": "input_audio_buffer.clear"}))[
                "type"
            ] == "input_audio_buffer.cleared"
            assert (await answer(vad))["type"] == "session.updated"
            streaming_started = time.perf_counter()
            for _ in range(3 * MAX_TURN_SECONDS):
                await ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": second}))
            assert (await answer({"type": "input_audio_buffer.clear"}))[
                "type"
            ] == "input_audio_buffer.cleared"
            streaming_ended = time.perf_counter()
    finally:
        health.stopping.set()
        health.join()
    after, _ = rss_bytes(realtime_server.process.pid)
    assert after - before < 200 * 2**20, (before, after)
    assert health.answered and not health.failures, health.failures[:5]
    # The loop kept answering while the silence streamed in: a poll was sent and answered during it.
    assert health.answered_within(streaming_started, streaming_ended)


async def test_beta_client_names_text_replies_and_an_unreachable_model(
    realtime_server: Server, llm_port: int
) -> None:
    """A client of the beta protocol (header, top-level fields) gets the beta event names."""
    beta = {"OpenAI-Beta": "realtime=v1"}
    async with connect(ws_url(realtime_server), additional_headers=beta, max_size=None) as ws:

        async def until_done() -> list[dict[str, Any]]:
            events: list[dict[str, Any]] = []
            async with asyncio.timeout(60):
                while not events or events[-1]["type"] != "response.done":
                    events.append(json.loads(await ws.recv()))
            return events

        await ws.recv()  # session.created
        session = {
            "modalities": ["text", "audio"],
            "voice": "alloy",
            "input_audio_format": "pcm16",
            "output_audio_format": "pcm16",
            "turn_detection": None,
            "polyvox": {"engine": "tone"},
        }
        await ws.send(json.dumps({"type": "session.update", "session": session}))
        assert json.loads(await ws.recv())["type"] == "session.updated"
        text = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hello?"}]}
        await ws.send(json.dumps({"type": "conversation.item.create", "item": text}))
        assert json.loads(await ws.recv())["type"] == "conversation.item.created"
        # Nothing listens on the model's port yet: the response fails in-band.
        await ws.send(json.dumps({"type": "response.create"}))
        failed = await until_done()
        assert failed[-1]["response"]["status"] == "failed"
        assert any(e["type"] == "error" and e["error"]["code"] == "llm_unavailable" for e in failed)
        llm = ScriptedLLM(llm_port, WEATHER_REPLY, tokens_per_second=200).start()
        try:
            await ws.send(json.dumps({"type": "response.create"}))
            spoken = await until_done()
            # The client played 300 ms of it: the item keeps the words of those.
            item_id = spoken[-1]["response"]["output"][0]["id"]
            truncate = {
                "type": "conversation.item.truncate",
                "item_id": item_id,
                "content_index": 0,
                "audio_end_ms": 300,
            }
            await ws.send(json.dumps(truncate))
            assert json.loads(await ws.recv())["type"] == "conversation.item.truncated"
            await ws.send(json.dumps({"type": "conversation.item.retrieve", "item_id": item_id}))
            kept = json.loads(await ws.recv())["item"]["content"][0]["transcript"]
            await ws.send(json.dumps({"type": "response.create", "response": {"modalities": ["text"]}}))
            written = await until_done()
        finally:
            llm.stop()
    assert kept and WEATHER_REPLY.startswith(kept) and len(kept) < len(WEATHER_REPLY), kept
    kinds = {e["type"] for e in spoken}
    assert {"response.audio.delta", "response.audio_transcript.delta", "response.audio.done"} <= kinds
    assert not any(k.startswith("response.output_audio") for k in kinds)
    assert "".join(e["delta"] for e in written if e["type"] == "response.text.delta") == WEATHER_REPLY
    assert not any(e["type"] == "response.audio.delta" for e in written)
    assert written[-1]["response"]["output"][0]["content"][0] == {
        "type": "output_text",
        "text": WEATHER_REPLY,
    }


async def test_push_to_talk_commit_then_text_reply(
    realtime_server: Server, question: bytes, llm_port: int
) -> None:
    """No server VAD: the client commits the turn itself and asks for a text-only response."""
    llm = ScriptedLLM(llm_port, REPLY, tokens_per_second=200).start()
    try:
        client = AsyncOpenAI(base_url=f"{realtime_server.url}/v1", api_key="unused")
        async with client.realtime.connect(model="gpt-realtime") as conn:
            session: Any = {
                "type": "realtime",
                "output_modalities": ["text"],
                "audio": {"input": {"turn_detection": None}},
            }
            await conn.session.update(session=session)
            for piece in chunks(question):
                await conn.input_audio_buffer.append(audio=piece)
            await conn.input_audio_buffer.commit()
            await conn.response.create()
            events = [e async for e in until(conn, "response.done")]
    finally:
        llm.stop()
    kinds = [e.type for e in events]
    assert "input_audio_buffer.committed" in kinds and "input_audio_buffer.speech_started" not in kinds
    assert "conversation.item.input_audio_transcription.completed" not in kinds  # not asked for
    assert word_error_rate(QUESTION, llm.requests[0]["messages"][-1]["content"]) <= 0.10
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == REPLY
    assert events[-1].response.status == "completed"


async def test_the_agents_sdk_realtime_runner_talks_to_polyvox(
    realtime_server: Server, question: bytes, llm_port: int
) -> None:
    """The OpenAI Agents SDK's realtime quickstart, unchanged but for the URL: a RealtimeAgent with a function
    tool, run by RealtimeRunner; the user's spoken question goes in as audio, the model (the scripted
    upstream) calls the tool, the SDK runs it and sends its output, and the spoken answer comes back."""
    from agents import function_tool
    from agents.realtime import RealtimeAgent, RealtimeRunner

    called: list[str] = []

    @function_tool
    def get_weather(city: str) -> str:
        """The weather in a city."""
        called.append(city)
        return "sunny"

    agent = RealtimeAgent(name="Assistant", instructions=INSTRUCTIONS, tools=[get_weather])
    runner = RealtimeRunner(
        starting_agent=agent,
        config={
            "model_settings": {
                "model_name": "gpt-realtime",
                "voice": "alloy",
                "modalities": ["audio"],
                "input_audio_format": "pcm16",
                "output_audio_format": "pcm16",
                "input_audio_transcription": {"model": "gpt-4o-mini-transcribe"},
                "turn_detection": {
                    "type": "server_vad",
                    "silence_duration_ms": 500,
                    "interrupt_response": True,
                },
            },
            "tracing_disabled": True,
        },
    )
    # A reply of some length: the SDK cannot ask for piper without its sampled noise (the other tests do),
    # and Whisper tiny then mishears a word or three of it now and then ("in Paris is" as "impairs the").
    llm = ScriptedLLM(
        llm_port, AGENT_REPLY, tokens_per_second=100, tool_call=("get_weather", '{"city": "Paris"}')
    )
    llm.start()
    url = realtime_server.url.replace("http://", "ws://") + "/v1/realtime?model=gpt-realtime"
    audio = bytearray()
    kinds: list[str] = []
    try:
        session = await runner.run(model_config={"url": url, "api_key": "not-checked"})
        async with session:
            await session.send_audio(question + SILENCE)
            async with asyncio.timeout(90):
                async for event in session:
                    kinds.append(event.type)
                    if event.type == "error":
                        pytest.fail(f"realtime error: {event.error}")
                    if event.type == "audio":
                        audio += event.audio.data
                    if event.type == "audio_end" and called:
                        break
    finally:
        llm.stop()
    assert called == ["Paris"] and "tool_end" in kinds
    assert [m["role"] for m in llm.requests[-1]["messages"]][-2:] == ["assistant", "tool"]
    samples = np.frombuffer(bytes(audio), dtype="<i2").astype(np.float32) / 32768.0
    assert word_error_rate(AGENT_REPLY, whisper().transcribe(samples, 24000).text) <= 0.3
