"""The Realtime session configuration, from ``session.update`` in its GA shape or the beta one.

GA: ``session.audio.input.format = {"type": "audio/pcm", "rate": 24000}`` (or ``audio/pcmu``, ``audio/pcma``),
``audio.input.turn_detection``, ``audio.input.transcription``, ``audio.output.voice/speed``,
``output_modalities``. Beta, as older clients still send it: ``modalities``, ``voice``,
``input_audio_format: "pcm16"``, ``turn_detection`` and ``input_audio_transcription`` at the session's top
level. ``polyvox`` is this server's own extension (engine, language, speaker, engine parameters).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from polyvox.realtime.g711 import G711_RATE
from polyvox.realtime.openai_events import RealtimeError, new_id

PCM_RATE = 24_000
FORMATS = ("audio/pcm", "audio/pcmu", "audio/pcma")
BETA_FORMATS = {"pcm16": "audio/pcm", "g711_ulaw": "audio/pcmu", "g711_alaw": "audio/pcma"}
DEFAULT_INSTRUCTIONS = "You are a helpful voice assistant. Answer briefly, in plain spoken sentences."


@dataclass(frozen=True, slots=True)
class TurnDetection:
    threshold: float = 0.5
    silence_duration_ms: int = 500
    prefix_padding_ms: int = 300
    create_response: bool = True
    interrupt_response: bool = True

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "server_vad",
            "threshold": self.threshold,
            "silence_duration_ms": self.silence_duration_ms,
            "prefix_padding_ms": self.prefix_padding_ms,
            "create_response": self.create_response,
            "interrupt_response": self.interrupt_response,
        }


@dataclass(frozen=True, slots=True)
class AudioFormat:
    type: str = "audio/pcm"
    rate: int = PCM_RATE

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "rate": self.rate} if self.type == "audio/pcm" else {"type": self.type}


@dataclass(frozen=True, slots=True)
class SessionConfig:
    """What one connection speaks and hears with; :meth:`updated` applies a ``session.update``."""

    kind: Literal["realtime", "transcription"] = "realtime"
    id: str = field(default_factory=lambda: new_id("sess"))
    model: str = "polyvox"
    instructions: str = DEFAULT_INSTRUCTIONS
    voice: str = "alloy"
    speed: float = 1.0
    output_modalities: tuple[str, ...] = ("audio",)
    input_format: AudioFormat = AudioFormat()
    output_format: AudioFormat = AudioFormat()
    turn_detection: TurnDetection | None = TurnDetection()
    transcription: dict[str, Any] | None = None
    tools: tuple[dict[str, Any], ...] = ()
    tool_choice: str | dict[str, Any] = "auto"
    temperature: float | None = None
    max_output_tokens: int | None = None
    polyvox: dict[str, Any] = field(default_factory=dict)
    """Polyvox's own extension: ``engine``, ``language``, ``speaker``, ``extra`` (engine parameters)."""

    def updated(self, session: Any) -> SessionConfig:
        """This configuration with a ``session.update``'s ``session`` object applied (GA or beta fields)."""
        if not isinstance(session, dict):
            raise RealtimeError("'session' must be an object", param="session")
        changes: dict[str, Any] = {}
        kind = session.get("type")
        if kind is not None:
            if kind not in ("realtime", "transcription"):
                raise RealtimeError(
                    "session.type must be 'realtime' or 'transcription'", param="session.type"
                )
            changes["kind"] = kind
        for key in ("model", "instructions", "voice"):
            if key in session and session[key] is not None:
                changes[key] = _string(session[key], f"session.{key}")
        modalities = session.get("output_modalities", session.get("modalities"))
        if modalities is not None:
            changes["output_modalities"] = _modalities(modalities)
        _audio(session, changes)
        if "tools" in session:
            changes["tools"] = _tools(session["tools"])
        if session.get("tool_choice") is not None:
            changes["tool_choice"] = _tool_choice(session["tool_choice"])
        if session.get("temperature") is not None:
            changes["temperature"] = _number(session["temperature"], "session.temperature", 0.0, 2.0)
        tokens = session.get("max_output_tokens", session.get("max_response_output_tokens"))
        if tokens is not None:
            changes["max_output_tokens"] = (
                None if tokens == "inf" else int(_number(tokens, "max_output_tokens", 1, 1e6))
            )
        if session.get("polyvox") is not None:
            if not isinstance(session["polyvox"], dict):
                raise RealtimeError("session.polyvox must be an object", param="session.polyvox")
            changes["polyvox"] = copy.deepcopy(session["polyvox"])
        return replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        audio_in = {
            "format": self.input_format.to_json(),
            "transcription": self.transcription,
            "noise_reduction": None,
            "turn_detection": None if self.turn_detection is None else self.turn_detection.to_json(),
        }
        if self.kind == "transcription":
            return {
                "type": "transcription",
                "object": "realtime.transcription_session",
                "id": self.id,
                "audio": {"input": audio_in},
                "include": None,
                "expires_at": 0,
            }
        return {
            "type": "realtime",
            "object": "realtime.session",
            "id": self.id,
            "model": self.model,
            "output_modalities": list(self.output_modalities),
            "instructions": self.instructions,
            "tools": list(self.tools),
            "tool_choice": self.tool_choice,
            "max_output_tokens": "inf" if self.max_output_tokens is None else self.max_output_tokens,
            "audio": {
                "input": audio_in,
                "output": {"format": self.output_format.to_json(), "voice": self.voice, "speed": self.speed},
            },
            "tracing": None,
            "truncation": "auto",
            "prompt": None,
            "expires_at": 0,
            "include": None,
        }


