"""``Synthesizer.resolve`` and ``VoiceRouter.find``/``resolve`` with the tone engine: no text needed."""

from __future__ import annotations

import pytest

from polyvox.errors import (
    EngineNotFoundError,
    InvalidParameterError,
    LanguageNotSupportedError,
    VoiceNotFoundError,
)
from polyvox.service import Polyvox


async def test_resolve_picks_engine_and_voice(tone_polyvox: Polyvox) -> None:
    synthesizer = tone_polyvox.synthesizer
    assert synthesizer.resolve(None, None, None)[0] == "tone"
    name, voice = synthesizer.resolve("tone", "BOOP", "en")
    assert (name, voice.id) == ("tone", "boop")
    assert synthesizer.resolve("tone", "tone/beep", None)[1].id == "beep"


@pytest.mark.parametrize(
    ("engine", "voice", "language", "extra", "error", "param"),
    [
        ("nope", None, None, None, EngineNotFoundError, "engine"),
        ("tone", "nobody", None, None, VoiceNotFoundError, "voice"),
        ("tone", None, "xx-zz", None, LanguageNotSupportedError, "language"),
        ("tone", None, None, {"delay": -1}, InvalidParameterError, "delay"),
    ],
)
async def test_resolve_raises_what_validate_raises(
    tone_polyvox: Polyvox,
    engine: str,
    voice: str | None,
    language: str | None,
    extra: dict[str, float] | None,
    error: type[Exception],
    param: str,
) -> None:
    with pytest.raises(error) as caught:
        tone_polyvox.synthesizer.resolve(engine, voice, language, extra=extra)
    assert getattr(caught.value, "param", None) == param


async def test_find_answers_none_and_resolve_names_the_voice(tone_polyvox: Polyvox) -> None:
    router = tone_polyvox.synthesizer.voices
    assert router.find("tone", "nobody") is None
    assert router.find("tone", "tone/nobody") is None
    found = router.find("tone", "tone/BEEP")
    assert found is not None and found.id == "beep"
    with pytest.raises(VoiceNotFoundError) as caught:
        router.resolve("tone", "tone/nobody")
    assert "'nobody'" in caught.value.message  # named without its engine prefix, as before


async def test_openai_custom_voice_ids_clone_natively_on_every_cloning_engine(tone_polyvox: Polyvox) -> None:
    """A ``voice_<hex>`` id (``POST /v1/audio/voices``) is a library voice: engines that clone get its stored
    sample as their reference, no conversion after (issue 29)."""
    import numpy as np

    from polyvox.engines.base import ClonedVoice

    router = tone_polyvox.synthesizer.voices
    t = np.arange(24_000 * 3) / 24_000
    sample = (0.3 * np.sin(2 * np.pi * 180 * t) * (1 + np.sin(2 * np.pi * 3 * t))).astype(np.float32)
    stored = router.library.add("Clone", sample, language="en-us", voice_id="voice_0123456789abcdef01234567")
    cloning = [
        n for n in router.registry.names(include_hidden=True) if router.registry.info(n).capabilities.cloning
    ]
    assert {"xtts", "pocket", "chatterbox"} <= set(cloning)
    for engine in cloning:
        voice = router.library_voice(engine, stored.id)
        assert isinstance(voice, ClonedVoice) and voice.native and voice.target == stored.id, engine
        assert voice.reference == router.library.path(stored.id) / "reference.wav"
        assert router.session(voice) is None  # spoken by the engine itself, never converted afterwards
