"""Render a book: every chapter as a long-form job, then one M4B/MP3 with chapter marks or one file a chapter.

Each chapter goes through :class:`polyvox.longform.LongformJob` (paragraph-aware chunks in parallel over the
worker pool, trimmed, loudness-normalized, joined in order with pauses). Two chapters are in flight at once so
the workers stay busy across a chapter's tail. Every finished chunk lands in the on-disk chunk cache first;
that is what makes a book resumable: after Ctrl-C or an engine failure, the same command finds the finished
chunks again and synthesizes only the rest.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from polyvox.audio.chunk import FloatArray
from polyvox.audio.encode import encode_file
from polyvox.audio.formats import AudioFormat, encoded_rate, format_from_filename
from polyvox.audiobook.m4b import ChapterMark, write_m4b, write_mp3
from polyvox.audiobook.sources import Book, Chapter
from polyvox.errors import InvalidParameterError
from polyvox.longform import LongformResult, cache_for, synthesize_long
from polyvox.request import SynthesisRequest
from polyvox.synthesis import Synthesizer

CHAPTERS_IN_FLIGHT = 2
"""Chapters synthesized at once; their chunks share the worker pool."""
BYTES_PER_CHAR = 4 * 22_050 / 14
"""Cached float32 bytes per character of text at 22 kHz (~14 characters a second), to size the cache."""


@dataclass(frozen=True, slots=True)
class RenderOptions:
    """How to read the book."""

    engine: str | None = None
    voice: str | None = None
    language: str | None = None
    speaker: str | None = None
    speed: float = 1.0
    normalize: bool | None = None
    validate: bool = False
    chapter_pause: float = 2.0
    """Seconds of silence between chapters in a single-file book."""


@dataclass(slots=True)
class ChapterAudio:
    """One rendered chapter."""

    chapter: Chapter
    result: LongformResult

    @property
    def samples(self) -> FloatArray:
        return self.result.audio.samples


@dataclass(slots=True)
class RenderedBook:
    """All chapters of a book, rendered, with the figures of the run."""

    book: Book
    chapters: list[ChapterAudio]
    sample_rate: int
    wall_seconds: float

    @property
    def audio_seconds(self) -> float:
        return sum(len(c.samples) for c in self.chapters) / self.sample_rate

    @property
    def synthesis_seconds(self) -> float:
        return sum(c.result.synthesis_seconds for c in self.chapters)

    @property
    def chunks(self) -> int:
        return sum(len(c.result.chunks) for c in self.chapters)

    @property
    def cached_chunks(self) -> int:
        return sum(sum(ch.cached for ch in c.result.chunks) for c in self.chapters)


ProgressCallback = Callable[[float, float], None]
"""Called with (characters just finished, audio seconds just produced)."""


def spoken_text(chapter: Chapter) -> str:
    """The title as its own paragraph, then the chapter."""
    title = chapter.title.strip()
    if title and title[-1] not in ".!?:;":
        title += "."
    return f"{title}\n\n{chapter.text}" if title else chapter.text


def output_format(output: Path, folder_format: AudioFormat) -> tuple[str, AudioFormat]:
    """("m4b" | "mp3" | "folder", the audio format to encode)."""
    suffix = output.suffix.lower()
    if suffix in (".m4b", ".m4a", ".mp4"):
        return "m4b", AudioFormat.AAC
    if suffix == ".mp3":
        return "mp3", AudioFormat.MP3
    if suffix and not output.is_dir():
        fmt = format_from_filename(output)  # raises on unknown suffixes
        raise InvalidParameterError(
            f"a single-file audiobook is .m4b or .mp3, not {fmt.value}; or give a folder", param="output"
        )
    return "folder", folder_format


def ensure_cache_fits(synthesizer: Synthesizer, book: Book) -> None:
    """Grow the chunk cache cap to hold the whole book, so LRU eviction cannot undo resumability."""
    cache = cache_for(synthesizer)
    if cache is None:
        return
    needed = int(sum(len(spoken_text(c)) for c in book.chapters) * BYTES_PER_CHAR * 1.25)
    cache.max_bytes = max(cache.max_bytes, needed)


async def render_book(
    synthesizer: Synthesizer,
    book: Book,
    options: RenderOptions,
    fmt: AudioFormat,
    progress: ProgressCallback | None = None,
) -> RenderedBook:
    """Synthesize every chapter (resuming from cached chunks); chapters come back in book order."""
    started = time.perf_counter()
    ensure_cache_fits(synthesizer, book)
    gate = asyncio.Semaphore(CHAPTERS_IN_FLIGHT)
    failures: list[Exception] = []

    async def chapter_audio(chapter: Chapter) -> ChapterAudio | None:
        text = spoken_text(chapter)
        request = SynthesisRequest(
            text=text,
            engine=options.engine,
            voice=options.voice,
            language=options.language,
            speaker=options.speaker,
            speed=options.speed,
            normalize=options.normalize,
        )

        def advance(done: int, total: int, seconds: float) -> None:
            if progress is not None:
                progress(len(text) / total, seconds)

        async with gate:
            if failures:
                return None  # the book failed already: start nothing new
            try:
                result = await synthesize_long(
                    synthesizer,
                    request,
                    validate=options.validate,
                    rate_for=lambda rate: encoded_rate(fmt, rate),
                    progress=advance,
                )
            except Exception as exc:
                failures.append(exc)
                raise
        return ChapterAudio(chapter, result)

    # A failed chapter stops the book, but the chapter beside it runs to its end: its chunks land in the
    # cache, so the rerun that resumes the book does not redo them.
    outcomes = await asyncio.gather(*(chapter_audio(c) for c in book.chapters), return_exceptions=True)
    if failures:
        raise failures[0]
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
    chapters = [c for c in outcomes if isinstance(c, ChapterAudio)]
    rates = {c.result.audio.sample_rate for c in chapters}
    if len(rates) != 1:
        raise InvalidParameterError("chapters came out at different sample rates", param="voice")
    return RenderedBook(book, chapters, rates.pop(), time.perf_counter() - started)


def chapter_marks(rendered: RenderedBook, pause: float) -> list[ChapterMark]:
    """Start/end of each chapter in the joined file (the pause belongs to the chapter before it)."""
    marks: list[ChapterMark] = []
    position = 0
    gap = round(pause * rendered.sample_rate)
    for index, chapter in enumerate(rendered.chapters):
        length = len(chapter.samples) + (gap if index < len(rendered.chapters) - 1 else 0)
        start, position = position, position + length
        marks.append(
            ChapterMark(chapter.chapter.title, start / rendered.sample_rate, position / rendered.sample_rate)
        )
    return marks


def _joined(rendered: RenderedBook, pause: float) -> list[FloatArray]:
    gap = np.zeros(round(pause * rendered.sample_rate), dtype=np.float32)
    pieces: list[FloatArray] = []
    for index, chapter in enumerate(rendered.chapters):
        pieces.append(chapter.samples)
        if index < len(rendered.chapters) - 1:
            pieces.append(gap)
    return pieces


def _file_name(index: int, title: str, width: int, fmt: AudioFormat) -> str:
    slug = re.sub(r"[^\w\-]+", " ", title).strip()[:60].strip() or "chapter"
    return f"{index:0{width}d} - {slug}.{fmt.value}"


def write_book(rendered: RenderedBook, output: Path, kind: str, fmt: AudioFormat, pause: float) -> list[Path]:
    """Write one M4B/MP3 with chapter marks, or a folder of numbered chapter files; returns the paths."""
    metadata = {"title": rendered.book.title, "album": rendered.book.title, "genre": "Audiobook"}
    if rendered.book.author:
        metadata["artist"] = rendered.book.author
    if kind in ("m4b", "mp3"):
        output.parent.mkdir(parents=True, exist_ok=True)
        marks = chapter_marks(rendered, pause)
        writer = write_m4b if kind == "m4b" else write_mp3
        writer(output, _joined(rendered, pause), rendered.sample_rate, marks, metadata)
        return [output]
    output.mkdir(parents=True, exist_ok=True)
    width = max(2, len(str(len(rendered.chapters))))
    paths: list[Path] = []
    for index, chapter in enumerate(rendered.chapters, start=1):
        path = output / _file_name(index, chapter.chapter.title, width, fmt)
        encode_file([chapter.samples], path, fmt, rendered.sample_rate)
        paths.append(path)
    return paths
