"""The streaming session every streaming door speaks through (polyvox.session), with the tone engine.

Orders are read from the tone engine's trace and the pool's queue, never from the clock.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tests.conftest import make_settings, pool_drained, read_trace, stream_tasks

from polyvox.errors import BusyError
from polyvox.request import SynthesisRequest
from polyvox.runners.deadline_pool import DeadlinePool
from polyvox.service import Polyvox
from polyvox.session import (
    SegmentAudio,
    SegmentEnd,
    SessionEvent,
    SessionVoice,
    SpeechSession,
    TextQueueFullError,
    UtteranceEnd,
)

WORDS = "one two three four five six seven eight nine ten"  # ten tone words: 2 s of audio
THREE = "First sentence here. Second sentence here. Third sentence here."


async def until(events: AsyncIterator[SessionEvent], kind: type, count: int = 1) -> list[SessionEvent]:
    """Events up to and including the ``count``-th of ``kind``."""
    taken: list[SessionEvent] = []
    async for event in events:
        taken.append(event)
        if isinstance(event, kind):
            count -= 1
            if count == 0:
                break
    return taken


async def wait_queued(pool: DeadlinePool, count: int) -> None:
    async with asyncio.timeout(10):
        while pool.queued < count:  # noqa: ASYNC110 (the pool's counter)
            await asyncio.sleep(0.01)


async def test_an_utterance_is_spoken_segment_by_segment_and_marked_at_its_end(tone_polyvox: Polyvox) -> None:
    async with await tone_polyvox.synthesizer.session(SessionVoice()) as session:
        events = aiter(session.events())
        await session.feed("Hello there. How are")
        await session.feed(" you? ...")
        closed = await session.flush()
        got = await until(events, UtteranceEnd)
        await session.feed("Again.")
        await session.finish()
        rest = [event async for event in events]
    ends = [e for e in got if isinstance(e, SegmentEnd)]
    assert [(e.text, e.audio) for e in ends] == [
        ("Hello there.", True),
        ("How are you?", True),
        ("...", False),
    ]
    assert all(e.seconds > 0 for e in ends[:2]) and ends[2].seconds == 0
    audio = [e for e in got if isinstance(e, SegmentAudio)]
    assert sum(a.chunk.seconds for a in audio) == pytest.approx(sum(e.seconds for e in ends))
    assert got[-1] == UtteranceEnd(closed) and closed == 0
    assert [type(e) for e in rest] == [SegmentAudio, SegmentEnd, UtteranceEnd]
    assert rest[-1] == UtteranceEnd(1)
    assert session.delivered_seconds == pytest.approx(sum(e.seconds for e in ends) + rest[1].seconds)


async def test_the_lease_is_taken_once_and_admission_comes_with_the_first_speech(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, engines={"default": "tone", "workers": 1}, server={"max_queue": 0})
    async with Polyvox(settings) as polyvox:
        synthesizer = polyvox.synthesizer
        first = await synthesizer.session(SessionVoice())
        second = await synthesizer.session(SessionVoice())
        assert polyvox.registry.status("tone").users == 2  # leased at open
        assert synthesizer.active_streams == 0  # not admitted before it speaks
        events = aiter(first.events())
        await first.feed("One sentence.")
        await until(events, SegmentEnd)
        assert synthesizer.active_streams == 1
        # Capacity (one) is now held by the first listener: a new request and a new session are refused...
        with pytest.raises(BusyError):
            await synthesizer.open(SynthesisRequest("Hello."))
        refused = aiter(second.events())
        await second.feed("Refused sentence.")
        end = (await until(refused, SegmentEnd))[-1]
        assert isinstance(end, SegmentEnd) and not end.audio and end.text == "Refused sentence."
        assert end.error is not None and end.error.code == "busy"
        # ...but the admitted listener's later sentences never are.
        await first.feed("A later sentence.")
        end = (await until(events, SegmentEnd))[-1]
        assert isinstance(end, SegmentEnd) and end.audio and end.error is None
        await first.aclose()
        assert synthesizer.active_streams == 0
        await second.feed("Now it speaks.")
        end = (await until(refused, SegmentEnd))[-1]
        assert isinstance(end, SegmentEnd) and end.audio  # admitted now that the capacity is free
        await second.aclose()
        assert polyvox.registry.status("tone").users == 0 and synthesizer.active_streams == 0


async def test_a_listeners_next_segment_is_due_when_its_audio_runs_out(tmp_path: Path) -> None:
    """A listener with audio in hand is not "due now": a newcomer's first sentence overtakes its next one."""
    trace = tmp_path / "trace.jsonl"
    settings = make_settings(tmp_path, engines={"default": "tone", "workers": 1}, tone={"trace_file": trace})
    async with Polyvox(settings) as polyvox:
        assert isinstance(polyvox.executor, DeadlinePool)
        synthesizer = polyvox.synthesizer
        ahead = await synthesizer.session(SessionVoice())
        events = aiter(ahead.events())
        await ahead.feed(f"{WORDS}. {WORDS}. {WORDS}. {WORDS}.")
        await until(events, SegmentEnd)  # 2 s delivered
        await until(events, SegmentAudio)  # 4 s delivered: segment 2 is rendered ahead
        gate = threading.Event()
        blocker = polyvox.executor.submit(gate.wait)  # the one worker is busy
        following = asyncio.ensure_future(until(events, SegmentAudio, 2))  # segment 2 taken, 3 queued
        await wait_queued(polyvox.executor, 1)
        newcomer = asyncio.ensure_future(synthesizer.open(SynthesisRequest("Hello there.", request_id="new")))
        await wait_queued(polyvox.executor, 2)
        gate.set()
        await asyncio.wrap_future(blocker)
        async with await newcomer as stream:
            assert [c async for c in stream]
        await following
        await ahead.aclose()
    started = {(r["request_id"], r["segment_index"]): r["start"] for r in read_trace(trace)}
    session_id = ahead.stream.request.request_id
    assert started[("new", 0)] < started[(session_id, 3)]


