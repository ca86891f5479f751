"""Long-form chunks: whole sentences of one paragraph, with the rate and pause SSML gave them.

A long job synthesizes chunks in parallel and joins them in order with a pause after each: the configured
sentence or paragraph pause, or the pause an SSML ``<break>`` asked for. A ``<prosody rate>`` becomes the
rate of every chunk of its text.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from polyvox.text.segment import clean_text, segment_text
from polyvox.text.ssml import Piece


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


@dataclass(frozen=True, slots=True)
class ChunkPlan:
    """The chunks of a job and the silence before the first (an SSML document that opens with a break)."""

    chunks: list[Chunk]
    lead: float = 0.0


def chunk_text(text: str, language: str | None, chunk_chars: int, rate: float = 1.0) -> list[Chunk]:
    """Paragraphs (lines) → sentences → chunks of up to ``chunk_chars``; a chunk never spans paragraphs."""
    chunks: list[Chunk] = []
    for paragraph in clean_text(text).split("\n"):
        current = ""
        for sentence in segment_text(paragraph, language):
            if current and len(current) + 1 + len(sentence) > chunk_chars:
                chunks.append(Chunk(len(chunks), current, False, rate))
                current = sentence
            else:
                current = f"{current} {sentence}" if current else sentence
        if current:
            chunks.append(Chunk(len(chunks), current, True, rate))
    return chunks


def ssml_chunks(
    pieces: list[Piece], prepare: Callable[[str], str], language: str | None, chunk_chars: int
) -> ChunkPlan:
    """Chunks of SSML pieces: each text piece chunked on its own at its rate; breaks become pauses.

    A piece ends where the rate changes or a break stands, which is mostly a sentence boundary: its last
    chunk gets the sentence pause unless a break follows (then the break's length, in place of it).
    """
    chunks: list[Chunk] = []
    lead = 0.0
    for piece in pieces:
        if not piece.text:
            if chunks:
                chunks[-1] = replace(chunks[-1], pause=(chunks[-1].pause or 0.0) + piece.pause)
            else:
                lead += piece.pause
            continue
        own = chunk_text(prepare(piece.text), language, chunk_chars, piece.rate)
        if own:
            own[-1] = replace(own[-1], paragraph_end=False)
        chunks.extend(replace(c, index=len(chunks) + i) for i, c in enumerate(own))
    return ChunkPlan(chunks, lead)


def pauses_after(chunks: list[Chunk], sentence_pause: float, paragraph_pause: float) -> list[float]:
    """The silence after each chunk: its own (a break), else the paragraph or sentence pause."""
    return [
        c.pause if c.pause is not None else paragraph_pause if c.paragraph_end else sentence_pause
        for c in chunks
    ]
