"""Long jobs: the LONGFORM mode of the one stream, plus validation, captions and a join on disk.

A streamed request keeps one segment in the worker pool so requests interleave; a long non-streamed job
(a chapter, a 1,000,000-character text) opens its stream in LONGFORM mode (polyvox.stream.StreamMode), which
keeps up to ``workers`` chunks in flight: that is what makes it finish ~2x faster on two cores. The stream
finishes each chunk with the same mastering chain as every file (trim, loudness, fades); this module checks
it with Whisper when asked (and re-synthesizes a chunk that does not say its text), then joins the chunks in
input order with the stream's pause after each (longer at paragraph ends, or what an SSML ``<break>`` asked
for). Captions come from Whisper's word timestamps of the finished audio: one pass over the joined file, so
each word sits where a listener hears it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from polyvox import captions
from polyvox.audio.chunk import AudioChunk, FloatArray, WordTiming
from polyvox.audio.encode import to_pcm
from polyvox.cache import ChunkCache, chunk_key
from polyvox.errors import PolyvoxError
from polyvox.postprocess import join
from polyvox.request import SynthesisRequest, rated_speed
from polyvox.spill import disk_array, spill
from polyvox.stream import SynthesisStream
from polyvox.stream_mode import StreamMode
from polyvox.stt.metrics import word_error_rate
from polyvox.synthesis import Synthesizer
from polyvox.text.chunks import Chunk
from polyvox.text.normalize import normalize_text

_caches: weakref.WeakKeyDictionary[Synthesizer, ChunkCache] = weakref.WeakKeyDictionary()
_RELEASED: FloatArray = np.zeros(0, dtype=np.float32)


@dataclass(slots=True)
class ChunkResult:
    """What became of one chunk."""

    index: int
    text: str
    samples: FloatArray
    """The chunk's post-processed audio; emptied once the job has joined it into the whole."""
    seconds: float
    engine: str
    attempts: int = 1
    wer: float | None = None
    """Whisper WER of the kept audio (validation only)."""
    wers: list[float] = field(default_factory=list)
    """WER of every attempt, in order."""
    cached: bool = False


@dataclass(slots=True)
class LongformResult:
    """A finished long job."""

    audio: AudioChunk
    chunks: list[ChunkResult]
    words: list[WordTiming]
    engine: str
    voice: str
    wall_seconds: float
    synthesis_seconds: float

    @property
    def wer(self) -> float | None:
        """Word-weighted WER over validated chunks."""
        scored = [(c.wer, len(c.text.split())) for c in self.chunks if c.wer is not None]
        total = sum(n for _, n in scored)
        return sum(w * n for w, n in scored) / total if total else None


def cache_for(synthesizer: Synthesizer) -> ChunkCache | None:
    """The chunk cache of this process, or None when disabled."""
    settings = synthesizer.settings.cache
    if not settings.enabled:
        return None
    if synthesizer not in _caches:
        directory = settings.directory or synthesizer.settings.data_dir / "cache" / "chunks"
        _caches[synthesizer] = ChunkCache(directory, settings.max_bytes)
    return _caches[synthesizer]


