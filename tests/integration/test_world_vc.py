"""WORLD conversion moves piper's joe (male) toward a Kokoro jf_alpha (female) reference, intelligibly."""

from __future__ import annotations

import time
from dataclasses import dataclass

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
from polyvox.voices.library import LibraryVoice, VoiceLibrary
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


@dataclass(frozen=True)
class Conversion:
    """Piper's joe converted toward a library voice made from Kokoro's jf_alpha, and the pieces of it."""

    source: np.ndarray
    target: LibraryVoice
    reference: np.ndarray
    pieces: list[np.ndarray]
    seconds: float
    """Wall time of the conversion, printed as a real-time factor (bench/ measures it)."""

    @property
    def converted(self) -> np.ndarray:
        return np.concatenate(self.pieces)


@pytest.fixture(scope="module")
def conversion(settings: Settings) -> Conversion:
    """One conversion for the module: both tests judge the same audio (rendering and converting it is most
    of their time)."""
    piper, kokoro = PiperEngine(settings), KokoroEngine(settings)
    source = _speak(piper, "joe", SOURCE_TEXT, None)
    library = VoiceLibrary(settings.data_dir / "vc-library")
    target = library.add("alpha", _speak(kokoro, "jf_alpha", REFERENCE_TEXT, "en-us"), language="en-us")
    reference = library.reference("alpha")
    started = time.perf_counter()
    pieces = list(WorldConverter(settings).open(target, reference).convert(source, LIBRARY_RATE))
    return Conversion(source, target, reference, pieces, time.perf_counter() - started)


def test_conversion_moves_pitch_and_timbre(conversion: Conversion, transcriber: Transcriber) -> None:
    source, converted = conversion.source, conversion.converted
    assert len(source) > CHUNK_SECONDS * LIBRARY_RATE  # at least two chunks: the crossfade is exercised
    assert len(conversion.pieces) >= 2 and abs(len(converted) - len(source)) <= 1
    assert np.all(np.abs(converted) <= 1.0)

    before, after = analyze_voice(source, LIBRARY_RATE), analyze_voice(converted, LIBRARY_RATE)
    goal = conversion.target.analysis
    print(
        f"F0 median {before.f0_median:.0f} -> {after.f0_median:.0f} Hz (target {goal.f0_median:.0f}); "
        f"centroid {before.centroid_hz:.0f} -> {after.centroid_hz:.0f} Hz (target {goal.centroid_hz:.0f}); "
        f"RTF {conversion.seconds / (len(source) / LIBRARY_RATE):.3f}"
    )
    assert abs(before.f0_median - goal.f0_median) > 0.2 * goal.f0_median  # the test is not trivial
    assert abs(after.f0_median - goal.f0_median) <= 0.10 * goal.f0_median
    assert abs(after.centroid_hz - goal.centroid_hz) < abs(before.centroid_hz - goal.centroid_hz)

    heard = transcriber.transcribe(converted, LIBRARY_RATE).text
    wer = word_error_rate(SOURCE_TEXT, heard)
    assert wer <= 0.10, f"WER {wer:.2f}: heard {heard!r}"


def test_conversion_raises_speaker_similarity(conversion: Conversion) -> None:
    """A speaker encoder (resemblyzer, the `similarity` extra) rates the converted voice nearer the target."""
    import resemblyzer

    encoder = resemblyzer.VoiceEncoder(device="cpu")

    def embedding(samples: np.ndarray) -> np.ndarray:
        wav = resemblyzer.preprocess_wav(resample(samples, LIBRARY_RATE, 16000), source_sr=16000)
        return np.asarray(encoder.embed_utterance(wav))

    goal = embedding(conversion.reference)
    before, after = float(goal @ embedding(conversion.source)), float(goal @ embedding(conversion.converted))
    print(f"cosine similarity to the target: {before:.3f} -> {after:.3f}")
    assert after > before + 0.1
