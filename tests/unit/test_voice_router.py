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
