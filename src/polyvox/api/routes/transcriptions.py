"""``POST /v1/audio/transcriptions`` and ``/v1/audio/translations``: OpenAI's speech-to-text, served by the
configured ASR back end. A translation is the same request with ``task="translate"`` (English text of speech
in any language, on a multilingual model; none installed: 422 ``translation_model_missing`` saying how to get
one).

Multipart fields as OpenAI's: ``file``, ``model``, ``language``, ``prompt``, ``response_format`` (json, text,
srt, vtt, verbose_json), ``timestamp_granularities[]`` (word, segment; with verbose_json), ``temperature`` and
``stream``. The upload is read under ``asr.max_upload_bytes``, decoded in a thread (FFmpeg through PyAV, as
voice uploads are) and refused past ``asr.max_seconds``. ``stream=true`` answers server-sent events: one
``transcript.text.delta`` per decoded segment, then ``transcript.text.done``; the first segment is decoded
before the status line, so every failure up to there is a JSON error, and later ones an in-band ``error``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Literal

from fastapi import APIRouter, Request
from starlette.datastructures import FormData, UploadFile
from starlette.responses import JSONResponse, Response, StreamingResponse

from polyvox.api.deps import RequestIdDep, ServiceDep, media_type
from polyvox.api.routes.common import VALIDATION_RESPONSE, _error
from polyvox.api.routes.voices_library import read_form
from polyvox.api.streaming import sse_event
from polyvox.errors import InvalidParameterError, PayloadTooLargeError, PolyvoxError, UnsupportedMediaError
from polyvox.service import Polyvox
from polyvox.stt import formats
from polyvox.stt.base import ASR_RATE, AsrFailedError, Segment, TranscribeOptions
from polyvox.stt.recognizer import SpeechRecognizer
from polyvox.voices.decode import decode_audio

router = APIRouter(tags=["Speech to text"], responses=VALIDATION_RESPONSE)
Task = Literal["transcribe", "translate"]

RESPONSES: dict[int | str, dict[str, object]] = {
    200: {"description": "The transcription in the asked `response_format`, or server-sent events."},
    404: _error("Unknown transcription model (`model_not_found`)."),
    413: _error(
        "Upload over `asr.max_upload_bytes` (`payload_too_large`) or `asr.max_seconds` (`audio_too_long`)."
    ),
    415: _error("Not multipart, or the file is not audio (`unsupported_media`)."),
    422: _error("Bad field (`invalid_parameter`), undecodable audio (`undecodable_audio`)."),
    429: _error("Every transcription slot busy and the queue full (`busy`)."),
    502: _error("The upstream transcription service failed (`asr_failed`)."),
    503: _error("The upstream transcription service is unreachable (`asr_unavailable`)."),
}


class AudioTooLongError(PayloadTooLargeError):
    code = "audio_too_long"


def _text(form: FormData, key: str) -> str:
    value = form.get(key)
    return value.strip() if isinstance(value, str) else ""


def _flag(form: FormData, key: str) -> bool:
    value = _text(form, key).lower()
    if value in ("", "false", "0", "no", "off"):
        return False
    if value in ("true", "1", "yes", "on"):
        return True
    raise InvalidParameterError(f"{key} must be true or false, not {value!r}", param=key)


def _temperature(form: FormData) -> float:
    value = _text(form, "temperature")
    try:
        temperature = float(value) if value else 0.0
    except ValueError:
        raise InvalidParameterError(
            f"temperature must be a number, not {value!r}", param="temperature"
        ) from None
    if not 0.0 <= temperature <= 1.0:
        raise InvalidParameterError("temperature must lie between 0 and 1", param="temperature")
    return temperature


def _granularities(form: FormData) -> frozenset[str]:
    values = form.getlist("timestamp_granularities[]") + form.getlist("timestamp_granularities")
    return formats.parse_granularities([v for v in values if isinstance(v, str)])


async def _sse(
    recognizer: SpeechRecognizer, first: Segment | None, rest: Iterator[Segment], duration: float
) -> AsyncIterator[bytes]:
    texts: list[str] = []
    segment = first
    try:
        while segment is not None:
            if segment.text:
                yield sse_event(formats.delta_event(segment.text if not texts else " " + segment.text))
                texts.append(segment.text)
            segment = await recognizer.run(next, rest, None)
    except PolyvoxError as exc:
        yield sse_event({"type": "error", **exc.to_dict()})
        return
    except Exception as exc:  # the model failed mid-stream: say so in-band, the status line is gone
        yield sse_event({"type": "error", **AsrFailedError(f"transcription failed: {exc!r}").to_dict()})
        return
    yield sse_event(formats.done_event(" ".join(texts), duration))


_FORM_SCHEMA = {
    "type": "object",
    "required": ["file"],
    "properties": {
        "file": {"type": "string", "format": "binary", "description": "wav, mp3, flac, ogg, m4a or webm."},
        "model": {"type": "string", "description": "'whisper-1' (the default), 'tiny.en' or a model folder."},
        "language": {"type": "string", "description": "ISO-639-1 code of the speech."},
        "prompt": {"type": "string", "description": "Text to condition the decoder with."},
        "response_format": {"type": "string", "enum": [f.value for f in formats.ResponseFormat]},
        "timestamp_granularities[]": {
            "type": "array",
            "items": {"type": "string", "enum": ["word", "segment"]},
        },
        "temperature": {"type": "number", "minimum": 0, "maximum": 1},
        "stream": {"type": "boolean", "description": "Server-sent events (json or text only)."},
    },
}


@router.post(
    "/v1/audio/transcriptions",
    summary="Transcribe audio",
    responses=RESPONSES,
    openapi_extra={
        "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": _FORM_SCHEMA}}}
    },
)
async def create_transcription(request: Request, service: ServiceDep, request_id: RequestIdDep) -> Response:
    """Speech to text in OpenAI's shape (see the module docstring for the fields)."""
    return await _recognize(request, service, request_id, "transcribe")


