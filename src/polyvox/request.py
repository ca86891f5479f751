"""What every front door turns its input into, and the checks that need no engine."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

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


def _required_first(schema: dict[str, Any]) -> None:
    """List the door's required fields (its text) before the shared ones, which come first otherwise."""
    properties: dict[str, Any] = schema.get("properties", {})
    required = [name for name in schema.get("required", []) if name in properties]
    schema["properties"] = {name: properties[name] for name in required} | properties


class RequestFields(BaseModel):
    """The fields every front door's body shares, declared once, and the :class:`SynthesisRequest` they make.

    Each door's schema inherits this and adds its own fields (``input`` or ``text``, its format...). A door
    whose field means something else there redeclares it (the OpenAI door's ``voice`` also takes
    ``{"id": ...}``; the WebSocket ``start`` leaves ``speed`` to the pipeline's range check).
    """

    model_config = ConfigDict(json_schema_extra=_required_first)

    engine: str | None = Field(None, description="Engine name; default: the default engine.")
    voice: str | None = Field(
        None,
        description="Any voice name every route takes: an engine voice id (`joe`, `jf_alpha`), "
        "`engine/voice`, a blend, a library voice or an OpenAI voice name (`alloy`); default: the "
        "engine's default voice.",
    )
    language: str | None = Field(None, description="Language code (`en-us`, `ja`) for multilingual voices.")
    speed: float = Field(
        1.0, ge=MIN_SPEED, le=MAX_SPEED, description=f"Speaking speed, {MIN_SPEED} to {MAX_SPEED}."
    )

    not_request_fields: ClassVar[frozenset[str]] = frozenset()
    """Fields named like a :class:`SynthesisRequest` field that mean something else in this schema."""

    def to_request(self, **overrides: Any) -> SynthesisRequest:
        """The request these fields ask for: every field named like one of :class:`SynthesisRequest`'s,
        then ``overrides`` (the text when the schema calls it otherwise, the resolved engine, the id...)."""
        declared = type(self).model_fields.keys() - self.not_request_fields
        values = {name: getattr(self, name) for name in _REQUEST_FIELDS if name in declared}
        return SynthesisRequest(**(values | overrides))


_REQUEST_FIELDS = tuple(f.name for f in dataclasses.fields(SynthesisRequest) if f.name != "request_id")


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


def check_rendering(speed: float, volume: float, sample_rate: int | None) -> None:
    """``InvalidParameterError`` naming the field unless speed, volume and output rate are within bounds."""
    check_range(speed, MIN_SPEED, MAX_SPEED, "speed")
    check_range(volume, 0.0, MAX_VOLUME, "volume")
    if sample_rate is not None:
        check_range(sample_rate, MIN_RATE, MAX_RATE, "sample_rate")
