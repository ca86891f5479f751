"""The one speech recognizer of a Polyvox process, owned by the service.

``SpeechRecognizer`` builds the back end named by ``asr.backend`` from the ``polyvox.asr`` entry points (on
first use), resamples input to 16 kHz, and bounds how many transcriptions run at once (``asr.max_concurrent``,
``asr.max_queue``: beyond that a 429 ``busy``). Every consumer uses it: ``/v1/audio/transcriptions``,
``/v1/ws/converse``, ``/v1/ws/tts`` alignment, long-form validation and captions.

``listen`` is the one way the service's own features transcribe (async, under the slots, off the
synthesis pool). ``transcribe`` keeps the signature of
:meth:`polyvox.stt.transcriber.Transcriber.transcribe` (blocking, returns a
:class:`~polyvox.stt.transcriber.Transcript`) for the callers that only need text and words;
``recognize`` returns the full :class:`~polyvox.stt.base.Transcription`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from polyvox.audio.chunk import FloatArray
from polyvox.errors import BusyError, InvalidParameterError
from polyvox.stt.base import ASR_RATE, AsrBackend, Segment, TranscribeOptions, Transcription
from polyvox.stt.transcriber import Transcript

if TYPE_CHECKING:
    from polyvox.config import Settings

GROUP = "polyvox.asr"
T = TypeVar("T")


def backend_factories() -> dict[str, Callable[[Settings], AsrBackend]]:
    """The installed ASR back ends by name."""
    return {ep.name: ep.load() for ep in entry_points(group=GROUP)}


def _build(settings: Settings) -> AsrBackend:
    wanted = settings.asr.backend
    factories = backend_factories()
    if wanted not in factories:
        known = ", ".join(sorted(factories)) or "none installed"
        raise InvalidParameterError(
            f"unknown ASR back end {wanted!r} (asr.backend); available: {known}", param="asr.backend"
        )
    return factories[wanted](settings)


class SpeechRecognizer:
    """The configured back end plus admission; see the module docstring."""

    def __init__(self, settings: Settings, backend: AsrBackend | None = None) -> None:
        self.settings = settings
        # Built now (cheap: models load on first use), so an unknown asr.backend fails at startup.
        self.backend: AsrBackend = backend or _build(settings)
        self._slots: asyncio.Semaphore | None = None
        self._waiting = 0

    @property
    def name(self) -> str:
        return self.backend.name

    def models(self) -> list[str]:
        return self.backend.models()

    def load(self) -> None:
        """Load the default model now (blocking) instead of on the first transcription."""
        self.backend.prepare(TranscribeOptions())

    # -- blocking calls (run them in a thread) ---------------------------------------------------------
    def stream(
        self, samples: FloatArray, rate: int, options: TranscribeOptions
    ) -> tuple[str, Iterator[Segment]]:
        """Language and lazily decoded segments of mono ``samples`` at ``rate``."""
        audio = np.asarray(samples, dtype=np.float32).reshape(-1)
        if rate != ASR_RATE:  # soxr's default quality, as polyvox.stt.transcriber.Transcriber resamples
            import soxr

            audio = soxr.resample(audio, rate, ASR_RATE).astype(np.float32)
        return self.backend.segments(audio, options)

    def recognize(self, samples: FloatArray, rate: int, options: TranscribeOptions) -> Transcription:
        """The whole transcription."""
        language, segments = self.stream(samples, rate, options)
        found = tuple(segments)
        text = " ".join(s.text for s in found if s.text)
        return Transcription(text, language, len(samples) / rate, found)

    def transcribe(
        self,
        samples: FloatArray,
        sample_rate: int,
        *,
        word_timestamps: bool = False,
        language: str = "en",
        temperature: float = 0.0,
    ) -> Transcript:
        """What :meth:`polyvox.stt.transcriber.Transcriber.transcribe` returns, from the configured back
        end."""
        options = TranscribeOptions(
            language=language, temperature=temperature, word_timestamps=word_timestamps
        )
        result = self.recognize(samples, sample_rate, options)
        words = tuple((w.word, w.start, w.end) for w in result.words)
        return Transcript(text=result.text, words=words)

    # -- admission --------------------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def slot(self, *, queued: bool = True) -> AsyncIterator[None]:
        """Hold one of ``asr.max_concurrent`` slots; 429 ``busy`` when ``asr.max_queue`` already wait
        (``queued=False``: the service's own work waits without that bound)."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.settings.asr.max_concurrent)
        if queued and self._slots.locked() and self._waiting >= self.settings.asr.max_queue:
            raise BusyError("every transcription slot is busy and the queue is full", retry_after=2)
        self._waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self._waiting -= 1
        try:
            yield
        finally:
            self._slots.release()

    async def run(self, call: Callable[..., T], *args: Any) -> T:
        """``call(*args)`` in a thread while holding a slot."""
        async with self.slot():
            return await asyncio.to_thread(call, *args)

    async def listen(
        self, samples: FloatArray, rate: int, *, word_timestamps: bool = False, language: str = "en"
    ) -> Transcript:
        """The service's own transcriptions (voice turns, alignment, captions, long-form validation): in a
        thread under the recognizer's slots, never on the synthesis pool; waits for a slot, never a 429."""
        async with self.slot(queued=False):
            return await asyncio.to_thread(
                lambda: self.transcribe(samples, rate, word_timestamps=word_timestamps, language=language)
            )

    def close(self) -> None:
        """Release the back end's models and connections."""
        self.backend.close()
