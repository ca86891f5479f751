"""The polling file monitor, in the shape of the server Polyvox replaces, beside the push monitor.

``POST /v1/monitor/read-file`` answers the lines after ``last_line_count`` and the count to send next time;
``POST /v1/monitor/process-queue`` speaks up to 20 of them, one output file each. Both read through
:class:`polyvox.monitor.poll.LineIndex`: bounded answers (bytes per line and per answer, bytes read per
poll) and no re-reading of what was read before. A line that cannot be spoken is reported in its item and
counted as handled, so one bad line never stalls the queue.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from polyvox.api.deps import RegistryDep, SettingsDep, SynthesizerDep
from polyvox.api.routes.common import VALIDATION_RESPONSE, check_engine
from polyvox.api.routes.monitor import get_manager
from polyvox.api.routes.outputs import render_whole, store_output
from polyvox.audio.formats import parse_format
from polyvox.config import Settings
from polyvox.errors import BusyError, NotFoundError, PayloadTooLargeError, PolyvoxError
from polyvox.monitor.manager import resolve_allowed
from polyvox.monitor.poll import Limits, LineIndex, Page
from polyvox.request import SynthesisRequest, speakable
from polyvox.synthesis import Synthesizer

router = APIRouter(tags=["File monitor"], responses=VALIDATION_RESPONSE)
QUEUE_LINES = 20
"""Lines one ``process-queue`` call speaks at most; the client polls again for the rest."""
READ_LINES = 10_000
"""Lines one ``read-file`` answer holds at most (``monitor.poll_max_bytes`` bounds their bytes)."""
POLL_SCAN_BYTES = 64 * 2**20
"""Bytes of the file one poll reads at most (a longer line is skipped over several polls)."""


class LineTooLongError(PayloadTooLargeError):
    """A polled line over ``monitor.max_line_bytes``: reported, not spoken."""

    code = "line_too_long"


class ReadFile(BaseModel):
    file_path: str = Field(..., description="A file under `monitor.allowed_roots`.")
    last_line_count: int = Field(0, ge=0, le=2**63 - 1, description="Lines the client has already seen.")
    engine: str | None = Field(None, description="Engine for `process-queue`; default the default engine.")
    voice: str | None = Field(None, description="Voice for `process-queue`.")
    format: str = Field("wav", description="Audio format for `process-queue`.")


def _path(body: ReadFile, request: Request) -> Path:
    path = resolve_allowed(body.file_path, get_manager(request).settings.allowed_roots)
    if not path.is_file():
        raise NotFoundError(f"no file {body.file_path!r}", param="file_path")
    return path


async def _page(request: Request, body: ReadFile, settings: Settings, most_lines: int) -> Page:
    """The lines after ``last_line_count``, bounded (see :mod:`polyvox.monitor.poll`), read in a thread."""
    state = request.app.state
    index: LineIndex | None = getattr(state, "line_index", None)
    if index is None:
        index = state.line_index = LineIndex()
    monitor = settings.monitor
    limits = Limits(most_lines, monitor.max_line_bytes, monitor.poll_max_bytes, POLL_SCAN_BYTES)
    return await asyncio.to_thread(index.read, _path(body, request), body.last_line_count, limits)


@router.post("/v1/monitor/read-file", summary="New lines of a file (polling monitor)")
async def read_file(body: ReadFile, request: Request, settings: SettingsDep) -> dict[str, object]:
    """`{"lines": [...], "line_count": N, "more": bool, "cut_lines": [...]}`: the lines after
    `last_line_count`; send `line_count` next time (at once when `more`: the answer hit a bound). Lines over
    `monitor.max_line_bytes` are cut (their numbers in `cut_lines`)."""
    page = await _page(request, body, settings, READ_LINES)
    return {
        "file_path": body.file_path,
        "lines": page.lines,
        "line_count": page.line_count,
        "more": page.more,
        "cut_lines": page.cut,
    }


@router.post("/v1/monitor/process-queue", summary="Speak a file's new lines (polling monitor)")
async def process_queue(
    body: ReadFile,
    request: Request,
    synthesizer: SynthesizerDep,
    registry: RegistryDep,
    settings: SettingsDep,
) -> dict[str, object]:
    """Speaks up to 20 new lines, one output file each; `line_count` counts the lines handled. A line that
    cannot be spoken (too long, refused) gets `url: null` and its `error`, and is not tried again."""
    engine = check_engine(registry, body.engine) if body.engine else registry.default
    parse_format(body.format, "format")  # the request's own faults are refused before any line is tried
    synthesizer.resolve(engine, body.voice, None)
    page = await _page(request, body, settings, QUEUE_LINES)
    items: list[dict[str, object]] = []
    for number, line in enumerate(page.lines, start=page.line_count - len(page.lines) + 1):
        try:
            url = await _speak(request, synthesizer, body, engine, line, cut=number in page.cut)
            items.append({"line": line, "url": url})
        except PolyvoxError as exc:
            if isinstance(exc, BusyError) or exc.status >= 500:  # not the line's fault: try it again later
                if not items:
                    raise
                break
            items.append({"line": line, "url": None, "error": {"code": exc.code, "message": exc.message}})
    count = page.line_count - len(page.lines) + len(items)
    return {"items": items, "line_count": count, "more": page.more or count < page.line_count}


async def _speak(
    request: Request, synthesizer: Synthesizer, body: ReadFile, engine: str, line: str, *, cut: bool
) -> str | None:
    """The URL of the line spoken into the output directory; None for a line with nothing to say."""
    if cut:
        raise LineTooLongError("the line is longer than monitor.max_line_bytes; it was cut", param="line")
    if not speakable(line):
        return None
    speech = SynthesisRequest(text=line, engine=engine, voice=body.voice)
    data, _ = await render_whole(synthesizer, speech, body.format)
    name = await asyncio.to_thread(store_output, request, data, body.format)
    return f"/api/v1/outputs/{name}"
