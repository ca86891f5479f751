"""OpenAI's voice names (``alloy`` ... ``cedar``) and the engine voice each one speaks with.

A name listed in the ``openai_voices`` setting speaks with the voice given there. The others speak with a
voice of the default engine picked by the gender OpenAI's voice sounds, English voices first; same-gender
names take turns over the engine's voices, so they sound different whenever the engine has several.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

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


def _pick(name: str, voices: list[Voice]) -> Voice | None:
    gender = OPENAI_VOICES[name]
    english = [v for v in voices if v.language.lower().startswith("en")] or voices
    pool = [v for v in english if v.gender == gender] or english
    if not pool:
        return None
    turn = [n for n, g in OPENAI_VOICES.items() if g == gender].index(name)
    return pool[turn % len(pool)]


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
    picked = _pick(key, registry.voices(registry.default))
    return registry.default, picked.id if picked is not None else None