class LongformJob:
    """One long request; ``run()`` does the work."""

    def __init__(
        self,
        synthesizer: Synthesizer,
        request: SynthesisRequest,
        *,
        validate: bool = False,
        captions: bool = False,
        rate_for: Callable[[int], int] | None = None,
        progress: Callable[[int, int, float], None] | None = None,
    ) -> None:
        self.synthesizer = synthesizer
        self.settings = synthesizer.settings
        self.request = request
        self.validate = validate
        self.captions = captions
        self.rate_for = rate_for
        self.progress = progress
        """Called with (chunks done, chunks in all, audio seconds of the chunk just done)."""
        self._done = 0
        storage = self.settings.storage
        self._spill_dir = storage.temp_dir or self.settings.data_dir / "tmp"
        """Where chunks and the joined audio wait (the bounded temp directory; files unlinked at once)."""

    async def run(self) -> LongformResult:
        """Open the LONGFORM stream, render its chunks in parallel with validation, join them."""
        started = time.perf_counter()
        stream = await self.synthesizer.open(self.request, mode=StreamMode.LONGFORM, rate_for=self.rate_for)
        try:
            total = len(stream.chunks)
            results = await stream.render_all(lambda i: self._chunk(stream, stream.chunks[i], total))
            synthesis_seconds = stream.stats.synthesis_seconds
            # Listeners (metrics, request logs) read the stream's figures when it is released.
            stream.stats.audio_seconds = sum(r.seconds for r in results)
            stream.stats.segments_done = len(results)
        finally:
            await stream.aclose()
        samples, starts = await asyncio.to_thread(self._join, results, stream)
        words = await self._caption(results, samples, starts, stream.sample_rate) if self.captions else []
        return LongformResult(
            audio=AudioChunk(samples, stream.sample_rate, self.request.text),
            chunks=results,
            words=words,
            engine=stream.engine_name,
            voice=stream.voice.id,
            wall_seconds=time.perf_counter() - started,
            synthesis_seconds=synthesis_seconds,
        )

    def _join(self, results: list[ChunkResult], stream: SynthesisStream) -> tuple[FloatArray, list[float]]:
        """All chunks in order with the stream's pauses (and its leading break); chunk start times."""
        samples, starts = join(
            [r.samples for r in results],
            stream.sample_rate,
            stream.pauses,
            stream.lead,
            allocate=lambda length: disk_array(length, self._spill_dir),
        )
        for result in results:  # the joined audio holds it now; a whole book need not be held twice
            result.samples = _RELEASED
        return samples, starts

    async def _caption(
        self, results: list[ChunkResult], samples: FloatArray, starts: list[float], rate: int
    ) -> list[WordTiming]:
        """Whisper's placement of every chunk's words in the finished audio.

        Whisper places a word a little differently in a chunk alone than in the whole file; one pass over the
        joined audio times every word where it is heard. It hears the file as delivered, 16-bit: beam search
        is chaotic enough that the float and 16-bit versions of one audio can decode differently ("ships" /
        "shits") and move a word.
        """
        delivered = AudioChunk.from_int16(to_pcm(samples, 16), rate).samples
        _, heard = await self._listen(delivered, rate, True)
        ends = [s + r.seconds for r, s in zip(results, starts, strict=True)]
        timed = captions.align_spans([r.text for r in results], starts, ends, heard)
        return [w for span in timed for w in span]

    # -- one chunk -----------------------------------------------------------------------------------
    def _key(self, stream: SynthesisStream, text: str, engine: str, extra: object) -> str:
        r = self.request
        return chunk_key(
            {
                "mastering": self.settings.postprocess.model_dump(),
                "engine": engine,
                "voice": stream.voice.id if engine == stream.engine_name else "",
                "speaker": r.speaker,
                "language": r.language,
                "speed": r.speed,
                "volume": r.volume,
                "rate": stream.sample_rate,
                "extra": extra,
                "text": text,
            }
        )

    async def _render(self, stream: SynthesisStream, chunk: Chunk, attempt: int) -> tuple[AudioChunk, str]:
        """Attempt 0 renders with the request as given; later attempts vary params or change engine."""
        registry = self.synthesizer.registry
        if attempt == 0:
            return await stream.render(chunk.index), stream.engine_name
        info = registry.info(stream.engine_name)
        stochastic = bool({"noise_scale", "temperature"} & info.parameter_names)
        engine = stream.engine_name if stochastic and attempt == 1 else self.settings.longform.fallback_engine
        if engine is None:
            raise PolyvoxError("chunk failed validation and no fallback engine is configured")
        extra = dict(self.request.extra) if engine == stream.engine_name else {}
        if engine == stream.engine_name:
            extra |= {"noise_scale": 0.5, "noise_w": 0.6}  # calmer sampling than piper's 0.667/0.8
            seed, param = extra.get("seed"), info.parameter("seed")
            if isinstance(seed, int) and param is not None:  # the same seed would sample the same audio
                extra["seed"] = (seed + attempt) % (int(param.high) + 1)
        retry = dataclasses.replace(
            self.request,
            text=chunk.text,
            engine=engine,
            voice=None if engine != stream.engine_name else self.request.voice,
            extra=extra,
            speed=rated_speed(self.request.speed, chunk.rate),
            sample_rate=stream.sample_rate,
            lexicon=False,
            normalize=False,
            input_type="text",  # the chunk is prepared text, even when the request was SSML
        )
        other = await self.synthesizer.open(retry, mode=StreamMode.LONGFORM, segments=[chunk.text])
        async with other:
            return await other.render(0), engine

    async def _chunk(self, stream: SynthesisStream, chunk: Chunk, total: int) -> ChunkResult:
        result = await self._attempts(stream, chunk)
        self._done += 1
        if self.progress is not None:
            self.progress(self._done, total, result.seconds)
        return result

    async def _attempts(self, stream: SynthesisStream, chunk: Chunk) -> ChunkResult:
        settings = self.settings.longform
        cache = cache_for(self.synthesizer)
        rate = stream.sample_rate
        result: ChunkResult | None = None
        for attempt in range(settings.validate_retries + 1 if self.validate else 1):
            key = self._key(stream, chunk.text, stream.engine_name, self.request.extra)
            # A cached chunk is a file read: off the event loop like everything that grows with the input.
            raw = await asyncio.to_thread(cache.get, key) if cache is not None and attempt == 0 else None
            engine = stream.engine_name
            hit = raw is not None
            if raw is None:
                try:
                    rendered, engine = await self._render(stream, chunk, attempt)
                except PolyvoxError:
                    if not self.validate or attempt == settings.validate_retries:
                        raise
                    continue  # a failing engine is a failed attempt: go on to the retry strategy
                raw = rendered.samples
                if cache is not None and attempt == 0:
                    await asyncio.to_thread(cache.put, key, raw)
            # Mastered chunks wait on disk for the join: a book is never held whole in memory.
            samples = await asyncio.to_thread(spill, raw, self._spill_dir)
            seconds = len(samples) / rate
            candidate = ChunkResult(chunk.index, chunk.text, samples, seconds, engine, attempt + 1)
            candidate.cached = hit
            if self.validate:
                heard, _ = await self._listen(samples, rate, False)
                # Whisper writes "42" for "forty-two": normalize what it heard the way the input was.
                candidate.wer = word_error_rate(captions.readable(chunk.text), normalize_text(heard, "en"))
            wers = ([*result.wers] if result else []) + ([candidate.wer] if candidate.wer is not None else [])
            candidate.wers = wers
            if result is None or (candidate.wer or 0.0) < (result.wer or 0.0):
                result = candidate
            result.wers, result.attempts = wers, attempt + 1
            if not self.validate or (result.wer or 0.0) <= settings.validate_threshold:
                break
        if result is None:
            raise PolyvoxError(f"chunk {chunk.index} could not be synthesized")
        return result

    async def _listen(self, samples: FloatArray, rate: int, words: bool) -> tuple[str, list[WordTiming]]:
        """Whisper under the recognizer's own slots: validation never holds a listener's synthesis worker."""
        transcript = await self.synthesizer.asr.listen(samples, rate, word_timestamps=words)
        return transcript.text, [WordTiming(w, s, e) for w, s, e in transcript.words]


async def synthesize_long(
    synthesizer: Synthesizer,
    request: SynthesisRequest,
    *,
    validate: bool = False,
    captions: bool = False,
    rate_for: Callable[[int], int] | None = None,
    progress: Callable[[int, int, float], None] | None = None,
) -> LongformResult:
    """Run a long-form job (see :class:`LongformJob`)."""
    job = LongformJob(
        synthesizer, request, validate=validate, captions=captions, rate_for=rate_for, progress=progress
    )
    return await job.run()
