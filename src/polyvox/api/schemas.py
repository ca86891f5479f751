"""Response bodies, described field by field for ``/openapi.json`` and ``/docs`` (the speech routes' request
bodies are polyvox.api.speech_requests)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class ErrorDetail(BaseModel):
    code: str = Field(..., description="Stable machine code, e.g. `voice_not_found`.")
    message: str = Field(..., description="What went wrong, for people.")
    param: str | None = Field(None, description="The request field at fault, when there is one.")
    type: str = Field(..., description="`invalid_request_error` (4xx) or `server_error` (5xx), as OpenAI.")


class ErrorResponse(BaseModel):
    """Every error, on every route."""

    error: ErrorDetail = Field(..., description="What went wrong.")


class CapabilitiesOut(BaseModel):
    streaming: bool = Field(..., description="Yields audio sentence by sentence.")
    cloning: bool = Field(..., description="Speaks with the voice of a reference recording.")
    phonemes: bool = Field(..., description="Accepts phoneme input.")
    ssml: bool = Field(..., description="Accepts SSML markup.")
    blending: bool = Field(False, description="Its voices can be mixed (`a(2)+b(1)`); blends use it.")
    cloning_mode: str = Field(
        "conversion",
        description="How a library voice is spoken: `native` (the engine clones from the reference) or "
        "`conversion` (a base voice converted toward it).",
    )


class ParameterOut(BaseModel):
    """One engine parameter and the range the pipeline enforces (outside it: 422 `invalid_parameter`)."""

    name: str = Field(..., description="Field name (native route) or `extra` key (WebSocket `start`).")
    low: float = Field(..., description="Smallest accepted value.")
    high: float = Field(..., description="Largest accepted value.")
    default: float | None = Field(None, description="The engine's value when the request sets none.")
    integer: bool = Field(False, description="Whole numbers only.")
    description: str = Field("", description="What it changes.")
    aliases: list[str] = Field(default_factory=list, description="Other names accepted for it.")


class DownloadOut(BaseModel):
    """An engine's weight download (``POST /v1/models/{engine}/pull``), running or last ended."""

    running: bool = Field(..., description="Whether it is still fetching.")
    done_bytes: int = Field(..., description="Bytes fetched so far (resumed bytes included).")
    total_bytes: int = Field(..., description="Bytes of every file, as the hub announced them.")
    file: str = Field("", description="The file being fetched.")
    error: str | None = Field(None, description="Why the last pull failed, if it did.")


class WeightsSourceOut(BaseModel):
    """Where ``polyvox models pull`` gets an engine's published weights, for people deciding."""

    size_bytes: int = Field(..., description="About how much a pull downloads.")
    license: str = Field(..., description="The weights' licence.")
    license_url: str = Field(..., description="Where to read it.")
    must_accept: bool = Field(..., description="Whether a pull needs `accept_license` (restricted use).")
    note: str = Field("", description="What the licence restricts, in a few words.")
    repositories: list[str] = Field(..., description="The hub repositories the files come from.")
    gated: bool = Field(False, description="Whether the hub asks you to accept terms first (`HF_TOKEN`).")


class EngineOut(BaseModel):
    """One engine, its static facts and its measured state."""

    name: str = Field(..., description="Engine name used in requests.")
    label: str = Field(..., description="Human-readable name.")
    description: str = Field(..., description="What the engine is good at.")
    languages: list[str] = Field(..., description="Language codes the engine speaks.")
    sample_rate: int = Field(..., description="Native output rate in Hz.")
    capabilities: CapabilitiesOut = Field(..., description="What the engine can do.")
    speed_range: tuple[float, float] = Field(
        ..., description="Speeds rendered natively; others are stretched."
    )
    parameters: list[str] = Field(..., description="Engine-specific parameters the native route accepts.")
    parameter_ranges: list[ParameterOut] = Field(
        default_factory=list,
        description="Each parameter with its range, default and aliases; values outside the range, not "
        "finite, or not whole where `integer` is set are refused with 422 `invalid_parameter` before "
        "synthesis.",
    )
    default: bool = Field(..., description="Whether this is the default engine.")
    loaded: bool = Field(..., description="Whether the model is in memory now.")
    users: int = Field(..., description="Syntheses using the engine now.")
    rss_added: int = Field(..., description="Resident memory (bytes) the engine added when it loaded.")
    rtf: float | None = Field(
        None,
        description="Measured real-time factor (synthesis seconds per audio second): a self-test on load, "
        "then a running average of real requests. Lower is faster; null until measured.",
    )
    load_seconds: float = Field(..., description="Seconds the last load took (including the self-test).")
    load_count: int = Field(..., description="Times the engine was loaded.")
    unload_count: int = Field(..., description="Times the engine was unloaded.")
    state: str = Field(
        "ready",
        description="`ready`; `needs_package` when a Python package of its extra is not installed; "
        "`needs_weights` when its model folder lacks files (in both, requests get 503 `engine_unavailable` "
        "with `x-should-retry: false`); `failed` after its last load or synthesis failed (see `last_error`; "
        "it is reloaded on its next use).",
    )
    next_step: str | None = Field(
        None, description="What to do to make the engine speak (the command, or the files and folder)."
    )
    missing_packages: list[str] = Field(
        default_factory=list, description="Python modules the engine needs that are not installed."
    )
    model_dir: str | None = Field(None, description="The folder the engine reads its weights from, if any.")
    missing_files: list[str] = Field(
        default_factory=list, description="Files the engine needs that its model folder lacks."
    )
    isolation: str = Field(
        "thread", description="`thread` (this process's worker pool) or `process` (a worker process)."
    )
    pid: int | None = Field(None, description="Process id of the engine's worker process, when one runs.")
    worker_rss: int = Field(0, description="Resident memory (bytes) of that worker process now.")
    download: DownloadOut | None = Field(None, description="Its weight download, running or last ended.")
    weights_source: WeightsSourceOut | None = Field(
        None, description="Its published weights, when `polyvox models pull` can fetch them."
    )
    healthy: bool = Field(True, description="False after a failure; the engine is reloaded on next use.")
    last_error: str | None = Field(None, description="The last failure (a dead worker says why it died).")


