"""OpenAI's voice names (``alloy`` ... ``cedar``) and the engine voice each one speaks with.

A name listed in the ``openai_voices`` setting speaks with the voice given there. The others speak with an
English voice of the default engine (its default voice first), of the gender OpenAI's voice sounds when the
engine has such voices; no two names share a voice unless the engine has fewer voices than there are names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from polyvox.language import primary_language

if TYPE_CHECKING:
    from polyvox.config import Settings
    from polyvox.engines.base import Voice
    from polyvox.engines.registry import EngineRegistry

OPENAI_VOICES: dict[str, str] = {
    "alloy": "female",
    "ash": "male",
    "ballad": "male",
    "coral": "female",
    "echo": "male",
    "fable": "male",
    "onyx": "male",
    "nova": "female",
    "sage": "female",
    "shimmer": "female",
    "verse": "male",
    "marin": "female",
    "cedar": "male",
}
"""Every voice name of OpenAI's speech API (openapi.yaml 2.3.0) and the gender it sounds."""


def assignment(voices: list[Voice], default: Voice) -> dict[str, Voice]:
    """Each OpenAI name's voice among ``voices``: English ones, the default voice first; each name takes the
    first voice not yet taken, of its gender if there is one, so names share a voice only when the engine
    has fewer voices than there are names."""
    english = [v for v in voices if primary_language(v.language) == "en"] or voices
    english.sort(key=lambda v: v.id != default.id)
    taken: set[str] = set()
    chosen: dict[str, Voice] = {}
    for name, gender in OPENAI_VOICES.items():
        free = [v for v in english if v.id not in taken]
        if not free:  # every voice is in use: start another round
            taken.clear()
            free = english
        if not free:
            break
        voice = next((v for v in free if v.gender == gender), free[0])
        taken.add(voice.id)
        chosen[name] = voice
    return chosen


def openai_voice(name: str, settings: Settings, registry: EngineRegistry) -> tuple[str, str | None] | None:
    """``(engine, voice id)`` that the OpenAI voice ``name`` speaks with; None if it is not such a name.

    The voice id is None when the configured mapping names only an engine's default voice.
    """
    key = name.strip().lower()
    configured = {k.lower(): v for k, v in settings.openai_voices.items()}
    if key in configured:
        engine, slash, voice = configured[key].partition("/")
        return (engine, voice or None) if slash else (registry.default, engine)
    if key not in OPENAI_VOICES:
        return None
    default = registry.default
    picked = assignment(registry.voices(default), registry.resolve_voice(default, None)).get(key)
    return default, picked.id if picked is not None else None
