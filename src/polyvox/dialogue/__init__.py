"""Dialogue: several speakers in one audio, turn by turn, on the one pipeline.

* :mod:`polyvox.dialogue.script`: plain-text scripts (``Alice: ...``, ``[S1] ...``) and inline voice tags;
* :mod:`polyvox.dialogue.cast`: turns and a cast to one checked request per turn;
* :mod:`polyvox.dialogue.render`: every turn a long-form job, delivered in order with gaps;
* :mod:`polyvox.dialogue.captions`: per-turn timings, WebVTT voice spans and SRT with names.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

from polyvox.dialogue.cast import CastVoice, Turn, plan_turns
from polyvox.dialogue.render import DialogueRender
from polyvox.synthesis import Synthesizer

__all__ = ["CastVoice", "DialogueRender", "Turn", "open_dialogue"]


async def open_dialogue(
    synthesizer: Synthesizer,
    turns: Sequence[Turn],
    cast: Mapping[str, CastVoice],
    *,
    rate: int,
    request_id: str,
    validate: bool = False,
    normalize: bool | None = None,
) -> DialogueRender:
    """Every turn checked (off the event loop: it grows with the input), nothing synthesized yet."""
    planned = await asyncio.to_thread(
        plan_turns, synthesizer, turns, cast, sample_rate=rate, request_id=request_id, normalize=normalize
    )
    return DialogueRender(synthesizer, planned, rate, request_id=request_id, validate=validate)
