"""``POST /v1/audio/speech``: OpenAI's text-to-speech endpoint, so OpenAI clients work unchanged."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends
from starlette.responses import Response

from polyvox.api.deps import RegistryDep, RequestIdDep, SettingsDep, SynthesizerDep, limit_body, require_json
from polyvox.api.routes.common import ERROR_RESPONSES, VALIDATION_RESPONSE, check_engine, ignored_header
from polyvox.api.routes.dialogue import tagged_speech
from polyvox.api.speech_requests import SpeechRequest
from polyvox.api.streaming import audio_response, open_stream, sse_response
from polyvox.audio.formats import AudioFormat, parse_format
from polyvox.config import Settings
from polyvox.dialogue.script import has_voice_tags
from polyvox.engines.registry import EngineRegistry
from polyvox.errors import InvalidParameterError
from polyvox.openai_names import openai_voice

router = APIRouter(tags=["OpenAI compatible"], responses=VALIDATION_RESPONSE)

HOSTED_MODELS = ("tts-1", "tts-1-hd", "gpt-4o-mini-tts", "gpt-4o-mini-tts-2025-12-15")
"""OpenAI's model names (openapi.yaml 2.3.0); they all mean "the default engine"."""

OPENAI_PCM_RATE = 24000
"""OpenAI's ``pcm`` is 24 kHz: headerless, so clients (the SDK's LocalAudioPlayer, LiveKit) assume it."""


def resolve_engine_and_voice(
    body: SpeechRequest, registry: EngineRegistry, settings: Settings
) -> tuple[str, str | None]:
    """The engine and voice id a speech request asks for.

    ``model`` is an OpenAI model (the default engine), an engine, or ``engine/voice``; the ``engine``
    extension overrides it. ``voice`` is an engine voice id, ``engine/voice``, or an OpenAI voice name
    (polyvox.openai_names); a name mapped to another engine than the request's yields that engine's
    default voice (None).
    """
    engine: str | None = None
    voice: str | None = None
    model = body.model.strip()
    if model not in HOSTED_MODELS:
        name, _, model_voice = model.partition("/")
        engine = check_engine(registry, name, param="model")
        voice = model_voice or None
    if body.engine:
        engine = check_engine(registry, body.engine)
    wanted = (body.voice_name or "").strip()
    if voice is None and wanted:
        mapped = openai_voice(wanted, settings, registry)
        if mapped is not None:
            map_engine, map_voice = mapped
            engine = engine or registry.default
            voice = map_voice if map_engine == engine else None
        elif "/" in wanted:
            voice_engine, _, voice_id = wanted.partition("/")
            engine = engine or check_engine(registry, voice_engine, param="voice")
            if voice_engine != engine:
                raise InvalidParameterError(
                    f"voice {wanted!r} belongs to engine {voice_engine!r}, but the request uses {engine!r}",
                    param="voice",
                )
            voice = voice_id
        else:
            voice = wanted
    # Pin the engine now: a default switched while this request runs must not change it.
    return engine or registry.default, voice


def ignored_fields(body: SpeechRequest, engine_takes_instructions: bool) -> list[str]:
    """Fields of the request that have no effect: unknown ones, and instructions the engine cannot use."""
    ignored = sorted(body.model_extra or {})
    if body.instructions and not engine_takes_instructions:
        ignored.insert(0, "instructions")
    return ignored


@router.post(
    "/v1/audio/speech",
    summary="Speak text (OpenAI compatible)",
    response_class=Response,
    responses={
        200: {
            "description": "Audio in `response_format`, streamed sentence by sentence (chunked), or "
            "server-sent events with `stream_format=sse`. Headers: X-Engine, X-Voice, X-Sample-Rate, "
            "X-Request-ID, and X-Polyvox-Ignored naming the fields that had no effect (unknown fields, "
            "`instructions` for an engine that cannot follow them).",
            "content": {
                "audio/mpeg": {},
                "audio/ogg": {},
                "audio/aac": {},
                "audio/flac": {},
                "audio/wav": {},
                "audio/pcm": {},
                "text/event-stream": {},
            },
        },
        **ERROR_RESPONSES,
    },
    dependencies=[Depends(limit_body), Depends(require_json)],
)
async def create_speech(
    body: Annotated[SpeechRequest, Body()],
    synthesizer: SynthesizerDep,
    registry: RegistryDep,
    settings: SettingsDep,
    request_id: RequestIdDep,
) -> Response:
    """Synthesize `input` and stream it back as each sentence is ready.

    Everything is validated and the first sentence synthesized before the status line is sent, so every
    error before that is a JSON error with its status. A failure after audio has started ends the body
    early (audio) or sends an `error` event (SSE). Measured figures are not known when headers are sent; with
    `stream_format=sse` they come in the `speech.audio.done` event under `polyvox`, and the native
    `/v1/synthesize` route (non-streamed) sends them as headers.
    """
    fmt = parse_format(body.response_format, "response_format")
    engine, voice = resolve_engine_and_voice(body, registry, settings)
    takes_instructions = registry.info(engine).takes_instructions
    extra = {"instructions": body.instructions} if body.instructions and takes_instructions else {}
    sample_rate = body.sample_rate
    if sample_rate is None and fmt is AudioFormat.PCM:
        sample_rate = OPENAI_PCM_RATE
    request = body.to_request(
        text=body.input,
        engine=engine,
        voice=voice,
        sample_rate=sample_rate,
        extra=extra,
        request_id=request_id,
    )
    tags = settings.dialogue.voice_tags if body.voice_tags is None else body.voice_tags
    if tags and has_voice_tags(body.input):  # opted in: several voices, one stream (polyvox.dialogue)
        return await tagged_speech(
            synthesizer,
            body.input,
            request,
            fmt,
            request_id,
            bit_depth=body.bit_depth,
            stream_format=body.stream_format,
        )
    stream = await open_stream(synthesizer, request, fmt, body.bit_depth)
    if body.stream_format == "sse":
        response = sse_response(stream, fmt, body.bit_depth, body.input, request_id)
    else:
        response = audio_response(stream, fmt, body.bit_depth, request_id)
    if ignored := ignored_fields(body, takes_instructions):
        response.headers["X-Polyvox-Ignored"] = ignored_header(ignored)
    return response
