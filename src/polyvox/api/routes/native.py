"""``POST /v1/synthesize``: the native route, taking form fields or JSON and every engine parameter."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.datastructures import UploadFile
from starlette.responses import Response

from polyvox import jsontext
from polyvox.api.deps import (
    JSON_TYPES,
    RegistryDep,
    RequestIdDep,
    SynthesizerDep,
    limit_long_body,
    require_json_or_form,
)
from polyvox.api.routes.captioned import longform_response
from polyvox.api.routes.common import ERROR_RESPONSES, VALIDATION_RESPONSE, check_engine
from polyvox.api.speech_requests import SynthesizeRequest
from polyvox.api.streaming import audio_response, open_stream, unless_abandoned, whole_response
from polyvox.audio.formats import parse_format
from polyvox.errors import InvalidParameterError
from polyvox.stream_mode import StreamMode

router = APIRouter(tags=["Native"], responses=VALIDATION_RESPONSE)

_SCHEMA = SynthesizeRequest.model_json_schema()
_BODY_SCHEMA: dict[str, Any] = {
    "required": True,
    "content": {
        "application/json": {"schema": _SCHEMA},
        "application/x-www-form-urlencoded": {"schema": _SCHEMA},
        "multipart/form-data": {"schema": _SCHEMA},
    },
}


async def _read_fields(request: Request, kind: str) -> dict[str, Any]:
    """The body as a dict: a JSON object, or form fields (empty form fields count as not given)."""
    if kind in JSON_TYPES:
        raw = await request.body()
        try:
            data = jsontext.loads(raw)
        except ValueError as exc:
            raise InvalidParameterError(f"request body is not valid JSON: {exc}", param="body") from None
        if not isinstance(data, dict):
            raise InvalidParameterError("the JSON body must be an object", param="body")
        return data
    form = await request.form()
    fields: dict[str, Any] = {}
    for key, value in form.multi_items():
        if isinstance(value, UploadFile):
            raise InvalidParameterError(f"field {key!r} must be text, not a file", param=key)
        if value != "" or key == "text":
            fields[key] = value
    return fields


async def parse_synthesize_request(
    request: Request, kind: Annotated[str, Depends(require_json_or_form)]
) -> SynthesizeRequest:
    """Validate the body against :class:`SynthesizeRequest` whichever way it was sent."""
    fields = await _read_fields(request, kind)
    try:
        return SynthesizeRequest.model_validate(fields)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from None


@router.post(
    "/v1/synthesize",
    summary="Speak text (native)",
    response_class=Response,
    openapi_extra={"requestBody": _BODY_SCHEMA},
    responses={
        200: {
            "description": "Audio in `format`. Non-streamed responses carry X-Engine, X-Voice, "
            "X-Sample-Rate, X-Request-ID, X-Audio-Seconds, X-Synthesis-Seconds, X-Real-Time-Factor and "
            "X-First-Chunk-Seconds. Streamed responses (`stream=true`) carry only the first four: the "
            "figures are not known when headers are sent.",
            "content": {
                "audio/wav": {},
                "audio/pcm": {},
                "audio/mpeg": {},
                "audio/ogg": {},
                "audio/flac": {},
            },
        },
        **ERROR_RESPONSES,
    },
    dependencies=[Depends(limit_long_body)],
)
async def synthesize(
    http_request: Request,
    synthesizer: SynthesizerDep,
    registry: RegistryDep,
    request_id: RequestIdDep,
    body: Annotated[SynthesizeRequest, Depends(parse_synthesize_request)],
) -> Response:
    """Synthesize `text` with any engine, voice and engine parameter.

    Accepts `application/json`, `application/x-www-form-urlencoded` and `multipart/form-data` with the same
    fields. Engine parameters that are set (length_scale, noise_scale, noise_w, temperature, top_k, top_p,
    pitch, delay, fail_at) are passed to the engine, which ignores those it does not know.
    """
    fmt = parse_format(body.format, "format")
    engine = check_engine(registry, body.engine) if body.engine else registry.default
    request = body.to_request(engine=engine, extra=body.engine_extra(), request_id=request_id)
    mode = synthesizer.mode_for(body.text, streamed=body.stream, validate=body.validate_speech)
    if mode is StreamMode.LONGFORM:
        # Long or validated texts run as a parallel long-form job (chunked, mastered, joined).
        job = longform_response(synthesizer, request, fmt, body.bit_depth, body.validate_speech)
        return await unless_abandoned(http_request.receive, job, request_id)
    stream = await open_stream(synthesizer, request, fmt, body.bit_depth, mode=mode)
    if body.stream:
        return audio_response(stream, fmt, body.bit_depth, request_id)
    return await whole_response(stream, fmt, body.bit_depth, request_id, http_request.is_disconnected)
