"""Liveness and readiness."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from polyvox import __version__
from polyvox.api.deps import ServiceDep
from polyvox.api.routes.common import VALIDATION_RESPONSE
from polyvox.api.schemas import EngineHealth, Health, Readiness
from polyvox.service import Polyvox

router = APIRouter(tags=["Health"], responses=VALIDATION_RESPONSE)


def readiness(request: Request, service: Polyvox) -> Readiness:
    """Ready once the default engine has been loaded (or at once when preloading is off)."""
    state = request.app.state
    default = service.registry.default
    if service.registry.status(default).loaded or state.preload_done.is_set():
        return Readiness(ready=True, default_engine=default)
    detail = state.preload_error or f"loading the default engine {default!r}"
    return Readiness(ready=False, default_engine=default, detail=detail)


@router.get("/health", summary="Liveness and engine states", response_model=Health)
async def health(request: Request, service: ServiceDep) -> Health:
    """Answers 200 while the process serves requests, with the state of every engine."""
    registry = service.registry
    synthesizer = service.synthesizer
    return Health(
        version=__version__,
        uptime_seconds=round(time.monotonic() - request.app.state.started_monotonic, 3),
        default_engine=registry.default,
        ready=readiness(request, service).ready,
        active_streams=synthesizer.active_streams,
        capacity=synthesizer.capacity,
        engines={
            name: EngineHealth(loaded=s.loaded, users=s.users)
            for name in registry.names()
            for s in [registry.status(name)]
        },
        warnings=await operator_warnings(request, service),
    )


async def operator_warnings(request: Request, service: Polyvox) -> list[str]:
    """Storage directories near a bound (polyvox.api.ops.storage) and engines waiting to be reloaded."""
    found: list[str] = []
    storage = getattr(request.app.state, "storage", None)
    if storage is not None:
        found += storage.warnings()  # the running tally: no directory walk
    for name in service.registry.names():
        status = service.registry.status(name)
        if not status.healthy:
            found.append(f"engine {name!r} failed ({status.last_error}); it is reloaded on next use")
    return found


@router.get(
    "/ready",
    summary="Readiness",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "The default engine is not loaded yet."}},
)
async def ready(request: Request, service: ServiceDep) -> JSONResponse:
    """200 once the default engine is loaded, 503 before (load balancers and tests wait on this)."""
    result = readiness(request, service)
    return JSONResponse(result.model_dump(), status_code=200 if result.ready else 503)
