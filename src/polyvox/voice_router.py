"""Voice resolution beyond an engine's own voices: blends (Kokoro) and library voices on every engine.

``VoiceRouter.resolve(engine, voice)`` is what the synthesizer calls instead of the registry's plain lookup:
1. an engine voice id wins (the registry's rules, case-insensitive);
2. a blend (``jf_alpha(2)+jm_kumo(1)``) on an engine that mixes styles becomes a voice with the canonical id;
3. a library voice id (or ``library:<id>``): a library voice saved from a blend speaks that blend on an
   engine that blends; an engine that clones natively gets the reference (``ClonedVoice.reference``); every
   other engine speaks with a base voice picked by language and gender and its audio is converted toward the
   library voice;
4. an OpenAI voice name (``alloy``, ``marin``...; polyvox.openai_names) speaks with its mapped voice
   when that belongs to ``engine``, else with the engine's default voice: every route takes these names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from polyvox.engines.base import ClonedVoice, Voice
from polyvox.engines.blend import canonical, is_blend, parse_blend
from polyvox.errors import InvalidParameterError, VoiceNotFoundError
from polyvox.language import Match, best_match, match_level
from polyvox.openai_names import openai_voice
from polyvox.voices.consents import ConsentStore
from polyvox.voices.convert import ConversionSession, ConverterRegistry
from polyvox.voices.derived import ReferencePolicy
from polyvox.voices.library import REFERENCE_FILE, VoiceLibrary

if TYPE_CHECKING:
    from polyvox.config import Settings
    from polyvox.engines.registry import EngineRegistry

LIBRARY_PREFIX = "library:"
LIBRARY_ENGINE = "library"
"""The ``engine`` that voice listings give library voices (every engine speaks them)."""


def library_for(settings: Settings) -> VoiceLibrary:
    """The voice library of these settings (``DATA_DIR/voices/library``)."""
    return VoiceLibrary(
        settings.resolved_voices_dir / "library",
        max_seconds=settings.voices.max_reference_seconds,
        min_seconds=settings.voices.min_reference_seconds,
    )


def cloning_mode(registry: EngineRegistry, engine: str) -> str:
    """``native`` when the engine clones from a reference itself, else ``conversion``."""
    return "native" if registry.info(engine).capabilities.cloning else "conversion"


class VoiceRouter:
    """Resolves request voices (see the module docstring) and opens conversion sessions for clones."""

    def __init__(self, settings: Settings, registry: EngineRegistry) -> None:
        self.settings = settings
        self.registry = registry
        self.library = library_for(settings)
        self.references = ReferencePolicy(self.library, settings.voices)
        """Bounds the voices stored from requests' references (``ref-<hash>``)."""
        self.converters = ConverterRegistry(settings)
        self.consents = ConsentStore(settings.resolved_voices_dir / "consents")
        """Consent recordings of OpenAI's custom voices (``/v1/audio/voice_consents``)."""

    def resolve(self, engine: str, voice_id: str | None) -> Voice:
        """The voice ``voice_id`` names on ``engine`` (module docstring); ``VoiceNotFoundError`` if none."""
        voice = self.find(engine, voice_id)
        if voice is not None:
            return voice
        # The registry's own error, naming the id without its engine prefix ("piper/nobody": 'nobody').
        return self.registry.resolve_voice(engine, self._unprefixed(engine, voice_id))

    def find(self, engine: str, voice_id: str | None) -> Voice | None:
        """The voice ``voice_id`` names on ``engine``, or None when it names none.

        A blend or library voice that cannot be spoken still raises its own error (``voice_not_found``
        saying why); an engine without its weights raises ``engine_unavailable``.
        """
        voice = self.registry.find_voice(engine, voice_id)
        if voice is not None or not voice_id:
            return voice
        wanted = voice_id.strip()
        prefix, slash, rest = wanted.partition("/")
        if slash and prefix == engine:  # "piper/joe" with piper, as listings and the OpenAI route name it
            return self.find(engine, rest)
        if is_blend(wanted):
            return self.blend_voice(engine, wanted)
        slug = wanted.removeprefix(LIBRARY_PREFIX)
        if self.library.exists(slug):
            return self.library_voice(engine, slug)
        mapped = openai_voice(wanted, self.settings, self.registry)
        if mapped is None:
            return None
        mapped_engine, mapped_voice = mapped
        return self.registry.resolve_voice(engine, mapped_voice if mapped_engine == engine else None)

    @staticmethod
    def _unprefixed(engine: str, voice_id: str | None) -> str | None:
        """``voice_id`` without the ``engine/`` prefixes that :meth:`find` looks past."""
        while voice_id and (parts := voice_id.strip().partition("/"))[1] and parts[0] == engine:
            voice_id = parts[2]
        return voice_id

    def blends(self, engine: str) -> bool:
        """True when ``engine`` mixes voices (``Capabilities.blending``)."""
        return self.registry.info(engine).capabilities.blending

    def blending_engine(self, param: str = "blend") -> str:
        """The engine blends are made with: the first listed engine that mixes voices.

        Raises ``InvalidParameterError`` (naming ``param``) when no engine does.
        """
        engine = next((name for name in self.registry.names() if self.blends(name)), None)
        if engine is None:
            raise InvalidParameterError(
                "no engine here blends voices (none declares Capabilities.blending; Kokoro does)", param=param
            )
        return engine

    def blend_voice(self, engine: str, spec: str) -> Voice:
        """A Voice for a blend of ``engine``'s voices (each part must exist)."""
        if not self.blends(engine):
            blending = sorted(name for name in self.registry.names(include_hidden=True) if self.blends(name))
            raise VoiceNotFoundError(
                f"engine {engine!r} cannot blend voices; blends work on {', '.join(blending)}",
                param="voice",
            )
        parts = parse_blend(spec)
        voices = [self.registry.resolve_voice(engine, voice_id) for voice_id, _ in parts]
        parts = [(voice.id, weight) for voice, (_, weight) in zip(voices, parts, strict=True)]
        main = max(zip(voices, parts, strict=True), key=lambda pair: pair[1][1])[0]
        blend_id = canonical(parts)
        return Voice(
            id=blend_id,
            name=blend_id,
            engine=engine,
            language=main.language,
            gender=main.gender,
            languages=main.languages,
        )

    def library_voice(self, engine: str, slug: str) -> Voice:
        """How ``engine`` speaks library voice ``slug``."""
        stored = self.library.get(slug)
        if stored.blend and self.blends(engine):
            return self.blend_voice(engine, stored.blend)
        native = cloning_mode(self.registry, engine) == "native"
        if native:  # the reference is the voice: its own id (caches key on it), no engine voice behind it
            base = Voice(id=LIBRARY_PREFIX + slug, name=stored.name, engine=engine, language=stored.language)
        else:
            base = self.base_voice(engine, stored.language, stored.gender)
        return ClonedVoice(
            id=base.id,
            name=stored.name,
            engine=engine,
            language=stored.language if native else base.language,
            gender=stored.gender,
            speakers=base.speakers,
            languages=base.languages,
            target=slug,
            reference=self.library.path(slug) / REFERENCE_FILE,
            native=native,
            transcript=stored.transcript,
        )

    def base_voice(self, engine: str, language: str, gender: str | None) -> Voice:
        """The engine voice closest to the target: same language and gender first, the default last."""
        default = self.registry.resolve_voice(engine, None)

        def speaks(voice: Voice) -> int:
            if match_level(language, voice.language) is Match.EXACT:
                return 2
            return 1 if best_match(language, (voice.language, *voice.languages)) is not None else 0

        def score(voice: Voice) -> tuple[int, int, int]:
            return (
                speaks(voice),
                int(gender is not None and voice.gender == gender),
                int(voice.id == default.id),
            )

        return max(self.registry.voices(engine), key=score, default=default)

    def session(self, voice: Voice) -> ConversionSession | None:
        """A conversion session for a cloned voice that needs one (None for every other voice)."""
        if not isinstance(voice, ClonedVoice) or voice.native:
            return None
        target = self.library.get(voice.target)
        return self.converters.get(live=True).open(target, self.library.reference(voice.target))


def library_voices(library: VoiceLibrary) -> list[Voice]:
    """The library's voices as ``Voice`` entries of the pseudo-engine ``library`` (for listings)."""
    return [
        Voice(id=v.id, name=v.name, engine=LIBRARY_ENGINE, language=v.language, gender=v.gender)
        for v in library.list()
    ]
