"""Deadline order in the worker pool, proved by execution order and the tone engine's trace (no timings)."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

from tests.conftest import make_settings, read_trace

from polyvox.request import SynthesisRequest
from polyvox.runners.deadline_pool import DeadlinePool
from polyvox.service import Polyvox

WORDS = " ".join(["word"] * 30)  # 6 s of tone audio per segment


def test_the_earliest_deadline_runs_first_and_cancelled_work_is_skipped() -> None:
    pool = DeadlinePool(1)
    gate = threading.Event()
    order: list[str] = []
    blocker = pool.submit(gate.wait)
    now = time.monotonic()
    late = pool.submit_due(now + 10, order.append, "late")
    cancelled = pool.submit_due(now + 1, order.append, "cancelled")
    middle = pool.submit_due(now + 5, order.append, "middle")
    first = pool.submit(order.append, "now")
    assert cancelled.cancel()
    gate.set()
    for future in (blocker, late, middle, first):
        future.result(timeout=10)
    pool.shutdown()
    assert order == ["now", "middle", "late"]


async def wait_queued(pool: DeadlinePool, count: int) -> None:
    deadline = time.monotonic() + 10
    while pool.queued < count:
        assert time.monotonic() < deadline, "work never reached the pool"
        await asyncio.sleep(0.01)


async def wait_traced(trace: Path, count: int) -> None:
    deadline = time.monotonic() + 10
    while len(read_trace(trace)) < count:
        assert time.monotonic() < deadline, "the engine never got there"
        await asyncio.sleep(0.01)


async def test_a_new_streams_first_segment_overtakes_a_stream_that_is_far_ahead(tmp_path: Path) -> None:
    trace = tmp_path / "trace.jsonl"
    settings = make_settings(tmp_path, engines={"default": "tone", "workers": 1}, tone={"trace_file": trace})
    async with Polyvox(settings) as polyvox:
        assert isinstance(polyvox.executor, DeadlinePool)
        synthesizer = polyvox.synthesizer
        ahead = await synthesizer.open(SynthesisRequest(f"{WORDS}. {WORDS}. {WORDS}.", request_id="ahead"))
        chunks = aiter(ahead)
        await anext(chunks)  # segment 0 delivered: 6 s of audio in hand
        gate = threading.Event()
        blocker = polyvox.executor.submit(gate.wait)  # the one worker is busy
        following = asyncio.ensure_future(anext(chunks))  # segment 1 is queued, due 6 s from the first chunk
        await wait_queued(polyvox.executor, 1)
        newcomer = asyncio.ensure_future(synthesizer.open(SynthesisRequest("Hello there.", request_id="new")))
        await wait_queued(polyvox.executor, 2)  # its first segment, due now, queued after segment 1
        gate.set()
        await asyncio.wrap_future(blocker)
        async with await newcomer as stream:
            assert [c async for c in stream]
        assert (await following).num_samples
        assert [c async for c in chunks]
    started = {(r["request_id"], r["segment_index"]): r["start"] for r in read_trace(trace)}
    assert started[("new", 0)] < started[("ahead", 1)] < started[("ahead", 2)]


async def test_the_next_segment_waits_until_the_first_chunk_is_sent_and_a_stalled_reader_asks_nothing(
    tmp_path: Path,
) -> None:
    trace = tmp_path / "trace.jsonl"
    settings = make_settings(tmp_path, engines={"default": "tone", "workers": 1}, tone={"trace_file": trace})
    text = f"{WORDS}. {WORDS}. {WORDS}. {WORDS}."
    async with Polyvox(settings) as polyvox:
        stream = await polyvox.synthesizer.open(SynthesisRequest(text, request_id="a"))
        async with stream:
            chunks = aiter(stream)
            first = await anext(chunks)  # in the consumer's hands, being encoded and sent
            # Nothing else was handed to the pool: the second segment cannot compete with the first send.
            assert first.num_samples and stream.segments_started == 1
            assert polyvox.executor.queued == 0
            second = asyncio.ensure_future(anext(chunks))  # the consumer comes back: segment 1 starts
            assert (await second).num_samples
            # Segment 1 was taken, so segment 2 is rendered ahead; a reader that now stops asking (its send
            # blocks) gets nothing more started once segment 2 is done.
            deadline = time.monotonic() + 10
            while stream.segments_started < 3 or stream.producing:
                assert time.monotonic() < deadline, "segment 2 never ran"
                await asyncio.sleep(0.01)
            assert stream.segments_started == 3 and polyvox.executor.queued == 0
        assert [r["segment_index"] for r in read_trace(trace)] == [0, 1, 2]
