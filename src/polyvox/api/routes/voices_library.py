"""The voice library and voice conversion: ``/v1/voices`` (create, get, delete, preview) and ``/v1/vc``.

Uploads are parsed from the request stream under a byte cap, so an oversize upload is refused (413) after at
most the cap has been read, and at once when its ``Content-Length`` says so. ``GET /v1/voices`` (the list,
engine voices and library voices together) lives in ``routes/engines.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import FormParser, MultiPartException, MultiPartParser
from starlette.responses import Response, StreamingResponse

from polyvox.api.deps import RequestIdDep, SettingsDep, SynthesizerDep, media_type
from polyvox.api.routes.common import VALIDATION_RESPONSE
from polyvox.api.streaming import encode_off_loop, finish_off_loop
from polyvox.audio.chunk import FloatArray
from polyvox.audio.encode import StreamEncoder
from polyvox.audio.formats import MEDIA_TYPES, parse_format
from polyvox.config import Settings
from polyvox.errors import InvalidParameterError, PayloadTooLargeError, UnsupportedMediaError
from polyvox.language import primary_language
from polyvox.request import SynthesisRequest
from polyvox.synthesis import Synthesizer
from polyvox.voices.decode import LIBRARY_RATE, decode_audio
from polyvox.voices.derived import DERIVED
from polyvox.voices.fetch import fetch_bytes
from polyvox.voices.library import VoiceExistsError

router = APIRouter(tags=["Voice library and conversion"], responses=VALIDATION_RESPONSE)

_FORM_OVERHEAD = 64 * 1024  # multipart boundaries and the text fields around the file
BLEND_REFERENCE_TEXT = {
    "ja": "こんにちは。今日はいい天気ですね。公園を散歩して、友達とお茶を飲みました。",
}
_DEFAULT_REFERENCE_TEXT = (
    "Hello there. This is how I sound when I read a few sentences aloud. The weather is lovely today."
)


async def _capped(request: Request, cap: int) -> AsyncGenerator[bytes, None]:
    total = 0
    async for piece in request.stream():
        total += len(piece)
        if total > cap:  # stop reading: the rest of the body is never buffered
            raise PayloadTooLargeError(f"the upload exceeds {cap} bytes", param="file")
        yield piece


async def read_form(request: Request, settings: Settings, max_bytes: int | None = None) -> FormData:
    """The multipart form, read under ``max_bytes`` (default ``voices.max_upload_bytes``; 413 without
    reading it all)."""
    kind = media_type(request)
    if kind not in ("multipart/form-data", "application/x-www-form-urlencoded"):
        raise UnsupportedMediaError(
            "expected Content-Type multipart/form-data (or a URL-encoded form with 'url')",
            param="content-type",
        )
    cap = (max_bytes or settings.voices.max_upload_bytes) + _FORM_OVERHEAD
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        raise PayloadTooLargeError(f"the upload of {declared} bytes exceeds {cap} bytes", param="file")
    if kind == "application/x-www-form-urlencoded":  # fields only (a URL); the body is small
        return await FormParser(request.headers, _capped(request, _FORM_OVERHEAD)).parse()
    parser = MultiPartParser(request.headers, _capped(request, cap), max_files=2, max_fields=16)
    try:
        return await parser.parse()
    except MultiPartException as exc:
        raise InvalidParameterError(f"malformed multipart body: {exc.message}", param="body") from None


def _text(form: FormData, key: str) -> str:
    value = form.get(key)
    return value.strip() if isinstance(value, str) else ""


async def _input_audio(form: FormData, settings: Settings, max_seconds: float) -> FloatArray:
    """Decoded audio (mono, 24 kHz) from the ``file`` upload or the ``url`` field."""
    upload, url = form.get("file"), _text(form, "url")
    if isinstance(upload, UploadFile):
        data = await upload.read()
    elif url:
        data = await fetch_bytes(url, settings.voices)
    else:
        raise InvalidParameterError("send the audio as 'file' or give its 'url'", param="file")
    return await decode_upload(data, settings, max_seconds)


async def decode_upload(
    data: bytes, settings: Settings, max_seconds: float, param: str = "file"
) -> FloatArray:
    """Uploaded or fetched bytes decoded in a thread (mono, 24 kHz), rate and duration checked first."""
    samples = await asyncio.to_thread(
        decode_audio,
        data,
        rate=LIBRARY_RATE,
        max_seconds=max_seconds,
        max_source_rate=settings.voices.max_upload_rate,
    )
    if len(samples) > max_seconds * LIBRARY_RATE:
        raise PayloadTooLargeError(f"the audio is longer than {max_seconds:g} s", param=param)
    return samples


def reference_id(data: bytes) -> str:
    """The library id of a reference sent with a request: its content hash, so a resend reuses it."""
    return "ref-" + hashlib.sha256(data).hexdigest()[:12]


async def reference_voice(
    data: bytes, synthesizer: Synthesizer, settings: Settings, language: str, held: contextlib.ExitStack
) -> str:
    """The library voice id for reference audio sent with a request; stored once per distinct content and
    held (``held``) until the caller's request ends. Stored references are bounded (polyvox.voices.derived).
    """
    library, references = synthesizer.voices.library, synthesizer.voices.references
    voice_id = reference_id(data)
    held.enter_context(references.pinned(voice_id))
    if library.exists(voice_id):
        await asyncio.to_thread(references.touch, voice_id)
    else:
        samples = await decode_upload(
            data, settings, settings.voices.max_reference_seconds * 2, "reference_audio"
        )
        with contextlib.suppress(VoiceExistsError):  # the same reference, stored meanwhile by another request
            await asyncio.to_thread(library.add, voice_id, samples, language=language, extra=DERIVED)
    await asyncio.to_thread(references.enforce)
    return voice_id


async def _blend_reference(synthesizer: Synthesizer, engine: str, spec: str, language: str) -> FloatArray:
    """A reference for a blend saved as a library voice: the blending engine reading a few sentences."""
    text = BLEND_REFERENCE_TEXT.get(primary_language(language), _DEFAULT_REFERENCE_TEXT)
    request = SynthesisRequest(
        text=text, engine=engine, voice=spec, language=language, sample_rate=LIBRARY_RATE
    )
    _, chunks = await synthesizer.synthesize(request)
    import numpy as np

    return np.concatenate([c.samples for c in chunks]).astype(np.float32)


@router.post("/v1/voices", summary="Add a library voice", status_code=201)
async def create_voice(request: Request, synthesizer: SynthesizerDep, settings: SettingsDep) -> JSONResponse:
    """Multipart: `name`, `language` (default en-us), optional `transcript`, and one of `file` (wav, mp3,
    flac, ogg, m4a), `url` (fetched SSRF-safely) or `blend` (a Kokoro blend such as `jf_alpha(2)+jm_kumo(1)`).
    Stores a normalized reference (mono, 24 kHz, loudness-normalized, trimmed) and its analysis."""
    form = await read_form(request, settings)
    try:
        name, language = _text(form, "name"), _text(form, "language") or "en-us"
        if not name:
            raise InvalidParameterError("name is required", param="name")
        library = synthesizer.voices.library
        blend = _text(form, "blend") or None
        if blend is not None:
            engine = synthesizer.voices.blending_engine()
            canonical = synthesizer.voices.blend_voice(engine, blend).id
            samples = await _blend_reference(synthesizer, engine, canonical, language)
            blend = canonical
        else:
            # A little slack over the limit so trimming silence can bring a reference under it.
            samples = await _input_audio(form, settings, settings.voices.max_reference_seconds * 2)
        voice = await asyncio.to_thread(
            library.add, name, samples, language=language, transcript=_text(form, "transcript"), blend=blend
        )
    finally:
        await form.close()
    return JSONResponse(voice.to_dict(with_envelope=False), status_code=201)


@router.get("/v1/voices/{voice_id}", summary="One library voice")
async def get_voice(voice_id: str, synthesizer: SynthesizerDep) -> dict[str, Any]:
    """The stored voice and its analysis (F0 statistics, centroid, tilt, gender estimate)."""
    return synthesizer.voices.library.get(voice_id).to_dict(with_envelope=False)


@router.delete("/v1/voices/{voice_id}", summary="Delete a library voice", status_code=204)
async def delete_voice(voice_id: str, synthesizer: SynthesizerDep) -> Response:
    """Remove the voice and its files."""
    await asyncio.to_thread(synthesizer.voices.library.delete, voice_id)
    return Response(status_code=204)


@router.get("/v1/voices/{voice_id}/preview", summary="Hear a library voice's reference")
async def preview_voice(
    voice_id: str,
    synthesizer: SynthesizerDep,
    response_format: Annotated[str, Query(description="wav, mp3, opus, aac, flac or pcm.")] = "wav",
) -> Response:
    """The stored (normalized) reference recording."""
    fmt = parse_format(response_format)
    samples = await asyncio.to_thread(synthesizer.voices.library.reference, voice_id)
    encoder = StreamEncoder(fmt, LIBRARY_RATE)
    body = await encode_off_loop(encoder, samples) + await finish_off_loop(encoder)
    return Response(body, media_type=MEDIA_TYPES[fmt])


async def _pieces(iterator: Iterator[FloatArray]) -> AsyncIterator[FloatArray]:
    while True:  # each piece is converted in a thread: the event loop never blocks on WORLD
        piece = await asyncio.to_thread(next, iterator, None)
        if piece is None:
            return
        yield piece


@router.post("/v1/vc", summary="Convert speech to a library voice")
async def convert_voice(
    request: Request, synthesizer: SynthesizerDep, settings: SettingsDep, request_id: RequestIdDep
) -> StreamingResponse:
    """Multipart: `file` or `url` (the speech), `target` (a library voice id), optional `response_format`
    (default wav) and `converter`. The converted audio streams back chunk by chunk."""
    form = await read_form(request, settings)
    try:
        fmt = parse_format(_text(form, "response_format") or "wav")
        target_id = _text(form, "target")
        if not target_id:
            raise InvalidParameterError("target (a library voice id) is required", param="target")
        library = synthesizer.voices.library
        target = library.get(target_id)
        converter = synthesizer.voices.converters.get(_text(form, "converter") or None)
        samples = await _input_audio(form, settings, settings.voices.max_convert_seconds)
    finally:
        await form.close()
    session = converter.open(target, await asyncio.to_thread(library.reference, target_id))
    pieces = _pieces(session.convert(samples, LIBRARY_RATE))
    encoder = StreamEncoder(fmt, session.sample_rate)
    first = await anext(pieces, None)  # converted before the status line: failures are still JSON errors

    async def body() -> AsyncIterator[bytes]:
        try:
            if first is not None:
                yield await encode_off_loop(encoder, first)
            async for piece in pieces:
                yield await encode_off_loop(encoder, piece)
            yield await finish_off_loop(encoder)
        finally:
            encoder.close()

    headers = {"X-Voice": target_id, "X-Converter": converter.name, "X-Request-ID": request_id}
    return StreamingResponse(body(), media_type=MEDIA_TYPES[fmt], headers=headers)
