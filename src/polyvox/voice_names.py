"""Voice naming shared by the protocol front doors.

Foreign protocols name a voice with one string. Polyvox names it ``engine/voice`` (``piper/joe``,
``espeak/fr``); a bare id means a voice of the preferred (default) engine, and a voice's display name
(``en_US-joe-medium``, as wyoming-piper calls it) is accepted too. Languages travel as locales
(``en_US``) outside and as lower-case tags (``en-us``) inside.
"""

from __future__ import annotations

from polyvox.engines.base import Voice
from polyvox.engines.registry import EngineRegistry
from polyvox.errors import VoiceNotFoundError
from polyvox.language import Match, best_match, match_level
from polyvox.language import language_tag as language_tag  # re-exported: the doors import it from here


def qualified_name(voice: Voice) -> str:
    """``engine/voice``: unique across engines."""
    return f"{voice.engine}/{voice.id}"


def locale_of(code: str) -> str:
    """``en-us`` -> ``en_US``, ``fr`` -> ``fr``, ``zh-hans`` -> ``zh_HANS``."""
    base, _, region = language_tag(code).partition("-")
    return f"{base}_{region.upper()}" if region else base


def voice_languages(voice: Voice) -> list[str]:
    """The voice's languages as tags, primary first, without repeats."""
    return list(dict.fromkeys(language_tag(code) for code in (voice.language, *voice.languages)))


def speaks(voice: Voice, language: str, *, exact: bool = False) -> bool:
    """Whether the voice speaks ``language`` (``exact``: same tag; else the same base language)."""
    least = Match.EXACT if exact else Match.SIBLING
    return best_match(language, voice_languages(voice), least=least) is not None


def _engines_in_order(registry: EngineRegistry, preferred: str | None) -> list[str]:
    first = preferred or registry.default
    return [first, *(name for name in registry.names() if name != first)]


def _match(voices: list[Voice], name: str) -> Voice | None:
    """Exact id, then id ignoring case, then display name ignoring case."""
    lowered = name.lower()
    for found in (
        (v for v in voices if v.id == name),
        (v for v in voices if v.id.lower() == lowered),
        (v for v in voices if v.name.lower() == lowered),
    ):
        voice = next(found, None)
        if voice is not None:
            return voice
    return None


def find_voice(registry: EngineRegistry, name: str, *, preferred: str | None = None) -> Voice:
    """The voice called ``name`` (see the module docstring).

    Raises ``VoiceNotFoundError`` or ``EngineNotFoundError``.
    """
    name = name.strip()
    if "/" in name:
        engine, _, voice_id = name.partition("/")
        return registry.resolve_voice(engine.strip(), voice_id.strip())
    for engine in _engines_in_order(registry, preferred):
        voices = registry.voices(engine)
        if (voice := _match(voices, name)) is not None:
            return voice
    raise VoiceNotFoundError(
        f"no voice {name!r}; name one as 'engine/voice', e.g. "
        f"'{registry.default}/{registry.resolve_voice(registry.default, None).id}'",
        param="voice",
    )


def voice_for_language(
    registry: EngineRegistry, language: str, *, preferred: str | None = None
) -> Voice | None:
    """A voice for ``language``, or None.

    The preferred engine's default voice if it speaks exactly that language, else the first voice (preferred
    engine first) whose primary language it is, then one that speaks its base language at all.
    """
    engines = _engines_in_order(registry, preferred)
    default = registry.resolve_voice(engines[0], None)
    if speaks(default, language, exact=True):
        return default
    candidates = [voice for engine in engines for voice in registry.voices(engine)]
    for voice in candidates:
        if match_level(language, voice.language) is Match.EXACT:
            return voice
    if speaks(default, language):
        return default
    return next((voice for voice in candidates if speaks(voice, language)), None)
