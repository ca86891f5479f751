"""``polyvox doctor ENGINE`` and ``bench/bench_neural.py``: what a filled weights folder really does here.

For one engine: its weights state, load seconds, then for each test sentence the time to the first audio
piece, the real-time factor, the Whisper WER of what was said, and the speaker similarity of the output to
the cloning reference (resemblyzer cosine, the ``similarity`` extra; None without it). The reference is a
library voice, an audio file, or (by default) piper reading a sentence: all offline.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from polyvox.audio.chunk import FloatArray
from polyvox.audio.dsp import resample
from polyvox.engines.base import ClonedVoice, Engine, SynthesisParams, Voice
from polyvox.engines.readiness import readiness
from polyvox.engines.registry import discover_factories
from polyvox.errors import EngineNotFoundError, EngineUnavailableError
from polyvox.stt.metrics import word_error_rate
from polyvox.stt.transcriber import Transcriber
from polyvox.text.normalize import normalize_text
from polyvox.voice_router import library_for
from polyvox.voices.decode import LIBRARY_RATE, decode_audio
from polyvox.voices.library import REFERENCE_FILE, VoiceLibrary

if TYPE_CHECKING:
    from polyvox.config import Settings

SENTENCES = (
    "The weather is nice today, and we are going to the park with our friends.",
    "After lunch we will read a good book together, and then walk back home before dinner.",
)
MIN_VOICED_SECONDS = 0.5
"""Less voiced audio than this (after resemblyzer's VAD) gives no similarity rather than a meaningless one."""
REFERENCE_TEXT = "My voice is the reference for this test, recorded once and kept in the library."


@dataclass
class SentenceFigures:
    text: str
    first_audio_seconds: float
    synthesis_seconds: float
    audio_seconds: float
    pieces: int
    wer: float
    heard: str

    @property
    def rtf(self) -> float:
        return self.synthesis_seconds / self.audio_seconds if self.audio_seconds else float("inf")


@dataclass
class DoctorReport:
    engine: str
    state: str
    folder: str | None = None
    missing: list[str] = field(default_factory=list)
    device: str | None = None
    load_seconds: float | None = None
    voice: str | None = None
    sentences: list[SentenceFigures] = field(default_factory=list)
    similarity: float | None = None
    """Cosine similarity (resemblyzer) of the output to the reference; None without a reference or encoder."""
    error: str | None = None

    @property
    def rtf(self) -> float | None:
        audio = sum(s.audio_seconds for s in self.sentences)
        return sum(s.synthesis_seconds for s in self.sentences) / audio if audio else None

    @property
    def first_audio_seconds(self) -> float | None:
        return min((s.first_audio_seconds for s in self.sentences), default=None)

    @property
    def wer(self) -> float | None:
        return float(np.mean([s.wer for s in self.sentences])) if self.sentences else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "engine": self.engine, "state": self.state, "folder": self.folder, "missing": self.missing,
            "device": self.device, "load_seconds": self.load_seconds, "voice": self.voice, "rtf": self.rtf,
            "first_audio_seconds": self.first_audio_seconds, "wer": self.wer, "similarity": self.similarity,
            "error": self.error,
            "sentences": [{**s.__dict__, "rtf": s.rtf} for s in self.sentences],
        }  # fmt: skip


def default_reference(settings: Settings) -> FloatArray:
    """Piper (bundled, offline) reading a sentence, at the library rate."""
    from polyvox.engines.piper import PiperEngine

    piper = PiperEngine(settings)
    voice = next(v for v in piper.voices() if v.id == piper.default_voice())
    chunks = list(piper.synthesize(REFERENCE_TEXT, voice, SynthesisParams()))
    return resample(np.concatenate([c.samples for c in chunks]), chunks[0].sample_rate, LIBRARY_RATE)


def cloned_voice(engine: str, library: VoiceLibrary, voice_id: str) -> ClonedVoice:
    """What the voice router hands a natively cloning engine for library voice ``voice_id``."""
    stored = library.get(voice_id)
    return ClonedVoice(
        id=f"library:{voice_id}",
        name=stored.name,
        engine=engine,
        language=stored.language,
        target=voice_id,
        reference=library.path(voice_id) / REFERENCE_FILE,
        native=True,
        transcript=stored.transcript,
    )


