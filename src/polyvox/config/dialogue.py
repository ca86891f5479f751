"""Settings of dialogues (several speakers in one audio, polyvox.dialogue)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class DialogueSettings(BaseModel):
    """Gaps between turns and how many turns one request may have."""

    gap_ms: int = Field(350, ge=0, le=10_000, description="Milliseconds of silence between two turns.")
    max_turns: int = Field(
        500, ge=1, description="Most turns one dialogue may have; more: 413 too_many_turns."
    )
    lookahead: int = Field(
        0,
        ge=0,
        description="Turns rendered ahead of the one delivered (each a long-form job); 0: engines.workers.",
    )
    voice_tags: bool = Field(
        False,
        description="Read inline [voice:name] tags on /v1/audio/speech unless a request says otherwise.",
    )