async def test_barge_in_drops_what_was_not_spoken_and_tells_what_was(
    tone_polyvox: Polyvox, trace_file: Path
) -> None:
    session = await tone_polyvox.synthesizer.session(SessionVoice(extra={"delay": 0.2}))
    async with session:
        events = aiter(session.events())
        await session.feed(THREE + " " + THREE)
        first = (await until(events, SegmentEnd))[-1]
        assert isinstance(first, SegmentEnd) and first.audio
        delivered = await session.cancel()
        assert delivered == pytest.approx(first.seconds)
        assert session.delivered_text(delivered) == "First sentence here."
        assert session.delivered_text(delivered / 2) == "First"  # half of its audio: half of its words
        assert session.queued_chars == 0
        await pool_drained(tone_polyvox)
        spoken = [r for r in read_trace(trace_file) if r["request_id"] == session.stream.request.request_id]
        assert len(spoken) <= 2  # the first segment and at most the one rendered ahead; none after the cancel
        await session.feed("After the barge-in.")
        await session.finish()
        after = [event async for event in events]
    assert [e.text for e in after if isinstance(e, SegmentEnd)] == ["After the barge-in."]
    assert isinstance(after[-1], UtteranceEnd) and after[-1].utterance == session.utterance - 1 > 0
    assert stream_tasks() == [] and tone_polyvox.registry.status("tone").users == 0


async def test_a_failed_segment_is_said_as_words_and_the_session_goes_on(tone_polyvox: Polyvox) -> None:
    async with await tone_polyvox.synthesizer.session(SessionVoice(extra={"fail_at": 1})) as session:
        await session.feed(THREE)
        await session.finish()
        ends = [e async for e in session.events() if isinstance(e, SegmentEnd)]
    assert [(e.text, e.audio) for e in ends] == [
        ("First sentence here.", True),
        ("Second sentence here.", False),
        ("Third sentence here.", True),
    ]
    assert ends[1].error is not None and ends[1].error.code == "engine_failed"


async def test_text_beyond_the_bound_is_refused_and_closing_lets_the_reader_go(tone_polyvox: Polyvox) -> None:
    session: SpeechSession = await tone_polyvox.synthesizer.session(SessionVoice(), max_queued=1000)
    reader = asyncio.ensure_future(until(session.events(), UtteranceEnd))
    await session.feed("a" * 900)
    with pytest.raises(TextQueueFullError):
        await session.feed("b" * 200)
    await session.aclose()
    await asyncio.wait_for(reader, 10)  # the reader waiting for more is let go at close
    assert tone_polyvox.synthesizer.active_streams == 0


LONG_FIRST = (
    "When the morning came, the travellers gathered their things and walked to the harbour. They left."
)


async def test_a_long_first_sentences_first_phrase_reaches_the_listener_before_the_rest_is_rendered(
    tone_polyvox: Polyvox, trace_file: Path
) -> None:
    """By trace order: the phrase is rendered alone, and the rest starts only once the phrase is in hand."""
    live = SynthesisRequest(LONG_FIRST, extra={"delay": 0.2}, request_id="live")
    stream = await tone_polyvox.synthesizer.open(live)  # a listener: LIVE
    async with stream:
        chunks = aiter(stream)
        first = await anext(chunks)
        in_hand = time.time()
        rest = [chunk async for chunk in chunks]
    assert first.text == "When the morning came,"
    assert [c.text for c in rest] == [
        "the travellers gathered their things and walked to the harbour.",
        "They left.",
    ]
    session = await tone_polyvox.synthesizer.session(SessionVoice(extra={"delay": 0.2}))
    async with session:
        await session.feed(LONG_FIRST)
        await session.finish()
        said = [e.text for e in [e async for e in session.events()] if isinstance(e, SegmentEnd)]
    assert said[:2] == [
        "When the morning came,",
        "the travellers gathered their things and walked to the harbour.",
    ]
    _, file_chunks = await tone_polyvox.synthesizer.synthesize(
        SynthesisRequest(LONG_FIRST, request_id="file")
    )
    assert file_chunks[0].text.startswith("When the morning came, the travellers")  # a file: whole sentences
    trace = sorted((r for r in read_trace(trace_file) if r["request_id"] == "live"), key=lambda r: r["start"])
    assert [r["text"] for r in trace][:2] == ["When the morning came,", rest[0].text]
    assert trace[0]["end"] <= in_hand <= trace[1]["start"]


