"""Phoneme blocks go to the engines that declare ``Capabilities.phonemes``, whatever they are called."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import ClassVar

import pytest
from tests.conftest import make_settings

from polyvox.engines.base import Capabilities, EngineFactory, EngineInfo
from polyvox.engines.piper import PiperEngine
from polyvox.engines.tone import ToneEngine
from polyvox.request import SynthesisRequest
from polyvox.service import Polyvox

INLINE = "Say [Polyvox](/pˈɑlivɑks/) twice."
SSML = '<speak>Say <phoneme alphabet="ipa" ph="pˈɑlivɑks">Polyvox</phoneme> twice.</speak>'


class Lips(PiperEngine):
    """Piper under another name."""

    info: ClassVar[EngineInfo] = dataclasses.replace(PiperEngine.info, name="lips")


class PhoneticTone(ToneEngine):
    """The tone engine declaring phoneme input, under a name of its own."""

    info: ClassVar[EngineInfo] = dataclasses.replace(
        ToneEngine.info, name="phonetic", capabilities=Capabilities(streaming=True, phonemes=True)
    )


@pytest.fixture
async def polyvox(tmp_path: Path) -> AsyncIterator[Polyvox]:
    factories: dict[str, EngineFactory] = {"tone": ToneEngine, "phonetic": PhoneticTone, "lips": Lips}
    async with Polyvox(make_settings(tmp_path, engines={"default": "tone"}), factories) as polyvox:
        yield polyvox


@pytest.mark.parametrize("engine", ["phonetic", "lips"])
def test_engines_declaring_phonemes_get_phoneme_blocks(polyvox: Polyvox, engine: str) -> None:
    synthesizer = polyvox.synthesizer
    assert synthesizer.planner.prepare(SynthesisRequest(INLINE, engine=engine), engine, None) == (
        "Say [[ pˈɑlivɑks ]] twice."
    )
    ssml = synthesizer.planner.prepare(SynthesisRequest(SSML, engine=engine, input_type="ssml"), engine, None)
    assert "[[ pˈɑlivɑks ]]" in ssml and "Polyvox" not in ssml


def test_other_engines_get_the_word(polyvox: Polyvox) -> None:
    planner = polyvox.synthesizer.planner
    assert planner.prepare(SynthesisRequest(INLINE, engine="tone"), "tone", None) == "Say Polyvox twice."
    ssml = planner.prepare(SynthesisRequest(SSML, engine="tone", input_type="ssml"), "tone", None)
    assert "Polyvox" in ssml and "[[" not in ssml
