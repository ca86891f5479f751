"""``POST /v1/audio/dialogue``: several speakers in one audio, turn by turn (polyvox.dialogue).

The body gives ``turns`` (``{speaker or voice, text, engine?, language?, speed?}``) or a plain-text ``script``
(``Alice: ...`` / ``[S1] ...`` lines), and a ``cast`` mapping speakers to voices. Every turn is checked before
anything is synthesized, and the first turn is rendered before the status line, so bad input is a JSON error
with its status. ``stream=true`` answers the audio as a chunked body, turn by turn; otherwise one JSON object:
the audio (base64), the per-turn timings and speaker-labelled captions.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import json
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Annotated, Literal

import anyio
import numpy as np
import structlog
from fastapi import APIRouter, Body, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.background import BackgroundTask
from starlette.responses import Response, StreamingResponse

from polyvox.api.deps import RequestIdDep, SynthesizerDep, limit_body, require_json
from polyvox.api.routes.common import ERROR_RESPONSES, VALIDATION_RESPONSE
from polyvox.api.streaming import (
    AudioStreamingResponse,
    StreamAborted,
    encode_off_loop,
    finish_off_loop,
    unless_abandoned,
)
from polyvox.audio.encode import StreamEncoder
from polyvox.audio.formats import MEDIA_TYPES, AudioFormat, encoded_rate, parse_format
from polyvox.audio.formats import validate_output as check_output
from polyvox.dialogue import CastVoice, DialogueRender, Turn, open_dialogue
from polyvox.dialogue import captions as dialogue_captions
from polyvox.dialogue.render import RenderedTurn
from polyvox.dialogue.script import parse_script, split_voice_tags
from polyvox.errors import InvalidParameterError, PolyvoxError
from polyvox.request import MAX_SPEED, MIN_SPEED, SynthesisRequest
from polyvox.synthesis import Synthesizer

log = structlog.get_logger(__name__)
router = APIRouter(tags=["Dialogue"], responses=VALIDATION_RESPONSE)

_Speed = Annotated[float | None, Field(ge=MIN_SPEED, le=MAX_SPEED)]


class CastEntry(BaseModel):
    """A speaker's voice (any voice a speech route takes) and the defaults of the speaker's turns."""

    model_config = ConfigDict(extra="forbid")
    voice: str | None = Field(None, description="`joe`, `kokoro/af_bella`, a library voice, `alloy`...")
    engine: str | None = Field(None, description="Engine of the voice; default: from `voice` or the default.")
    language: str | None = Field(None, description="Language code of the speaker's turns.")
    speed: _Speed = Field(
        None, description=f"Speaking speed of the speaker's turns, {MIN_SPEED} to {MAX_SPEED}."
    )
    parameters: dict[str, float | int | str] = Field(
        default_factory=dict,
        description="Engine parameters of the speaker's turns (`noise_scale`, `pitch`...).",
    )


class TurnEntry(BaseModel):
    """One turn: a cast speaker (or a voice directly), its text, optional overrides."""

    model_config = ConfigDict(extra="forbid")
    speaker: str | None = Field(None, max_length=64, description="A name of the cast.")
    voice: str | None = Field(None, description="A voice directly, instead of a speaker.")
    text: str = Field(..., description="What the turn says.")
    engine: str | None = Field(None, description="Engine for this turn (overrides the cast).")
    language: str | None = Field(None, description="Language code for this turn.")
    speed: _Speed = Field(None, description=f"Speaking speed for this turn, {MIN_SPEED} to {MAX_SPEED}.")

    @model_validator(mode="after")
    def _who(self) -> TurnEntry:
        if self.speaker is None and self.voice is None:
            raise ValueError("a turn needs a speaker (from the cast) or a voice")
        return self


class DialogueRequest(BaseModel):
    """A dialogue: turns or a script, and a cast."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    turns: list[TurnEntry] | None = Field(None, description="The turns, in order (or give `script`).")
    script: str | None = Field(None, description="Plain text, one turn a line: `Alice: Hi.` or `[S1] Hi.`")
    cast: dict[str, str | CastEntry] = Field(
        default_factory=dict, description="Speaker name to a voice, or to `{voice, engine, language, speed}`."
    )
    response_format: str = Field("mp3", description="wav, mp3, opus, aac, flac, pcm, ulaw, alaw...")
    sample_rate: int | None = Field(None, description="Output rate; default 24 kHz (or the codec's).")
    stream: bool = Field(False, description="Chunked audio, turn by turn, instead of one JSON object.")
    caption_format: Literal["json", "srt", "vtt"] = Field("vtt", description="`captions` as WebVTT or SRT.")
    validate_speech: bool = Field(
        False, alias="validate", description="Whisper-check every turn's chunks and re-synthesize bad ones."
    )
    normalize: bool | None = Field(None, description="English text normalization (default: the setting).")

    def dialogue_turns(self) -> list[Turn]:
        if (self.turns is None) == (self.script is None):
            raise InvalidParameterError("give `turns` or `script` (one of them)", param="turns")
        if self.script is not None:
            return [Turn(t.text, speaker=t.speaker) for t in parse_script(self.script)]
        return [Turn(**t.model_dump()) for t in self.turns or ()]

    def dialogue_cast(self) -> dict[str, CastVoice]:
        return {
            name: CastVoice(voice=entry) if isinstance(entry, str) else CastVoice(**entry.model_dump())
            for name, entry in self.cast.items()
        }


