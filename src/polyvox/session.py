"""One listener's speech as its text arrives: the session every streaming front door speaks through.

A door opens one :class:`SpeechSession` per listener (a WebSocket context, a Wyoming stream, a monitor, a
Realtime conversation), feeds it text as it comes, flushes it where an utterance ends, cancels it on barge-in
and finishes it. The session is admitted once (at its first speech; polyvox.admission) and holds its engine
lease for its life; its sentences are segmented incrementally and rendered by one open-ended
:class:`polyvox.stream.SynthesisStream`, so each segment is due when the audio this listener has already been
sent runs out, and the scheduling, post-processing and deadlines are the pipeline's own.

The door reads one ordered event stream (:meth:`SpeechSession.events`): audio parts of each segment
(:class:`SegmentAudio`), each segment's end (:class:`SegmentEnd`: its text, its seconds, or the error that
cost it its audio — the words still reach the listener) and each utterance's end (:class:`UtteranceEnd`).
What was yielded is counted, so a barge-in can say how much was delivered and which words it held.

While a listener's first audio is being rendered, text fed (and flushes) is held as it came and split only
once that audio is out: splitting an LLM's or a Wyoming client's text word by word as it arrives took the
cores the first phrase renders on (issue 27: a 119-word paragraph fed word by word over Wyoming delayed its
first audio by about half again).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from polyvox.audio.chunk import AudioChunk
from polyvox.bounds import estimated_seconds
from polyvox.delivered import DeliveredAudio
from polyvox.errors import PolyvoxError
from polyvox.request import SynthesisRequest, speakable
from polyvox.stream import StreamEnd, SynthesisStream
from polyvox.text.incremental import IncrementalSegmenter
from polyvox.text.offload import run_text_work
from polyvox.text.ssml import Piece

MAX_QUEUED_CHARS = 100_000
"""Default bound on the text one session holds not yet spoken (``realtime.max_queued_chars``)."""
INLINE_FEED_CHARS = 2000
"""Buffers up to this long are split on the event loop (milliseconds); longer ones in the text pool."""


class TextQueueFullError(PolyvoxError):
    """A session already holds its bound of text not yet spoken."""

    status = 429
    code = "text_queue_full"


@dataclass(frozen=True, slots=True)
class SessionVoice:
    """What a session speaks with; checked when the session opens."""

    engine: str | None = None
    voice: str | None = None
    language: str | None = None
    speaker: str | None = None
    speed: float = 1.0
    volume: float = 1.0
    sample_rate: int | None = None
    """Output rate (None: the engine's)."""
    extra: Mapping[str, object] = field(default_factory=dict)

    def request(self) -> SynthesisRequest:
        """The request every segment of the session is rendered as (its text aside)."""
        return SynthesisRequest(
            text="",
            engine=self.engine,
            voice=self.voice,
            language=self.language,
            speaker=self.speaker,
            speed=self.speed,
            volume=self.volume,
            sample_rate=self.sample_rate,
            extra=dict(self.extra),
        )


@dataclass(frozen=True, slots=True)
class SegmentAudio:
    """One part of a segment's audio, as the engine produced it."""

    utterance: int
    segment: int
    text: str
    chunk: AudioChunk
    first: bool
    """The segment's first part."""


@dataclass(frozen=True, slots=True)
class SegmentEnd:
    """A segment is done: spoken (``audio``), text only (nothing to say, audio off), or failed (``error``)."""

    utterance: int
    segment: int
    text: str
    seconds: float
    audio: bool
    error: PolyvoxError | None = None


@dataclass(frozen=True, slots=True)
class UtteranceEnd:
    """Everything fed before the flush that closed this utterance has been yielded."""

    utterance: int


SessionEvent = SegmentAudio | SegmentEnd | UtteranceEnd
Kind = Literal["speech", "text", "mark"]


@dataclass(slots=True)
class _Entry:
    """One segment of the stream as the session knows it."""

    kind: Kind
    utterance: int
    text: str
    error: PolyvoxError | None = None


class SpeechSession:
    """See the module docstring. Built by :meth:`polyvox.synthesis.Synthesizer.session`; always close it."""

    def __init__(
        self,
        stream: SynthesisStream,
        *,
        prepare: Callable[[str, bool], tuple[list[str], bool]],
        admit: Callable[[SynthesisStream, str], None],
        language: str | None,
        audio: bool = True,
        max_chars: int = 250,
        max_wait: float = 0.0,
        max_queued: int = MAX_QUEUED_CHARS,
        phrase_first: bool = False,
    ) -> None:
        self.stream = stream
        self.audio = audio
        self._phrase_first = phrase_first
        self._prepare = prepare
        self._admit = admit
        self._admitted = False
        self._segmenter = IncrementalSegmenter(language, max_chars=max_chars, max_wait=max_wait)
        self._max_queued = max_queued
        self._feeding = asyncio.Lock()
        self._entries: list[_Entry] = []
        self._unspoken = 0
        """Characters of segments added and not yet ended."""
        self._utterance = 0
        self._segment_seconds = 0.0
        self._delivered = DeliveredAudio()
        self.delivered_seconds = 0.0
        """Audio seconds yielded to the door so far (the whole session)."""
        self.ended = False
        self._first_due = False
        """The listener waits for the first audio of speech queued while it had nothing left to hear."""
        self._held: list[tuple[int, str | None]] = []
        """What came while that first audio renders: (utterance, fragment), or (utterance, None): a flush."""
        self._held_chars = 0
        self._end_held = False

    @property
    def sample_rate(self) -> int:
        return self.stream.sample_rate

    @property
    def engine_name(self) -> str:
        return self.stream.engine_name

    @property
    def utterance(self) -> int:
        """The utterance text fed now belongs to."""
        return self._utterance

    @property
    def queued_chars(self) -> int:
        """Text received and not yet spoken."""
        return self._unspoken + len(self._segmenter.pending) + self._held_chars

    # -- input ------------------------------------------------------------------------------------------
    async def feed(self, text: str) -> None:
        """Buffer a fragment; complete sentences start rendering at once.

        :class:`TextQueueFullError` (the fragment is dropped) past ``max_queued`` characters not yet spoken.
        Sentence splitting grows with the buffered text: a long buffer is split in the text pool.
        """
        if self.queued_chars + len(text) > self._max_queued:
            raise TextQueueFullError(
                f"{self.queued_chars} characters are waiting to be spoken and this fragment has {len(text)}; "
                f"the limit is {self._max_queued} (realtime.max_queued_chars): the fragment was dropped",
                param="text",
            )
        async with self._feeding:
            if self._holding:
                self._held.append((self._utterance, text))
                self._held_chars += len(text)
                return
            await self._take(text, self._utterance)

    async def _take(self, text: str, utterance: int) -> None:
        if len(self._segmenter.pending) + len(text) <= INLINE_FEED_CHARS:
            sentences = self._segmenter.feed(text)  # a few milliseconds at most: no thread hop per token
        else:
            sentences = await run_text_work(self._segmenter.feed, text)
        await self._add(sentences, utterance)
        # A listener waiting on a long sentence that is still arriving (an LLM's tokens): its first
        # phrase starts now, not when the sentence's full stop comes.
        waiting = self._phrase_first and self.audio and self.stream.caught_up
        if waiting and (phrase := self._segmenter.take_first_phrase()):
            await self._add([phrase], utterance, phrase=True)

    async def flush(self) -> int:
        """Speak what is buffered now and close the utterance; returns the number of the one closed."""
        async with self._feeding:
            closed = self._utterance
            self._utterance += 1
            if self._holding:
                self._held.append((closed, None))
            else:
                await self._close_utterance(closed)
            return closed

    async def _close_utterance(self, utterance: int) -> None:
        rest = self._segmenter.flush()
        await self._add([rest] if rest else [], utterance)
        self._extend([_Entry("mark", utterance, "")], [""])

    @property
    def _holding(self) -> bool:
        return self._first_due or bool(self._held)

    async def _take_held(self) -> None:
        """The first audio is out: split what was held, fragments of one utterance together."""
        async with self._feeding:
            held, self._held, self._held_chars = self._held, [], 0
            fragments: list[str] = []
            for index, (utterance, text) in enumerate(held):
                if text is not None:
                    fragments.append(text)
                last = index + 1 == len(held) or held[index + 1][0] != utterance or text is None
                if fragments and last:
                    await self._take("".join(fragments), utterance)
                    fragments = []
                if text is None:
                    await self._close_utterance(utterance)
            if self._end_held:
                self._end_held = False
                self.stream.end()

    async def tick(self) -> None:
        """Called periodically: speaks text that waited ``max_wait`` for more (never during a feed)."""
        if not self._feeding.locked() and not self._holding and self._segmenter.due():
            async with self._feeding:
                rest = self._segmenter.flush()
                await self._add([rest] if rest else [], self._utterance)

    async def cancel(self) -> float:
        """Barge-in: drop the text not spoken and stop the segment in flight. Returns the audio seconds of
        the cancelled utterance that were delivered; the next text starts a new utterance."""
        async with self._feeding:
            delivered = self._delivered.seconds(self._delivered.last_audible())
            self._segmenter.clear()
            self._held, self._held_chars, self._first_due = [], 0, False
            await self.stream.drop_queued()
            del self._entries[len(self.stream.segments) :]
            self._unspoken = 0
            self._segment_seconds = 0.0
            self._utterance += 1
            if self._end_held:  # finished while text was held: that text is gone, the stream ends now
                self._end_held = False
                self.stream.end()
            return delivered

    async def finish(self) -> None:
        """Flush; the event stream ends after the last event."""
        if not self.ended:
            await self.flush()
            self.ended = True
            if self._held:
                self._end_held = True  # the stream ends once what was held is queued
            else:
                self.stream.end()

    async def aclose(self) -> None:
        """Stop everything: the segment in flight is cancelled, the lease and admission released."""
        self.ended = True
        await self.stream.aclose()

    async def __aenter__(self) -> SpeechSession:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _add(self, sentences: list[str], utterance: int, *, phrase: bool = False) -> None:
        """Queue sentences (``phrase``: the one given is the first phrase of a sentence still arriving)."""
        listener_waiting = self.stream.caught_up
        entries: list[_Entry] = []
        segments: list[str] = []
        joins: set[int] = set()  # a first phrase: the segment after it continues its sentence
        for sentence in sentences:
            if not self.audio or not speakable(sentence):  # "..." between sentences: words, no audio
                entries.append(_Entry("text", utterance, sentence))
                segments.append("")
                continue
            # Lexicon, normalization and the engine's own segment length: bounded by the segmenter's size.
            # A listener with nothing left to hear gets a long sentence phrase first.
            waiting = self.stream.caught_up and not segments and not phrase
            pieces, cut = await run_text_work(self._prepare, sentence, waiting)
            if cut:
                joins.add(len(segments))
            elif phrase and pieces:
                joins.add(len(segments) + len(pieces) - 1)  # the rest of its sentence comes next
            for piece in pieces:
                entries.append(_Entry("speech", utterance, piece))
                segments.append(piece)
        speech = [e for e in entries if e.kind == "speech"]
        if speech and not self._admitted:
            try:
                self._admit(self.stream, speech[0].text)  # once: a listener mid-speech is never refused
                self._admitted = True
            except PolyvoxError as exc:  # refused (busy): this text is said as words, the next tries again
                for entry in speech:
                    entry.kind = "text"
                speech[0].error = exc
                segments, joins = ["" for _ in segments], set()
        self._extend(entries, segments, joins)
        if listener_waiting and any(e.kind == "speech" for e in entries):
            self._first_due = True

    def _extend(
        self, entries: list[_Entry], segments: list[str], joins: frozenset[int] | set[int] = frozenset()
    ) -> None:
        if not entries:
            return
        self._entries.extend(entries)
        self._unspoken += sum(len(e.text) for e in entries)
        pieces = [
            Piece(t, joins_next=i in joins) if t else Piece("", pause=0.0) for i, t in enumerate(segments)
        ]
        request = self.stream.request
        self.stream.estimated_seconds += estimated_seconds(segments, pieces, request.speed, request.extra)
        self.stream.extend(segments, pieces)

    # -- output -----------------------------------------------------------------------------------------
    async def events(self) -> AsyncIterator[SessionEvent]:
        """The session's events in order; ends after :meth:`finish` (or :meth:`aclose`). One consumer."""
        stream = self.stream
        while True:
            if self._held and not self._first_due:
                await self._take_held()  # after the first audio was handed on, before waiting for more
            try:
                item = await stream.take()
                self._first_due = False
            except Exception as exc:  # the segment failed (engine fault, deadline): the session goes on
                self._first_due = False
                error = exc if isinstance(exc, PolyvoxError) else PolyvoxError(f"synthesis failed: {exc}")
                index = stream.stats.segments_done
                await stream.skip_failed()
                if index < len(self._entries):
                    yield self._segment_end(index, error)
                continue
            if isinstance(item, StreamEnd):
                return
            if item is None:  # the end of segment segments_done - 1
                index = stream.stats.segments_done - 1
                entry = self._entries[index]
                if entry.kind == "mark":
                    yield UtteranceEnd(entry.utterance)
                else:
                    yield self._segment_end(index, entry.error)
                continue
            index = stream.stats.segments_done
            entry = self._entries[index]
            if entry.kind != "speech" or not item.num_samples:
                continue
            first = self._segment_seconds == 0.0
            self._note_delivered(entry, item.seconds, first)
            yield SegmentAudio(entry.utterance, index, entry.text, item, first)

    def _note_delivered(self, entry: _Entry, seconds: float, first: bool) -> None:
        self._delivered.note(entry.utterance, entry.text, seconds, first=first)
        self._segment_seconds += seconds
        self.delivered_seconds += seconds

    def _segment_end(self, index: int, error: PolyvoxError | None) -> SegmentEnd:
        entry = self._entries[index]
        seconds, self._segment_seconds = self._segment_seconds, 0.0
        self._unspoken = max(self._unspoken - len(entry.text), 0)
        audio = entry.kind == "speech" and error is None and seconds > 0
        return SegmentEnd(entry.utterance, index, entry.text, seconds, audio, error or entry.error)

    def segments_after(self, index: int) -> int:
        """Segments with text added after ``index`` (utterance marks aside), plus buffered text."""
        later = sum(1 for e in self._entries[index + 1 :] if e.kind != "mark")
        return later + (1 if self._segmenter.pending.strip() or self._held_chars else 0)

    def delivered_text(self, seconds: float, utterance: int | None = None) -> str:
        """The words heard in the first ``seconds`` of an utterance's delivered audio (default: the last one
        that had audio): whole segments, then the played share of the one cut off, by its words."""
        return self._delivered.text(
            seconds, self._delivered.last_audible() if utterance is None else utterance
        )
