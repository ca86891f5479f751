"""Settings of the HTTP server's operations layer (polyvox.api.ops): ``auth``, ``limits``, ``storage`` and
``logging``.

They are nested into :class:`polyvox.config.Settings`, so ``POLYVOX_AUTH__API_KEYS='["k1"]'`` or
``limits: {ip_rate: 5}`` in the YAML file set them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

DEFAULT_OPEN_PATHS = (
    "/health",
    "/ready",
    "/metrics",
    "/docs",
    "/docs/",
    "/redoc",
    "/openapi.json",
    "/",
    "/obs",
    "/web/",
)


class AuthSettings(BaseModel):
    """Optional API keys and CORS."""

    api_keys: list[str] = Field(
        default_factory=list,
        description="Accepted API keys (`Authorization: Bearer KEY`); none here and no keys_file: auth off.",
    )
    keys_file: Path | None = Field(
        None, description="File with one API key per line (blank lines and `#` comments ignored)."
    )
    open_paths: list[str] = Field(
        default_factory=lambda: list(DEFAULT_OPEN_PATHS),
        description="Paths served without a key; an entry ending in `/` (other than `/`) is a prefix.",
    )
    cors_origins: list[str] = Field(
        default_factory=list, description="Origins allowed by CORS (`*` for any); empty: no CORS headers."
    )


class LimitSettings(BaseModel):
    """Fairness and protection limits."""

    ip_rate: float = Field(0.0, ge=0.0, description="Requests per second per client IP (0: unlimited).")
    ip_burst: int = Field(20, ge=1, description="Requests a client IP may make at once before ip_rate bites.")
    key_rate: float = Field(0.0, ge=0.0, description="Requests per second per API key (0: unlimited).")
    key_burst: int = Field(40, ge=1, description="Requests one API key may make at once before key_rate.")
    max_body_bytes: int = Field(
        16 * 1024 * 1024, ge=1024, description="Largest declared request body (Content-Length); beyond: 413."
    )
    request_timeout: float = Field(
        0.0,
        ge=0.0,
        description="Seconds one streamed synthesis may run from admission before it is stopped: 504 "
        "`timeout` before the first audio, an in-band error after (0: no limit; long-form jobs exempt).",
    )
    engine_load_timeout: float = Field(
        120.0, ge=0.0, description="Seconds an engine may take to load before it fails (0: no limit)."
    )
    shutdown_grace: float = Field(
        30.0, ge=0.0, description="Seconds in-flight requests may take to finish after SIGTERM."
    )
    max_audio_seconds: float = Field(
        3600.0,
        ge=0.0,
        description="Most seconds of audio one (non-long-form) request may produce: 413 `audio_too_long` "
        "before synthesis when the estimate (pauses plus ~15 characters a second at the request's speed) "
        "is over it, an in-band error once the audio passes it (0: no limit).",
    )
    proxy_headers: bool = Field(
        False,
        description="Take the client address from X-Forwarded-For/X-Forwarded-Proto (only from "
        "`forwarded_allow_ips`). Off: per-IP limits count the real peer, a forged header changes nothing.",
    )
    forwarded_allow_ips: str = Field(
        "127.0.0.1", description="Comma-separated proxy addresses trusted when `proxy_headers` is on."
    )


class StorageSettings(BaseModel):
    """Directories Polyvox writes files to, and their bounds."""

    output_dir: Path | None = Field(None, description="Finished audio files; default DATA_DIR/output.")
    temp_dir: Path | None = Field(None, description="Files being written; default DATA_DIR/tmp.")
    cache_dir: Path | None = Field(None, description="Cached artefacts; default DATA_DIR/cache.")
    max_bytes: int = Field(1024**3, ge=0, description="Most bytes one directory may hold (0: unlimited).")
    max_files: int = Field(10_000, ge=0, description="Most files one directory may hold (0: unlimited).")
    max_age: float = Field(
        7 * 86400.0, ge=0.0, description="Seconds a file is kept before cleanup deletes it (0: forever)."
    )
    cleanup_interval: float = Field(
        600.0, ge=0.0, description="Seconds between cleanups while serving (0: only at start)."
    )
    warn_ratio: float = Field(
        0.8, gt=0.0, le=1.0, description="Usage (of bytes or files) at which /health warns."
    )


class LoggingSettings(BaseModel):
    """Server logs (always to standard error)."""

    level: str = Field("info", description="debug, info, warning or error.")
    format: Literal["console", "json"] = Field(
        "console", description="`json`: one JSON object per line; `console`: readable lines."
    )
