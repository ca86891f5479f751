"""The JSON messages of ``/v1/ws/tts`` and ``/v1/ws/converse``: client ones parsed by type, server ones built.

Client messages are pydantic models in one discriminated union per socket, so parsing is one table lookup
and a bad message becomes a typed :class:`MessageError` (``invalid_message`` / ``unknown_type``) that the
socket reports without closing.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from polyvox import jsontext
from polyvox.errors import InvalidParameterError
from polyvox.request import RequestFields

DEFAULT_CONTEXT = "default"


class MessageError(InvalidParameterError):
    """A client message that is not JSON, has an unknown type or invalid fields."""

    code = "invalid_message"


class UnknownTypeError(MessageError):
    code = "unknown_type"


class _Message(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class VoiceOptions(_Message, RequestFields):
    """How to speak: the fields shared by both sockets' ``start``.

    ``speed``, ``volume`` and ``sample_rate`` are unbounded here: the pipeline's own range check answers
    ``invalid_parameter`` naming the field, where a schema bound would answer ``invalid_message``.
    """

    speaker: str | None = None
    speed: float = 1.0
    volume: float = 1.0
    format: str = "pcm"
    extra: dict[str, Any] = Field(default_factory=dict)
    """Engine parameters (noise_scale, pitch, the tone engine's delay/fail_at...)."""


class TTSStart(VoiceOptions):
    type: Literal["start"]
    sample_rate: int | None = None
    alignment: bool = False
    context_id: str = Field(DEFAULT_CONTEXT, min_length=1, max_length=128)


class TextFragment(_Message):
    type: Literal["text"]
    text: str
    context_id: str | None = None
    flush: bool = False


class Flush(_Message):
    type: Literal["flush"]
    context_id: str | None = None


class Cancel(_Message):
    type: Literal["cancel"]
    context_id: str | None = None


class Stop(_Message):
    type: Literal["stop"]


class ConverseStart(VoiceOptions):
    type: Literal["start"]
    sample_rate: int = Field(16000, ge=8000, le=48000)
    """Rate of the microphone audio the client sends (pcm s16le mono)."""
    output_sample_rate: int | None = None
    """The rate of the audio sent back (``sample_rate`` here is the microphone's)."""
    vad: bool = False
    """Let the server end turns (Silero VAD) instead of waiting for ``end_of_turn``."""
    tts: bool = True
    """False: replies come as text chunks only."""
    system_prompt: str | None = None

    not_request_fields: ClassVar[frozenset[str]] = frozenset({"sample_rate"})


class EndOfTurn(_Message):
    type: Literal["end_of_turn"]


TTSMessage = Annotated[TTSStart | TextFragment | Flush | Cancel | Stop, Field(discriminator="type")]
ConverseMessage = Annotated[ConverseStart | EndOfTurn | Cancel | Stop, Field(discriminator="type")]
_TTS = TypeAdapter[TTSMessage](TTSMessage)
_CONVERSE = TypeAdapter[ConverseMessage](ConverseMessage)
TTS_TYPES = ("start", "text", "flush", "cancel", "stop")
CONVERSE_TYPES = ("start", "end_of_turn", "cancel", "stop")


def _parse(raw: str, adapter: TypeAdapter[Any], types: tuple[str, ...]) -> Any:
    try:
        data = jsontext.loads(raw)
    except ValueError as exc:
        raise MessageError(f"message is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise MessageError("message must be a JSON object")
    kind = data.get("type")
    if kind not in types:
        raise UnknownTypeError(
            f"unknown message type {kind!r}; expected one of {', '.join(types)}", param="type"
        )
    try:
        return adapter.validate_python(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        param = ".".join(str(p) for p in first["loc"][1:]) or None
        raise MessageError(f"invalid {kind!r} message: {param}: {first['msg']}", param=param) from None


def parse_tts(raw: str) -> TTSStart | TextFragment | Flush | Cancel | Stop:
    """One client message of ``/v1/ws/tts``."""
    message: TTSStart | TextFragment | Flush | Cancel | Stop = _parse(raw, _TTS, TTS_TYPES)
    return message


def parse_converse(raw: str) -> ConverseStart | EndOfTurn | Cancel | Stop:
    """One client message of ``/v1/ws/converse``."""
    message: ConverseStart | EndOfTurn | Cancel | Stop = _parse(raw, _CONVERSE, CONVERSE_TYPES)
    return message


def error_message(code: str, message: str, **more: Any) -> dict[str, Any]:
    """``{"type": "error", "code", "message", ...}``."""
    return {"type": "error", "code": code, "message": message, **more}


def ms(seconds: float | None) -> float | None:
    """Seconds to milliseconds rounded to 0.1, None stays None."""
    return None if seconds is None else round(seconds * 1000.0, 1)