def _string(value: Any, param: str) -> str:
    if not isinstance(value, str):
        raise RealtimeError(f"{param} must be a string", param=param)
    return value


def _number(value: Any, param: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise RealtimeError(f"{param} must be a number from {low:g} to {high:g}", param=param)
    return float(value)


def _modalities(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or any(m not in ("text", "audio") for m in value):
        raise RealtimeError(
            "output_modalities must be ['audio'] or ['text']", param="session.output_modalities"
        )
    return ("audio",) if "audio" in value else ("text",)  # beta ["text", "audio"] means audio + transcript


def _format(value: Any, param: str) -> AudioFormat:
    if isinstance(value, str) and value in BETA_FORMATS:
        value = {"type": BETA_FORMATS[value]}
    if not isinstance(value, dict) or value.get("type") not in FORMATS:
        raise RealtimeError(
            f"{param} must be one of {', '.join(FORMATS)} (or pcm16, g711_ulaw, g711_alaw)", param=param
        )
    if value["type"] != "audio/pcm":
        return AudioFormat(value["type"], G711_RATE)
    rate = value.get("rate") or PCM_RATE
    return AudioFormat("audio/pcm", int(_number(rate, f"{param}.rate", 8000, 48000)))


def _turn_detection(value: Any, current: TurnDetection | None) -> TurnDetection | None:
    if value is None:
        return None
    param = "session.audio.input.turn_detection"
    if not isinstance(value, dict) or value.get("type", "server_vad") not in ("server_vad", "semantic_vad"):
        raise RealtimeError("turn_detection must be null or {type: server_vad | semantic_vad}", param=param)
    base = current or TurnDetection()
    return TurnDetection(
        threshold=_number(value.get("threshold", base.threshold), f"{param}.threshold", 0.01, 0.99),
        silence_duration_ms=int(
            _number(
                value.get("silence_duration_ms", base.silence_duration_ms),
                f"{param}.silence_duration_ms",
                100,
                10_000,
            )
        ),
        prefix_padding_ms=int(
            _number(
                value.get("prefix_padding_ms", base.prefix_padding_ms), f"{param}.prefix_padding_ms", 0, 5000
            )
        ),
        create_response=bool(value.get("create_response", base.create_response)),
        interrupt_response=bool(value.get("interrupt_response", base.interrupt_response)),
    )


def _audio(session: dict[str, Any], changes: dict[str, Any]) -> None:
    """The GA ``audio.input/output`` object, or the beta top-level fields."""
    audio = session.get("audio") or {}
    if not isinstance(audio, dict):
        raise RealtimeError("session.audio must be an object", param="session.audio")
    audio_in, audio_out = audio.get("input") or {}, audio.get("output") or {}
    if "format" in audio_in or "input_audio_format" in session:
        fmt = audio_in.get("format", session.get("input_audio_format"))
        changes["input_format"] = _format(fmt, "session.audio.input.format")
    if "format" in audio_out or "output_audio_format" in session:
        fmt = audio_out.get("format", session.get("output_audio_format"))
        changes["output_format"] = _format(fmt, "session.audio.output.format")
    for source in (session, audio_in):
        if "turn_detection" in source:
            changes["turn_detection"] = _turn_detection(source["turn_detection"], TurnDetection())
        for key in ("transcription", "input_audio_transcription"):
            if key in source:
                value = source[key]
                if value is not None and not isinstance(value, dict):
                    raise RealtimeError("transcription must be null or an object", param=f"session.{key}")
                changes["transcription"] = value
    if audio_out.get("voice") is not None:
        voice = audio_out["voice"]
        changes["voice"] = (
            voice.get("id") if isinstance(voice, dict) else _string(voice, "session.audio.output.voice")
        )
    speed = audio_out.get("speed", session.get("speed"))
    if speed is not None:
        changes["speed"] = _number(speed, "session.audio.output.speed", 0.25, 4.0)


def _tools(value: Any) -> tuple[dict[str, Any], ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise RealtimeError("session.tools must be a list", param="session.tools")
    for tool in value:
        if (
            not isinstance(tool, dict)
            or tool.get("type", "function") != "function"
            or not isinstance(tool.get("name"), str)
        ):
            raise RealtimeError(
                "only function tools ({type: function, name, parameters}) are supported",
                param="session.tools",
            )
    return tuple(copy.deepcopy(value))


def _tool_choice(value: Any) -> str | dict[str, Any]:
    if value in ("auto", "none", "required"):
        return str(value)
    if isinstance(value, dict) and isinstance(value.get("name"), str):
        return {"type": "function", "name": value["name"]}
    raise RealtimeError(
        "tool_choice must be auto, none, required or {type: function, name}", param="tool_choice"
    )


def chat_tools(tools: tuple[dict[str, Any], ...]) -> list[dict[str, Any]]:
    """Realtime function tools (flat) as chat-completions tools (``{"type": "function", "function": {}}``)."""
    return [
        {
            "type": "function",
            "function": {k: v for k, v in t.items() if k in ("name", "description", "parameters")},
        }
        for t in tools
    ]


def chat_tool_choice(choice: str | dict[str, Any]) -> str | dict[str, Any]:
    if isinstance(choice, dict):
        return {"type": "function", "function": {"name": choice["name"]}}
    return choice
