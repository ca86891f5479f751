"""One request's audio, segment by segment: the scheduling of its engine calls and the consumer's side.

The stream is given its collaborators when it is built (:class:`polyvox.segment_render.StreamContext`): the
runner that runs each segment's engine call and returns raw audio (polyvox.runners.segment), and whom it
reports to. What one segment is asked of the engine and everything after the call (conversion, time-stretch,
resampling, volume) is its :class:`polyvox.segment_render.SegmentRenderer` side.

Parts: a segment's audio reaches the consumer chunk by chunk as the engine produces it
(``SegmentRunner.parts``), post-processed per part where that is exact (a streaming resampler, volume);
with a voice conversion or a time-stretch the segment is processed whole. :meth:`SynthesisStream.by_segment`
joins the parts again for consumers that speak sentence by sentence.

Scheduling: each stream keeps at most one segment in the shared worker pool (it submits segment i+1 when
segment i is done and the consumer has taken a part of it), due when the audio it has delivered runs out. The
pool runs the earliest deadline first (polyvox.runners.deadline_pool): a new stream's first segment (due
now) overtakes the queued segments of streams that are ahead, and a short request never waits behind a long
one. The stream's second segment waits until the consumer comes back from sending the first chunk: its
inference would otherwise compete with encoding and sending the first audio for the same cores.

Modes (:class:`StreamMode`, chosen by :meth:`StreamMode.choose`, the one threshold rule): a listener's stream
is LIVE as above; a short file is FILE (one segment after another, never admitted); a long file is LONGFORM:
its segments are paragraph chunks, each finished whole by the one mastering chain
(polyvox.postprocess.Mastering: trim, loudness, edge fades) with the configured pause after it, up to
``engines.workers`` rendered at once, due "eventually" (:meth:`SynthesisStream.render_all`; polyvox.longform
adds validation, captions and the join on disk). With ``postprocess.master_files`` a FILE stream is chunked
and mastered the same way, so a text sounds the same whichever side of ``longform.threshold_chars`` it falls.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from polyvox.audio.chunk import AudioChunk
from polyvox.bounds import SECONDS_PER_CHAR, segment_dues
from polyvox.engines.base import EngineInfo, Voice
from polyvox.errors import AudioTooLongError, PolyvoxError, RequestTimeoutError
from polyvox.request import SynthesisRequest
from polyvox.segment_render import SegmentRenderer, StreamContext
from polyvox.stream_mode import StreamMode
from polyvox.tasks import cancel_and_wait
from polyvox.text.chunks import Chunk
from polyvox.text.ssml import Piece

if TYPE_CHECKING:
    from polyvox.voices.convert import ConversionSession

T = TypeVar("T")


class _SegmentEnd:
    """Where one segment's parts end in the stream's queue."""


class StreamEnd:
    """An open-ended stream's last item: it was ended (or closed) and everything before was taken."""


_SEGMENT_END = _SegmentEnd()
STREAM_END = StreamEnd()
_Item = AudioChunk | _SegmentEnd | StreamEnd | Exception


def _joined(parts: list[AudioChunk], sample_rate: int) -> AudioChunk:
    if len(parts) == 1:
        return parts[0]
    samples = np.concatenate([p.samples for p in parts]) if parts else np.zeros(0, dtype=np.float32)
    return AudioChunk(samples=samples, sample_rate=sample_rate, text=parts[0].text if parts else "")


