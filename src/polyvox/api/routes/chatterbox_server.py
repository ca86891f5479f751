"""The Chatterbox-server API shape (``/api/v1/...``), so its clients work unchanged; one pipeline behind it.

``POST /api/v1/tts`` takes JSON, or multipart with a ``reference_audio`` file, and answers with the audio or,
with ``"response": "url"``, a file in the bounded output directory (polyvox.api.routes.outputs).
``vc``, ``health``, ``voices`` and ``config`` are the same handlers as ``/v1/vc``, ``/health``,
``/v1/audio/voices`` and ``/v1/config``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ConfigDict, Field, ValidationError
from starlette.datastructures import UploadFile
from starlette.responses import Response

from polyvox import jsontext
from polyvox.api.deps import JSON_TYPES, RegistryDep, RequestIdDep, SettingsDep, SynthesizerDep, media_type
from polyvox.api.routes.common import ERROR_RESPONSES, VALIDATION_RESPONSE, check_engine, ignored_header
from polyvox.api.routes.config import get_config
from polyvox.api.routes.engines import list_audio_voices
from polyvox.api.routes.health import health
from polyvox.api.routes.outputs import render_whole, store_output
from polyvox.api.routes.voices_library import convert_voice, read_form, reference_voice
from polyvox.audio.formats import MEDIA_TYPES, parse_format
from polyvox.config import Settings
from polyvox.errors import InvalidParameterError, PayloadTooLargeError, UnsupportedMediaError
from polyvox.request import RequestFields
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
        data, headers = await render_whole(synthesizer, speech, body.format)
    if ignored:
        headers["X-Polyvox-Ignored"] = ignored_header(ignored)
    fmt = parse_format(body.format, "format")
    if body.response == "audio":
        return Response(data, media_type=MEDIA_TYPES[fmt], headers=headers)
    name = await asyncio.to_thread(store_output, request, data, body.format)
    payload: dict[str, object] = {"url": f"/api/v1/outputs/{name}", "file": name}
    payload |= {"engine": headers["X-Engine"], "voice": headers["X-Voice"]}
    payload["duration"] = float(headers["X-Audio-Seconds"])
    return Response(json.dumps(payload), media_type="application/json", headers=headers)