async def test_a_long_sentence_still_arriving_starts_with_its_first_phrase(tone_polyvox: Polyvox) -> None:
    """An LLM's tokens: once the sentence has the words of a long one and a boundary, its first phrase is
    rendering before the sentence's full stop has arrived; the rest follows it, joined."""
    session = await tone_polyvox.synthesizer.session(SessionVoice())
    async with session:
        words = LONG_FIRST.split(" ")
        for word in words[:9]:  # "When the morning came, the travellers gathered their things"
            await session.feed(word + " ")
            assert not session.stream.segments  # too short to know it is a long sentence
        await session.feed(words[9] + " ")  # "and": ten words, a comma after four
        assert session.stream.segments == ["When the morning came,"]
        for word in words[10:]:
            await session.feed(word + " ")
        await session.finish()
        said = [e.text for e in [e async for e in session.events()] if isinstance(e, SegmentEnd)]
    assert said[:2] == [
        "When the morning came,",
        "the travellers gathered their things and walked to the harbour.",
    ]
    assert session.stream.plan is not None and session.stream.plan[0].joins_next  # the seam is trimmed


async def test_text_arriving_while_the_first_audio_renders_is_split_once_that_audio_is_out(
    tone_polyvox: Polyvox, trace_file: Path
) -> None:
    """Splitting text word by word as it arrives took the cores the first phrase renders on: what comes
    while the listener waits for its first audio is held (counted, bounded) and queued once that audio is
    handed on, in order, its flushes included."""
    session = await tone_polyvox.synthesizer.session(SessionVoice(extra={"delay": 0.2}), max_queued=400)
    async with session:
        events = aiter(session.events())
        for word in LONG_FIRST.split(" ")[:10]:
            await session.feed(word + " ")
        assert session.stream.segments == ["When the morning came,"]  # rendering
        for word in LONG_FIRST.split(" ")[10:]:
            await session.feed(word + " ")
        closed = await session.flush()
        await session.feed("A second utterance follows.")
        assert session.stream.segments == ["When the morning came,"]  # held, not split
        assert session.queued_chars >= len(LONG_FIRST) - len("When the morning came,")
        with pytest.raises(TextQueueFullError):  # held text counts against the bound
            await session.feed("x" * 300)
        first = await anext(events)
        assert isinstance(first, SegmentAudio) and first.text == "When the morning came,"
        assert session.stream.segments == ["When the morning came,"]  # handed on before anything is split
        rest = [first, *await until(events, UtteranceEnd)]
        assert session.stream.segments[1:3] == [
            "the travellers gathered their things and walked to the harbour.",
            "They left.",
        ]
        await session.finish()
        rest += [event async for event in events]
    said = [(e.utterance, e.text) for e in rest if isinstance(e, SegmentEnd)]
    assert said == [
        (0, "When the morning came,"),
        (0, "the travellers gathered their things and walked to the harbour."),
        (0, "They left."),
        (1, "A second utterance follows."),
    ]
    assert [e.utterance for e in rest if isinstance(e, UtteranceEnd)] == [closed, closed + 1]
    session_id = session.stream.request.request_id
    spoken = [r["text"] for r in read_trace(trace_file) if r["request_id"] == session_id]
    assert spoken == [text for _, text in said]


async def test_a_barge_in_after_finishing_with_text_held_still_ends_the_stream(tone_polyvox: Polyvox) -> None:
    """Finished while text was held, then cancelled: the held text is dropped and the events still end."""
    session = await tone_polyvox.synthesizer.session(SessionVoice(extra={"delay": 0.2}))
    async with session:
        events = aiter(session.events())
        for word in LONG_FIRST.split(" "):
            await session.feed(word + " ")
        await session.finish()  # the rest of the sentence is held behind the phrase rendering
        await session.cancel()
        rest = [event async for event in events]  # ends: without the fix it waited for ever
    said = [e.text for e in rest if isinstance(e, SegmentEnd)]
    assert said in ([], ["When the morning came,"])  # the phrase in flight is cancelled too, or had ended
