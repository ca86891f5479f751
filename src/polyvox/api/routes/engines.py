"""Engines and voices: listing, details, explicit load and unload."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Query

from polyvox.api.deps import RegistryDep, SynthesizerDep
from polyvox.api.errors import EngineInUseError
from polyvox.api.routes.common import VALIDATION_RESPONSE, check_engine
from polyvox.api.routes.openai import HOSTED_MODELS
from polyvox.api.schemas import (
    CapabilitiesOut,
    DownloadOut,
    EngineList,
    EngineOut,
    ErrorResponse,
    ParameterOut,
    SimpleVoice,
    SimpleVoiceList,
    VoiceList,
    VoiceOut,
    WeightsSourceOut,
)
from polyvox.engines.base import Voice
from polyvox.engines.neural.sources import source_of
from polyvox.engines.registry import EngineRegistry
from polyvox.engines.status import EngineStatus
from polyvox.language import Match, speaks
from polyvox.synthesis import Synthesizer
from polyvox.voice_router import LIBRARY_ENGINE, cloning_mode, library_voices

router = APIRouter(tags=["Engines and voices"], responses=VALIDATION_RESPONSE)

_NOT_FOUND: dict[int | str, dict[str, object]] = {
    404: {"model": ErrorResponse, "description": "Unknown engine (`engine_not_found`)."}
}


def engine_out(registry: EngineRegistry, name: str) -> EngineOut:
    status = registry.status(name)
    info = status.info
    caps = info.capabilities
    return EngineOut(
        name=info.name,
        label=info.label,
        description=info.description,
        languages=list(info.languages),
        sample_rate=info.sample_rate,
        capabilities=CapabilitiesOut(
            streaming=caps.streaming,
            cloning=caps.cloning,
            phonemes=caps.phonemes,
            ssml=caps.ssml,
            blending=caps.blending,
            cloning_mode=cloning_mode(registry, name),
        ),
        speed_range=info.speed_range,
        parameters=[p.name for p in info.parameters],
        parameter_ranges=[
            ParameterOut(
                name=p.name,
                low=p.low,
                high=p.high,
                default=p.default,
                integer=p.integer,
                description=p.description,
                aliases=list(p.aliases),
            )
            for p in info.parameters
        ],
        default=name == registry.default,
        loaded=status.loaded,
        users=status.users,
        rss_added=status.rss_added,
        rtf=status.rtf,
        load_seconds=round(status.load_seconds, 4),
        load_count=status.load_count,
        unload_count=status.unload_count,
        isolation=status.isolation,
        pid=status.pid,
        worker_rss=status.worker_rss,
        healthy=status.healthy,
        last_error=status.last_error,
        **_weights_fields(status),
    )


def _weights_fields(status: EngineStatus) -> dict[str, Any]:
    """``state`` and ``next_step`` of every engine; ``model_dir``, ``missing_files`` and ``missing_packages``
    of engines that read a weights folder or need an extra's packages."""
    ready = status.readiness
    fields: dict[str, Any] = {"state": ready.state, "next_step": ready.next_step or None}
    if ready.packages is not None:
        fields["missing_packages"] = list(ready.packages.missing)
    if ready.weights is not None:
        fields |= {"model_dir": str(ready.weights.folder), "missing_files": list(ready.weights.missing)}
    if ready.download is not None:
        fields["download"] = DownloadOut(**asdict(ready.download))
    source = source_of(status.info.name)
    if source is not None:
        fields["weights_source"] = WeightsSourceOut(
            size_bytes=source.size_bytes,
            license=source.licence.name,
            license_url=source.licence.url,
            must_accept=source.licence.must_accept,
            note=source.licence.note,
            repositories=sorted({f.repo for f in source.files}),
            gated=source.gated,
        )
    return fields


@router.get("/v1/engines", summary="List engines", response_model=EngineList)
async def list_engines(registry: RegistryDep) -> EngineList:
    """Every engine with its languages, native rate, capabilities and measured state (memory, speed)."""
    return EngineList(default=registry.default, engines=[engine_out(registry, n) for n in registry.names()])


@router.get("/v1/engines/{name}", summary="One engine", response_model=EngineOut, responses=_NOT_FOUND)
async def get_engine(name: str, registry: RegistryDep) -> EngineOut:
    """One engine's facts and state."""
    return engine_out(registry, check_engine(registry, name))


@router.post(
    "/v1/engines/{name}/load", summary="Load an engine", response_model=EngineOut, responses=_NOT_FOUND
)
async def load_engine(name: str, registry: RegistryDep) -> EngineOut:
    """Load the engine now (and run its speed self-test) instead of on first use. Idempotent."""
    await registry.load(check_engine(registry, name))
    return engine_out(registry, name)


