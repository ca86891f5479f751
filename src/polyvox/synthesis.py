"""The one synthesis pipeline every front door uses.

``Synthesizer.open()`` validates a request, resolves engine and voice, leases the engine and synthesizes the
first segment before it returns, so a front door can still answer any failure with a proper status. The
returned :class:`polyvox.stream.SynthesisStream` yields one post-processed ``AudioChunk`` per segment.
A long-form job is the same stream in another mode (polyvox.stream_mode): paragraph chunks, mastered, with
pauses, rendered in parallel; validation and the join are polyvox.longform's.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import structlog

from polyvox.admission import HORIZON, Admission, Demand
from polyvox.audio.chunk import AudioChunk
from polyvox.bounds import (
    SECONDS_PER_CHAR,
    check_audio_seconds,
    check_extra,
    check_parameter_defaults,
    check_text,
    estimated_seconds,
    segment_dues,
)
from polyvox.engines.base import Voice
from polyvox.errors import (
    BusyError,
    EmptyTextError,
    EngineNotFoundError,
    InvalidParameterError,
    LanguageNotSupportedError,
    TextTooLongError,
)
from polyvox.postprocess import Mastering
from polyvox.request import SynthesisRequest, check_rendering, language_supported, speakable
from polyvox.runners.runner import LocalRunner
from polyvox.runners.segment import SegmentRunner
from polyvox.segment_plan import SegmentPlanner
from polyvox.segment_render import StreamContext
from polyvox.session import MAX_QUEUED_CHARS, SessionVoice, SpeechSession
from polyvox.stream import SynthesisStream
from polyvox.stream_mode import StreamMode
from polyvox.stt.recognizer import SpeechRecognizer
from polyvox.text.chunks import ChunkPlan, pauses_after
from polyvox.text.lexicon import Lexicon
from polyvox.text.offload import run_text_work
from polyvox.text.ssml import Piece
from polyvox.voice_router import LIBRARY_PREFIX, VoiceRouter

log = structlog.get_logger(__name__)

if TYPE_CHECKING:
    from polyvox.config import Settings
    from polyvox.engines.registry import EngineRegistry


class Synthesizer:
    """Validates requests and runs them through engine, resampling, speed and volume."""

    def __init__(
        self,
        settings: Settings,
        registry: EngineRegistry,
        runner: SegmentRunner | None = None,
        *,
        asr: SpeechRecognizer | None = None,
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.runner: SegmentRunner = runner or LocalRunner(registry)
        """Renders each segment: this process's worker pool, or Ray Serve replicas (polyvox.runners)."""
        self._active: set[SynthesisStream] = set()
        self._admitted = 0
        self.lexicon = Lexicon(settings.text.lexicon_file or settings.data_dir / "lexicon.json")
        """The user pronunciation lexicon (reloaded when its file changes)."""
        self.planner = SegmentPlanner(settings, registry, self.lexicon)
        """Prepares and segments every request's text (polyvox.segment_plan)."""
        self.voices = VoiceRouter(settings, registry)
        """Resolves engine voices, blends and library voices (polyvox.voice_router)."""
        self.voices.references.in_use = self._library_voices_in_use
        self.listeners: list[Callable[[SynthesisStream], None]] = []
        """Called with each stream when it is released (metrics, request logs)."""
        self.stream_context = StreamContext(
            runner=self.runner,
            record=registry.record,
            release=self._release,
            request_timeout=settings.limits.request_timeout,
            max_audio_seconds=settings.limits.max_audio_seconds,
            mastering=Mastering(settings.postprocess),
            master_files=settings.postprocess.master_files,
            workers=settings.engines.workers,
        )
        """What every stream is built with (its runner, and whom it reports to)."""
        self.asr = asr or SpeechRecognizer(settings)
        """The service's speech recognizer: long-form validation and captions listen with it."""
        # With Ray the workers are the replicas elsewhere, and Serve's own back-pressure answers 429 busy.
        bound = 0.0 if settings.ray.enabled else settings.server.first_audio_bound
        self.admission = Admission(bound, settings.engines.workers)
        """Refuses a listener early (429) when its first audio cannot come in time (polyvox.admission)."""
        check_parameter_defaults(settings.engines.parameters, registry.info)

    def with_parameter_defaults(self, request: SynthesisRequest, engine: str) -> SynthesisRequest:
        """``request`` with the engine's configured parameter defaults under its own ``extra``."""
        defaults = self.settings.engines.parameters.get(engine)
        return dataclasses.replace(request, extra={**defaults, **request.extra}) if defaults else request

    @property
    def active_streams(self) -> int:
        return len(self._active)

    @property
    def capacity(self) -> int:
        """Streams allowed at once: one per worker plus the configured queue."""
        return self.settings.engines.workers + self.settings.server.max_queue

    def _library_voices_in_use(self) -> set[str]:
        """The library voices active streams speak: a reference voice is not removed under them."""
        spoken = set()
        for stream in list(self._active):  # called from a thread: a copy, taken at once
            target = getattr(stream.voice, "target", "") or stream.voice.id
            spoken.add(target.removeprefix(LIBRARY_PREFIX))
        return spoken

    def _release(self, stream: SynthesisStream) -> None:
        if stream in self._active:
            self._active.discard(stream)
            self._admitted -= 1
            for listener in self.listeners:
                try:
                    listener(stream)
                except Exception:  # metrics or a request log: the stream is over either way, but say so
                    log.exception("stream_listener_failed", request_id=stream.request.request_id)

    def _demand(self) -> list[Demand]:
        """What the listening streams still ask of the workers (background jobs yield: not counted)."""
        demand = []
        for stream in self._active:
            rtf = self.registry.rtf(stream.engine_name)
            if not stream.background and rtf is not None:
                upcoming = tuple(stream.upcoming(HORIZON, self._reading(stream.engine_name)))
                demand.append(Demand(rtf, stream.audio_left, upcoming))
        return demand

    def _reading(self, engine: str) -> float:
        """The engine's audio seconds per character as measured on its segments, else the typical rate."""
        measured = self.registry.reading(engine)
        return SECONDS_PER_CHAR if measured is None else measured

    def mode_for(
        self, text: str, *, streamed: bool, validate: bool = False, captions: bool = False
    ) -> StreamMode:
        """How a request is produced (:meth:`polyvox.stream.StreamMode.choose`, the one threshold rule)."""
        threshold = self.settings.longform.threshold_chars
        return StreamMode.choose(text, threshold, streamed=streamed, validate=validate, captions=captions)

    def validate(self, request: SynthesisRequest, *, max_chars: int | None = None) -> tuple[str, Voice]:
        """Check everything that can be checked without synthesizing; returns engine name and voice.

        ``max_chars`` replaces ``max_text_length`` (long-form jobs are bounded by ``longform.max_chars``).
        """
        if not request.text or not request.text.strip():
            raise EmptyTextError("text is empty", param="text")
        limit = self.settings.max_text_length if max_chars is None else max_chars
        if len(request.text) > limit:
            raise TextTooLongError(
                f"text has {len(request.text)} characters; the limit is {limit}",
                param="text",
            )
        check_text(request.text)
        check_rendering(request.speed, request.volume, request.sample_rate)
        if request.input_type not in (None, "text", "ssml"):
            raise InvalidParameterError("input_type must be 'text' or 'ssml'", param="input_type")
        return self.resolve(request.engine, request.voice, request.language, extra=request.extra)

    def resolve(
        self,
        engine: str | None,
        voice: str | None,
        language: str | None,
        *,
        extra: Mapping[str, object] | None = None,
    ) -> tuple[str, Voice]:
        """The engine name (None: the default) and the voice a request would speak with, as :meth:`validate`
        checks them: the engine exists and has its weights, the voice resolves, the language is spoken.

        ``extra`` (engine parameters) is checked against the engine's ranges too, when given. Front doors that
        choose a voice before they have text (a socket's ``start``, a monitor) call this, not ``validate``.
        """
        name = engine or self.registry.default
        info = self.registry.info(name)
        if name not in self.registry.names():
            raise EngineNotFoundError(f"unknown engine {name!r}", param="engine")  # a hidden test engine
        check_extra(info, extra or {})
        self.registry.check_available(name)  # before its voices: it has none without package or weights
        resolved = self.voices.resolve(name, voice)
        if language and not language_supported(language, info, self.registry.voices(name)):
            raise LanguageNotSupportedError(
                f"engine {name!r} does not speak {language!r}; it speaks {', '.join(info.languages)}",
                param="language",
            )
        return name, resolved

    async def open(
        self,
        request: SynthesisRequest,
        *,
        mode: StreamMode = StreamMode.LIVE,
        rate_for: Callable[[int], int] | None = None,
        segments: list[str] | None = None,
        admit: bool = True,
    ) -> SynthesisStream:
        """Validate, lease the engine and synthesize the first segment (LONGFORM: nothing yet).

        ``mode``: for a listener, into a file, or a long-form job (:class:`polyvox.stream.StreamMode`).
        ``rate_for`` maps the wanted output rate to one the caller's encoder supports (opus, mp3).
        ``segments`` (already prepared text) replaces the request's own segmentation (a long-form retry).
        ``admit=False`` skips admission by capacity (a listener already playing: its next sentence); only
        LIVE streams are admitted: a file has no first audio to wait for.
        """
        # A long-form job renders its segments itself, in parallel (render_all): nothing is primed.
        prime = mode is not StreamMode.LONGFORM
        live = mode is StreamMode.LIVE  # a listener waits for the first audio: phrase first
        max_chars = self.settings.longform.max_chars if mode is StreamMode.LONGFORM else None
        name, voice = self.validate(request, max_chars=max_chars)
        request = self.with_parameter_defaults(request, name)
        if self._admitted >= self.capacity:
            raise BusyError(f"{self._admitted} syntheses are running or queued; try again shortly")
        self._admitted += 1
        timeout = self.settings.limits.request_timeout
        # The clock starts at admission; long-form jobs render on their own (background) and are exempt.
        deadline = time.monotonic() + timeout if timeout > 0 and prime else None
        lease = contextlib.AsyncExitStack()
        try:
            language = request.language or voice.language
            plan: list[Piece] | None = None
            chunks: ChunkPlan | None = None
            # Parsing, normalizing and segmenting grow with the text: never on the event loop.
            if segments is None and prime and not request.is_ssml:
                # A cheap first estimate on the raw text (halved: preparation may shorten it) refuses a
                # hopeless request before the costly preparation; SSML is estimated once parsed.
                check_audio_seconds(
                    estimated_seconds([request.text], None, request.speed, request.extra) / 2,
                    self.settings.limits.max_audio_seconds,
                )
            if segments is None and mode.mastered(self.settings.postprocess.master_files):
                chunks = await self.planner.chunk_plan(request, name, language, longform=not prime)
                segments = [c.text for c in chunks.chunks]
                if any(c.rate != 1.0 for c in chunks.chunks):  # each chunk rendered at its own rate
                    plan = [Piece(c.text, rate=c.rate) for c in chunks.chunks]
            elif segments is None:
                cut = self.planner.ssml_segments if request.is_ssml else self.planner.segments
                segments, plan = await run_text_work(cut, request, name, language, live)
            assert segments is not None  # given, or made by one of the branches above
            if not any(speakable(s) for s in segments) and not any(p.pause for p in plan or ()):
                raise EmptyTextError("nothing to speak: the text has no letters or digits", param="text")
            estimate = 0.0  # long-form jobs spill to disk and are bounded by longform.max_chars
            if prime:
                estimate = estimated_seconds(segments, plan, request.speed, request.extra)
                check_audio_seconds(estimate, self.settings.limits.max_audio_seconds)
                if admit and mode is StreamMode.LIVE:
                    head, reading = (plan[:1] if plan else None), self._reading(name)
                    first = estimated_seconds(segments[:1], head, request.speed, request.extra, reading)
                    # Its later segments fall due from its first audio on, which may come at once.
                    later = segment_dues(segments, request.speed, 0.0, HORIZON, reading)[1:]
                    self.admission.check(first, self.registry.rtf(name), self._demand(), later)
            engine = await lease.enter_async_context(self.registry.acquire(name))
            rate = request.sample_rate or engine.info.sample_rate
            if rate_for is not None:
                rate = rate_for(rate)
            stream = SynthesisStream(
                self.stream_context,
                request,
                engine.info,
                voice,
                segments,
                rate,
                lease,
                deadline,
                conversion=self.voices.session(voice),
                mode=mode,
            )
            stream.plan = plan
            stream.estimated_seconds = estimate
            if chunks is not None:
                post = self.settings.postprocess
                stream.chunks = chunks.chunks
                stream.pauses = pauses_after(chunks.chunks, post.sentence_pause, post.paragraph_pause)
                stream.lead = chunks.lead
        except BaseException:
            self._admitted -= 1
            await lease.aclose()
            raise
        self._active.add(stream)
        if prime:
            await stream.prime()
        return stream

    async def session(
        self,
        voice: SessionVoice | SynthesisRequest,
        *,
        rate_for: Callable[[int], int] | None = None,
        audio: bool = True,
        max_chars: int = 250,
        max_wait: float = 0.0,
        max_queued: int = MAX_QUEUED_CHARS,
    ) -> SpeechSession:
        """A streaming session for one listener (polyvox.session): engine, voice, language and parameters
        are checked now; the engine is leased for the session's life (``audio=False``: text only, no lease);
        admission comes with its first speech."""
        template = voice.request() if isinstance(voice, SessionVoice) else voice  # (its text is unused)
        check_rendering(template.speed, template.volume, template.sample_rate)
        name, resolved = self.resolve(
            template.engine, template.voice, template.language, extra=template.extra
        )
        language = template.language or resolved.language
        request = dataclasses.replace(template, engine=name, voice=resolved.id)
        request = self.with_parameter_defaults(request, name)
        lease = contextlib.AsyncExitStack()
        info = self.registry.info(name)
        try:
            if audio:
                info = (await lease.enter_async_context(self.registry.acquire(name))).info
            rate = request.sample_rate or info.sample_rate
            rate = rate_for(rate) if rate_for is not None else rate
            conversion = self.voices.session(resolved)
        except BaseException:
            await lease.aclose()
            raise
        stream = SynthesisStream(
            self.stream_context, request, info, resolved, [], rate, lease, conversion=conversion
        )
        stream.open_ended, stream.plan = True, []

        def prepare(sentence: str, waiting: bool) -> tuple[list[str], bool]:
            text = self.planner.prepare_piece(sentence, request, name, language)
            # The listener has nothing left to hear: phrase first.
            return self.planner.cut(text, name, language, phrase=waiting)

        return SpeechSession(
            stream,
            prepare=prepare,
            admit=self._admit_session,
            language=language,
            audio=audio,
            max_chars=max_chars,
            max_wait=max_wait,
            max_queued=max_queued,
            phrase_first=info.phrase_first,
        )

    def _admit_session(self, stream: SynthesisStream, first: str) -> None:
        """Admit a session at its first speech, as a new listener's first segment is (then never again)."""
        if self._admitted >= self.capacity:
            raise BusyError(f"{self._admitted} syntheses are running or queued; try again shortly")
        request = stream.request
        reading = self._reading(stream.engine_name)
        seconds = estimated_seconds([first], None, request.speed, request.extra, reading)
        self.admission.check(seconds, self.registry.rtf(stream.engine_name), self._demand())
        self._admitted += 1
        self._active.add(stream)

    async def synthesize(self, request: SynthesisRequest) -> tuple[SynthesisStream, list[AudioChunk]]:
        """Synthesize a whole request as a file (non-streaming front doors: FILE mode, never admitted)."""
        stream = await self.open(request, mode=StreamMode.FILE)
        async with stream:
            chunks = [chunk async for chunk in stream]
        return stream, chunks