def _similarity() -> Callable[[FloatArray, FloatArray], float | None]:
    try:
        import resemblyzer
    except ImportError:
        return lambda a, b: None
    encoder = resemblyzer.VoiceEncoder(device="cpu", verbose=False)

    def embed(samples: FloatArray) -> Any:
        wav = resemblyzer.preprocess_wav(resample(samples, LIBRARY_RATE, 16000), source_sr=16000)
        if len(wav) < MIN_VOICED_SECONDS * 16000:  # resemblyzer's VAD found (almost) no voice
            raise ValueError("too little voiced audio for a speaker embedding")
        return np.asarray(encoder.embed_utterance(wav))

    def cosine(reference: FloatArray, output: FloatArray) -> float | None:
        try:
            return float(embed(reference) @ embed(output))
        except (ValueError, RuntimeError):  # too little voiced audio left after resemblyzer's VAD
            return None

    return cosine


def _speak(engine: Engine, text: str, voice: Voice, seed: int | None) -> tuple[SentenceFigures, FloatArray]:
    extra = {"seed": seed} if seed is not None else {}
    started = time.perf_counter()
    first: float | None = None
    pieces: list[FloatArray] = []
    rate = engine.info.sample_rate
    for chunk in engine.synthesize(text, voice, SynthesisParams(extra=extra, language=voice.language)):
        first = time.perf_counter() - started if first is None else first
        pieces.append(chunk.samples)
        rate = chunk.sample_rate
    elapsed = time.perf_counter() - started
    audio = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.float32)
    figures = SentenceFigures(text, first or elapsed, elapsed, len(audio) / rate, len(pieces), 1.0, "")
    return figures, resample(audio, rate, LIBRARY_RATE) if rate != LIBRARY_RATE else audio


def diagnose(
    settings: Settings,
    name: str,
    *,
    voice_id: str | None = None,
    reference: Path | None = None,
    sentences: tuple[str, ...] = SENTENCES,
    seed: int | None = 1,
    transcript: str = "",
    transcriber: Transcriber | None = None,
) -> DoctorReport:
    """Load ``name`` from its folder and measure it (blocking; loads Whisper and, if present, resemblyzer)."""
    # The hidden test engine (tone) is only there when engines.enable_test_engines shows it, as everywhere.
    show_test = settings.engines.enable_test_engines
    factories = {n: f for n, f in discover_factories().items() if show_test or not f.info.for_tests}
    if name not in factories:
        raise EngineNotFoundError(f"unknown engine {name!r}; available: {', '.join(sorted(factories))}")
    factory = factories[name]
    ready = readiness(name, factory, settings)  # a missing package is reported, never a traceback
    report = DoctorReport(name, ready.state)
    if ready.weights is not None:
        report.folder, report.missing = str(ready.weights.folder), list(ready.weights.missing)
    if not ready.can_speak:
        report.error = ready.message
        return report
    engine = factory(settings)
    started = time.perf_counter()
    try:
        engine.load()
    except EngineUnavailableError as exc:
        report.state, report.error = "unavailable", exc.message
        return report
    report.load_seconds = time.perf_counter() - started
    report.device = str(getattr(getattr(engine, "placement", None), "device", "cpu"))
    with tempfile.TemporaryDirectory(prefix="polyvox-doctor-") as scratch:
        voice, target = _voice(settings, engine, Path(scratch), voice_id, reference, transcript)
        report.voice = voice.id
        whisper = transcriber or Transcriber(threads=2)
        outputs = []
        try:
            for text in sentences:
                figures, audio = _speak(engine, text, voice, seed)
                figures.heard = whisper.transcribe(audio, LIBRARY_RATE).text
                figures.wer = word_error_rate(normalize_text(text, "en"), normalize_text(figures.heard, "en"))
                report.sentences.append(figures)
                outputs.append(audio)
        finally:
            engine.unload()
        if target is not None and outputs:
            report.similarity = _similarity()(target, np.concatenate(outputs))
    return report


def _voice(
    settings: Settings,
    engine: Engine,
    scratch: Path,
    voice_id: str | None,
    reference: Path | None,
    transcript: str,
) -> tuple[Voice, FloatArray | None]:
    """The voice to test: a library voice, a reference file, piper's reference, or a built-in voice."""
    if not engine.info.capabilities.cloning:
        return next(v for v in engine.voices() if v.id == engine.default_voice()), None
    if voice_id is not None:
        library = library_for(settings)
        return cloned_voice(engine.info.name, library, voice_id), library.reference(voice_id)
    if reference is not None:
        samples = decode_audio(reference)
    else:
        samples, transcript = default_reference(settings), REFERENCE_TEXT
    library = VoiceLibrary(scratch / "library")
    stored = library.add("doctor reference", samples, language="en-us", transcript=transcript)
    return cloned_voice(engine.info.name, library, stored.id), library.reference(stored.id)
