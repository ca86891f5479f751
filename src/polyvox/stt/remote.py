"""The ``openai`` ASR back end: any OpenAI-compatible ``/audio/transcriptions`` (and ``/audio/translations``).

vLLM serving Voxtral or Whisper, speaches, OpenAI itself, or another Polyvox. The audio goes up as a 16-bit
WAV in a multipart form (OpenAI's fields); the reply is read as ``verbose_json`` when the caller needs word
times (and ``asr.openai.word_timestamps`` allows it), else as ``json``. A reply without segments becomes one
segment spanning the audio. Transport failures become ``asr_unavailable`` (503), error answers and malformed
replies ``asr_failed`` (502), so no upstream problem turns into a 500.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar

import httpx

from polyvox.audio.chunk import FloatArray
from polyvox.audio.encode import encode_whole
from polyvox.audio.formats import AudioFormat
from polyvox.stt.base import (
    ASR_RATE,
    AsrFailedError,
    AsrUnavailableError,
    ModelNotFoundError,
    Segment,
    TranscribeOptions,
    Word,
)

if TYPE_CHECKING:
    from polyvox.config import Settings

DEFAULT_ALIASES = frozenset({"whisper-1", ""})


def wav_bytes(audio: FloatArray, rate: int = ASR_RATE) -> bytes:
    """Mono float samples as a 16-bit PCM WAV file."""
    return encode_whole(audio, AudioFormat.WAV, rate)


class OpenAIBackend:
    """Transcription by an upstream server; one pooled HTTP client per process."""

    name: ClassVar[str] = "openai"

    def __init__(self, settings: Settings) -> None:
        self._settings = settings.asr.openai
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return self.url_for("transcribe")

    def url_for(self, task: str) -> str:
        """The upstream route of ``task``: ``/audio/transcriptions`` or ``/audio/translations``."""
        route = "/audio/translations" if task == "translate" else "/audio/transcriptions"
        return self._settings.base_url.rstrip("/") + route

    def _http(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                key = self._settings.api_key
                self._client = httpx.Client(
                    timeout=httpx.Timeout(self._settings.timeout),
                    headers={"Authorization": f"Bearer {key}"} if key else {},
                    trust_env=False,
                )
            return self._client

    def models(self) -> list[str]:
        return sorted({self._settings.model, "whisper-1"})

    def prepare(self, options: TranscribeOptions) -> None:
        name = (options.model or "").strip()
        if name not in DEFAULT_ALIASES and name != self._settings.model:
            raise ModelNotFoundError(
                f"no transcription model {name!r}; available: {', '.join(self.models())}", param="model"
            )

    def _form(self, options: TranscribeOptions) -> dict[str, str | list[str]]:
        verbose = options.word_timestamps and self._settings.word_timestamps
        fields: dict[str, str | list[str]] = {
            "model": self._settings.model,
            "response_format": "verbose_json" if verbose else "json",
            "temperature": str(options.temperature),
        }
        if verbose:
            fields["timestamp_granularities[]"] = ["word", "segment"]
        if options.language and options.task != "translate":  # OpenAI's translations take no language
            fields["language"] = options.language
        if options.prompt:
            fields["prompt"] = options.prompt
        return fields

    def _post(self, audio: FloatArray, options: TranscribeOptions) -> dict[str, Any]:
        files = {"file": ("audio.wav", wav_bytes(audio), "audio/wav")}
        url = self.url_for(options.task)
        try:
            response = self._http().post(url, data=self._form(options), files=files)
        except httpx.TimeoutException as exc:
            raise AsrUnavailableError(f"transcription service at {url} timed out: {exc!r}") from exc
        except httpx.TransportError as exc:
            raise AsrUnavailableError(f"transcription service at {url} is unreachable: {exc!r}") from exc
        if response.status_code != 200:
            raise AsrFailedError(
                f"transcription service answered HTTP {response.status_code}: {response.text[:300]}"
            )
        try:
            body = response.json()
        except ValueError:
            raise AsrFailedError(f"transcription service sent no JSON: {response.text[:200]!r}") from None
        if not isinstance(body, dict) or not isinstance(body.get("text"), str):
            raise AsrFailedError("transcription service sent a reply without 'text'")
        return body

    def segments(self, audio: FloatArray, options: TranscribeOptions) -> tuple[str, Iterator[Segment]]:
        self.prepare(options)
        duration = len(audio) / ASR_RATE
        if audio.size == 0:
            return options.language or "en", iter(())
        body = self._post(audio, options)
        language = str(body.get("language") or options.language or "en")
        return language, iter(_segments(body, duration))

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None


def _words(items: Any) -> list[Word]:
    words = []
    for item in items if isinstance(items, list) else []:
        try:
            words.append(Word(str(item["word"]).strip(), float(item["start"]), float(item["end"])))
        except (KeyError, TypeError, ValueError):
            raise AsrFailedError("transcription service sent a malformed word") from None
    return words


def _segments(body: dict[str, Any], duration: float) -> list[Segment]:
    """The reply's segments (each with the words inside it), or one segment holding the whole text."""
    words = _words(body.get("words"))
    raw = body.get("segments")
    if not isinstance(raw, list) or not raw:
        text = body["text"].strip()
        return [Segment(0, 0.0, duration, text, tuple(words))] if text or words else []
    segments = []
    for index, item in enumerate(raw):
        try:
            start, end, text = float(item["start"]), float(item["end"]), str(item["text"]).strip()
        except (KeyError, TypeError, ValueError):
            raise AsrFailedError("transcription service sent a malformed segment") from None
        last = index == len(raw) - 1
        inside = tuple(
            w for w in words if start <= (w.start + w.end) / 2 < end or (last and w.start >= start)
        )
        segments.append(
            Segment(
                index,
                start,
                end,
                text,
                inside,
                avg_logprob=float(item.get("avg_logprob", 0.0)),
                no_speech_prob=float(item.get("no_speech_prob", 0.0)),
                compression_ratio=float(item.get("compression_ratio", 1.0)),
                temperature=float(item.get("temperature", 0.0)),
            )
        )
    return segments
