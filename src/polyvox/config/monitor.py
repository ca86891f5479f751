"""Settings of the file monitor (``POLYVOX_MONITOR__*``, e.g.
``POLYVOX_MONITOR__ALLOWED_ROOTS='["/var/log/chat"]'``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field


class MonitorSettings(BaseModel):
    """What the file monitor may watch and how much it may buffer."""

    allowed_roots: list[Path] = Field(
        default_factory=list,
        description="Directories whose files (at any depth) may be monitored through the HTTP API. "
        "Empty: the HTTP API refuses every path (`path_not_allowed`); the CLI is not restricted.",
    )
    queue_size: int = Field(
        100,
        ge=1,
        description="Lines waiting to be spoken per monitor. When full, the oldest waiting line is dropped "
        "(and counted) so speech stays close to what is being written.",
    )
    max_monitors: int = Field(16, ge=1, description="Monitors that may run at once.")
    max_line_bytes: int = Field(
        16_384,
        ge=64,
        description="Longer lines are cut at this many bytes: the push monitor speaks them in pieces, the "
        "polling monitor answers the first piece (`cut_lines`) and does not speak it (`line_too_long`).",
    )
    poll_max_bytes: int = Field(
        1_048_576,
        ge=65_536,
        description="Most bytes of text one polling answer (`read-file`, `process-queue`) carries; the "
        "client polls again for the rest (`more`).",
    )
    paragraph_idle: float = Field(
        2.0,
        gt=0,
        description="In paragraphs mode, a paragraph is spoken after a blank line or after this many seconds "
        "without new text.",
    )
    history: int = Field(
        50, ge=1, description="Spoken lines kept per monitor for late or reconnecting listeners."
    )
