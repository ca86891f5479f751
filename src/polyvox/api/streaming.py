"""Turning a :class:`SynthesisStream` into HTTP bodies: whole, chunked audio, or OpenAI-style SSE.

The stream was opened (validated, first segment synthesized) before any of this runs, so every error up to
here became a proper status. From here on errors travel in-band:

* chunked audio: the body ends without its final bytes (the connection is closed before the terminating
  chunk, so clients see an incomplete transfer) and the reason is logged;
* SSE: an ``{"type": "error", "error": {"code", "message"}}`` event, then the stream ends.

A client that disconnects makes starlette cancel the body generator (uvicorn speaks ASGI 2.3, so
``StreamingResponse`` runs ``listen_for_disconnect`` beside the body and cancels it); the generator's
``finally`` closes the synthesis stream, which cancels its queued segment: at most the segment already running
in a worker finishes.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import json
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import anyio
import structlog
from starlette.background import BackgroundTask
from starlette.responses import Response, StreamingResponse
from starlette.types import Send

from polyvox.audio.encode import StreamEncoder
from polyvox.audio.formats import MEDIA_TYPES, AudioFormat, encoded_rate, validate_output
from polyvox.errors import PolyvoxError
from polyvox.request import SynthesisRequest
from polyvox.stream import SynthesisStream
from polyvox.stream_mode import StreamMode
from polyvox.synthesis import Synthesizer

log = structlog.get_logger(__name__)

AUDIO_TOKENS_PER_SECOND = 20
"""``usage.output_tokens`` per audio second in ``speech.audio.done`` (approximates OpenAI's rate)."""
CHARS_PER_TOKEN = 4
"""``usage.input_tokens`` is the text length over this (OpenAI's rule of thumb)."""


class StreamAborted(Exception):
    """Raised by a body generator to end the body without its final bytes."""


class AudioStreamingResponse(StreamingResponse):
    """A ``StreamingResponse`` whose body can be cut short on purpose.

    When the body iterator raises :class:`StreamAborted`, no final (``more_body: False``) message is sent;
    the server then closes the connection before the terminating chunk, so the client cannot mistake the
    truncated audio for a complete file.
    """

    async def stream_response(self, send: Send) -> None:
        try:
            await super().stream_response(send)
        except StreamAborted:
            return


async def open_stream(
    synthesizer: Synthesizer,
    request: SynthesisRequest,
    fmt: AudioFormat,
    bit_depth: int,
    *,
    mode: StreamMode = StreamMode.LIVE,
) -> SynthesisStream:
    """Validate the output settings and the request, and synthesize the first segment.

    Every failure here is raised before the response starts, so it becomes a proper status. The pipeline
    renders straight at a rate the format's encoder accepts, so audio is resampled once. ``mode``: LIVE
    for a client that plays the audio as it comes (admission by capacity judges it), FILE for a whole-file
    download (mastered; no first audio to wait for).
    """
    validate_output(
        fmt, request.sample_rate or encoded_rate(fmt, 24000), bit_depth, exact=request.sample_rate is not None
    )
    return await synthesizer.open(request, mode=mode, rate_for=lambda rate: encoded_rate(fmt, rate))


def _close_in_background(stream: SynthesisStream, encoder: StreamEncoder) -> BackgroundTask:
    """Safety net: runs after the response if the body generator never started (idempotent)."""

    async def close() -> None:
        encoder.close()
        await stream.aclose()

    return BackgroundTask(close)


async def _close_shielded(stream: SynthesisStream, encoder: StreamEncoder) -> None:
    # The generator may be finishing because its task was cancelled (client gone): shield the clean-up
    # so the lease is released and the queued segment cancelled all the same.
    with anyio.CancelScope(shield=True):
        encoder.close()
        await stream.aclose()


def base_headers(stream: SynthesisStream, encoder: StreamEncoder, request_id: str) -> dict[str, str]:
    """Headers known as soon as the first segment exists."""
    return {
        "X-Engine": stream.engine_name,
        "X-Voice": stream.voice.id,
        "X-Sample-Rate": str(encoder.output_rate),
        "X-Request-ID": request_id,
    }


def figures(stream: SynthesisStream) -> dict[str, float | None]:
    """The measured figures of a finished stream."""
    stats = stream.stats
    rtf = stats.real_time_factor
    return {
        "audio_seconds": round(stats.audio_seconds, 4),
        "synthesis_seconds": round(stats.synthesis_seconds, 4),
        "real_time_factor": None if rtf is None else round(rtf, 4),
        "first_chunk_seconds": None
        if stats.first_chunk_seconds is None
        else round(stats.first_chunk_seconds, 4),
    }


def figure_headers(stream: SynthesisStream) -> dict[str, str]:
    values = figures(stream)
    names = {
        "audio_seconds": "X-Audio-Seconds",
        "synthesis_seconds": "X-Synthesis-Seconds",
        "real_time_factor": "X-Real-Time-Factor",
        "first_chunk_seconds": "X-First-Chunk-Seconds",
    }
    return {header: str(values[key]) for key, header in names.items() if values[key] is not None}


def new_encoder(stream: SynthesisStream, fmt: AudioFormat, bit_depth: int) -> StreamEncoder:
    return StreamEncoder(fmt, stream.sample_rate, bit_depth)


async def encode_off_loop(encoder: StreamEncoder, samples: Any) -> bytes:
    """``encoder.encode`` in a worker thread: mp3/opus/aac encoding costs CPU in proportion to the audio
    and must never stall the event loop. One call at a time per encoder (callers await each in turn), and a
    cancelled caller still waits for the call to end, so the encoder is never closed under it."""
    return await anyio.to_thread.run_sync(encoder.encode, samples)


async def finish_off_loop(encoder: StreamEncoder) -> bytes:
    """``encoder.finish`` in a worker thread (it flushes the codec)."""
    return await anyio.to_thread.run_sync(encoder.finish)


async def _disconnect(receive: Callable[[], Awaitable[Mapping[str, Any]]]) -> None:
    """Returns once the client is gone (the body was read already: the next message is the disconnect)."""
    while (await receive())["type"] != "http.disconnect":
        continue


async def unless_abandoned(
    receive: Callable[[], Awaitable[Mapping[str, Any]]], work: Awaitable[Response], request_id: str
) -> Response:
    """``work``'s response; cancelled, and a 499 that is never sent, when the client disconnects first.

    A non-streamed long-form job is minutes of planning and synthesis that nobody would read.
    """
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_disconnect(receive))
    try:
        await asyncio.wait((task, watcher), return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            return task.result()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        log.info("request_abandoned", request_id=request_id)
        return Response(status_code=499)
    finally:
        watcher.cancel()
        task.cancel()  # the handler itself was cancelled (shutdown): the work goes with it


async def whole_response(
    stream: SynthesisStream,
    fmt: AudioFormat,
    bit_depth: int,
    request_id: str,
    is_disconnected: Callable[[], Awaitable[bool]] | None = None,
) -> Response:
    """Synthesize everything, then answer with the complete file and all figures as headers.

    ``is_disconnected`` is polled after each sentence: a client that gave up stops the synthesis there.
    """
    # The encoder's file mode, as for every whole file (``encode_whole``): finish() fills in what needs the
    # total length (WAV sizes, FLAC STREAMINFO, the MP3 Xing frame). Fed sentence by sentence meanwhile.
    buffer = io.BytesIO()
    encoder = StreamEncoder(fmt, stream.sample_rate, bit_depth, output=buffer)
    try:
        async for chunk in stream:
            await encode_off_loop(encoder, chunk.samples)
            if is_disconnected is not None and await is_disconnected():
                log.info("request_abandoned", request_id=request_id, segments_done=stream.stats.segments_done)
                return Response(status_code=499)  # nobody is listening; never sent
        await finish_off_loop(encoder)
    finally:
        await _close_shielded(stream, encoder)
    body = buffer.getvalue()
    buffer.close()
    headers = base_headers(stream, encoder, request_id) | figure_headers(stream)
    return Response(body, media_type=MEDIA_TYPES[fmt], headers=headers)


async def _audio_body(
    stream: SynthesisStream, encoder: StreamEncoder, request_id: str
) -> AsyncIterator[bytes]:
    try:
        async for chunk in stream:
            data = await encode_off_loop(encoder, chunk.samples)
            if data:
                yield data
        tail = await finish_off_loop(encoder)
        if tail:
            yield tail
        log.info("stream_done", request_id=request_id, engine=stream.engine_name, **figures(stream))
    except PolyvoxError as exc:
        log.warning(
            "stream_truncated",
            request_id=request_id,
            engine=stream.engine_name,
            code=exc.code,
            reason=exc.message,
        )
        raise StreamAborted(exc.message) from exc
    except asyncio.CancelledError:
        log.info("stream_cancelled", request_id=request_id, segments_done=stream.stats.segments_done)
        raise
    finally:
        await _close_shielded(stream, encoder)


def audio_response(
    stream: SynthesisStream, fmt: AudioFormat, bit_depth: int, request_id: str
) -> AudioStreamingResponse:
    """Chunked audio, one encoded piece per sentence as soon as it is synthesized."""
    encoder = new_encoder(stream, fmt, bit_depth)
    return AudioStreamingResponse(
        _audio_body(stream, encoder, request_id),
        media_type=MEDIA_TYPES[fmt],
        headers=base_headers(stream, encoder, request_id),
        background=_close_in_background(stream, encoder),
    )


def sse_event(payload: Mapping[str, Any]) -> bytes:
    return f"data: {json.dumps(payload, separators=(',', ':'))}\n\n".encode()


def usage(text: str, audio_seconds: float) -> dict[str, int]:
    """OpenAI's ``usage`` object, estimated (Polyvox has no tokenizer)."""
    input_tokens = max(1, math.ceil(len(text) / CHARS_PER_TOKEN))
    output_tokens = math.ceil(audio_seconds * AUDIO_TOKENS_PER_SECOND)
    return {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "total_tokens": input_tokens + output_tokens,
    }


def _delta(data: bytes) -> bytes:
    return sse_event({"type": "speech.audio.delta", "audio": base64.b64encode(data).decode("ascii")})


async def _sse_body(
    stream: SynthesisStream, encoder: StreamEncoder, text: str, request_id: str
) -> AsyncIterator[bytes]:
    try:
        async for chunk in stream:
            data = await encode_off_loop(encoder, chunk.samples)
            if data:
                yield _delta(data)
        tail = await finish_off_loop(encoder)
        if tail:
            yield _delta(tail)
        done: dict[str, Any] = {
            "type": "speech.audio.done",
            "usage": usage(text, stream.stats.audio_seconds),
            "polyvox": {
                "engine": stream.engine_name,
                "voice": stream.voice.id,
                "sample_rate": encoder.output_rate,
                "request_id": request_id,
                **figures(stream),
            },
        }
        yield sse_event(done)
        log.info("stream_done", request_id=request_id, engine=stream.engine_name, **figures(stream))
    except PolyvoxError as exc:
        log.warning("stream_failed", request_id=request_id, code=exc.code, reason=exc.message)
        yield sse_event({"type": "error", "error": {"code": exc.code, "message": exc.message}})
    except asyncio.CancelledError:
        log.info("stream_cancelled", request_id=request_id, segments_done=stream.stats.segments_done)
        raise
    finally:
        await _close_shielded(stream, encoder)


def sse_response(
    stream: SynthesisStream, fmt: AudioFormat, bit_depth: int, text: str, request_id: str
) -> StreamingResponse:
    """OpenAI's ``stream_format=sse``: base64 audio deltas, then a done event with usage."""
    encoder = new_encoder(stream, fmt, bit_depth)
    headers = base_headers(stream, encoder, request_id) | {
        "Cache-Control": "no-cache",
        "X-Accel-Buffering": "no",
    }
    return StreamingResponse(
        _sse_body(stream, encoder, text, request_id),
        media_type="text/event-stream",
        headers=headers,
        background=_close_in_background(stream, encoder),
    )
