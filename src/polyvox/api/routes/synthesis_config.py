"""``GET /v1/synthesis-config``: what a request gets when it names nothing, and the bounds it must keep."""

from __future__ import annotations

from fastapi import APIRouter

from polyvox.api.deps import RegistryDep, SettingsDep
from polyvox.api.routes.common import VALIDATION_RESPONSE
from polyvox.api.routes.openai import HOSTED_MODELS
from polyvox.audio.formats import supported_formats
from polyvox.openai_names import OPENAI_VOICES
from polyvox.request import MAX_RATE, MAX_SPEED, MIN_RATE, MIN_SPEED

router = APIRouter(tags=["Engines and voices"], responses=VALIDATION_RESPONSE)


@router.get("/v1/synthesis-config", summary="Synthesis defaults and limits")
async def synthesis_config(settings: SettingsDep, registry: RegistryDep) -> dict[str, object]:
    """What a request gets when it names nothing, and the bounds it must stay within."""
    default = registry.default
    return {
        "engine": default,
        "voice": registry.resolve_voice(default, None).id,
        "sample_rate": registry.info(default).sample_rate,
        "formats": supported_formats(),
        "speed": {"min": MIN_SPEED, "max": MAX_SPEED, "default": 1.0},
        "sample_rate_range": {"min": MIN_RATE, "max": MAX_RATE},
        "max_text_length": settings.max_text_length,
        "longform_max_chars": settings.longform.max_chars,
        "engines": registry.names(),
        "openai_models": list(HOSTED_MODELS),
        "openai_voices": list(OPENAI_VOICES),
    }
