"""From turns and a cast to one checked :class:`SynthesisRequest` per turn.

The cast maps a speaker's name to any voice a speech route takes: an engine voice (``joe``), ``engine/voice``
(``kokoro/af_bella``), a library or cloned voice, a blend, an OpenAI name (``alloy``). Each turn may name its
voice directly instead, and override engine, language and speed. Every turn is checked the way a speech
request is (:meth:`Synthesizer.validate`) before any is synthesized, so a bad turn is a 4xx naming it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from polyvox.bounds import check_audio_seconds, estimated_seconds
from polyvox.dialogue.script import TooManyTurnsError, UnknownSpeakerError
from polyvox.errors import (
    AudioTooLongError,
    BusyError,
    EmptyTextError,
    InvalidParameterError,
    PolyvoxError,
    TextTooLongError,
)
from polyvox.openai_names import openai_voice
from polyvox.request import SynthesisRequest
from polyvox.synthesis import Synthesizer


@dataclass(frozen=True, slots=True)
class CastVoice:
    """The voice a speaker speaks with, and what the speaker's turns default to."""

    voice: str | None = None
    engine: str | None = None
    language: str | None = None
    speed: float | None = None
    parameters: Mapping[str, Any] = field(default_factory=dict)
    """Engine parameters of the speaker's turns (``noise_scale``, ``pitch``...), checked like a request's."""


@dataclass(frozen=True, slots=True)
class Turn:
    """One turn: a cast speaker or a voice, the text, and optional overrides."""

    text: str
    speaker: str | None = None
    voice: str | None = None
    engine: str | None = None
    language: str | None = None
    speed: float | None = None


@dataclass(frozen=True, slots=True)
class PlannedTurn:
    """A turn ready to synthesize: its label for captions, and the request that speaks it."""

    index: int
    speaker: str
    request: SynthesisRequest


_CAST_FIELDS = frozenset(("voice", "engine", "language", "speed", "parameters"))


def read_cast(data: object, *, param: str = "cast") -> dict[str, CastVoice]:
    """A cast from JSON: ``{"Alice": "piper/joe", "Bob": {"voice": ..., "engine": ..., "speed": ...}}``."""
    if not isinstance(data, dict):
        raise InvalidParameterError("the cast must map speaker names to voices", param=param)
    cast = {}
    for name, entry in data.items():
        if isinstance(entry, str):
            cast[str(name)] = CastVoice(voice=entry)
            continue
        if not isinstance(entry, dict) or not set(entry) <= _CAST_FIELDS:
            raise InvalidParameterError(
                f"cast entry {name!r} must be a voice or an object of {', '.join(sorted(_CAST_FIELDS))}",
                param=f"{param}.{name}",
            )
        speed, parameters = entry.get("speed"), entry.get("parameters", {})
        texts = [entry.get(key) for key in ("voice", "engine", "language")]
        if (
            not all(v is None or isinstance(v, str) for v in texts)
            or not (speed is None or (isinstance(speed, int | float) and not isinstance(speed, bool)))
            or not isinstance(parameters, dict)
        ):
            raise InvalidParameterError(
                f"cast entry {name!r} has a value of the wrong type", param=f"{param}.{name}"
            )
        voice, engine, language = texts
        cast[str(name)] = CastVoice(
            voice, engine, language, None if speed is None else float(speed), parameters
        )
    return cast


def _engine_and_voice(
    synthesizer: Synthesizer, engine: str | None, voice: str | None
) -> tuple[str, str | None]:
    """``engine/voice`` split, an OpenAI name mapped (as ``/v1/audio/speech`` does), the default engine."""
    registry = synthesizer.registry
    if voice and "/" in voice:
        prefix, _, rest = voice.partition("/")
        if prefix in registry.names() and engine in (None, prefix):
            return prefix, rest or None
    if voice and engine is None and (mapped := openai_voice(voice, synthesizer.settings, registry)):
        return mapped
    return engine or registry.default, voice


def _find(cast: Mapping[str, CastVoice], speaker: str) -> CastVoice | None:
    if speaker in cast:
        return cast[speaker]
    folded = {name.casefold(): entry for name, entry in cast.items()}
    return folded.get(speaker.casefold())


def _turn_error(exc: PolyvoxError, index: int, speaker: str) -> PolyvoxError:
    """The same error, naming the turn (``turns[2].voice``)."""
    param = f"turns[{index}].{exc.param or 'text'}"
    message = f"turn {index + 1} ({speaker}): {exc.message}"
    if isinstance(exc, BusyError):
        return BusyError(message, retry_after=exc.retry_after, param=param)
    return type(exc)(message, param=param)


def plan_turns(
    synthesizer: Synthesizer,
    turns: Sequence[Turn],
    cast: Mapping[str, CastVoice],
    *,
    sample_rate: int,
    request_id: str,
    normalize: bool | None = None,
) -> list[PlannedTurn]:
    """One request per turn at ``sample_rate`` (every turn the same rate, whatever its engine), checked.

    Bounds: at least one turn, at most ``dialogue.max_turns``, all text together within ``max_text_length``
    and the audio it would make within ``limits.max_audio_seconds``.
    Grows with the input: callers run it off the event loop.
    """
    settings = synthesizer.settings
    if not turns:
        raise EmptyTextError("the dialogue has no turns", param="turns")
    if len(turns) > settings.dialogue.max_turns:
        raise TooManyTurnsError(
            f"the dialogue has {len(turns)} turns; the limit is {settings.dialogue.max_turns} "
            "(dialogue.max_turns)",
            param="turns",
        )
    total = sum(len(t.text) for t in turns)
    if total > settings.max_text_length:
        raise TextTooLongError(
            f"the dialogue has {total} characters; the limit is {settings.max_text_length}", param="turns"
        )
    planned = []
    estimate = settings.dialogue.gap_ms / 1000 * (len(turns) - 1)
    for index, turn in enumerate(turns):
        entry = CastVoice()
        if turn.voice is None and turn.speaker is not None:  # neither: the engine's default voice
            found = _find(cast, turn.speaker or "")
            if found is None:
                known = ", ".join(sorted(cast)) or "nobody"
                raise UnknownSpeakerError(
                    f"turn {index + 1}: speaker {turn.speaker!r} is not in the cast (the cast has {known})",
                    param=f"turns[{index}].speaker",
                )
            entry = found
        speaker = turn.speaker or turn.voice or "default"
        engine, voice = _engine_and_voice(synthesizer, turn.engine or entry.engine, turn.voice or entry.voice)
        speed = turn.speed if turn.speed is not None else entry.speed
        request = SynthesisRequest(
            text=turn.text,
            engine=engine,
            voice=voice,
            language=turn.language or entry.language,
            speed=1.0 if speed is None else speed,
            extra=dict(entry.parameters),
            sample_rate=sample_rate,
            normalize=normalize,
            request_id=f"{request_id}-{index}",
        )
        try:
            synthesizer.validate(request)
        except PolyvoxError as exc:
            raise _turn_error(exc, index, speaker) from None
        planned.append(PlannedTurn(index, speaker, request))
        estimate += estimated_seconds([turn.text], None, request.speed, {})
    # Each turn is a long-form job (exempt from the cap): the dialogue as a whole is held to it instead.
    try:
        check_audio_seconds(estimate, settings.limits.max_audio_seconds)
    except AudioTooLongError as exc:
        raise AudioTooLongError(exc.message, param="turns") from None
    return planned