@router.post(
    "/v1/engines/{name}/unload",
    summary="Unload an engine",
    response_model=EngineOut,
    responses={
        **_NOT_FOUND,
        409: {"model": ErrorResponse, "description": "The engine is in use (`engine_in_use`)."},
    },
)
async def unload_engine(name: str, registry: RegistryDep) -> EngineOut:
    """Free the engine's memory now; it loads again on next use. Idempotent when it is not loaded."""
    check_engine(registry, name)
    if not await registry.unload(name) and registry.status(name).users > 0:
        users = registry.status(name).users
        raise EngineInUseError(f"engine {name!r} is in use by {users} request(s)", param="name")
    return engine_out(registry, name)


def _voice_matches(voice: Voice, language: str | None) -> bool:
    if not language:
        return True
    return speaks(language, (voice.language, *voice.languages), least=Match.BARE)


def _voices(registry: EngineRegistry, engine: str | None, language: str | None) -> list[Voice]:
    if engine:
        registry.check_available(check_engine(registry, engine))  # 503 with the next step, not an empty list
    names = [engine] if engine else registry.speaking_names()
    return [v for name in names for v in registry.voices(name) if _voice_matches(v, language)]


def _all_voices(
    registry: EngineRegistry,
    synthesizer: Synthesizer,
    engine: str | None,
    language: str | None,
    *,
    library: bool = False,
) -> list[Voice]:
    """Engine voices, then (when no engine is asked for, or ``library``) the library voices, which every
    engine speaks."""
    voices = _voices(registry, engine, language)
    if engine is None or library:
        voices += [v for v in library_voices(synthesizer.voices.library) if _voice_matches(v, language)]
    return voices


EngineFilter = Annotated[str | None, Query(description="Only this engine's voices.")]
LanguageFilter = Annotated[
    str | None, Query(description="Only voices speaking this language (`en` matches `en-us` and `en-gb`).")
]


@router.get("/v1/voices", summary="List voices", response_model=VoiceList, responses=_NOT_FOUND)
async def list_voices(
    registry: RegistryDep,
    synthesizer: SynthesizerDep,
    engine: EngineFilter = None,
    language: LanguageFilter = None,
) -> VoiceList:
    """Voices of every engine (or one), then the library voices (engine `library`, usable with every
    engine), optionally only those speaking a language."""
    voices = _all_voices(registry, synthesizer, engine, language)
    return VoiceList(
        voices=[
            VoiceOut(
                id=v.id,
                name=v.name,
                engine=v.engine,
                language=v.language,
                gender=v.gender,
                speakers=list(v.speakers),
                languages=list(v.languages),
            )
            for v in voices
        ]
    )


ModelFilter = Annotated[
    str | None,
    Query(
        description="Only the voices this `model` speaks, with ids as `voice` takes them together with it: "
        "an engine's own voices and the library's for an engine; every voice for an OpenAI model name."
    ),
]


def _request_id(voice: Voice, registry: EngineRegistry, engine_filter: str | None) -> str:
    """The id to send as `voice`: bare within one engine or for the default engine, else `engine/voice`."""
    if engine_filter or voice.engine in (registry.default, LIBRARY_ENGINE):
        return voice.id
    return f"{voice.engine}/{voice.id}"


@router.get(
    "/v1/audio/voices",
    summary="List voices (Open WebUI, Kokoro-FastAPI, speaches style)",
    response_model=SimpleVoiceList,
    responses=_NOT_FOUND,
    tags=["OpenAI compatible"],
)
async def list_audio_voices(
    registry: RegistryDep,
    synthesizer: SynthesizerDep,
    engine: EngineFilter = None,
    language: LanguageFilter = None,
    model: ModelFilter = None,
) -> SimpleVoiceList:
    """`{"voices": [{"id", "name", "language", "engine", "gender"}]}`. Every listed `id` works as `voice`
    with the `model` asked for (default `tts-1`, the default engine): voices of other engines are listed as
    `engine/voice`. Library voices are included (engine `library`)."""
    if model is not None and model.strip() not in HOSTED_MODELS:
        model_engine = check_engine(registry, model.strip().partition("/")[0], param="model")
        if engine is not None and check_engine(registry, engine) != model_engine:
            return SimpleVoiceList(voices=[])
        engine = model_engine
    voices = _all_voices(registry, synthesizer, engine, language, library=True)
    return SimpleVoiceList(
        voices=[
            SimpleVoice(
                id=_request_id(v, registry, engine),
                name=v.name,
                language=v.language,
                engine=v.engine,
                gender=v.gender,
            )
            for v in voices
        ]
    )
