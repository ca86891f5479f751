"""``GET/PATCH /v1/config``: the runtime-settable subset of the settings, persisted to the YAML file.

Settable: the default engine, per-engine default voices and the engine TTL. A change applies at once and,
when the server was started with ``POLYVOX_CONFIG=FILE``, is written to that file (atomically; other keys
in it are kept), so it survives a restart. The environment still wins over the file at start-up: a value
also set by a ``POLYVOX_*`` variable is overridden by it on the next start.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from fastapi import APIRouter
from pydantic import BaseModel, Field

from polyvox.api.deps import RegistryDep, SettingsDep
from polyvox.api.routes.common import VALIDATION_RESPONSE, check_engine
from polyvox.api.schemas import ErrorResponse
from polyvox.config import Settings

router = APIRouter(tags=["Configuration"], responses=VALIDATION_RESPONSE)


class RuntimeConfig(BaseModel):
    default_engine: str = Field(..., description="Engine used when a request names none.")
    default_voices: dict[str, str] = Field(..., description="Engine name -> default voice id.")
    ttl: int = Field(..., description="Seconds an unused engine stays loaded (-1 never unloads).")
    # Whether changes are saved, not where: the file's path would tell any caller about the server's disk.
    persisted: bool = Field(
        False, description="Whether changes are saved to the YAML settings file (POLYVOX_CONFIG)."
    )


class ConfigPatch(BaseModel):
    default_engine: str | None = Field(None, description="Make this engine the default (it is loaded first).")
    default_voices: dict[str, str] | None = Field(
        None, description="Engine name -> voice id; merged into the current map."
    )
    ttl: int | None = Field(None, ge=-1, le=7 * 86400, description="Engine idle TTL in seconds.")


def config_file() -> Path | None:
    name = os.environ.get("POLYVOX_CONFIG")
    return Path(name) if name else None


def _current(settings: Settings, default_engine: str) -> RuntimeConfig:
    return RuntimeConfig(
        default_engine=default_engine,
        default_voices=dict(settings.engines.default_voices),
        ttl=settings.engines.ttl,
        persisted=config_file() is not None,
    )


def persist(path: Path, engines: dict[str, Any]) -> None:
    """Merge ``engines`` into the ``engines`` group of the YAML file, through a temp file and a rename."""
    data: dict[str, Any] = {}
    if path.exists():
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        data = loaded if isinstance(loaded, dict) else {}
    group = data.get("engines")
    data["engines"] = {**(group if isinstance(group, dict) else {}), **engines}
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    os.replace(temp, path)


@router.get("/v1/config", summary="Runtime settings", response_model=RuntimeConfig)
async def get_config(settings: SettingsDep, registry: RegistryDep) -> RuntimeConfig:
    """The settings that `PATCH /v1/config` can change."""
    return _current(settings, registry.default)


@router.patch(
    "/v1/config",
    summary="Change runtime settings",
    response_model=RuntimeConfig,
    responses={404: {"model": ErrorResponse, "description": "Unknown engine or voice."}},
)
async def patch_config(patch: ConfigPatch, settings: SettingsDep, registry: RegistryDep) -> RuntimeConfig:
    """Change the default engine, default voices or TTL now, and save them to the config file if any.

    Everything is validated before anything changes: an unknown engine or voice changes nothing.
    """
    for engine, voice in (patch.default_voices or {}).items():
        registry.resolve_voice(check_engine(registry, engine, "default_voices"), voice)
    if patch.default_engine is not None:
        check_engine(registry, patch.default_engine, "default_engine")
        await registry.switch_default(patch.default_engine)
        settings.engines.default = patch.default_engine
    if patch.default_voices:
        settings.engines.default_voices = {**settings.engines.default_voices, **patch.default_voices}
    if patch.ttl is not None:
        settings.engines.ttl = patch.ttl
    path = config_file()
    if path is not None:
        persist(
            path,
            {
                "default": registry.default,
                "default_voices": settings.engines.default_voices,
                "ttl": settings.engines.ttl,
            },
        )
    return _current(settings, registry.default)
