"""Rendering a dialogue turn by turn: every turn is a long-form job, delivered in order with gaps between.

Each turn goes through polyvox.longform as one job (paragraph chunks in parallel, the mastering chain, Whisper
validation and retries when asked), so every turn is trimmed and brought to the same loudness whatever its
engine or voice: levels match across the cast. Up to ``dialogue.lookahead`` turns render ahead of the one
being delivered (default: one per worker), so a stream plays the first turn while the next ones render,
and a file gets its turns in parallel. The caller writes each turn then ``gap`` seconds of silence.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass

import anyio
import structlog

from polyvox.audio.chunk import FloatArray
from polyvox.dialogue.captions import TurnTiming
from polyvox.dialogue.cast import PlannedTurn
from polyvox.longform import LongformResult, synthesize_long
from polyvox.synthesis import Synthesizer

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class RenderedTurn:
    """One turn's audio (mastered, at the dialogue's rate) and where it sits."""

    timing: TurnTiming
    samples: FloatArray
    gap_after: int
    """Samples of silence to write after it (none after the last turn)."""


class DialogueRender:
    """The turns of one dialogue, rendered ahead and delivered in order (:meth:`turns`)."""

    def __init__(
        self,
        synthesizer: Synthesizer,
        planned: Sequence[PlannedTurn],
        rate: int,
        *,
        request_id: str = "",
        validate: bool = False,
    ) -> None:
        self.synthesizer = synthesizer
        self.planned = list(planned)
        self.rate = rate
        self.validate = validate
        self.request_id = request_id
        settings = synthesizer.settings
        self.gap = round(settings.dialogue.gap_ms * rate / 1000)
        self.lookahead = settings.dialogue.lookahead or settings.engines.workers
        self.timings: list[TurnTiming] = []
        """The turns delivered so far."""

    @property
    def seconds(self) -> float:
        """Audio delivered so far, gaps included."""
        return self.timings[-1].end if self.timings else 0.0

    async def _render(self, turn: PlannedTurn) -> LongformResult:
        return await synthesize_long(self.synthesizer, turn.request, validate=self.validate)

    async def turns(self) -> AsyncGenerator[RenderedTurn]:
        """Each turn in order, as soon as it and those before it are rendered; closing the iterator (a
        client gone) cancels the turns still rendering."""
        upcoming = iter(self.planned)
        pending: deque[tuple[PlannedTurn, asyncio.Task[LongformResult]]] = deque()

        def start_next() -> None:
            turn = next(upcoming, None)
            if turn is not None:
                pending.append((turn, asyncio.ensure_future(self._render(turn))))

        position = 0.0
        try:
            for _ in range(self.lookahead):
                start_next()
            while pending:
                turn, task = pending[0]
                result = await task  # still in ``pending`` while awaited: a cancellation here cancels it too
                pending.popleft()
                start_next()
                seconds = len(result.audio.samples) / self.rate
                timing = TurnTiming(
                    index=turn.index,
                    speaker=turn.speaker,
                    text=turn.request.text,
                    engine=result.engine,
                    voice=result.voice,
                    start=position,
                    end=position + seconds,
                    attempts=max((c.attempts for c in result.chunks), default=1),
                    wer=result.wer,
                )
                self.timings.append(timing)
                gap = self.gap if pending else 0
                position += seconds + gap / self.rate
                yield RenderedTurn(timing, result.audio.samples, gap)
        finally:
            for _, task in pending:
                task.cancel()
            # Wait for them: a cancelled turn releases its lease and spill files before the request ends.
            # Shielded: a client that leaves cancels this task, and anyio re-cancels every await after that.
            with anyio.CancelScope(shield=True):
                await asyncio.gather(*(task for _, task in pending), return_exceptions=True)
            if pending:
                log.info(
                    "dialogue_cancelled",
                    request_id=self.request_id,
                    delivered=len(self.timings),
                    cancelled=[turn.index for turn, _ in pending],
                )
