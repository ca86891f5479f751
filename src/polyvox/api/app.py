"""The FastAPI application factory.

``create_app()`` builds the app; its lifespan builds the :class:`Polyvox` service (worker pool, engine
registry, synthesizer), starts loading the default engine in the background (``/ready`` answers 503 until it
is loaded) and closes everything on shutdown. ``python -m uvicorn --factory polyvox.api.app:create_app``
serves it with settings from the environment.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import structlog
from fastapi import FastAPI

from polyvox import __version__
from polyvox.api.errors import install_error_handlers
from polyvox.api.ops.install import install_ops, ops_lifespan
from polyvox.api.routes import captioned as captioned_routes
from polyvox.api.routes import (
    chatterbox_server,
    engines,
    health,
    marytts,
    models,
    monitor_poll,
    native,
    openai,
    outputs,
    pulls,
    realtime_openai,
    synthesis_config,
    voices_library,
    ws_converse,
    ws_tts,
)
from polyvox.api.routes import dialogue as dialogue_routes
from polyvox.api.routes import lexicon as lexicon_routes
from polyvox.api.routes import monitor as monitor_routes
from polyvox.api.routes import openai_voices as openai_voice_routes
from polyvox.api.routes import transcriptions as transcription_routes
from polyvox.api.routes import web as web_routes
from polyvox.config import Settings, get_settings
from polyvox.engines.base import EngineFactory
from polyvox.errors import PolyvoxError
from polyvox.service import Polyvox
from polyvox.wyoming.server import wyoming_alongside

log = structlog.get_logger(__name__)

DESCRIPTION = """\
A self-hosted text-to-speech server: many engines, one streaming pipeline.

* `POST /v1/audio/speech` speaks OpenAI's API (any OpenAI client works with `base_url=http://host:port/v1`).
* `POST /v1/synthesize` is the native route: form fields or JSON, every engine parameter, figures as headers.
* Errors are always `{"error": {"code", "message", "param", "type"}}` with the HTTP status.
"""


async def _preload(app: FastAPI, service: Polyvox) -> None:
    name = service.registry.default
    try:
        await service.registry.load(name)
    except PolyvoxError as exc:
        app.state.preload_error = exc.message
        log.error("preload_failed", engine=name, error=exc.message)
        return
    app.state.preload_done.set()
    log.info("ready", engine=name)


def _voices_folder(settings: Settings) -> None:
    """Create the folder added voices go in, so a newcomer finds it (read-only setups just skip it)."""
    folder = settings.resolved_voices_dir
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        log.warning("voices_dir_unavailable", path=str(folder), error=str(exc))
        return
    log.info("voices_dir", path=str(folder), hint="add piper .onnx + .onnx.json or Kokoro voice files here")


def create_app(
    settings: Settings | None = None, factories: dict[str, EngineFactory] | None = None
) -> FastAPI:
    """The HTTP app. ``settings`` default to the environment/YAML ones; ``factories`` to the entry points."""
    settings = settings or get_settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        _voices_folder(settings)
        service = Polyvox(settings, factories)
        app.state.polyvox = service
        app.state.started_at = time.time()
        app.state.started_monotonic = time.monotonic()
        app.state.preload_done = asyncio.Event()
        app.state.preload_error = None
        preload: asyncio.Task[None] | None = None
        if settings.server.preload_default:
            preload = asyncio.create_task(_preload(app, service))
        else:
            app.state.preload_done.set()
        try:
            async with ops_lifespan(app, service), wyoming_alongside(service):
                yield
        finally:
            if preload is not None and not preload.done():
                preload.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await preload
            await service.aclose()

    app = FastAPI(
        title="Polyvox",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        license_info={"name": "GPL-3.0-or-later", "identifier": "GPL-3.0-or-later"},
    )
    install_error_handlers(app)
    install_ops(app, settings)  # middleware, /metrics, /v1/config (polyvox.api.ops.install)
    for module in (openai, native, engines, pulls, models, health):
        app.include_router(module.router)
    app.include_router(monitor_routes.router)
    app.include_router(web_routes.router)
    app.include_router(ws_tts.router)
    app.include_router(ws_converse.router)
    app.include_router(realtime_openai.router)
    app.include_router(captioned_routes.router)
    app.include_router(dialogue_routes.router)
    app.include_router(lexicon_routes.router)
    app.include_router(voices_library.router)
    app.include_router(transcription_routes.router)
    app.include_router(openai_voice_routes.router)
    app.include_router(marytts.router)
    app.include_router(chatterbox_server.router)
    app.include_router(outputs.router)
    app.include_router(synthesis_config.router)
    app.include_router(monitor_poll.router)
    return app