class SynthesisStream(SegmentRenderer):
    """Audio of one request, segment by segment. Always close it (``async with`` or ``aclose()``)."""

    def __init__(
        self,
        context: StreamContext,
        request: SynthesisRequest,
        info: EngineInfo,
        voice: Voice,
        segments: list[str],
        sample_rate: int,
        lease: contextlib.AsyncExitStack,
        deadline: float | None = None,
        conversion: ConversionSession | None = None,
        mode: StreamMode = StreamMode.LIVE,
    ) -> None:
        super().__init__(context, request, info, voice, segments, sample_rate, conversion, mode)
        self._lease = lease
        self._pending: asyncio.Future[None] | None = None
        """The segment in flight: it puts its parts into ``_arrived`` as they come."""
        self._arrived: asyncio.Queue[_Item] = asyncio.Queue()
        self._segment_done = False
        """Whether the segment in flight has put all its parts."""
        self._producing = 0
        """The index of the segment in flight."""
        self._taken_segment: int | None = None
        """The index of the segment whose part the consumer took last."""
        self._first_in_hand = False
        """The consumer holds the stream's first chunk and has not come back for more: nothing is started."""
        self._untaken = 0
        """Parts rendered and not yet taken by the consumer."""
        self.segments_started = 0
        """Segments handed to the runner so far (the scheduling tests read it)."""
        self._next_index = 0
        self._primed: AudioChunk | None = None
        self._closed = False
        self._playing_since: float | None = None
        """``time.monotonic()`` when the first chunk was ready: the listener's playback clock starts."""
        self._deadline = deadline
        """``time.monotonic()`` past which waiting for a segment fails (``limits.request_timeout``)."""
        self.error: PolyvoxError | None = None
        """The error that ended the stream, if one did."""
        self.estimated_seconds = 0.0
        """Roughly how much audio the whole stream will give (polyvox.bounds): admission by capacity."""
        self.chunks: list[Chunk] = []
        """Mastered streams (LONGFORM; FILE with master_files): each segment's chunk (paragraph end, rate)."""
        self.pauses: list[float] = []
        """Mastered streams: seconds of silence after each segment (none after the last)."""
        self.lead = 0.0
        """Seconds of silence before the first segment (an SSML document that opens with a break)."""
        self.open_ended = False
        """A session's stream (polyvox.session): segments are added while it plays (:meth:`extend`), each
        has its own deadline, and it ends when :meth:`end` is called, not when its segments run out."""
        self._ended = False
        self._end_queued = False

    @property
    def producing(self) -> bool:
        """Whether a segment is being rendered for this stream right now (or waits in the pool)."""
        return self._pending is not None and not self._pending.done()

    @property
    def caught_up(self) -> bool:
        """A session's listener has heard (or holds no more than half a second of) everything rendered, and
        nothing is being rendered for it: its next text is what it waits for."""
        if self._pending is not None or self._next_index < len(self.segments):
            return False
        playing = self._playing_since
        return playing is None or playing + self.stats.audio_seconds <= time.monotonic() + 0.5

    @property
    def audio_left(self) -> float:
        """Estimated audio seconds still to synthesize (0 once the last segment is produced or closed)."""
        if self._closed or (self._next_index >= len(self.segments) and self._segment_done):
            return 0.0
        return max(self.estimated_seconds - self.stats.audio_seconds, 0.1)

    def upcoming(
        self, horizon: float, seconds_per_char: float = SECONDS_PER_CHAR
    ) -> list[tuple[float | None, float]]:
        """The segments still to render whose audio is needed within ``horizon`` seconds: for each, seconds
        until the listener needs it (None: not playing yet, its first audio is due) and its estimated audio
        seconds (at ``seconds_per_char``, its engine's measured reading rate). Admission's burst check reads
        it."""
        if self._first_in_hand or self._untaken:
            # Audio waits for the consumer (a client that reads slowly or not at all): the listener is not
            # waiting on the workers, whatever its playback clock says.
            return []
        # A segment in flight whose audio the consumer has begun to take is (nearly) rendered: not counted.
        in_flight = self.producing and self._taken_segment != self._producing
        first = self._producing if in_flight else self._next_index
        if self._closed or first >= len(self.segments):
            return []
        playing = self._playing_since
        # Not playing yet: its first audio is due within the admission bound (None), and may well come at
        # once, so its later segments fall due from now on (the pessimistic side).
        clock = 0.0 if playing is None else playing + self.stats.audio_seconds - time.monotonic()
        rest = itertools.islice(self.segments, first, None)
        found: list[tuple[float | None, float]] = []
        found += segment_dues(rest, self.request.speed, clock, horizon, seconds_per_char)
        if playing is None and found:
            found[0] = (None, found[0][1])
        return found

    async def render_all(self, work: Callable[[int], Awaitable[T]]) -> list[T]:
        """LONGFORM mode: ``work(i)`` for every segment, up to ``workers`` at once; results in order.

        ``work`` renders its segment (:meth:`render`) and may judge and redo it (long-form validation).
        Bounding the segments in flight keeps the worker pool fair to the listeners' streams.
        """
        gate = asyncio.Semaphore(max(self._context.workers, 1))

        async def one(index: int) -> T:
            async with gate:
                return await work(index)

        tasks = [asyncio.ensure_future(one(i)) for i in range(len(self.segments))]
        try:
            return list(await asyncio.gather(*tasks))
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise

    def _pause_after(self, index: int) -> AudioChunk | None:
        """FILE mode: the silence after segment ``index`` (none after the last), counted as audio."""
        if index >= len(self.segments) - 1 or index >= len(self.pauses) or self.pauses[index] <= 0:
            return None
        return self._silence(self.pauses[index])

    def _silence(self, seconds: float) -> AudioChunk:
        self.stats.audio_seconds += seconds
        samples = np.zeros(round(seconds * self.sample_rate), dtype=np.float32)
        return AudioChunk(samples=samples, sample_rate=self.sample_rate, text="")

    def _submit_next(self) -> None:
        """Start the next segment's parts (one segment in flight per stream), or note that none is left."""
        self._segment_done = False
        if self._next_index < len(self.segments):
            index, self._next_index = self._next_index, self._next_index + 1
            self._producing = index
            self.segments_started += 1
            # Due when the audio already delivered runs out: now for the first segment, else the first
            # chunk's arrival plus the audio seconds delivered since (a stream far ahead waits).
            playing = self._playing_since
            due = None if playing is None else playing + self.stats.audio_seconds
            if self.open_ended and self._context.request_timeout > 0:  # a session: each segment in its time
                self._deadline = max(time.monotonic(), due or 0.0) + self._context.request_timeout
            self._pending = asyncio.ensure_future(self._produce(index, due))
        else:
            self._pending = None
            self._queue_end_if_done()

    # -- open-ended streams (a session's) --------------------------------------------------------------
    def extend(self, segments: list[str], pieces: list[Piece]) -> None:
        """Add segments (with their plan pieces) to an open-ended stream; an idle stream starts at once."""
        assert self.open_ended and self.plan is not None and not self._ended
        self.segments.extend(segments)
        self.plan.extend(pieces)
        if self._pending is None and not self._closed:
            # The listener may have played everything it had: its clock restarts from now, so a segment
            # after a quiet spell is due now, not long overdue (which would jump every other listener).
            if self._playing_since is not None:
                self._playing_since = max(self._playing_since, time.monotonic() - self.stats.audio_seconds)
            self._submit_next()

    def end(self) -> None:
        """No more segments: the stream's consumer gets :data:`STREAM_END` after the last one."""
        self._ended = True
        self._queue_end_if_done()

    def _queue_end_if_done(self) -> None:
        idle = self._pending is None and self._next_index >= len(self.segments)
        if self.open_ended and (self._closed or (self._ended and idle)) and not self._end_queued:
            self._end_queued = True
            self._arrived.put_nowait(STREAM_END)

    async def skip_failed(self) -> None:
        """After a segment failed (its error was taken): go on with the next one (a session goes on)."""
        pending, self._pending = self._pending, None
        if pending is not None:
            await cancel_and_wait(pending)  # a segment past its deadline may still be running
        self.stats.segments_done += 1
        self._segment_done = True
        self._taken_segment = self._producing
        if not self._closed:
            self._submit_next()

    async def drop_queued(self) -> None:
        """Barge-in: the segment in flight is cancelled, the ones not started and the parts not taken are
        dropped. The listener threw its buffered audio away: its clock restarts now."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.cancel()
        while not self._arrived.empty():
            self._arrived.get_nowait()
        self._untaken = 0
        self._end_queued = False
        del self.segments[self._next_index :]
        if self.plan is not None:
            del self.plan[self._next_index :]
        self.stats.segments_done = len(self.segments)
        self._segment_done = True
        self._taken_segment = self._producing
        self._first_in_hand = False
        self.estimated_seconds = self.stats.audio_seconds
        if self._playing_since is not None:
            self._playing_since = time.monotonic() - self.stats.audio_seconds
        if pending is not None:
            await cancel_and_wait(pending)
        self._queue_end_if_done()

    async def _produce(self, index: int, due: float | None) -> None:
        """Segment ``index``'s parts into the stream's queue, then its end (or the error that ended it)."""
        try:
            async for part in self.render_parts(index, due):
                self._untaken += 1
                self._arrived.put_nowait(part)
        except Exception as exc:
            self._arrived.put_nowait(exc)
            return
        self._arrived.put_nowait(_SEGMENT_END)
        self._segment_done = True
        self._maybe_next()

    def _maybe_next(self) -> None:
        # The next segment starts once this one is produced and its first part was taken: the listener has
        # audio in hand, and at most one segment waits ahead of it (as when segments came whole).
        taken = self._taken_segment is not None and self._taken_segment >= self._producing
        if self._segment_done and taken and not self._closed and not self._first_in_hand:
            self._submit_next()

    def _came_back(self) -> None:
        """The consumer asks for more: what it took before is sent, so the next segment may start."""
        if self._first_in_hand:
            self._first_in_hand = False
            self._maybe_next()

    @property
    def _more(self) -> bool:
        return self._pending is not None or not self._arrived.empty()

    async def take(self) -> AudioChunk | StreamEnd | None:
        """An open-ended stream's next part, None where a segment ends, :data:`STREAM_END` at its end."""
        self._came_back()
        return await self._take_item()

    async def _take(self) -> AudioChunk | None:
        """The next part, or None where a segment ends."""
        item = await self._take_item()
        assert not isinstance(item, StreamEnd)  # only open-ended streams queue it
        return item

    async def _take_item(self) -> AudioChunk | StreamEnd | None:
        item = await self._wait(self._arrived.get())
        if isinstance(item, StreamEnd):
            return item
        if item is _SEGMENT_END:
            self.stats.segments_done += 1
            return None
        if isinstance(item, BaseException):
            self._pending = None
            if isinstance(item, PolyvoxError):
                self.error = item
            raise item
        assert isinstance(item, AudioChunk)
        chunk = item
        self._untaken -= 1
        limit = 0.0 if self.open_ended else self._context.max_audio_seconds  # a session: bounded by its text
        if limit > 0 and self.stats.audio_seconds + chunk.seconds > limit:
            # The estimate let it through but the audio says otherwise: stop here, in-band.
            self.error = AudioTooLongError(
                f"the audio passed {limit:g} s (limits.max_audio_seconds) after "
                f"{self.stats.segments_done} of {len(self.segments)} segments"
            )
            raise self.error
        self.stats.audio_seconds += chunk.seconds
        self._taken_segment = self.stats.segments_done  # the index of the segment this part belongs to
        if self.stats.first_chunk_seconds is None and (chunk.num_samples or not self.open_ended):
            self.stats.first_chunk_seconds = time.perf_counter() - self.stats.started
            self._playing_since = time.monotonic()
            self._first_in_hand = True  # the next segment waits until the first chunk is sent
        # Later parts: queue the next segment before the consumer encodes and sends this part.
        self._maybe_next()
        return chunk

    async def _wait(self, arrival: Coroutine[Any, Any, _Item]) -> _Item:
        if self._deadline is None or (self.open_ended and self._pending is None):  # a session waits for text
            return await arrival
        remaining = self._deadline - time.monotonic()
        try:
            # On expiry the stream ends; closing it cancels the segment (dropped from the pool's queue if
            # it has not started, stopped before its next chunk if it has).
            return await asyncio.wait_for(arrival, max(remaining, 0.0))
        except TimeoutError:
            self.error = RequestTimeoutError(
                f"synthesis took longer than {self._context.request_timeout} s (limits.request_timeout); "
                f"{self.stats.segments_done} of {len(self.segments)} segments done"
            )
            raise self.error from None

    async def prime(self) -> None:
        """Synthesize until the first part; any error is raised here, before a response starts."""
        self._submit_next()
        try:
            while self._primed is None:
                self._primed = await self._take()
        except BaseException:
            await self.aclose()
            raise

    # -- consumer side -------------------------------------------------------------------------------
    def __aiter__(self) -> AsyncIterator[AudioChunk]:
        """Parts as they come: a segment's audio may arrive in several chunks (all with its text)."""
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[AudioChunk]:
        try:
            if self.lead > 0:
                yield self._silence(self.lead)
            if self._primed is not None:
                chunk, self._primed = self._primed, None
                yield chunk
            while self._more:
                self._came_back()
                part = await self._take()
                if part is not None:
                    yield part
                elif (pause := self._pause_after(self.stats.segments_done - 1)) is not None:
                    yield pause
        finally:
            await self.aclose()

    async def by_segment(self) -> AsyncIterator[AudioChunk]:
        """One chunk per segment (its parts joined), for consumers that speak sentence by sentence."""
        parts: list[AudioChunk] = []
        try:
            if self._primed is not None:
                parts.append(self._primed)
                self._primed = None
            while self._more:
                part = await self._take()
                if part is not None:
                    parts.append(part)
                    continue
                yield _joined(parts, self.sample_rate)
                parts = []
                self._came_back()
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        """Stop synthesis: a queued segment is cancelled, a running one stops before its next part."""
        if self._closed:
            return
        self._closed = True
        pending, self._pending = self._pending, None
        self._queue_end_if_done()  # a session's consumer waiting for its next item is let go
        try:
            if pending is not None:
                await cancel_and_wait(pending)
        finally:  # even when the closing task is itself cancelled: the admission count and the lease
            self._context.release(self)
            await self._lease.aclose()

    async def __aenter__(self) -> SynthesisStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
