"""Run the HTTP server: ``serve(settings)``, or ``python -m polyvox.api.server [--host H] [--port P]``."""

from __future__ import annotations

import argparse
import contextlib
import signal
from collections.abc import Sequence

import uvicorn

from polyvox.api.app import create_app
from polyvox.api.header_guard import guarded_protocol
from polyvox.api.ops.auth import load_keys
from polyvox.config import Settings
from polyvox.logs import configure_logging


def serve(settings: Settings) -> None:
    """Serve the API on ``settings.server.host``/``port`` until interrupted.

    On SIGTERM/SIGINT uvicorn stops accepting connections and lets requests in flight (streams included)
    finish for up to ``limits.shutdown_grace`` seconds; then it cancels what is left and the app's lifespan
    unloads the engines. The process exits with status 0.
    """
    configure_logging(
        settings.logging.level, json=settings.logging.format == "json", secrets=secrets_of(settings)
    )
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.server.host,
        port=settings.server.port,
        timeout_graceful_shutdown=max(1, round(settings.limits.shutdown_grace)),
        log_level="info",
        # uvicorn's own handlers would print its lines unredacted (a WebSocket's query string holds
        # ?api_key=...): without a config of its own its loggers reach the root handler, which redacts.
        log_config=None,
        access_log=False,  # RequestContextMiddleware logs each request once, with its X-Request-ID
        # uvicorn trusts X-Forwarded-For from loopback by default, which lets any local client pick the
        # address per-IP limits count: proxy trust is opt-in (limits.proxy_headers).
        proxy_headers=settings.limits.proxy_headers,
        forwarded_allow_ips=settings.limits.forwarded_allow_ips,
        # uvicorn's protocol with a bound on the time and bytes a request's headers may take (slowloris).
        http=guarded_protocol(settings.server.header_timeout, settings.server.max_header_bytes),
    )
    # uvicorn re-raises the SIGTERM it handled once its graceful shutdown is over; a planned stop exits 0.
    signal.signal(signal.SIGTERM, _ignore_signal)
    uvicorn.Server(config).run()


def secrets_of(settings: Settings) -> list[str | None]:
    """Every secret the settings hold, for the log's redaction: API keys, the LLM's and remote ASR's keys."""
    keys: list[str | None] = [settings.llm.api_key, settings.asr.openai.api_key]
    with contextlib.suppress(OSError, UnicodeDecodeError):  # an unreadable keys file fails in create_app
        keys += load_keys(settings.auth)
    return keys + list(settings.auth.api_keys)


def _ignore_signal(signum: int, frame: object) -> None:
    """Installed for SIGTERM while uvicorn runs (uvicorn replaces it with its own handler meanwhile)."""


def main(argv: Sequence[str] | None = None) -> None:
    """Settings from the environment (``POLYVOX_*``) and ``POLYVOX_CONFIG``; ``--host``/``--port`` win."""
    parser = argparse.ArgumentParser(prog="python -m polyvox.api.server", description=__doc__)
    parser.add_argument("--host", help="address to bind (default: settings.server.host)")
    parser.add_argument("--port", type=int, help="port to listen on (default: settings.server.port)")
    args = parser.parse_args(argv)
    configure_logging("info")
    settings = Settings()
    overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    if overrides:
        settings = settings.model_copy(update={"server": settings.server.model_copy(update=overrides)})
    serve(settings)


if __name__ == "__main__":
    main()
