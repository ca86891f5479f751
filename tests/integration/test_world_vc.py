"""WORLD conversion moves piper's joe (male) toward a Kokoro jf_alpha (female) reference, intelligibly."""

from __future__ import annotations

import time

import numpy as np
import pytest

from polyvox.audio.dsp import resample
from polyvox.config import Settings
from polyvox.engines.base import SynthesisParams
from polyvox.engines.kokoro import KokoroEngine
from polyvox.engines.piper import PiperEngine
from polyvox.stt.metrics import word_error_rate
from polyvox.stt.transcriber import Transcriber
from polyvox.voices.analysis import analyze_voice
from polyvox.voices.decode import LIBRARY_RATE
from polyvox.voices.library import VoiceLibrary
from polyvox.voices.world import CHUNK_SECONDS, WorldConverter

pytestmark = pytest.mark.slow

SOURCE_TEXT = (
    "The weather is nice today, and we are going to the park with our friends. "
    "After lunch we will read a good book together, and then walk back home before dinner."
)
REFERENCE_TEXT = "Rice is often served in round bowls. The juice of lemons makes a fine punch for a party."


def _speak(engine: PiperEngine | KokoroEngine, voice_id: str, text: str, language: str | None) -> np.ndarray:
    voice = next(v for v in engine.voices() if v.id == voice_id)
    chunks = list(engine.synthesize(text, voice, SynthesisParams(language=language)))
    return resample(np.concatenate([c.samples for c in chunks]), chunks[0].sample_rate, LIBRARY_RATE)


def test_conversion_moves_pitch_and_timbre(settings: Settings, transcriber: Transcriber) -> None:
    piper, kokoro = PiperEngine(settings), KokoroEngine(settings)
    source = _speak(piper, "joe", SOURCE_TEXT, None)
    assert len(source) > CHUNK_SECONDS * LIBRARY_RATE  # at least two chunks: the crossfade is exercised
    library = VoiceLibrary(settings.data_dir / "vc-library")
    target = library.add("alpha", _speak(kokoro, "jf_alpha", REFERENCE_TEXT, "en-us"), language="en-us")

    started = time.perf_counter()
    session = WorldConverter(settings).open(target, library.reference("alpha"))
    pieces = list(session.convert(source, LIBRARY_RATE))
    elapsed = time.perf_counter() - started
    converted = np.concatenate(pieces)
    assert len(pieces) >= 2 and abs(len(converted) - len(source)) <= 1
    assert np.all(np.abs(converted) <= 1.0)

    before, after = analyze_voice(source, LIBRARY_RATE), analyze_voice(converted, LIBRARY_RATE)
    goal = target.analysis
    print(
        f"F0 median {before.f0_median:.0f} -> {after.f0_median:.0f} Hz (target {goal.f0_median:.0f}); "
        f"centroid {before.centroid_hz:.0f} -> {after.centroid_hz:.0f} Hz (target {goal.centroid_hz:.0f}); "
        f"RTF {elapsed / (len(source) / LIBRARY_RATE):.3f}"
    )
    assert abs(before.f0_median - goal.f0_median) > 0.2 * goal.f0_median  # the test is not trivial
    assert abs(after.f0_median - goal.f0_median) <= 0.10 * goal.f0_median
    assert abs(after.centroid_hz - goal.centroid_hz) < abs(before.centroid_hz - goal.centroid_hz)

    heard = transcriber.transcribe(converted, LIBRARY_RATE).text
    wer = word_error_rate(SOURCE_TEXT, heard)
    assert wer <= 0.10, f"WER {wer:.2f}: heard {heard!r}"


def test_conversion_raises_speaker_similarity(settings: Settings) -> None:
    """A speaker encoder (resemblyzer, the `similarity` extra) rates the converted voice nearer the target."""
    import resemblyzer

    piper, kokoro = PiperEngine(settings), KokoroEngine(settings)
    source = _speak(piper, "joe", SOURCE_TEXT, None)
    library = VoiceLibrary(settings.data_dir / "similarity-library")
    target = library.add("alpha", _speak(kokoro, "jf_alpha", REFERENCE_TEXT, "en-us"), language="en-us")
    reference = library.reference("alpha")
    converted = np.concatenate(
        list(WorldConverter(settings).open(target, reference).convert(source, LIBRARY_RATE))
    )

    encoder = resemblyzer.VoiceEncoder(device="cpu")

    def embedding(samples: np.ndarray) -> np.ndarray:
        wav = resemblyzer.preprocess_wav(resample(samples, LIBRARY_RATE, 16000), source_sr=16000)
        return np.asarray(encoder.embed_utterance(wav))

    goal = embedding(reference)
    before, after = float(goal @ embedding(source)), float(goal @ embedding(converted))
    print(f"cosine similarity to the target: {before:.3f} -> {after:.3f}")
    assert after > before + 0.1
