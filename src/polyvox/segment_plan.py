"""What an engine is asked to say: a request's text prepared and cut into segments.

Preparation is the lexicon, English normalization and inline phoneme blocks (polyvox.text.prepare); the cut
depends on who waits: a listener gets sentences (batched to the engine's size) with a long first sentence's
first phrase alone (polyvox.text.phrases), a file gets paragraph chunks, and SSML keeps each piece's rate and
pause. All of it grows with the text: callers run it off the event loop (polyvox.text.offload).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import TYPE_CHECKING

import structlog

from polyvox.request import SynthesisRequest
from polyvox.text.chunks import ChunkPlan, chunk_steps, ssml_steps
from polyvox.text.lexicon import Lexicon
from polyvox.text.offload import run_steps
from polyvox.text.phrases import phrase_plan
from polyvox.text.prepare import prepare_text, takes_phoneme_blocks
from polyvox.text.segment import listener_segments, split_long_words
from polyvox.text.ssml import Piece, parse_ssml, plain_text

if TYPE_CHECKING:
    from polyvox.config import Settings
    from polyvox.engines.registry import EngineRegistry

log = structlog.get_logger(__name__)


class SegmentPlanner:
    """Prepares and segments the text of requests for one service's engines and settings."""

    def __init__(self, settings: Settings, registry: EngineRegistry, lexicon: Lexicon) -> None:
        self.settings = settings
        self.registry = registry
        self.lexicon = lexicon

    def prepare(self, request: SynthesisRequest, engine: str, language: str | None) -> str:
        """The text the engine reads: lexicon, English normalization, inline phoneme overrides.

        SSML is read as its words alone here; paths that honour its pauses and rates go through
        :meth:`ssml_pieces` and :meth:`prepare_piece` instead.
        """
        text = request.text
        if request.is_ssml:
            text = plain_text(self.ssml_pieces(request, engine))
        return self.prepare_piece(text, request, engine, language)

    def ssml_pieces(self, request: SynthesisRequest, engine: str) -> list[Piece]:
        """The request's SSML document as pieces: text at a rate, or a pause."""
        text = self.settings.text
        return parse_ssml(
            request.text,
            takes_phoneme_blocks(self.registry.info(engine).capabilities),
            max_break=text.max_break_seconds,
            max_pauses=text.max_pause_seconds,
            max_depth=text.max_ssml_depth,
        )

    def prepare_piece(self, text: str, request: SynthesisRequest, engine: str, language: str | None) -> str:
        """One piece of text as the engine reads it (see :meth:`prepare`)."""
        normalize = self.settings.text.normalize if request.normalize is None else request.normalize
        # Over-long "words" are split before anything scans them (lexicon and normalization regexes too).
        text = split_long_words(text, self.settings.text.max_word_chars)
        return prepare_text(
            text,
            language,
            normalize=normalize,
            lexicon=self.lexicon if request.lexicon else None,
            phonemes_ok=takes_phoneme_blocks(self.registry.info(engine).capabilities),
        )

    def cut(self, text: str, engine: str, language: str | None, *, phrase: bool) -> tuple[list[str], bool]:
        """Prepared ``text`` as the engine's segments; whether the first is a phrase cut from its sentence
        (``phrase``: a listener waits for it, and the engine gains from phrase first)."""
        info = self.registry.info(engine)
        return listener_segments(
            text,
            language,
            batch_chars=info.batch_chars,
            max_word_chars=self.settings.text.max_word_chars,
            phrase=phrase and info.phrase_first,
        )

    def segments(
        self, request: SynthesisRequest, engine: str, language: str | None, listening: bool
    ) -> tuple[list[str], list[Piece] | None]:
        """The segments, and a plan only where the first is a phrase cut from its sentence."""
        segments, cut = self.cut(self.prepare(request, engine, language), engine, language, phrase=listening)
        return segments, phrase_plan(segments) if cut else None

    def ssml_segments(
        self, request: SynthesisRequest, engine: str, language: str | None, listening: bool
    ) -> tuple[list[str], list[Piece]]:
        """SSML pieces as segments, with the plan that gives each its rate or pause."""
        segments: list[str] = []
        plan: list[Piece] = []
        for piece in self.ssml_pieces(request, engine):
            if not piece.text:
                segments.append("")
                plan.append(piece)
                continue
            text = self.prepare_piece(piece.text, request, engine, language)
            # Phrase first for the document's first words only (a listener waits for them).
            pieces, cut = self.cut(text, engine, language, phrase=listening and not any(segments))
            for index, segment in enumerate(pieces):
                segments.append(segment)
                plan.append(Piece(segment, rate=piece.rate, joins_next=cut and index == 0))
        return segments, plan

    def plan_steps(
        self, request: SynthesisRequest, engine: str, language: str | None, plan: ChunkPlan
    ) -> Iterator[None]:
        """A file's segments into ``plan``, one bounded unit per step: paragraph chunks; SSML keeps its
        pauses and rates. Each unit is prepared (lexicon, normalization) on its own: both are local."""
        chunk_chars = self.settings.longform.chunk_chars

        def read(text: str) -> str:
            return self.prepare_piece(text, request, engine, language)

        if request.is_ssml:
            pieces = self.ssml_pieces(request, engine)
            yield None
            yield from ssml_steps(pieces, read, language, chunk_chars, plan)
        else:
            yield from chunk_steps(request.text, language, chunk_chars, plan.chunks, prepare=read)

    async def chunk_plan(
        self, request: SynthesisRequest, engine: str, language: str | None, *, longform: bool
    ) -> ChunkPlan:
        """The plan of :meth:`plan_steps`, made step by step: a long-form job's in the planning lane (it
        stops at the next step when its client leaves), a file's in the text pool."""
        plan = ChunkPlan([])
        steps = self.plan_steps(request, engine, language, plan)
        if not longform:
            await run_steps(steps, lane=False)
            return plan
        log.info("longform_planning", characters=len(request.text))
        try:
            count = await run_steps(steps)
        except asyncio.CancelledError:
            log.info("longform_planning_cancelled", characters=len(request.text), chunks=len(plan.chunks))
            raise
        log.info("longform_planned", steps=count, chunks=len(plan.chunks))
        return plan
