"""Models: OpenAI's model list, and the default-engine switch other TTS servers expose as "models"."""

from __future__ import annotations

from fastapi import APIRouter, Request

from polyvox.api.deps import RegistryDep
from polyvox.api.routes.common import VALIDATION_RESPONSE, check_engine
from polyvox.api.routes.openai import HOSTED_MODELS
from polyvox.api.schemas import (
    CurrentModel,
    EngineModel,
    EngineModelList,
    ErrorResponse,
    ModelList,
    ModelOut,
    SpeechModel,
    SpeechModelList,
    SwitchResult,
)
from polyvox.engines.registry import EngineRegistry

router = APIRouter(tags=["Models"], responses=VALIDATION_RESPONSE)

OPENAI_MODELS = HOSTED_MODELS
"""OpenAI model ids listed (all mean "the default engine")."""


def _model_list(request: Request, registry: EngineRegistry) -> ModelList:
    created = int(request.app.state.started_at)
    ids = [*OPENAI_MODELS, *registry.speaking_names()]
    return ModelList(data=[ModelOut(id=i, created=created) for i in ids])


@router.get(
    "/v1/models", summary="List models (OpenAI shape)", response_model=ModelList, tags=["OpenAI compatible"]
)
async def list_models(request: Request, registry: RegistryDep) -> ModelList:
    """OpenAI's speech models (the default engine) and every engine that can speak, as OpenAI model objects
    (one that needs a package or weights is in `/v1/engines`, with its next step)."""
    return _model_list(request, registry)


@router.get(
    "/v1/models/{model_id}",
    summary="One model (OpenAI shape)",
    response_model=ModelOut,
    responses={404: {"model": ErrorResponse}},
    tags=["OpenAI compatible"],
)
async def get_model(model_id: str, request: Request, registry: RegistryDep) -> ModelOut:
    """One model object; 404 `engine_not_found` for unknown ids."""
    if model_id not in OPENAI_MODELS:
        check_engine(registry, model_id, param="model")
    return ModelOut(id=model_id, created=int(request.app.state.started_at))


@router.get(
    "/v1/audio/models",
    summary="List speech models (Open WebUI shape)",
    response_model=SpeechModelList,
    tags=["OpenAI compatible"],
)
async def list_speech_models(registry: RegistryDep) -> SpeechModelList:
    """`{"models": [{"id", "name"}]}`: what Open WebUI reads to fill its TTS model list. OpenAI's model
    names speak with the default engine; each engine name picks that engine."""
    default = registry.info(registry.default).label
    models = [SpeechModel(id=name, name=f"{name} ({default})") for name in OPENAI_MODELS]
    models += [SpeechModel(id=name, name=registry.info(name).label) for name in registry.speaking_names()]
    return SpeechModelList(models=models)


@router.get("/models", summary="List engines as models", response_model=EngineModelList)
async def list_engine_models(registry: RegistryDep) -> EngineModelList:
    """Every engine, whether it is loaded, and which is the default (`current`)."""
    return EngineModelList(
        current=registry.default,
        models=[
            EngineModel(
                id=name,
                label=registry.info(name).label,
                loaded=registry.status(name).loaded,
                default=name == registry.default,
            )
            for name in registry.names()
        ],
    )


@router.get("/models/current", summary="The default engine", response_model=CurrentModel)
async def current_model(registry: RegistryDep) -> CurrentModel:
    """The engine used when a request names none (and for `tts-1` / `tts-1-hd`)."""
    return CurrentModel(model=registry.default, loaded=registry.status(registry.default).loaded)


@router.post(
    "/models/switch/{engine}",
    summary="Switch the default engine",
    response_model=SwitchResult,
    responses={404: {"model": ErrorResponse}, 500: {"model": ErrorResponse}},
)
async def switch_model(engine: str, registry: RegistryDep) -> SwitchResult:
    """Load `engine`, then make it the default. Requests already running finish on the engine they
    started with; requests accepted after the switch use the new default."""
    previous = registry.default
    await registry.switch_default(check_engine(registry, engine))
    return SwitchResult(model=registry.default, previous=previous, loaded=registry.status(engine).loaded)
