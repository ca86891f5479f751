"""The Wyoming front door, driven by the real ``wyoming`` client over TCP.

The server runs in the test's event loop (``run_wyoming`` on a free port with a real Polyvox), exactly as
``polyvox serve --wyoming`` runs it beside the HTTP server. The tone engine's trace (wall-clock start and end
of every synthesized segment) shows when and how often each sentence was synthesized.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.conftest import make_settings, pool_drained, read_trace, stream_tasks
from tests.e2e.conftest import free_port
from wyoming.audio import AudioChunk, AudioStart
from wyoming.client import AsyncTcpClient
from wyoming.error import Error
from wyoming.event import Event
from wyoming.info import Describe, Info, SelectProgram
from wyoming.ping import Ping
from wyoming.tts import (
    Synthesize,
    SynthesizeChunk,
    SynthesizeStart,
    SynthesizeStop,
    SynthesizeVoice,
)

from polyvox.engines.tone import SAMPLE_RATE as TONE_RATE
from polyvox.engines.tone import WORD_SECONDS
from polyvox.service import Polyvox
from polyvox.stt.metrics import word_error_rate
from polyvox.stt.transcriber import Transcriber
from polyvox.wyoming.server import WyomingServer, run_wyoming

SPEECH = [
    "The quick brown fox jumps over the lazy dog.",
    "A journey of a thousand miles begins with a single step.",
    "Every morning the baker opens his shop before sunrise.",
]
TONES = ["One two three.", "Four five six seven.", "Eight nine ten."]
TONE = SynthesizeVoice(name="tone/beep")
TIMEOUT = 30.0


@dataclass
class Reply:
    """Everything the server sent for one request, with the wall-clock time each event arrived."""

    events: list[tuple[float, Event]] = field(default_factory=list)

    @property
    def types(self) -> list[str]:
        return [e.type for _, e in self.events if e.type != "audio-chunk"]

    @property
    def chunks(self) -> list[tuple[float, AudioChunk]]:
        return [(t, AudioChunk.from_event(e)) for t, e in self.events if AudioChunk.is_type(e.type)]

    @property
    def start(self) -> AudioStart:
        return next(AudioStart.from_event(e) for _, e in self.events if AudioStart.is_type(e.type))

    @property
    def errors(self) -> list[Error]:
        return [Error.from_event(e) for _, e in self.events if Error.is_type(e.type)]

    @property
    def samples(self) -> np.ndarray[Any, np.dtype[np.float32]]:
        pcm = b"".join(chunk.audio for _, chunk in self.chunks)
        return np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0


async def read_until(client: AsyncTcpClient, *last: str, reply: Reply | None = None) -> Reply:
    """Read events until one of type ``last`` arrives (fails on a closed connection or a timeout)."""
    reply = reply or Reply()
    while True:
        event = await asyncio.wait_for(client.read_event(), TIMEOUT)
        assert event is not None, f"connection closed after {reply.types}"
        reply.events.append((time.time(), event))
        if event.type in last:
            return reply


async def send(client: AsyncTcpClient, events: Iterable[Event]) -> None:
    for event in events:
        await client.write_event(event)


@contextlib.asynccontextmanager
async def wyoming(tmp_path: Path, **overrides: Any) -> AsyncIterator[tuple[Polyvox, int]]:
    """A real Polyvox serving Wyoming on a free port in this event loop; yields it and the port."""
    port = free_port()
    async with Polyvox(make_settings(tmp_path, **overrides)) as polyvox:
        server = asyncio.create_task(run_wyoming(polyvox, f"tcp://127.0.0.1:{port}"))
        for _ in range(200):
            assert not server.done(), server
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                break
            await asyncio.sleep(0.02)
        try:
            yield polyvox, port
        finally:
            server.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await server
            assert server.cancelled()  # it served until cancelled and never crashed


def tone_trace(path: Path) -> list[dict[str, Any]]:
    return sorted(read_trace(path), key=lambda r: r["start"])


async def test_describe_lists_every_engine_with_its_voices(tmp_path: Path) -> None:
    async with wyoming(tmp_path) as (polyvox, port), AsyncTcpClient("127.0.0.1", port) as client:
        await client.write_event(Describe().event())
        info = Info.from_event((await read_until(client, "info")).events[-1][1])
    programs = {program.name: program for program in info.tts}
    assert info.tts[0].name == "piper"  # the default engine first: Home Assistant uses the first program
    assert set(programs) == set(polyvox.registry.names())
    for name, program in programs.items():
        # Engines waiting for weights (the neural ones here) are described, as not installed, without voices.
        assert program.installed is polyvox.registry.readiness(name).can_speak
        assert program.supports_synthesize_streaming
        assert program.attribution.name and program.version
        assert len(program.voices) == len(polyvox.registry.voices(name))
        assert all(v.installed and v.languages and v.name.startswith(f"{name}/") for v in program.voices)
    assert programs["piper"].installed and not programs["pocket"].installed
    joe = programs["piper"].voices[0]
    assert (joe.name, joe.languages, joe.speakers) == ("piper/joe", ["en_US"], None)
    assert "fr" in {lang for v in programs["espeak"].voices for lang in v.languages}


@pytest.mark.slow
async def test_piper_speaks_sentences_whisper_understands(tmp_path: Path, transcriber: Transcriber) -> None:
    text = " ".join(SPEECH)
    async with wyoming(tmp_path) as (_, port), AsyncTcpClient("127.0.0.1", port) as client:
        # A plain voice id of the default engine, as a Home Assistant user would type it.
        await client.write_event(Synthesize(text=text, voice=SynthesizeVoice(name="joe")).event())
        reply = await read_until(client, "audio-stop", "error")
        # The same text streamed word by word, with the legacy synthesize Home Assistant adds.
        await send(client, [SynthesizeStart(voice=SynthesizeVoice(name="piper/joe")).event()])
        await send(client, [SynthesizeChunk(text=f"{word} ").event() for word in text.split()])
        await send(client, [Synthesize(text=text).event(), SynthesizeStop().event()])
        streamed = await read_until(client, "synthesize-stopped", "error")
    assert reply.types == ["audio-start", "audio-stop"], reply.errors
    assert streamed.types == ["audio-start", "audio-stop", "synthesize-stopped"], streamed.errors
    for result in (reply, streamed):
        start = result.start
        assert (start.rate, start.width, start.channels) == (22050, 2, 1)
        assert all(c.rate == 22050 and 0 < c.samples <= 1024 for _, c in result.chunks)
        seconds = len(result.samples) / 22050
        assert 5 < seconds < 15
        heard = transcriber.transcribe(result.samples, 22050).text
        assert word_error_rate(text, heard) <= 0.10, heard
    # Spoken once, not twice: the streamed audio is about as long as the plain one.
    assert abs(len(streamed.samples) - len(reply.samples)) < 0.25 * len(reply.samples)


async def test_first_audio_arrives_before_the_last_sentence_is_synthesized(
    tmp_path: Path, trace_file: Path
) -> None:
    settings = {"tone": {"trace_file": trace_file, "delay": 0.3}}
    async with wyoming(tmp_path, **settings) as (_, port), AsyncTcpClient("127.0.0.1", port) as client:
        await client.write_event(Synthesize(text=" ".join(TONES), voice=TONE).event())
        reply = await read_until(client, "audio-stop", "error")
    assert reply.types == ["audio-start", "audio-stop"], reply.errors
    trace = tone_trace(trace_file)
    assert [r["text"] for r in trace] == TONES
    first_audio = reply.chunks[0][0]
    # The first sentence's audio was on the client before the last sentence even started synthesizing.
    assert first_audio < trace[-1]["start"] < trace[-1]["end"]
    words = sum(len(s.split()) for s in TONES)
    assert len(reply.samples) == round(words * WORD_SECONDS * TONE_RATE)


async def test_streamed_words_become_sentences_spoken_once(tmp_path: Path, trace_file: Path) -> None:
    settings = {"tone": {"trace_file": trace_file, "delay": 0.05}}
    text = " ".join(TONES)
    words = text.split()
    first_sentence = len(TONES[0].split())
    async with wyoming(tmp_path, **settings) as (_, port), AsyncTcpClient("127.0.0.1", port) as client:
        await client.write_event(SynthesizeStart(voice=TONE).event())
        # The first sentence, and the first word of the next, which tells the segmenter it is complete.
        await send(client, [SynthesizeChunk(text=f"{w} ").event() for w in words[: first_sentence + 1]])
        reply = await read_until(client, "audio-chunk")  # audio while the text is still coming
        assert [r["text"] for r in tone_trace(trace_file)] == [TONES[0]]
        await send(client, [SynthesizeChunk(text=f"{w} ").event() for w in words[first_sentence + 1 :]])
        await send(client, [Synthesize(text=text, voice=TONE).event(), SynthesizeStop().event()])
        await read_until(client, "synthesize-stopped", reply=reply)
        # The connection goes on: a later plain synthesize is spoken (the stream is over).
        await client.write_event(Synthesize(text="Again.", voice=TONE).event())
        after = await read_until(client, "audio-stop", "error")
    assert reply.types == ["audio-start", "audio-stop", "synthesize-stopped"], reply.errors
    assert [r["text"] for r in tone_trace(trace_file)] == [*TONES, "Again."]  # each sentence once
    assert len(reply.samples) == round(len(words) * WORD_SECONDS * TONE_RATE)
    assert after.types == ["audio-start", "audio-stop"]


async def test_errors_are_events_and_the_connection_stays_usable(tmp_path: Path, trace_file: Path) -> None:
    settings = {"tone": {"trace_file": trace_file}}
    async with wyoming(tmp_path, **settings) as (_, port), AsyncTcpClient("127.0.0.1", port) as client:
        cases = [
            (
                Synthesize(text="Hello.", voice=SynthesizeVoice(name="piper/nobody")).event(),
                "voice_not_found",
            ),
            (Synthesize(text="Hello.", voice=SynthesizeVoice(name="nobody")).event(), "voice_not_found"),
            (Synthesize(text="Hello.", voice=SynthesizeVoice(name="nope/x")).event(), "engine_not_found"),
            (Synthesize(text="   ", voice=TONE).event(), "empty_text"),
            (Event(type="synthesize", data={"voice": {"name": "tone/beep"}}), "invalid_parameter"),
            (SynthesizeChunk(text="stray").event(), "invalid_parameter"),
            (SynthesizeStop().event(), "invalid_parameter"),
            (SelectProgram(name="nope").event(), "engine_not_found"),
        ]
        for event, code in cases:
            await client.write_event(event)
            reply = await read_until(client, "error")
            assert reply.types == ["error"] and reply.errors[0].code == code, (event, reply.errors)
        # Unknown events are dropped without an answer.
        await send(client, [Event(type="no-such-event"), Ping(text="still here").event()])
        assert (await read_until(client, "pong")).events[-1][1].data["text"] == "still here"
        # A stream with a bad voice: the error, chunks ignored, and still synthesize-stopped at the end.
        await send(client, [SynthesizeStart(voice=SynthesizeVoice(name="tone/nobody")).event()])
        assert (await read_until(client, "error")).errors[0].code == "voice_not_found"
        await send(client, [SynthesizeChunk(text="One two. Three.").event(), SynthesizeStop().event()])
        assert (await read_until(client, "synthesize-stopped")).types == ["synthesize-stopped"]
        # The same connection synthesizes fine; select-program makes a bare id mean a tone voice.
        boop = SynthesizeVoice(name="boop")
        await send(client, [SelectProgram(name="tone").event(), Synthesize("One two.", boop).event()])
        reply = await read_until(client, "audio-stop", "error")
        assert reply.types == ["audio-start", "audio-stop"], reply.errors
        assert len(reply.samples) == round(2 * WORD_SECONDS * TONE_RATE)
    assert [r["text"] for r in read_trace(trace_file)] == ["One two."]


async def test_engine_failure_mid_audio_ends_the_audio_and_reports(tmp_path: Path, trace_file: Path) -> None:
    settings = {"tone": {"trace_file": trace_file, "fail_at": 1}}
    async with wyoming(tmp_path, **settings) as (_, port), AsyncTcpClient("127.0.0.1", port) as client:
        await client.write_event(Synthesize(text=" ".join(TONES), voice=TONE).event())
        reply = await read_until(client, "audio-stop")
        await send(
            client, [SynthesizeStart(voice=TONE).event(), SynthesizeChunk(text=" ".join(TONES)).event()]
        )
        await send(client, [SynthesizeStop().event()])
        streamed = await read_until(client, "synthesize-stopped")
        await client.write_event(Synthesize(text="Fine.", voice=TONE).event())  # segment 0 never fails
        after = await read_until(client, "audio-stop", "error")
    assert reply.types == ["audio-start", "error", "audio-stop"]
    assert reply.errors[0].code == "engine_failed"
    assert len(reply.samples) == round(len(TONES[0].split()) * WORD_SECONDS * TONE_RATE)
    assert streamed.types[-1] == "synthesize-stopped" and "engine_failed" in [e.code for e in streamed.errors]
    assert after.types == ["audio-start", "audio-stop"]


async def test_disconnect_cancels_the_rest(tmp_path: Path, trace_file: Path) -> None:
    settings = {"tone": {"trace_file": trace_file, "delay": 0.2}}
    sentences = [f"Sentence number {i}." for i in range(12)]
    async with wyoming(tmp_path, **settings) as (polyvox, port):
        async with AsyncTcpClient("127.0.0.1", port) as client:
            await client.write_event(Synthesize(text=" ".join(sentences), voice=TONE).event())
            await read_until(client, "audio-chunk")
        async with asyncio.timeout(TIMEOUT):  # the server notices the client left and closes its stream
            while polyvox.synthesizer.active_streams:  # noqa: ASYNC110 (a count the synthesizer keeps)
                await asyncio.sleep(0.01)
        await pool_drained(polyvox)  # what was already running has ended: the trace is complete
        assert stream_tasks() == []  # and nothing is left that could start another segment
        assert len(read_trace(trace_file)) <= 4  # not all 12 sentences: synthesis stopped with the client
        async with AsyncTcpClient("127.0.0.1", port) as client:  # and the server still serves
            await client.write_event(Ping().event())
            await read_until(client, "pong")


async def test_shutdown_cancels_syntheses_in_flight(tmp_path: Path, trace_file: Path) -> None:
    settings = {"tone": {"trace_file": trace_file, "delay": 0.2}}
    sentences = [f"Sentence number {i}." for i in range(12)]
    stack = contextlib.AsyncExitStack()
    polyvox, port = await stack.enter_async_context(wyoming(tmp_path, **settings))
    client = AsyncTcpClient("127.0.0.1", port)
    try:
        await client.connect()
        await client.write_event(Synthesize(text=" ".join(sentences), voice=TONE).event())
        await read_until(client, "audio-chunk")
    finally:
        await stack.aclose()  # cancels run_wyoming while the synthesis runs, then closes Polyvox
    assert len(read_trace(trace_file)) <= 4  # it did not wait for the other sentences to be rendered
    assert polyvox.synthesizer.active_streams == 0
    while await asyncio.wait_for(client.read_event(), TIMEOUT) is not None:
        pass  # the rest of what was sent, then the server's close
    await client.disconnect()
    assert len(read_trace(trace_file)) <= 3


async def test_zeroconf_announces_the_server(tmp_path: Path) -> None:
    import zeroconf.asyncio as zeroconf

    port = free_port()
    async with Polyvox(make_settings(tmp_path)) as polyvox:
        server = WyomingServer(polyvox, f"tcp://0.0.0.0:{port}", zeroconf=True, zeroconf_name="polyvox-e2e")
        async with server:
            browser = zeroconf.AsyncZeroconf()
            try:
                info = await browser.async_get_service_info(
                    "_wyoming._tcp.local.", "polyvox-e2e._wyoming._tcp.local.", timeout=5000
                )
            finally:
                await browser.async_close()
            async with AsyncTcpClient("127.0.0.1", port) as client:
                await client.write_event(Ping().event())
                await read_until(client, "pong")
    assert info is not None and info.port == port