class EngineList(BaseModel):
    default: str = Field(..., description="The default engine.")
    engines: list[EngineOut] = Field(..., description="Every engine, in name order.")


class VoiceOut(BaseModel):
    id: str = Field(..., description="Voice id used in requests.")
    name: str = Field(..., description="Display name.")
    engine: str = Field(..., description="Engine the voice belongs to.")
    language: str = Field(..., description="Primary language code.")
    gender: str | None = Field(None, description="`female`, `male` or null when unknown.")
    speakers: list[str] = Field(default_factory=list, description="Speakers of a multi-speaker voice.")
    languages: list[str] = Field(default_factory=list, description="Other languages the voice can speak.")


class VoiceList(BaseModel):
    voices: list[VoiceOut] = Field(..., description="The matching voices.")


class SimpleVoice(BaseModel):
    id: str = Field(..., description="Voice id (use as `voice`, together with `model` = the engine).")
    name: str = Field(..., description="Display name.")
    language: str = Field(..., description="Primary language code.")
    engine: str = Field(..., description="Engine the voice belongs to.")
    gender: str | None = Field(None, description="`female`, `male` or null when unknown.")


class SimpleVoiceList(BaseModel):
    """Kokoro-FastAPI / speaches style voice listing."""

    voices: list[SimpleVoice] = Field(..., description="The matching voices.")


class ModelOut(BaseModel):
    id: str = Field(..., description="Model id for the `model` field: tts-1, tts-1-hd or an engine name.")
    object: Literal["model"] = Field("model", description="Always `model`.")
    created: int = Field(..., description="Unix time the server started.")
    owned_by: str = Field("polyvox", description="Always `polyvox`.")


class ModelList(BaseModel):
    """OpenAI's model list shape."""

    object: Literal["list"] = Field("list", description="Always `list`.")
    data: list[ModelOut] = Field(..., description="OpenAI's speech models, then every engine.")


class SpeechModel(BaseModel):
    id: str = Field(..., description="Value for `model`: an OpenAI model name or an engine name.")
    name: str = Field(..., description="Display name.")


class SpeechModelList(BaseModel):
    """Open WebUI's ``GET {base}/audio/models`` shape."""

    models: list[SpeechModel] = Field(..., description="OpenAI's model names, then every engine.")


class EngineModel(BaseModel):
    id: str = Field(..., description="Engine name.")
    label: str = Field(..., description="Human-readable name.")
    loaded: bool = Field(..., description="Whether the model is in memory now.")
    default: bool = Field(..., description="Whether this is the default engine.")


class EngineModelList(BaseModel):
    current: str = Field(..., description="The default engine.")
    models: list[EngineModel] = Field(..., description="Every engine.")


class CurrentModel(BaseModel):
    model: str = Field(..., description="The default engine.")
    loaded: bool = Field(..., description="Whether it is in memory now.")


class SwitchResult(BaseModel):
    model: str = Field(..., description="The default engine now.")
    previous: str = Field(..., description="The default engine before the switch.")
    loaded: bool = Field(
        ..., description="Whether the new default is loaded (it is loaded before switching)."
    )


class EngineHealth(BaseModel):
    loaded: bool = Field(..., description="Whether the model is in memory now.")
    users: int = Field(..., description="Syntheses using the engine now.")


class Health(BaseModel):
    status: Literal["ok"] = Field("ok", description="Always `ok` while the process serves requests.")
    version: str = Field(..., description="Polyvox version.")
    uptime_seconds: float = Field(..., description="Seconds since the server started.")
    default_engine: str = Field(..., description="The default engine.")
    ready: bool = Field(..., description="Same as `GET /ready` answering 200.")
    active_streams: int = Field(..., description="Syntheses running or queued now.")
    capacity: int = Field(..., description="Syntheses allowed at once (workers + queue); beyond: 429.")
    engines: dict[str, EngineHealth] = Field(..., description="Engine name -> state.")
    warnings: list[str] = Field(
        default_factory=list,
        description="Operator warnings: storage directories at 80% of a limit, engines marked unhealthy.",
    )


class Readiness(BaseModel):
    ready: bool = Field(..., description="Whether the default engine has been loaded.")
    default_engine: str = Field(..., description="The default engine.")
    detail: str | None = Field(None, description="Why the server is not ready, when it is not.")
