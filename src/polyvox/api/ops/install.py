"""Wiring the operations layer into an app: middleware, ``/metrics``, ``/v1/config`` and lifespan work.

Middleware order, outermost first (starlette runs the last added first):

1. :class:`RequestContextMiddleware` - request id, request log line, HTTP metrics (sees every answer,
   401 and 429 included);
2. CORS (only when ``auth.cors_origins`` is set) - so preflights and refusals carry CORS headers;
3. :class:`AuthMiddleware` - API keys; records the accepted key for the next layer;
4. :class:`LimitsMiddleware` - body-size cap, per-IP and per-key token buckets;
5. FastAPI's own exception middleware and the routers.

Pure ASGI middleware (not ``BaseHTTPMiddleware``) so streaming bodies and WebSockets pass through untouched,
and routers added later by anyone are covered.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from polyvox.api.ops.auth import AuthMiddleware
from polyvox.api.ops.metrics import Metrics
from polyvox.api.ops.metrics import router as metrics_router
from polyvox.api.ops.ratelimit import LimitsMiddleware
from polyvox.api.ops.request_context import RequestContextMiddleware, record_stream
from polyvox.api.ops.storage import Storage
from polyvox.config import Settings
from polyvox.service import Polyvox


def install_ops(app: FastAPI, settings: Settings) -> None:
    """Add the middleware stack and the operations routes to ``app``."""
    from polyvox.api.routes import config as config_routes

    metrics = Metrics()
    app.state.metrics = metrics
    app.state.storage = Storage(settings.storage, settings.data_dir)
    app.include_router(metrics_router)
    app.include_router(config_routes.router)
    app.add_middleware(LimitsMiddleware, settings=settings.limits, open_paths=list(settings.auth.open_paths))
    app.add_middleware(AuthMiddleware, settings=settings.auth)
    if settings.auth.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.auth.cors_origins,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=[
                "X-Request-ID",
                "X-Engine",
                "X-Voice",
                "X-Sample-Rate",
                "X-Polyvox-Ignored",
                "Retry-After",
            ],
        )
    app.add_middleware(RequestContextMiddleware, metrics=metrics)


@contextlib.asynccontextmanager
async def ops_lifespan(app: FastAPI, service: Polyvox) -> AsyncIterator[None]:
    """While the app runs: metrics read the service, storage is cleaned at start and on a schedule."""
    metrics: Metrics = app.state.metrics
    storage: Storage = app.state.storage
    metrics.bind(service)
    service.synthesizer.listeners.append(record_stream)
    await asyncio.to_thread(storage.ensure)
    await asyncio.to_thread(storage.cleanup)
    schedule = asyncio.create_task(storage.run_schedule())
    try:
        yield
    finally:
        schedule.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await schedule
        metrics.unbind()
