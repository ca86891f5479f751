"""The pipeline with the deterministic tone engine: streaming, cancellation, fairness, errors."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from pathlib import Path

import pytest
from tests.conftest import make_settings, pool_drained, read_trace, stream_tasks

from polyvox.admission import HORIZON
from polyvox.errors import (
    BusyError,
    EmptyTextError,
    EngineFailedError,
    InvalidParameterError,
    LanguageNotSupportedError,
    TextTooLongError,
)
from polyvox.request import SynthesisRequest
from polyvox.service import Polyvox
from polyvox.stream import SynthesisStream

SIX = "First one. Second one. Third one. Fourth one. Fifth one. Sixth one."
TONE_WORD_SECONDS = 0.2  # 150 ms tone + 50 ms gap per word


async def test_first_chunk_arrives_before_last_segment_is_synthesized(
    tone_polyvox: Polyvox, trace_file: Path
) -> None:
    request = SynthesisRequest(text=SIX, extra={"delay": 0.2})
    stream = await tone_polyvox.synthesizer.open(request)
    async with stream:
        first_at = None
        count = 0
        async for _chunk in stream:
            first_at = first_at or time.time()
            count += 1
    trace = sorted(
        (r for r in read_trace(trace_file) if r["request_id"] == request.request_id), key=lambda r: r["start"]
    )
    assert count == 6 and len(trace) == 6
    # Ordering, not duration: the first chunk was in hand before the other five segments had started.
    assert first_at is not None and trace[0]["end"] <= first_at
    assert all(r["start"] >= first_at for r in trace[1:]), (first_at, trace)


async def test_cancel_after_first_chunk_stops_remaining_work(tone_polyvox: Polyvox, trace_file: Path) -> None:
    request = SynthesisRequest(text=SIX, extra={"delay": 0.2})
    stream = await tone_polyvox.synthesizer.open(request)
    async for _chunk in stream:
        break  # the consumer goes away after one chunk
    await stream.aclose()
    closed_at = time.time()
    await pool_drained(tone_polyvox)  # every engine call made so far has ended: the trace is complete
    assert stream_tasks() == []  # and nothing is left that could make another
    trace = [r for r in read_trace(trace_file) if r["request_id"] == request.request_id]
    # The first segment, plus at most the one prefetched segment already running when it closed.
    assert len(trace) <= 2
    assert all(r["start"] <= closed_at for r in trace)
    assert tone_polyvox.registry.instance("tone").calls == len(trace)  # type: ignore[attr-defined]
    assert tone_polyvox.synthesizer.active_streams == 0
    assert tone_polyvox.registry.status("tone").users == 0


async def test_short_request_is_not_stuck_behind_a_long_one(tmp_path: Path, trace_file: Path) -> None:
    settings = make_settings(
        tmp_path, engines={"default": "tone", "workers": 1}, tone={"trace_file": trace_file}
    )
    async with Polyvox(settings) as polyvox:
        long_text = " ".join(f"Long sentence {i}." for i in range(20))
        long_stream = await polyvox.synthesizer.open(SynthesisRequest(text=long_text, extra={"delay": 0.1}))

        async def drain_long() -> None:
            async with long_stream:
                async for _ in long_stream:
                    pass

        long_task = asyncio.create_task(drain_long())
        async with asyncio.timeout(10):  # the long request holds the one worker
            while long_stream.stats.segments_done < 2:  # noqa: ASYNC110 (a counter the stream updates)
                await asyncio.sleep(0.01)
        opened = time.time()
        short_request = SynthesisRequest(text="Short.", extra={"delay": 0.1})
        short = await polyvox.synthesizer.open(short_request)
        await short.aclose()
        await long_task
        assert long_stream.stats.segments_done == 20
        trace = read_trace(trace_file)
        short_start = next(r["start"] for r in trace if r["request_id"] == short_request.request_id)
        overtaken = [r for r in trace if opened <= r["start"] < short_start]
        # One worker: the short request waits for at most the long request's current segment.
        assert len(overtaken) <= 1, overtaken


async def test_output_rate_speed_and_volume(tone_polyvox: Polyvox) -> None:
    base_stream, base = await tone_polyvox.synthesizer.synthesize(SynthesisRequest(text="one two three four"))
    assert base_stream.sample_rate == 16000
    assert abs(sum(c.seconds for c in base) - 4 * TONE_WORD_SECONDS) < 0.01
    stream, chunks = await tone_polyvox.synthesizer.synthesize(
        SynthesisRequest(text="one two three four", speed=2.0, sample_rate=44100, volume=0.5)
    )
    assert stream.sample_rate == 44100 and all(c.sample_rate == 44100 for c in chunks)
    assert abs(sum(c.seconds for c in chunks) - 2 * TONE_WORD_SECONDS) < 0.02
    peak = max(float(abs(c.samples).max()) for c in chunks)
    base_peak = max(float(abs(c.samples).max()) for c in base)
    assert peak == pytest.approx(base_peak * 0.5, rel=0.1)


@pytest.mark.parametrize(
    ("request_kwargs", "error", "param"),
    [
        ({"text": "   "}, EmptyTextError, "text"),
        ({"text": "x" * 1001}, TextTooLongError, "text"),
        ({"text": "hi", "speed": 0.1}, InvalidParameterError, "speed"),
        ({"text": "hi", "speed": 4.5}, InvalidParameterError, "speed"),
        ({"text": "hi", "speed": float("nan")}, InvalidParameterError, "speed"),
        ({"text": "hi", "sample_rate": 7999}, InvalidParameterError, "sample_rate"),
        ({"text": "hi", "sample_rate": 48001}, InvalidParameterError, "sample_rate"),
        ({"text": "hi", "volume": -1}, InvalidParameterError, "volume"),
        ({"text": "hi", "language": "xx-zz"}, LanguageNotSupportedError, "language"),
    ],
)
async def test_invalid_requests_name_their_parameter(
    tmp_path: Path, request_kwargs: dict[str, object], error: type[Exception], param: str
) -> None:
    settings = make_settings(tmp_path, engines={"default": "tone"}, max_text_length=1000)
    async with Polyvox(settings) as polyvox:
        with pytest.raises(error) as caught:
            await polyvox.synthesizer.open(SynthesisRequest(**request_kwargs))  # type: ignore[arg-type]
        assert getattr(caught.value, "param", None) == param
        assert polyvox.synthesizer.active_streams == 0


async def test_failure_before_first_chunk_is_raised_by_open(tone_polyvox: Polyvox) -> None:
    with pytest.raises(EngineFailedError):
        await tone_polyvox.synthesizer.open(SynthesisRequest(text=SIX, extra={"fail_at": 0}))
    assert tone_polyvox.synthesizer.active_streams == 0
    assert tone_polyvox.registry.status("tone").users == 0


async def test_failure_after_first_chunk_is_raised_in_the_stream(tone_polyvox: Polyvox) -> None:
    stream = await tone_polyvox.synthesizer.open(SynthesisRequest(text=SIX, extra={"fail_at": 2}))
    received = 0
    with pytest.raises(EngineFailedError):
        async with stream:
            async for _ in stream:
                received += 1
    assert received == 2
    assert tone_polyvox.registry.status("tone").users == 0


async def test_busy_beyond_capacity(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, engines={"default": "tone", "workers": 1}, server={"max_queue": 1})
    async with Polyvox(settings) as polyvox:
        streams = [await polyvox.synthesizer.open(SynthesisRequest(text=SIX)) for _ in range(2)]
        with pytest.raises(BusyError) as busy:
            await polyvox.synthesizer.open(SynthesisRequest(text=SIX))
        assert busy.value.status == 429 and busy.value.retry_after >= 1
        for stream in streams:
            await stream.aclose()
        again = await polyvox.synthesizer.open(SynthesisRequest(text=SIX))
        await again.aclose()


async def test_a_stream_tells_admission_which_segments_its_listener_needs_and_when(
    tone_polyvox: Polyvox,
) -> None:
    request = SynthesisRequest(text=SIX)
    stream = await tone_polyvox.synthesizer.open(request)
    async with stream:
        parts = aiter(stream)
        first = await anext(parts)  # the listener's clock runs from here
        assert stream.upcoming(horizon=60.0) == []  # the first chunk is still in the consumer's hands
        second = await anext(parts)  # it came back: the third segment was handed to the pool just now
        upcoming = stream.upcoming(horizon=60.0)
        texts = ("Third one.", "Fourth one.", "Fifth one.", "Sixth one.")
        assert [seconds for _, seconds in upcoming] == [len(s) / 15 for s in texts]
        dues = [due for due, _ in upcoming]
        assert all(due is not None for due in dues)
        # The next is needed when the audio taken runs out, each later one a segment's audio after it,
        assert dues[0] is not None and dues[0] <= first.seconds + second.seconds
        # ... judged at the brisk rate (sooner than the typical rate its work is priced at).
        steps = [b - a for a, b in itertools.pairwise(dues)]  # type: ignore[operator]
        assert steps == pytest.approx([len(s) / 20 for s in texts[:-1]])
        assert len(stream.upcoming(horizon=0.0)) <= 1  # only what is needed now


async def test_a_stream_not_yet_playing_needs_its_later_segments_from_now_on(tone_polyvox: Polyvox) -> None:
    """Before its first audio, a stream's first segment is due within the admission bound (None) and its
    later ones from now on: its first audio may come at once (a burst's second segments fall due together)."""
    synthesizer = tone_polyvox.synthesizer
    texts = ["First one.", "Second one.", "Third one."]
    info = tone_polyvox.registry.info("tone")
    voice = tone_polyvox.registry.voices("tone")[0]
    request = SynthesisRequest(text=" ".join(texts))
    lease = contextlib.AsyncExitStack()
    stream = SynthesisStream(synthesizer.stream_context, request, info, voice, texts, info.sample_rate, lease)
    async with stream:  # never primed: it has not played
        upcoming = stream.upcoming(horizon=60.0)
        assert [seconds for _, seconds in upcoming] == [len(s) / 15 for s in texts]
        assert [due for due, _ in upcoming] == [None, pytest.approx(10 / 20), pytest.approx(21 / 20)]
        assert len(stream.upcoming(horizon=0.6)) == 2  # the third falls due past it


async def test_a_listeners_segments_are_priced_at_its_engines_measured_reading_rate(
    tone_polyvox: Polyvox,
) -> None:
    """Admission prices a segment's work on its audio seconds: once the engine has spoken, on the reading
    rate measured on its segments instead of the typical 15 characters a second (a voice that reads faster
    would be refused listeners it can feed); deadlines stay at the brisk rate unless it reads faster still."""
    synthesizer, registry = tone_polyvox.synthesizer, tone_polyvox.registry
    assert registry.reading("tone") is None  # not spoken yet: the typical rate
    said = ["The first sentence here.", "The third sentence here.", "The fifth sentence here."]
    stream = await synthesizer.open(SynthesisRequest(text=" ".join(said)))
    async with stream:
        chunks = [chunk async for chunk in stream]
    # Every sentence has the same words and characters: each segment measures the same rate.
    per_char = chunks[0].seconds / len(said[0])
    assert [c.seconds / len(c.text) for c in chunks] == pytest.approx([per_char] * 3)
    measured = registry.reading("tone")
    assert measured == pytest.approx(per_char)
    registry.record("tone", 0.1, 5.0, chars=len("Tiny."), speed=1.0)  # too short to say: not counted
    assert registry.reading("tone") == measured
    registry.record("tone", 0.1, 5.0, chars=100, speed=2.0)  # at speed 2: 0.1 s a character at speed 1
    reading = registry.reading("tone")
    assert reading is not None and per_char < reading < 0.1  # weighted by characters, earlier ones decayed

    texts = ["Another one follows.", "And a last one then."]
    info, voice = registry.info("tone"), registry.voices("tone")[0]
    request = SynthesisRequest(text=" ".join(texts))
    lease = contextlib.AsyncExitStack()
    context = synthesizer.stream_context
    waiting = SynthesisStream(context, request, info, voice, texts, info.sample_rate, lease)
    async with waiting:  # never primed: its later segments fall due from now on
        upcoming = waiting.upcoming(HORIZON, per_char)
        assert [seconds for _, seconds in upcoming] == pytest.approx([len(t) * per_char for t in texts])
        # The tone engine reads faster than the brisk rate: its own rate sets the deadlines.
        assert per_char < 1 / 20 and upcoming[1][0] == pytest.approx(len(texts[0]) * per_char)
        slow = 1 / 12  # a slow reader: its work is priced on its longer audio, deadlines stay brisk
        upcoming = waiting.upcoming(HORIZON, slow)
        assert [seconds for _, seconds in upcoming] == pytest.approx([len(t) * slow for t in texts])
        assert upcoming[1][0] == pytest.approx(len(texts[0]) / 20)


async def test_a_consumer_that_stops_reading_asks_nothing_of_admission(tone_polyvox: Polyvox) -> None:
    """A client that reads slowly or not at all: the rendered audio waits for it, so however far its playback
    clock has run, its listener is not waiting on the workers (else one paused client would refuse all)."""
    request = SynthesisRequest(text=SIX)
    stream = await tone_polyvox.synthesizer.open(request)
    async with stream:
        parts = aiter(stream)
        await anext(parts)
        await anext(parts)  # the consumer came back once: the next segment is rendered for it
        # The consumer stops taking: the stream renders what it may ahead of it, and then waits.
        while tasks := stream_tasks():
            await asyncio.gather(*tasks)
        assert not stream.producing
        assert stream.upcoming(horizon=60.0) == []
