"""espeak-ng through ctypes, checked by ear (Whisper)."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from tests.integration.speech import SENTENCE, SPOKEN, SpeechCheck, join, voice

from polyvox.audio.chunk import AudioChunk
from polyvox.config import Settings
from polyvox.engines.base import SynthesisParams
from polyvox.engines.espeak import EspeakEngine
from polyvox.errors import InvalidParameterError


@pytest.fixture(scope="module")
def engine(settings: Settings) -> EspeakEngine:
    engine = EspeakEngine(settings)
    engine.load()
    return engine


def test_lists_every_installed_voice(engine: EspeakEngine) -> None:
    voices = engine.voices()
    ids = {v.id for v in voices}
    assert len(voices) >= 100
    assert len(ids) == len(voices)
    assert {"en", "en-us", "fr", "de", "es", "ja", "cmn"} <= ids
    assert voice(engine, "fr").language == "fr-fr"
    assert engine.default_voice() in ids
    assert set(EspeakEngine.info.languages) == ids


@pytest.mark.slow
def test_speaks_english(engine: EspeakEngine, check_speech: SpeechCheck) -> None:
    audio = check_speech(engine.synthesize(SPOKEN, voice(engine, "en"), SynthesisParams()), SPOKEN)
    assert audio.sample_rate == 22050


def test_speaks_french(engine: EspeakEngine) -> None:
    audio = join(engine.synthesize("Bonjour, comment allez-vous?", voice(engine, "fr"), SynthesisParams()))
    assert 0.8 < audio.seconds < 4.0
    assert np.sqrt(np.mean(audio.samples**2)) > 0.01


def test_speed_two_halves_duration(engine: EspeakEngine) -> None:
    en = voice(engine, "en")
    normal = join(engine.synthesize(SENTENCE, en, SynthesisParams(speed=1.0))).seconds
    fast = join(engine.synthesize(SENTENCE, en, SynthesisParams(speed=2.0))).seconds
    assert fast / normal == pytest.approx(0.5, rel=0.2)


def test_ssml_break_adds_silence(engine: EspeakEngine) -> None:
    en = voice(engine, "en")
    plain = join(engine.synthesize("<speak>Hello world.</speak>", en, SynthesisParams())).seconds
    pause = '<speak>Hello <break time="1500ms"/> world.</speak>'
    paused = join(engine.synthesize(pause, en, SynthesisParams())).seconds
    assert paused - plain > 1.0


def test_pitch(engine: EspeakEngine) -> None:
    en = voice(engine, "en")
    low = join(engine.synthesize("Hello.", en, SynthesisParams(extra={"pitch": 0})))
    high = join(engine.synthesize("Hello.", en, SynthesisParams(extra={"pitch": 100})))
    assert not np.array_equal(low.samples[: len(high.samples)], high.samples[: len(low.samples)])
    with pytest.raises(InvalidParameterError) as caught:
        list(engine.synthesize("Hello.", en, SynthesisParams(extra={"pitch": 101})))
    assert caught.value.param == "pitch"


def similar(a: AudioChunk, b: AudioChunk) -> bool:
    """Same length and level within a few percent: espeak-ng jitters its output slightly on every call."""
    rms_a, rms_b = (float(np.sqrt(np.mean(c.samples**2))) for c in (a, b))
    return abs(a.seconds - b.seconds) <= 0.03 * b.seconds and abs(rms_a - rms_b) <= 0.1 * rms_b


def test_concurrent_calls_do_not_corrupt_each_other(engine: EspeakEngine) -> None:
    # espeak-ng is process-global; the engine's lock must keep two workers' calls apart (a voice or
    # parameter switched mid-call would change the length or level of the other worker's audio).
    jobs = [("en", "One two three four five."), ("fr", "Un deux trois quatre cinq.")]
    params = {"en": SynthesisParams(), "fr": SynthesisParams(speed=1.5, extra={"pitch": 90})}
    expected = {vid: join(engine.synthesize(text, voice(engine, vid), params[vid])) for vid, text in jobs}
    failures: list[str] = []

    def work(voice_id: str, text: str) -> None:
        for _ in range(10):
            got = join(engine.synthesize(text, voice(engine, voice_id), params[voice_id]))
            if not similar(got, expected[voice_id]):
                failures.append(voice_id)

    threads = [threading.Thread(target=work, args=job) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


def test_unload_then_load_again(settings: Settings) -> None:
    engine = EspeakEngine(settings)
    engine.load()
    engine.unload()
    engine.load()
    assert join(engine.synthesize("Again.", voice(engine, "en"), SynthesisParams())).seconds > 0.2