_TRANSLATION_SCHEMA = {
    "type": "object",
    "required": ["file"],
    "properties": {
        name: _FORM_SCHEMA["properties"][name]  # type: ignore[index]
        for name in ("file", "model", "prompt", "response_format", "temperature")
    },
}


@router.post(
    "/v1/audio/translations",
    summary="Translate speech to English text",
    responses={
        **RESPONSES,
        422: _error(
            "Bad field (`invalid_parameter`), undecodable audio (`undecodable_audio`), or no multilingual "
            "Whisper model to translate with (`translation_model_missing`)."
        ),
    },
    openapi_extra={
        "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": _TRANSLATION_SCHEMA}}}
    },
)
async def create_translation(request: Request, service: ServiceDep, request_id: RequestIdDep) -> Response:
    """English text of speech in any language, in OpenAI's shape: `file`, `model`, `prompt`,
    `response_format` (json, text, srt, verbose_json, vtt), `temperature`. Needs a multilingual Whisper
    model in `asr.models_dir` (`polyvox models pull whisper/base`)."""
    return await _recognize(request, service, request_id, "translate")


async def _recognize(request: Request, service: Polyvox, request_id: str, task: Task) -> Response:
    """Read, check, decode and recognize one upload (see the module docstring)."""
    settings = service.settings.asr
    if media_type(request) not in ("multipart/form-data", "application/x-www-form-urlencoded"):
        raise UnsupportedMediaError("expected Content-Type multipart/form-data", param="content-type")
    form = await read_form(request, service.settings, max_bytes=settings.max_upload_bytes)
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise InvalidParameterError("file (the audio to transcribe) is required", param="file")
        fmt = formats.parse_response_format(_text(form, "response_format"))
        granularities = _granularities(form)
        stream = _flag(form, "stream")
        options = TranscribeOptions(
            model=_text(form, "model") or None,
            language=_text(form, "language").lower() or None,
            prompt=_text(form, "prompt") or None,
            temperature=_temperature(form),
            word_timestamps=fmt is formats.ResponseFormat.VERBOSE_JSON and "word" in granularities,
            task=task,
        )
        data = await upload.read()
        if len(data) > settings.max_upload_bytes:  # the form cap allows for the fields around the file
            raise PayloadTooLargeError(f"the upload exceeds {settings.max_upload_bytes} bytes", param="file")
    finally:
        await form.close()
    if stream and fmt not in (formats.ResponseFormat.JSON, formats.ResponseFormat.TEXT):
        raise InvalidParameterError("stream=true works with response_format json or text", param="stream")
    recognizer = service.asr
    await recognizer.run(recognizer.backend.prepare, options)  # unknown model, bad language: before decoding
    try:
        samples = await asyncio.to_thread(decode_audio, data, rate=ASR_RATE, max_seconds=settings.max_seconds)
    except PayloadTooLargeError as exc:  # the decoder refuses a declared duration over the cap, undecoded
        raise AudioTooLongError(exc.message, param="file") from None
    if len(samples) > settings.max_seconds * ASR_RATE:
        raise AudioTooLongError(f"the audio is longer than {settings.max_seconds:g} s", param="file")
    headers = {"X-Request-ID": request_id}
    if stream:
        _, segments = await recognizer.run(recognizer.stream, samples, ASR_RATE, options)
        first = await recognizer.run(next, segments, None)
        body = _sse(recognizer, first, segments, len(samples) / ASR_RATE)
        return StreamingResponse(body, media_type="text/event-stream", headers=headers)
    result = await recognizer.run(recognizer.recognize, samples, ASR_RATE, options)
    rendered = formats.render(result, fmt, granularities)
    if isinstance(rendered, dict):
        return JSONResponse(rendered, headers=headers)
    return Response(rendered, media_type=formats.MEDIA_TYPES[fmt], headers=headers)