def output_rate(fmt: AudioFormat, sample_rate: int | None, bit_depth: int = 16) -> int:
    """The one rate every turn renders at (checked against the format first)."""
    check_output(fmt, sample_rate or encoded_rate(fmt, 24000), bit_depth, exact=sample_rate is not None)
    return sample_rate or encoded_rate(fmt, 24000)


async def _encode_turn(encoder: StreamEncoder, turn: RenderedTurn) -> bytes:
    data = await encode_off_loop(encoder, turn.samples)
    if turn.gap_after:
        data += await encode_off_loop(encoder, np.zeros(turn.gap_after, dtype=np.float32))
    return data


async def first_turn(render: DialogueRender) -> tuple[RenderedTurn, AsyncGenerator[RenderedTurn]]:
    """The first turn rendered (a failure is still a proper status), and the iterator of the rest."""
    turns = render.turns()
    try:
        return await anext(turns), turns
    except BaseException:
        await turns.aclose()
        raise


async def _audio_body(
    first: RenderedTurn, rest: AsyncGenerator[RenderedTurn], encoder: StreamEncoder, request_id: str
) -> AsyncIterator[bytes]:
    try:
        yield await _encode_turn(encoder, first)
        async for turn in rest:
            yield await _encode_turn(encoder, turn)
        if tail := await finish_off_loop(encoder):
            yield tail
        log.info("dialogue_done", request_id=request_id)
    except PolyvoxError as exc:  # after the status line: the body ends short, never as a complete file
        log.warning("dialogue_truncated", request_id=request_id, code=exc.code, reason=exc.message)
        raise StreamAborted(exc.message) from exc
    finally:
        # The body may end because its task was cancelled (client gone): shielded, the turns ahead are
        # cancelled and waited for all the same.
        with anyio.CancelScope(shield=True):
            await rest.aclose()
            encoder.close()


async def stream_dialogue(
    render: DialogueRender, fmt: AudioFormat, request_id: str, bit_depth: int = 16
) -> Response:
    """Chunked audio, one turn after another with the gaps between (also inline voice tags' answer)."""
    first, rest = await first_turn(render)
    encoder = StreamEncoder(fmt, render.rate, bit_depth)
    headers = {
        "X-Sample-Rate": str(encoder.output_rate),
        "X-Request-ID": request_id,
        "X-Dialogue-Turns": str(len(render.planned)),
    }
    return AudioStreamingResponse(
        _audio_body(first, rest, encoder, request_id),
        media_type=MEDIA_TYPES[fmt],
        headers=headers,
        background=BackgroundTask(rest.aclose),  # the body never started (client gone): turns cancelled
    )


