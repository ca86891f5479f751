"""The ASR back-end contract: what a request asks for, what comes back, and the errors a back end raises.

A back end (an entry point in the ``polyvox.asr`` group) is a class built with the process's
:class:`~polyvox.config.Settings`. Its ``segments`` call is blocking (local inference or a network call), so
callers run it in a thread; it yields segments lazily so a streamed transcription can send each one as soon as
it is decoded. Audio always arrives as mono float32 at 16 kHz.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Literal, Protocol

from polyvox.audio.chunk import FloatArray
from polyvox.errors import InvalidParameterError, NotFoundError, PolyvoxError

if TYPE_CHECKING:
    from polyvox.config import Settings

ASR_RATE = 16_000
"""Every back end receives mono float32 audio at this rate (Whisper's)."""


class ModelNotFoundError(NotFoundError):
    """The request named a transcription model this back end does not have."""

    code = "model_not_found"


class TranslationModelMissingError(InvalidParameterError):
    """Translation asked for, and no multilingual model to do it (English-only models cannot translate)."""

    code = "translation_model_missing"


class AsrFailedError(PolyvoxError):
    """The back end failed (an upstream error answer, a malformed reply, a model that would not load)."""

    status = 502
    code = "asr_failed"


class AsrUnavailableError(AsrFailedError):
    """The upstream transcription service could not be reached or did not answer in time."""

    status = 503
    code = "asr_unavailable"


@dataclass(frozen=True, slots=True)
class Word:
    """One recognized word and where it is heard (seconds from the start of the audio)."""

    word: str
    start: float
    end: float


@dataclass(frozen=True, slots=True)
class Segment:
    """One decoded stretch of speech (Whisper's segment, or a whole upstream reply)."""

    id: int
    start: float
    end: float
    text: str
    words: tuple[Word, ...] = ()
    avg_logprob: float = 0.0
    no_speech_prob: float = 0.0
    compression_ratio: float = 1.0
    temperature: float = 0.0
    tokens: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class TranscribeOptions:
    """What a caller asks of one transcription (OpenAI's fields)."""

    model: str | None = None
    """None or 'whisper-1': the back end's default model."""
    language: str | None = None
    prompt: str | None = None
    temperature: float = 0.0
    word_timestamps: bool = False
    task: Literal["transcribe", "translate"] = "transcribe"
    """``translate``: English text of speech in any language (``/v1/audio/translations``)."""


@dataclass(frozen=True, slots=True)
class Transcription:
    """A finished transcription."""

    text: str
    language: str
    duration: float
    segments: tuple[Segment, ...] = field(default=())

    @property
    def words(self) -> tuple[Word, ...]:
        return tuple(w for s in self.segments for w in s.words)


class AsrBackend(Protocol):
    """An ASR back end; see the module docstring."""

    name: ClassVar[str]

    def __init__(self, settings: Settings) -> None: ...

    def models(self) -> list[str]:
        """The model names a request may give."""
        ...

    def prepare(self, options: TranscribeOptions) -> None:
        """Check the options (unknown model: :class:`ModelNotFoundError`) and load what they need."""
        ...

    def segments(self, audio: FloatArray, options: TranscribeOptions) -> tuple[str, Iterator[Segment]]:
        """The language (a code such as 'en') and the segments of 16 kHz mono ``audio``; blocking, and the
        segments are decoded lazily as the caller iterates."""
        ...

    def close(self) -> None:
        """Release models and connections."""
        ...
