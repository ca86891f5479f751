"""The Wyoming ``info`` Polyvox answers ``describe`` with: one TTS program per engine, default engine first.

Home Assistant offers the voices of the first installed TTS program, so the default engine leads. Voices are
named ``engine/voice`` (see :mod:`polyvox.voice_names`), which is also what ``synthesize`` accepts.
"""

from __future__ import annotations

import structlog
from wyoming.info import Attribution, Info, TtsProgram, TtsVoice, TtsVoiceSpeaker

from polyvox import __version__
from polyvox.engines.base import EngineInfo, Voice
from polyvox.engines.registry import EngineRegistry
from polyvox.voice_names import locale_of, qualified_name, voice_languages

log = structlog.get_logger(__name__)

POLYVOX_URL = "https://github.com/polyvox/polyvox"
_ENGINE_URLS = {
    "piper": "https://github.com/OHF-Voice/piper1-gpl",
    "kokoro": "https://github.com/thewh1teagle/kokoro-onnx",
    "espeak": "https://github.com/espeak-ng/espeak-ng",
}


def attribution(info: EngineInfo) -> Attribution:
    """Who made the engine (Polyvox itself for engines without a known home)."""
    return Attribution(name=info.label, url=_ENGINE_URLS.get(info.name, POLYVOX_URL))


def tts_voice(voice: Voice, info: EngineInfo) -> TtsVoice:
    """One voice as Wyoming describes it."""
    return TtsVoice(
        name=qualified_name(voice),
        attribution=attribution(info),
        installed=True,
        description=f"{voice.name} ({info.label})",
        version=__version__,
        languages=[locale_of(code) for code in voice_languages(voice)],
        speakers=[TtsVoiceSpeaker(name=speaker) for speaker in voice.speakers] or None,
    )


def tts_program(registry: EngineRegistry, name: str) -> TtsProgram:
    """One engine as a Wyoming TTS program with all its voices (``installed`` only when it can speak: Home
    Assistant offers installed programs)."""
    info = registry.info(name)
    return TtsProgram(
        name=name,
        attribution=attribution(info),
        installed=registry.readiness(name).can_speak,
        description=f"{info.label}: {info.description}",
        version=__version__,
        voices=[tts_voice(voice, info) for voice in registry.voices(name)],
        supports_synthesize_streaming=True,
    )


def build_info(registry: EngineRegistry, *, first: str | None = None) -> Info:
    """Every visible engine as a TTS program; ``first`` (default: the default engine) leads.

    An engine whose voices cannot be listed is left out (and logged) rather than failing ``describe``.
    """
    lead = first or registry.default
    names = [lead, *(name for name in registry.names() if name != lead)]
    programs: list[TtsProgram] = []
    for name in names:
        try:
            programs.append(tts_program(registry, name))
        except Exception as exc:  # one broken engine must not hide the others
            log.warning("wyoming_engine_skipped", engine=name, error=str(exc))
    return Info(tts=programs)
