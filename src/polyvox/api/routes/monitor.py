"""The file monitor: start, stop, status, engine selection and a per-monitor audio feed (SSE).

Only files under ``monitor.allowed_roots`` can be watched; any other path is refused with 403
``path_not_allowed``. The feed ``GET /v1/monitor/{id}/events`` sends one ``line`` event per spoken line,
in order, with its text and base64 WAV audio; ``Last-Event-ID`` (or ``?since=``) resumes after a seq.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, FastAPI, Header, Query, Request
from pydantic import BaseModel, Field
from starlette.responses import StreamingResponse

from polyvox.api.deps import get_service
from polyvox.api.routes.common import VALIDATION_RESPONSE
from polyvox.api.schemas import ErrorResponse
from polyvox.monitor.manager import MonitorManager, resolve_allowed
from polyvox.monitor.speaker import MonitorConfig
from polyvox.request import RequestFields


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Stop every monitor before the service (and its worker pool) closes."""
    try:
        yield
    finally:
        manager: MonitorManager | None = getattr(app.state, "monitor_manager", None)
        if manager is not None:
            await manager.aclose()


router = APIRouter(tags=["File monitor"], responses=VALIDATION_RESPONSE, lifespan=_lifespan)


def get_manager(request: Request) -> MonitorManager:
    """The process's monitor manager, created on first use."""
    state = request.app.state
    manager: MonitorManager | None = getattr(state, "monitor_manager", None)
    if manager is None:
        service = get_service(request)
        manager = MonitorManager(service.synthesizer, service.settings.monitor)
        state.monitor_manager = manager
    return manager


ManagerDep = Annotated[MonitorManager, Depends(get_manager)]


class StartRequest(RequestFields):
    """``POST /v1/monitor/start``."""

    path: str = Field(..., description="Absolute path of the text file to watch (under an allowed root).")
    mode: Literal["lines", "paragraphs"] = Field(
        "lines", description="`lines`: speak each line. `paragraphs`: speak text between blank lines."
    )
    from_: Literal["end", "start"] = Field(
        "end", alias="from", description="`end`: only what is appended from now on. `start`: the whole file."
    )


class StopRequest(BaseModel):
    id: str | None = Field(None, description="Monitor to stop; omitted: every monitor.")


class SelectEngineRequest(BaseModel):
    id: str | None = Field(None, description="Monitor to change; omitted: every running monitor.")
    engine: str = Field(..., description="Engine for the following lines.")
    voice: str | None = Field(None, description="Voice; omitted: the engine's default voice.")
    language: str | None = Field(None, description="Language code.")


def _errors(*pairs: tuple[int, str]) -> dict[int | str, dict[str, object]]:
    return {status: {"model": ErrorResponse, "description": text} for status, text in pairs}


@router.post(
    "/v1/monitor/start",
    summary="Start speaking a file's new lines",
    responses=_errors(
        (403, "Path outside the allowed roots (`path_not_allowed`)."),
        (404, "Unknown engine or voice."),
        (429, "Too many monitors (`too_many_monitors`)."),
    ),
)
async def start_monitor(body: StartRequest, manager: ManagerDep) -> dict[str, object]:
    """Watch `path` and speak each appended line (or paragraph). Returns the monitor's id and status."""
    path = resolve_allowed(body.path, manager.settings.allowed_roots)
    config = MonitorConfig(
        path=path,
        engine=body.engine,
        voice=body.voice,
        language=body.language,
        mode=body.mode,
        from_start=body.from_ == "start",
        speed=body.speed,
    )
    monitor = manager.start(config)
    return {"id": monitor.id, "status": monitor.status()}


@router.post("/v1/monitor/stop", summary="Stop monitors", responses=_errors((404, "Unknown monitor.")))
async def stop_monitor(manager: ManagerDep, body: StopRequest | None = None) -> dict[str, object]:
    """Stop one monitor (by id) or all of them."""
    return {"stopped": await manager.stop(body.id if body else None)}


@router.get("/v1/monitor/status", summary="Monitor states")
async def monitor_status(
    manager: ManagerDep, id: Annotated[str | None, Query(description="Only this monitor.")] = None
) -> dict[str, object]:
    """Every monitor: engine, state, queue length, lines read/spoken/dropped, last error, listeners."""
    status = manager.status()
    if id:
        status["monitors"] = [manager.get(id).status()]
    return status


@router.post(
    "/v1/monitor/select-engine",
    summary="Change a monitor's engine",
    responses=_errors((404, "Unknown monitor, engine or voice.")),
)
async def select_engine(body: SelectEngineRequest, manager: ManagerDep) -> dict[str, object]:
    """Speak the following lines of one monitor (or all) with another engine and voice."""
    manager.validate_speech(body.engine, body.voice, body.language)
    chosen = manager.selected(body.id)
    for monitor in chosen:
        monitor.select(body.engine, body.voice, body.language)
    return {"monitors": [m.status() for m in chosen]}


@router.get(
    "/v1/monitor/{monitor_id}/events",
    summary="Spoken lines with audio (SSE)",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}, **_errors((404, "Unknown monitor."))},
)
async def monitor_events(
    monitor_id: str,
    manager: ManagerDep,
    since: Annotated[int | None, Query(ge=0, description="Replay kept lines after this seq.")] = None,
    last_event_id: Annotated[str | None, Header()] = None,
) -> StreamingResponse:
    """`event: line` per spoken line: `{seq, text, engine, voice, format: "wav", sample_rate, seconds,
    audio}` (audio is base64 WAV). Without `since`, only lines spoken from now on. `event: end` when the
    monitor stops."""
    monitor = manager.get(monitor_id)
    if since is None:
        resume = last_event_id and last_event_id.isdigit()
        since = int(last_event_id) if last_event_id and resume else monitor.last_seq

    async def body() -> AsyncIterator[str]:
        yield f"retry: 1000\nevent: hello\ndata: {json.dumps({'id': monitor.id, 'seq': since})}\n\n"
        async for line in monitor.follow(since):
            if line is None:
                yield ": keep-alive\n\n"
            else:
                yield f"id: {line.seq}\nevent: line\ndata: {json.dumps(line.event())}\n\n"
        yield "event: end\ndata: {}\n\n"

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(body(), media_type="text/event-stream", headers=headers)
