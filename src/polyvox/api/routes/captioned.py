"""``POST /v1/audio/speech/captioned``: audio plus word timestamps (JSON, SRT or VTT), and long-form replies.

The non-streamed variant runs a long-form job (parallel chunks, loudness, optional Whisper validation) and
answers one JSON object. ``stream=true`` answers server-sent events, one per sentence as it is synthesized:
``{"type":"speech.captioned.delta","audio":<base64>,"words":[...]}`` then ``speech.captioned.done``.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import ConfigDict, Field
from starlette.background import BackgroundTask
from starlette.responses import Response, StreamingResponse

from polyvox import captions
from polyvox.api.deps import RegistryDep, RequestIdDep, SynthesizerDep, limit_long_body, require_json
from polyvox.api.routes.common import ERROR_RESPONSES, VALIDATION_RESPONSE, check_engine
from polyvox.api.streaming import open_stream, sse_event, unless_abandoned
from polyvox.audio.chunk import WordTiming
from polyvox.audio.encode import encode_whole
from polyvox.audio.formats import MEDIA_TYPES, AudioFormat, encoded_rate, parse_format
from polyvox.audio.formats import validate_output as check_output
from polyvox.longform import LongformResult, synthesize_long
from polyvox.request import RequestFields, SynthesisRequest
from polyvox.stream import SynthesisStream
from polyvox.synthesis import Synthesizer

router = APIRouter(tags=["Captions"], responses=VALIDATION_RESPONSE)


class CaptionedRequest(RequestFields):
    """Text to speak with word timestamps."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    input: str = Field(..., description="The text to speak (up to `longform.max_chars`).")
    response_format: str = Field(
        "wav", description="Audio format: wav, mp3, opus, aac, flac, pcm, ulaw, alaw, wav_ulaw or wav_alaw."
    )
    caption_format: Literal["json", "srt", "vtt"] = Field(
        "json", description="`json`: only the `words` list; `srt`/`vtt`: also `captions` as that text format."
    )
    normalize: bool | None = Field(None, description="English text normalization (default on).")
    validate_speech: bool = Field(
        False, alias="validate", description="Whisper-check every chunk and re-synthesize bad ones."
    )
    stream: bool = Field(False, description="Server-sent events, one per sentence (no validation).")


def caption_text(words: list[WordTiming], kind: str) -> str | None:
    return captions.to_srt(words) if kind == "srt" else captions.to_vtt(words) if kind == "vtt" else None


def result_metadata(result: LongformResult) -> dict[str, Any]:
    """Per-chunk and overall figures of a long-form job."""
    return {
        "engine": result.engine,
        "voice": result.voice,
        "duration": round(result.audio.seconds, 3),
        "wall_seconds": round(result.wall_seconds, 3),
        "synthesis_seconds": round(result.synthesis_seconds, 3),
        "wer": None if result.wer is None else round(result.wer, 4),
        "chunks": [
            {
                "index": c.index,
                "text": c.text,
                "engine": c.engine,
                "attempts": c.attempts,
                "wer": c.wer,
                "wers": c.wers,
                "cached": c.cached,
            }
            for c in result.chunks
        ],
    }


async def longform_response(
    synthesizer: Synthesizer, request: SynthesisRequest, fmt: AudioFormat, bit_depth: int, validate: bool
) -> Response:
    """The native route's long-form reply: the whole file, figures and validation results as headers."""
    check_output(
        fmt, request.sample_rate or encoded_rate(fmt, 24000), bit_depth, exact=request.sample_rate is not None
    )
    result = await synthesize_long(
        synthesizer, request, validate=validate, rate_for=lambda rate: encoded_rate(fmt, rate)
    )
    body = await asyncio.to_thread(encode_whole, result.audio.samples, fmt, result.audio.sample_rate)
    headers = {
        "X-Engine": result.engine,
        "X-Voice": result.voice,
        "X-Sample-Rate": str(result.audio.sample_rate),
        "X-Request-ID": request.request_id,
        "X-Audio-Seconds": str(round(result.audio.seconds, 4)),
        "X-Synthesis-Seconds": str(round(result.synthesis_seconds, 4)),
        "X-Chunks": str(len(result.chunks)),
    }
    if result.wer is not None:
        headers["X-WER"] = str(round(result.wer, 4))
        headers["X-Resynthesized"] = str(sum(1 for c in result.chunks if c.attempts > 1))
    return Response(body, media_type=MEDIA_TYPES[fmt], headers=headers)


async def _events(
    synthesizer: Synthesizer, stream: SynthesisStream, fmt: AudioFormat
) -> AsyncIterator[bytes]:
    transcriber = synthesizer.asr
    offset = 0.0
    async with stream:
        async for chunk in stream.by_segment():  # words are aligned per sentence: its parts joined
            heard = await transcriber.listen(chunk.samples, chunk.sample_rate, word_timestamps=True)
            timed = [WordTiming(w, s, e) for w, s, e in heard.words]
            words = captions.align_words(captions.input_words(chunk.text), timed, chunk.seconds)
            audio = await asyncio.to_thread(encode_whole, chunk.samples, fmt, chunk.sample_rate)
            yield sse_event(
                {
                    "type": "speech.captioned.delta",
                    "audio": base64.b64encode(audio).decode(),
                    "words": captions.to_json(captions.shift(words, offset)),
                }
            )
            offset += chunk.seconds
    yield sse_event({"type": "speech.captioned.done", "duration": round(offset, 3)})


@router.post(
    "/v1/audio/speech/captioned",
    summary="Speak text with word timestamps",
    responses={200: {"description": "JSON: audio (base64), words, captions, metadata."}, **ERROR_RESPONSES},
    dependencies=[Depends(limit_long_body), Depends(require_json)],
)
async def captioned(
    http_request: Request,
    synthesizer: SynthesizerDep,
    registry: RegistryDep,
    request_id: RequestIdDep,
    body: CaptionedRequest,
) -> Response:
    """Speak `input` and return every word with its start and end time in the audio."""
    fmt = parse_format(body.response_format, "response_format")
    engine = check_engine(registry, body.engine) if body.engine else registry.default
    request = body.to_request(text=body.input, engine=engine, request_id=request_id)
    if body.stream:
        # Opened (validated, first sentence synthesized) before the 200: an empty input or an unknown voice
        # is a JSON error, not a torn event stream.
        stream = await open_stream(synthesizer, request, fmt, 16)
        return StreamingResponse(
            _events(synthesizer, stream, fmt),
            media_type="text/event-stream",
            background=BackgroundTask(stream.aclose),
        )
    job = _captioned_reply(synthesizer, request, fmt, body)
    return await unless_abandoned(http_request.receive, job, request_id)


async def _captioned_reply(
    synthesizer: Synthesizer, request: SynthesisRequest, fmt: AudioFormat, body: CaptionedRequest
) -> Response:
    result = await synthesize_long(
        synthesizer,
        request,
        validate=body.validate_speech,
        captions=True,
        rate_for=lambda rate: encoded_rate(fmt, rate),
    )
    audio = await asyncio.to_thread(encode_whole, result.audio.samples, fmt, result.audio.sample_rate)
    payload = {
        "audio": base64.b64encode(audio).decode(),
        "format": fmt.value,
        "sample_rate": result.audio.sample_rate,
        "words": captions.to_json(result.words),
        "captions": caption_text(result.words, body.caption_format),
        **result_metadata(result),
    }
    return Response(
        json.dumps(payload), media_type="application/json", headers={"X-Request-ID": request.request_id}
    )
