"""The API shapes of the servers Polyvox replaces, so their clients work unchanged; one pipeline behind all.

* Chatterbox-server style ``/api/v1/...``: ``tts`` (JSON; audio back, or with ``"response": "url"`` a file in
  the bounded output directory, served by ``GET /api/v1/outputs/{name}`` and cleaned by the storage policy),
  ``vc``, ``health``, ``voices`` and ``config`` (the same handlers as ``/v1/vc``, ``/health``,
  ``/v1/audio/voices``, ``/v1/config``).
* The polling file monitor lives in :mod:`polyvox.api.routes.monitor_poll`.
* ``GET /v1/synthesis-config`` (defaults and limits) and ``GET /ui`` (the web page).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from typing import Any, Literal

import numpy as np
from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ConfigDict, Field, ValidationError
from starlette.datastructures import UploadFile
from starlette.responses import FileResponse, RedirectResponse, Response

from polyvox import jsontext
from polyvox.api.deps import JSON_TYPES, RegistryDep, RequestIdDep, SettingsDep, SynthesizerDep, media_type
from polyvox.api.ops.storage import Storage
from polyvox.api.routes.common import ERROR_RESPONSES, VALIDATION_RESPONSE, check_engine, ignored_header
from polyvox.api.routes.config import get_config
from polyvox.api.routes.engines import list_audio_voices
from polyvox.api.routes.health import health
from polyvox.api.routes.openai import HOSTED_MODELS
from polyvox.api.routes.voices_library import convert_voice, read_form, reference_voice
from polyvox.audio.encode import (
    FILE_EXTENSIONS,
    MEDIA_TYPES,
    encode_whole,
    encoded_rate,
    parse_format,
    supported_formats,
)
from polyvox.audio.encode import validate_output as check_output
from polyvox.config import Settings
from polyvox.errors import InvalidParameterError, NotFoundError, PayloadTooLargeError, UnsupportedMediaError
from polyvox.openai_names import OPENAI_VOICES
from polyvox.request import (
    MAX_RATE,
    MAX_SPEED,
    MIN_RATE,
    MIN_SPEED,
    RequestFields,
    SynthesisRequest,
)
from polyvox.synthesis import Synthesizer
from polyvox.voice_router import LIBRARY_PREFIX
from polyvox.voices.fetch import fetch_bytes

router = APIRouter(tags=["Other servers' shapes"], responses=VALIDATION_RESPONSE)

router.add_api_route("/api/v1/health", health, methods=["GET"], summary="Health (Chatterbox-server path)")
router.add_api_route("/api/v1/voices", list_audio_voices, methods=["GET"], summary="Voices (Chatterbox path)")
router.add_api_route("/api/v1/config", get_config, methods=["GET"], summary="Settings (Chatterbox path)")
router.add_api_route(
    "/api/v1/vc", convert_voice, methods=["POST"], summary="Voice conversion (Chatterbox path)"
)


class SeedSpeech(RequestFields):
    """``POST /api/v1/tts``."""

    model_config = ConfigDict(extra="allow")

    text: str = Field(..., description="The text to speak.")
    # Unbounded here: the pipeline's range check answers 422 `invalid_parameter`, as this route always has.
    speed: float = Field(1.0, description="Speaking speed, 0.25 to 4.0.")
    format: str = Field("wav", alias="output_format", description="Audio format (as `response_format`).")
    sample_rate: int | None = Field(None, description="Output rate in Hz; default the engine's.")
    response: Literal["audio", "url"] = Field(
        "audio", description="`audio`: the file as the body; `url`: JSON with the URL of the file written."
    )
    reference_audio_url: str | None = Field(
        None,
        description="Speak in the voice of the audio at this URL (fetched SSRF-safely); stored as the "
        "library voice `ref-<hash>` and reused. Multipart bodies may send the file as `reference_audio`.",
    )


_SCHEMA = SeedSpeech.model_json_schema(by_alias=True)
_FORM_SCHEMA = {
    **_SCHEMA,
    "properties": {
        **_SCHEMA["properties"],
        "reference_audio": {
            "type": "string",
            "format": "binary",
            "description": "Reference recording (wav, mp3, flac, ogg, m4a) to speak in; not with `voice`.",
        },
    },
}
_BODY = {
    "required": True,
    "content": {"application/json": {"schema": _SCHEMA}, "multipart/form-data": {"schema": _FORM_SCHEMA}},
}


async def _read_body(request: Request, settings: Settings) -> tuple[SeedSpeech, bytes | None]:
    """The request as JSON or as multipart form fields, and the uploaded ``reference_audio`` if any."""
    kind = media_type(request)
    upload: bytes | None = None
    fields: dict[str, Any] = {}
    if kind == "multipart/form-data":
        form = await read_form(request, settings)
        try:
            for key, value in form.multi_items():
                if isinstance(value, UploadFile):
                    if key != "reference_audio":
                        raise InvalidParameterError(f"field {key!r} must be text, not a file", param=key)
                    upload = await value.read()
                elif value != "" or key == "text":
                    fields[key] = value
        finally:
            await form.close()
        if upload is not None and len(upload) > settings.voices.max_upload_bytes:
            raise PayloadTooLargeError(
                f"the reference exceeds {settings.voices.max_upload_bytes} bytes", param="reference_audio"
            )
    elif kind in JSON_TYPES:
        try:
            data = jsontext.loads(await request.body())
        except ValueError as exc:
            raise InvalidParameterError(f"request body is not valid JSON: {exc}", param="body") from None
        if not isinstance(data, dict):
            raise InvalidParameterError("the JSON body must be an object", param="body")
        fields = data
    else:
        raise UnsupportedMediaError(
            "expected Content-Type application/json or multipart/form-data", param="content-type"
        )
    try:
        return SeedSpeech.model_validate(fields), upload
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from None


async def _reference(
    body: SeedSpeech,
    upload: bytes | None,
    synthesizer: Synthesizer,
    settings: Settings,
    held: contextlib.ExitStack,
) -> str | None:
    """``library:<id>`` of the reference sent (uploaded or by URL), stored on first use and held (``held``)
    while the request runs; None without one."""
    if upload is None and not body.reference_audio_url:
        return None
    param = "reference_audio" if upload is not None else "reference_audio_url"
    if body.voice:
        raise InvalidParameterError(f"send either voice or {param}, not both", param=param)
    if upload is not None and body.reference_audio_url:
        raise InvalidParameterError(
            "send either reference_audio or reference_audio_url, not both", param="reference_audio_url"
        )
    data = (
        upload if upload is not None else await fetch_bytes(body.reference_audio_url or "", settings.voices)
    )
    voice_id = await reference_voice(data, synthesizer, settings, body.language or "en-us", held)
    return f"{LIBRARY_PREFIX}{voice_id}"


async def _render(
    synthesizer: Synthesizer, request: SynthesisRequest, fmt_name: str
) -> tuple[bytes, dict[str, str]]:
    """The whole file in ``fmt_name``, and the headers describing it."""
    fmt = parse_format(fmt_name, "format")
    check_output(
        fmt, request.sample_rate or encoded_rate(fmt, 24000), 16, exact=request.sample_rate is not None
    )
    stream = await synthesizer.open(request, rate_for=lambda rate: encoded_rate(fmt, rate))
    async with stream:
        chunks = [chunk.samples async for chunk in stream]
    samples = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)
    data = await asyncio.to_thread(encode_whole, samples, fmt, stream.sample_rate)
    headers = {
        "X-Engine": stream.engine_name,
        "X-Voice": stream.voice.id,
        "X-Audio-Seconds": str(round(stream.stats.audio_seconds, 4)),
        "X-Request-ID": request.request_id,
    }
    return data, headers


def _store(request: Request, data: bytes, fmt_name: str) -> str:
    """Write into the output directory; the name to fetch it by."""
    storage: Storage = request.app.state.storage
    fmt = parse_format(fmt_name, "format")
    name = f"{uuid.uuid4().hex}{(*FILE_EXTENSIONS[fmt], '.wav')[0]}"
    storage.write(name, [data])
    return name


@router.post(
    "/api/v1/tts",
    summary="Speak text (Chatterbox-server shape)",
    responses=ERROR_RESPONSES,
    openapi_extra={"requestBody": _BODY},
)
async def seed_tts(
    request: Request,
    synthesizer: SynthesizerDep,
    registry: RegistryDep,
    request_id: RequestIdDep,
    settings: SettingsDep,
) -> Response:
    """JSON, or multipart with the same fields and a `reference_audio` file. Engine parameters
    (`exaggeration`, `cfg_weight`, `temperature`...) go to engines that declare them; the rest are named in
    `X-Polyvox-Ignored`. A reference (`reference_audio` or `reference_audio_url`) becomes the library voice
    `ref-<sha256 prefix>` (stored once, reused) and the text is spoken with it."""
    body, upload = await _read_body(request, settings)
    engine = check_engine(registry, body.engine) if body.engine else registry.default
    names = set(registry.info(engine).parameter_names)
    extra = {k: v for k, v in (body.model_extra or {}).items() if k in names}
    ignored = sorted(set(body.model_extra or {}) - set(extra))
    with contextlib.ExitStack() as held:  # a reference voice is kept until the audio is made
        reference = await _reference(body, upload, synthesizer, settings, held)
        voice = reference or body.voice
        speech = body.to_request(engine=engine, voice=voice, extra=extra, request_id=request_id)
        data, headers = await _render(synthesizer, speech, body.format)
    if ignored:
        headers["X-Polyvox-Ignored"] = ignored_header(ignored)
    fmt = parse_format(body.format, "format")
    if body.response == "audio":
        return Response(data, media_type=MEDIA_TYPES[fmt], headers=headers)
    name = await asyncio.to_thread(_store, request, data, body.format)
    payload: dict[str, object] = {"url": f"/api/v1/outputs/{name}", "file": name}
    payload |= {"engine": headers["X-Engine"], "voice": headers["X-Voice"]}
    payload["duration"] = float(headers["X-Audio-Seconds"])
    return Response(json.dumps(payload), media_type="application/json", headers=headers)


@router.get("/api/v1/outputs/{name}", summary="A file written by `response: url`")
async def seed_output(name: str, request: Request) -> FileResponse:
    """The audio file `POST /api/v1/tts` (or `process-queue`) wrote; 404 once storage cleanup removed it."""
    storage: Storage = request.app.state.storage
    folder = storage.dirs["output"].resolve()
    # A NUL byte cannot name a file (resolve would raise): no such file, like a hidden one.
    path = None if "\x00" in name or name.startswith(".") else (folder / name).resolve()
    if path is None or path.parent != folder or not path.is_file():
        raise NotFoundError(
            f"no output file {name!r} (files are removed by the storage policy)", param="name"
        )
    media = next((MEDIA_TYPES[f] for f, exts in FILE_EXTENSIONS.items() if path.suffix in exts), None)
    return FileResponse(path, media_type=media or "application/octet-stream")


# -- defaults and the page ------------------------------------------------------------------------------
@router.get("/v1/synthesis-config", summary="Synthesis defaults and limits", tags=["Engines and voices"])
async def synthesis_config(settings: SettingsDep, registry: RegistryDep) -> dict[str, object]:
    """What a request gets when it names nothing, and the bounds it must stay within."""
    default = registry.default
    return {
        "engine": default,
        "voice": registry.resolve_voice(default, None).id,
        "sample_rate": registry.info(default).sample_rate,
        "formats": supported_formats(),
        "speed": {"min": MIN_SPEED, "max": MAX_SPEED, "default": 1.0},
        "sample_rate_range": {"min": MIN_RATE, "max": MAX_RATE},
        "max_text_length": settings.max_text_length,
        "longform_max_chars": settings.longform.max_chars,
        "engines": registry.names(),
        "openai_models": list(HOSTED_MODELS),
        "openai_voices": list(OPENAI_VOICES),
    }


@router.get("/ui", include_in_schema=False)
async def ui() -> RedirectResponse:
    return RedirectResponse("/", status_code=307)
