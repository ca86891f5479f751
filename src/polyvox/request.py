"""What every front door turns its input into, and the checks that need no engine."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from polyvox.engines.base import EngineInfo, Voice
from polyvox.errors import InvalidParameterError
from polyvox.language import Match, speaks
from polyvox.text.ssml import is_ssml

MIN_SPEED, MAX_SPEED = 0.25, 4.0
MIN_RATE, MAX_RATE = 8000, 48000
MAX_VOLUME = 4.0


@dataclass(frozen=True, slots=True)
class SynthesisRequest:
    """What every front door turns its input into."""

    text: str
    engine: str | None = None
    voice: str | None = None
    language: str | None = None
    speaker: str | None = None
    speed: float = 1.0
    volume: float = 1.0
    sample_rate: int | None = None
    """Output rate in Hz; None keeps the engine's native rate."""
    extra: Mapping[str, Any] = field(default_factory=dict)
    """Engine-specific parameters (noise_scale, noise_w, pitch...)."""
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    normalize: bool | None = None
    """Rewrite numbers, dates, units... into words (English only); None: the ``text.normalize`` setting."""
    lexicon: bool = True
    """Apply the user pronunciation lexicon."""
    input_type: str | None = None
    """``"text"``, ``"ssml"`` or None: SSML when the text starts with ``<speak``."""

    @property
    def is_ssml(self) -> bool:
        """Whether the text is read as SSML (pauses, rates, say-as...; see polyvox.text.ssml)."""
        return self.input_type == "ssml" or (self.input_type is None and is_ssml(self.text))


def speakable(text: str) -> bool:
    """Whether ``text`` has anything to say: a letter or digit in any script (``"..."`` has not)."""
    return any(char.isalnum() for char in text)


def rated_speed(speed: float, rate: float) -> float:
    """The speed of text read at an SSML ``<prosody rate>``, kept within the speeds Polyvox renders."""
    return min(max(speed * rate, MIN_SPEED), MAX_SPEED)


def language_supported(language: str, info: EngineInfo, voices: list[Voice]) -> bool:
    """Whether the engine or one of its voices speaks ``language``.

    "en" matches "en-us" too, and a regional tag matches an engine that declares the bare language ("fr-FR"
    is spoken by an engine of "fr"); "en-gb" does not match an engine of "en-us" alone.
    """
    offered = [*info.languages, *(code for voice in voices for code in (voice.language, *voice.languages))]
    return speaks(language, offered, least=Match.BARE)


def check_range(value: float, low: float, high: float, param: str) -> None:
    """``InvalidParameterError`` naming ``param`` unless ``low <= value <= high``."""
    if not (low <= value <= high) or value != value:  # value != value catches NaN
        raise InvalidParameterError(f"{param} must be between {low} and {high}, got {value}", param=param)
