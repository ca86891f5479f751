"""Whole files made on request and kept for a while: render one request to a file, store it in the output
directory (bounded and cleaned by the storage policy, polyvox.api.ops.storage), and ``GET
/api/v1/outputs/{name}`` to fetch it. ``POST /api/v1/tts`` with ``"response": "url"`` and the polling
monitor's ``process-queue`` write here.
"""

from __future__ import annotations

import asyncio
import uuid

import numpy as np
from fastapi import APIRouter, Request
from starlette.responses import FileResponse

from polyvox.api.ops.storage import Storage
from polyvox.api.routes.common import VALIDATION_RESPONSE
from polyvox.audio.encode import encode_whole
from polyvox.audio.formats import FILE_EXTENSIONS, MEDIA_TYPES, encoded_rate, parse_format
from polyvox.audio.formats import validate_output as check_output
from polyvox.errors import NotFoundError
from polyvox.request import SynthesisRequest
from polyvox.synthesis import Synthesizer

router = APIRouter(tags=["Other servers' shapes"], responses=VALIDATION_RESPONSE)


async def render_whole(
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


def store_output(request: Request, data: bytes, fmt_name: str) -> str:
    """Write into the output directory; the name to fetch it by."""
    storage: Storage = request.app.state.storage
    fmt = parse_format(fmt_name, "format")
    name = f"{uuid.uuid4().hex}{(*FILE_EXTENSIONS[fmt], '.wav')[0]}"
    storage.write(name, [data])
    return name


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
