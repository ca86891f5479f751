"""Long-form chunks: whole sentences of one paragraph, with the rate and pause SSML gave them.

A long job synthesizes chunks in parallel and joins them in order with a pause after each: the configured
sentence or paragraph pause, or the pause an SSML ``<break>`` asked for. A ``<prosody rate>`` becomes the
rate of every chunk of its text.

Planning a 1,000,000-character job takes seconds: :func:`chunk_steps` and :func:`ssml_steps` do it one unit
(whole paragraphs up to ``UNIT_CHARS``, or a bounded piece of a longer one) per step, so the caller can run
each step as its own job (other work in between) and stop between steps (polyvox.text.offload.run_steps).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

from polyvox.text.segment import bounded_pieces, clean_text, segment_text
from polyvox.text.ssml import Piece

UNIT_CHARS = 4000
"""Characters prepared and chunked in one step (~25 ms of work)."""


@dataclass(frozen=True, slots=True)
class Chunk:
    """One unit of parallel work: whole sentences of one paragraph."""

    index: int
    text: str
    paragraph_end: bool
    rate: float = 1.0
    """Speaking rate relative to the request's speed (SSML ``<prosody rate>``)."""
    pause: float | None = None
    """Silence after this chunk in seconds (SSML ``<break>``); None: the configured pause."""


@dataclass(slots=True)
class ChunkPlan:
    """The chunks of a job and the silence before the first (an SSML document that opens with a break)."""

    chunks: list[Chunk]
    lead: float = 0.0


def chunk_text(text: str, language: str | None, chunk_chars: int, rate: float = 1.0) -> list[Chunk]:
    """Paragraphs (lines) → sentences → chunks of up to ``chunk_chars``; a chunk never spans paragraphs."""
    chunks: list[Chunk] = []
    for _ in chunk_steps(text, language, chunk_chars, chunks, rate=rate):
        pass
    return chunks


def _units(text: str, limit: int = UNIT_CHARS) -> Iterator[tuple[str, bool]]:
    """Whole paragraphs up to ``limit`` characters together, a longer one in bounded pieces; with each,
    whether it ends a paragraph."""
    group: list[str] = []
    size = 0
    for paragraph in clean_text(text).split("\n"):
        if group and size + len(paragraph) > limit:
            yield "\n".join(group), True
            group, size = [], 0
        if len(paragraph) <= limit:
            group.append(paragraph)
            size += len(paragraph) + 1
            continue
        pieces = bounded_pieces(paragraph, limit)
        for piece in pieces[:-1]:
            yield piece, False
        group, size = [pieces[-1]], len(pieces[-1]) + 1
    if group:
        yield "\n".join(group), True


def _paragraph_chunks(paragraph: str, language: str | None, chunk_chars: int, rate: float) -> list[Chunk]:
    own: list[Chunk] = []
    current = ""
    for sentence in segment_text(paragraph, language):
        if current and len(current) + 1 + len(sentence) > chunk_chars:
            own.append(Chunk(0, current, False, rate))
            current = sentence
        else:
            current = f"{current} {sentence}" if current else sentence
    if current:
        own.append(Chunk(0, current, True, rate))
    return own


def chunk_steps(
    text: str,
    language: str | None,
    chunk_chars: int,
    chunks: list[Chunk],
    *,
    rate: float = 1.0,
    prepare: Callable[[str], str] | None = None,
) -> Iterator[None]:
    """:func:`chunk_text` one unit per step, appending to ``chunks``; ``prepare`` (lexicon, normalization)
    is applied to each unit before it is segmented. Yields after each unit."""
    for unit, ends_paragraph in _units(text):
        start = len(chunks)
        prepared = prepare(unit) if prepare is not None else unit
        for paragraph in clean_text(prepared).split("\n"):
            base = len(chunks)
            own = _paragraph_chunks(paragraph, language, chunk_chars, rate)
            chunks.extend(replace(c, index=base + i) for i, c in enumerate(own))
        if len(chunks) > start and not ends_paragraph:  # a piece of a paragraph: no paragraph end
            chunks[-1] = replace(chunks[-1], paragraph_end=False)
        yield None


def ssml_steps(
    pieces: list[Piece],
    prepare: Callable[[str], str],
    language: str | None,
    chunk_chars: int,
    plan: ChunkPlan,
) -> Iterator[None]:
    """Chunks of SSML pieces into ``plan`` (one unit per step): each text piece chunked on its own at its
    rate; breaks become pauses.

    A piece ends where the rate changes or a break stands, which is mostly a sentence boundary: its last
    chunk gets the sentence pause unless a break follows (then the break's length, in place of it).
    """
    chunks = plan.chunks
    for piece in pieces:
        if not piece.text:
            if chunks:
                chunks[-1] = replace(chunks[-1], pause=(chunks[-1].pause or 0.0) + piece.pause)
            else:
                plan.lead += piece.pause
            continue
        start = len(chunks)
        yield from chunk_steps(piece.text, language, chunk_chars, chunks, rate=piece.rate, prepare=prepare)
        if len(chunks) > start:
            chunks[-1] = replace(chunks[-1], paragraph_end=False)


def pauses_after(chunks: list[Chunk], sentence_pause: float, paragraph_pause: float) -> list[float]:
    """The silence after each chunk: its own (a break), else the paragraph or sentence pause."""
    return [
        c.pause if c.pause is not None else paragraph_pause if c.paragraph_end else sentence_pause
        for c in chunks
    ]
