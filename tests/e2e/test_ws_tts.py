"""``WS /v1/ws/tts`` against a real server subprocess, with a real WebSocket client.

Piper and Whisper check what is said; the deterministic tone engine (exact samples, a per-segment trace
file with start/end times, injected delays) checks ordering, separation of contexts and cancellation.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from tests.e2e.conftest import Server
from websockets.asyncio.client import ClientConnection, connect

from polyvox.audio.encode import to_pcm
from polyvox.config import Settings
from polyvox.engines.tone import ToneEngine
from polyvox.stt.metrics import word_error_rate
from polyvox.stt.transcriber import Transcriber

TEXT = (
    "The library opens at nine in the morning. Children come in with their parents to borrow picture "
    "books. The reading room is quiet and full of light. "
    "The staff are happy to help anyone find a good book. Everyone leaves with something new to read."
)


def ws_url(server: Server) -> str:
    return server.url.replace("http://", "ws://") + "/v1/ws/tts"


@dataclass
class Received:
    """Everything a socket received, with the arrival time of each frame."""

    frames: list[tuple[float, dict[str, Any] | bytes]] = field(default_factory=list)

    def messages(self, kind: str | None = None) -> list[dict[str, Any]]:
        return [f for _, f in self.frames if isinstance(f, dict) and kind in (None, f["type"])]

    def first(self, kind: str) -> dict[str, Any]:
        found = self.messages(kind)
        assert found, f"no {kind!r} message in {self.messages()}"
        return found[0]

    def audio_by_chunk(self) -> dict[int, bytes]:
        """Binary frames grouped under the text_chunk that precedes them."""
        grouped: dict[int, bytes] = {}
        current = -1
        for _, frame in self.frames:
            if isinstance(frame, dict) and frame["type"] == "text_chunk":
                current = frame["chunk_id"]
                grouped[current] = b""
            elif isinstance(frame, bytes):
                grouped[current] += frame
        return grouped


async def collect(ws: ClientConnection, into: Received) -> None:
    """Receive until the server closes the socket."""
    async for raw in ws:
        into.frames.append((time.perf_counter(), raw if isinstance(raw, bytes) else json.loads(raw)))


async def wait_for(into: Received, kind: str, count: int = 1, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while len(into.messages(kind)) < count:
        assert time.monotonic() < deadline, f"waited {within} s for {count} {kind!r}: {into.messages()}"
        await asyncio.sleep(0.01)


async def wait_for_audio(into: Received, within: float) -> None:
    deadline = time.monotonic() + within
    while not any(isinstance(f, bytes) for _, f in into.frames):
        assert time.monotonic() < deadline, f"no audio within {within} s while the text was open"
        await asyncio.sleep(0.01)


@pytest.mark.slow
async def test_fragments_are_spoken_before_the_text_ends_in_order_and_intelligibly(
    server: Server, transcriber: Transcriber
) -> None:
    received = Received()
    async with connect(ws_url(server)) as ws:
        reader = asyncio.create_task(collect(ws, received))
        await ws.send(json.dumps({"type": "start", "voice": "joe", "format": "pcm", "alignment": True}))
        # The first two sentences, then the rest only once audio came back: the first sentence must be
        # spoken while the text is still open (a server that waited for the whole text would never answer).
        held_back = TEXT.index("The reading room")
        for i in range(0, held_back, 3):
            await ws.send(json.dumps({"type": "text", "text": TEXT[i : min(i + 3, held_back)]}))
            await asyncio.sleep(0.02)
        await wait_for_audio(received, within=30.0)
        for i in range(held_back, len(TEXT), 3):
            await ws.send(json.dumps({"type": "text", "text": TEXT[i : i + 3]}))
            await asyncio.sleep(0.02)
        await ws.send(json.dumps({"type": "stop"}))
        await asyncio.wait_for(reader, 60)

    started = received.first("started")
    assert started["engine"] == "piper"

    chunks = received.messages("text_chunk")
    assert [c["text"] for c in chunks] == [
        "The library opens at nine in the morning.",
        "Children come in with their parents to borrow picture books.",
        "The reading room is quiet and full of light.",
        "The staff are happy to help anyone find a good book.",
        "Everyone leaves with something new to read.",
    ]
    assert all(c["has_audio"] and c["context_id"] == "default" for c in chunks)
    assert chunks[-1]["is_final"] and not any(c["is_final"] for c in chunks[:-1])

    audio = received.audio_by_chunk()
    assert set(audio) == {c["chunk_id"] for c in chunks}
    pcm = b"".join(audio[c["chunk_id"]] for c in chunks)
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
    heard = transcriber.transcribe(samples, started["sample_rate"]).text
    assert word_error_rate(TEXT, heard) <= 0.10, heard

    done = received.first("done")
    assert done["audio_seconds"] == pytest.approx(len(samples) / started["sample_rate"], abs=0.01)
    assert 0 < done["ttfa_ms"] < 5000

    # Whisper word timings per chunk (piper reports none): in order, inside the chunk's audio.
    alignments = {a["chunk_id"]: a for a in received.messages("alignment")}
    assert set(alignments) == set(audio)
    for chunk in chunks:
        words = alignments[chunk["chunk_id"]]["words"]
        seconds = len(audio[chunk["chunk_id"]]) / 2 / started["sample_rate"]
        assert alignments[chunk["chunk_id"]]["source"] == "asr"
        assert word_error_rate(chunk["text"], " ".join(w["word"] for w in words)) <= 0.25
        starts = [w["start"] for w in words]
        assert starts == sorted(starts) and words[-1]["end"] <= seconds + 0.1


async def test_two_interleaved_contexts_stay_separate(server: Server, tmp_path: Any) -> None:
    tone = ToneEngine(Settings(data_dir=tmp_path))
    texts = {
        "a": ["Red apples fall.", "Green pears grow slowly.", "Yellow lemons stay."],
        "b": ["One two three.", "Four five.", "Six seven eight nine."],
    }
    voices = {"a": "beep", "b": "boop"}
    received = Received()
    async with connect(ws_url(server)) as ws:
        reader = asyncio.create_task(collect(ws, received))
        for ctx, voice in voices.items():
            start = {"type": "start", "engine": "tone", "voice": voice, "context_id": ctx}
            await ws.send(json.dumps(start))
        # Word by word, alternating between the contexts.
        for sentence_a, sentence_b in zip(texts["a"], texts["b"], strict=True):
            for word_a, word_b in itertools.zip_longest(sentence_a.split(), sentence_b.split()):
                for ctx, word in (("a", word_a), ("b", word_b)):
                    if word is not None:
                        await ws.send(json.dumps({"type": "text", "text": word + " ", "context_id": ctx}))
        await ws.send(json.dumps({"type": "stop"}))
        await asyncio.wait_for(reader, 30)

    audio = received.audio_by_chunk()
    for ctx, sentences in texts.items():
        chunks = [c for c in received.messages("text_chunk") if c["context_id"] == ctx]
        assert [c["text"] for c in chunks] == sentences
        for chunk in chunks:  # each chunk's audio is exactly its own text in its own voice
            assert audio[chunk["chunk_id"]] == to_pcm(tone.render(chunk["text"], voices[ctx]))
    done = {d["context_id"]: d for d in received.messages("done")}
    assert set(done) == {"a", "b"} and all(d["chunks"] == 3 for d in done.values())


async def test_cancel_stops_synthesis_within_one_segment(server: Server) -> None:
    sentences = [f"Sentence number {n} is here." for n in range(1, 9)]
    received = Received()
    closed_before = server.log().count("ws_tts_closed")
    async with connect(ws_url(server)) as ws:
        reader = asyncio.create_task(collect(ws, received))
        start = {"type": "start", "engine": "tone", "context_id": "cx", "extra": {"delay": 0.25}}
        await ws.send(json.dumps(start))
        await ws.send(json.dumps({"type": "text", "text": " ".join(sentences), "flush": True}))
        await wait_for(received, "text_chunk")
        cancel_sent = time.time()
        sent_at = time.perf_counter()
        await ws.send(json.dumps({"type": "cancel", "context_id": "cx"}))
        await wait_for(received, "cancelled")
        # The context stays usable after a barge-in.
        await ws.send(json.dumps({"type": "text", "text": "After the cancel.", "context_id": "cx"}))
        await ws.send(json.dumps({"type": "stop"}))
        await asyncio.wait_for(reader, 30)  # "stop" waits for every context: the socket's closing is the end
    # No sleep: the server closed the socket after speaking everything it still had, and it logs the
    # session's end once every speaker (and its synthesis) is closed.
    async with asyncio.timeout(30):
        while server.log().count("ws_tts_closed") <= closed_before:  # noqa: ASYNC110 (another process)
            await asyncio.sleep(0.02)
    late = [
        f
        for t, f in received.frames
        if t > sent_at
        and isinstance(f, dict)
        and f["type"] == "text_chunk"
        and f["text"] != "After the cancel."
    ]
    assert len(late) <= 1, late

    records = [r for r in server.trace() if r["request_id"].startswith("cx-")]
    after = [r for r in records if r["start"] > cancel_sent and r["text"] != "After the cancel."]
    assert len(after) <= 1, after  # at most the segment that was already being handed over
    assert len(records) <= 4, [r["text"] for r in records]
    assert received.messages("text_chunk")[-1]["text"] == "After the cancel."


async def test_bad_messages_get_errors_and_the_socket_stays_open(server: Server) -> None:
    received = Received()
    async with connect(ws_url(server)) as ws:
        reader = asyncio.create_task(collect(ws, received))
        await ws.send("{not json")
        await ws.send(json.dumps({"type": "shout"}))
        await ws.send(json.dumps({"type": "text", "text": "too early"}))
        await ws.send(b"\x00\x01audio before start")
        await ws.send(json.dumps({"type": "start", "engine": "nope"}))
        await ws.send(json.dumps({"type": "start", "engine": "tone", "format": "ogg-vorbis"}))
        await ws.send(json.dumps({"type": "start", "engine": "tone", "sample_rate": 3}))
        await ws.send(json.dumps({"type": "cancel", "context_id": "missing"}))
        await wait_for(received, "error", 8)
        await ws.send(json.dumps({"type": "start", "engine": "tone"}))
        await ws.send(json.dumps({"type": "text", "text": "Still alive."}))
        await ws.send(json.dumps({"type": "stop"}))
        await asyncio.wait_for(reader, 30)
    codes = [e["code"] for e in received.messages("error")]
    assert codes == [
        "invalid_message",
        "unknown_type",
        "not_started",
        "invalid_message",
        "engine_not_found",
        "unsupported_format",
        "invalid_parameter",
        "invalid_context",
    ]
    assert all(e["message"] for e in received.messages("error"))
    assert [c["text"] for c in received.messages("text_chunk")] == ["Still alive."]
    assert received.first("done")["chunks"] == 1


# American spellings: Whisper writes "travelers" and "harbor", and the British ones alone cost a WER of 0.10.
LONG_FIRST = (
    "When the morning finally came, the travelers gathered their things and walked down to the harbor. "
    "The boat was waiting."
)


async def test_a_long_first_sentence_is_spoken_phrase_first(server: Server, transcriber: Transcriber) -> None:
    """The listener waits for its first audio: the first phrase is its own chunk, the seam is not heard."""
    received = Received()
    async with connect(ws_url(server)) as ws:
        reader = asyncio.create_task(collect(ws, received))
        start = {"type": "start", "voice": "joe", "format": "pcm", "extra": {"noise_scale": 0, "noise_w": 0}}
        await ws.send(json.dumps(start))
        await ws.send(json.dumps({"type": "text", "text": LONG_FIRST, "flush": True}))
        await ws.send(json.dumps({"type": "stop"}))
        await asyncio.wait_for(reader, 60)
    chunks = received.messages("text_chunk")
    assert [c["text"] for c in chunks] == [
        "When the morning finally came,",
        "the travelers gathered their things and walked down to the harbor.",
        "The boat was waiting.",
    ]
    audio = received.audio_by_chunk()
    pcm = b"".join(audio[c["chunk_id"]] for c in chunks)
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
    heard = transcriber.transcribe(samples, received.first("started")["sample_rate"]).text
    assert word_error_rate(LONG_FIRST, heard) <= 0.10, heard
