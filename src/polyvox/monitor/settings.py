"""Settings of the file monitor.

Until ``Settings`` has a ``monitor`` group, :class:`MonitorSettings` reads its own environment variables
(``POLYVOX_MONITOR__ALLOWED_ROOTS='["/var/log/chat"]'``, ``POLYVOX_MONITOR__QUEUE_SIZE=100``); once the group
exists, ``monitor_settings()`` returns the group and the same variables fill it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class MonitorSettings(BaseSettings):
    """What the file monitor may watch and how much it may buffer."""

    model_config = SettingsConfigDict(env_prefix="POLYVOX_MONITOR__", extra="ignore")

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
        16_384, ge=64, description="Longer lines are cut at this many bytes and spoken in pieces."
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


def monitor_settings(settings: Any) -> MonitorSettings:
    """The ``monitor`` group of the process settings, or one read from the environment."""
    group = getattr(settings, "monitor", None)
    return group if isinstance(group, MonitorSettings) else MonitorSettings()