async def _whole(
    render: DialogueRender, fmt: AudioFormat, body: DialogueRequest, request_id: str
) -> Response:
    buffer = io.BytesIO()
    encoder = StreamEncoder(fmt, render.rate, output=buffer)
    try:
        async with contextlib.aclosing(render.turns()) as turns:  # cancelled: the turns ahead too
            async for turn in turns:
                await _encode_turn(encoder, turn)
        await finish_off_loop(encoder)
    finally:
        encoder.close()
    timings = render.timings
    rest: dict[str, object] = {
        "format": fmt.value,
        "sample_rate": encoder.output_rate,
        "duration": round(render.seconds, 3),
        "turns": dialogue_captions.to_json(timings),
        "caption_format": body.caption_format,
        "captions": dialogue_captions.caption_text(timings, body.caption_format),
    }
    return StreamingResponse(
        _json_body(buffer, rest), media_type="application/json", headers={"X-Request-ID": request_id}
    )


_BASE64_SLICE = 3 * 2**20
"""Bytes of audio base64-encoded at a time: a whole hour of WAV at once would hold the GIL (and so the
event loop) for half a second, and its JSON encoding as long again."""


async def _json_body(buffer: io.BytesIO, rest: dict[str, object]) -> AsyncIterator[bytes]:
    """``{"audio": "<base64>", **rest}``, the audio encoded slice by slice in a worker thread (base64 needs no
    JSON escaping), so neither the loop stalls nor the reply is held whole a second time."""
    try:
        yield b'{"audio":"'
        buffer.seek(0)
        while piece := buffer.read(_BASE64_SLICE):
            yield await anyio.to_thread.run_sync(base64.b64encode, piece)
        yield b'",' + json.dumps(rest).encode()[1:]
    finally:
        buffer.close()


async def tagged_speech(
    synthesizer: Synthesizer,
    text: str,
    request: SynthesisRequest,
    fmt: AudioFormat,
    request_id: str,
    *,
    bit_depth: int = 16,
    stream_format: str = "audio",
) -> Response:
    """``/v1/audio/speech`` with inline ``[voice:name]`` tags: a dialogue of the request's voice and the
    tagged ones, streamed turn by turn. A tag naming ``engine/voice`` switches engine too; others stay on the
    request's engine."""
    if stream_format != "audio":
        raise InvalidParameterError(
            "a text with voice tags is answered as audio: stream_format must be 'audio'",
            param="stream_format",
        )
    rate = output_rate(fmt, request.sample_rate, bit_depth)
    parts = await asyncio.to_thread(split_voice_tags, text, request.voice or "")
    turns = [
        Turn(
            part.text,
            voice=part.speaker or None,
            engine=None if "/" in part.speaker else request.engine,
            language=request.language,
            speed=request.speed,
        )
        for part in parts
    ]
    render = await open_dialogue(
        synthesizer, turns, {}, rate=rate, request_id=request_id, normalize=request.normalize
    )
    return await stream_dialogue(render, fmt, request_id, bit_depth)


@router.post(
    "/v1/audio/dialogue",
    summary="Speak a dialogue: several speakers in one audio",
    responses={
        200: {
            "description": "JSON: `audio` (base64), `turns` (speaker, engine, voice, start, end), `captions` "
            "(WebVTT voice spans or SRT with names); with `stream=true` the audio itself, chunked.",
        },
        **ERROR_RESPONSES,
    },
    dependencies=[Depends(limit_body), Depends(require_json)],
)
async def dialogue(
    http_request: Request,
    body: Annotated[DialogueRequest, Body()],
    synthesizer: SynthesizerDep,
    request_id: RequestIdDep,
) -> Response:
    """Speak every turn with its speaker's voice, in order, with `dialogue.gap_ms` of silence between."""
    fmt = parse_format(body.response_format, "response_format")
    rate = output_rate(fmt, body.sample_rate)
    turns = await asyncio.to_thread(body.dialogue_turns)  # a script's parsing grows with it
    render = await open_dialogue(
        synthesizer,
        turns,
        body.dialogue_cast(),
        rate=rate,
        request_id=request_id,
        validate=body.validate_speech,
        normalize=body.normalize,
    )
    if body.stream:
        return await stream_dialogue(render, fmt, request_id)
    return await unless_abandoned(http_request.receive, _whole(render, fmt, body, request_id), request_id)
