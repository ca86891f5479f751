"""Settings in one typed place: the root :class:`Settings` and the groups of the core pipeline.

The groups of the front doors and services live beside this module (``polyvox/config/*.py``); every one is
a plain pydantic model nested here, so one ``Settings()`` reads the environment and the YAML file once.
Every field can be set from the environment (prefix ``POLYVOX_``, nested groups joined with ``__``, e.g.
``POLYVOX_ENGINES__TTL=0``) or from a YAML file named by ``POLYVOX_CONFIG``. The environment wins over
the file.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    YamlConfigSettingsSource,
)

from polyvox.config.asr import AsrSettings
from polyvox.config.dialogue import DialogueSettings
from polyvox.config.monitor import MonitorSettings
from polyvox.config.ops import AuthSettings, LimitSettings, LoggingSettings, StorageSettings
from polyvox.config.ray import RaySettings
from polyvox.config.realtime import LLMSettings, RealtimeSettings
from polyvox.config.voices import VoiceLibrarySettings
from polyvox.config.wyoming import WyomingSettings


def _cores() -> int:
    """The cores this process may run on (its CPU affinity: containers and taskset narrow it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "polyvox"


class EngineSettings(BaseModel):
    """How engines are chosen, loaded and run."""

    default: str = Field("piper", description="Engine used when a request names none.")
    default_voices: dict[str, str] = Field(
        default_factory=dict,
        description="Per-engine default voice overriding the engine's own (engine name -> voice id).",
    )
    ttl: int = Field(
        300,
        ge=-1,
        description="Seconds an unused engine stays loaded: -1 never unloads, 0 unloads right after use.",
    )
    workers: int = Field(
        default_factory=lambda: max(1, _cores() // 2),
        ge=1,
        description="Threads that run blocking inference; bounds concurrent synthesis. Default: half the "
        "cores (at least 1), so each engine call computes on two cores (engines.onnx_threads): on a 2-core "
        "machine one listener's first audio comes ~1.6x sooner than with one thread per call.",
    )
    onnx_threads: int = Field(
        0,
        ge=0,
        description="onnxruntime intra-op threads per engine session (0: the cores divided by "
        "engines.workers, at least 1, so workers x threads never oversubscribes the cores).",
    )
    parameters: dict[str, dict[str, float | int | bool | str]] = Field(
        default_factory=dict,
        description="Per-engine defaults of its parameters where a request gives none (engine name -> "
        "{parameter: value}), checked against the engine's ranges at start-up, e.g. "
        'POLYVOX_ENGINES__PARAMETERS=\'{"piper": {"noise_scale": 0.333, "length_scale": 1.1}}\'.',
    )
    enable_test_engines: bool = Field(
        False, description="List the deterministic 'tone' test engine alongside the real ones."
    )
    # Neural engines (polyvox.engines.neural): weights the user put on disk, and where the model runs.
    model_dirs: dict[str, Path] = Field(
        default_factory=dict,
        description="Per-engine folder of model weights (engine name -> path) overriding "
        'DATA_DIR/models/<engine>/, e.g. POLYVOX_ENGINES__MODEL_DIRS=\'{"xtts": "/models/xtts"}\'.',
    )
    device: dict[str, str] = Field(
        default_factory=dict,
        description="Per-engine torch device (engine name -> 'auto', 'cpu', 'cuda' or 'cuda:N'); 'auto' (the "
        "default) picks CUDA when torch sees a GPU, else the CPU.",
    )
    half_precision: bool = Field(
        True, description="Run neural engines in fp16 on CUDA where the model supports it (never on the CPU)."
    )
    isolation: dict[str, Literal["thread", "process"]] = Field(
        default_factory=dict,
        description="Where an engine runs (engine name -> 'thread' or 'process'), overriding the engine's "
        "own default: 'thread' in this process's worker pool, 'process' in a worker process of its own "
        "(crash and memory isolation; its memory returns to the system on unload).",
    )
    interpreters: dict[str, str] = Field(
        default_factory=dict,
        description="Python executable that runs an engine's worker process (engine name -> path), e.g. a "
        "venv with that engine's own pins and Polyvox installed; default: the server's own Python.",
    )
    worker_memory_limit: int = Field(
        16 * 1024**3,
        ge=0,
        description="Resident bytes an engine worker process may use; a worker past it is killed, its "
        "streams end with engine_failed and the next request starts a fresh one (0: no limit).",
    )
    wyoming: dict[str, str] = Field(
        default_factory=dict,
        description="Remote Wyoming TTS servers used as engines (engine name -> 'tcp://host:port').",
    )


class ToneSettings(BaseModel):
    """The deterministic tone engine used for timing and fault tests."""

    delay: float = Field(0.0, ge=0.0, description="Seconds the tone engine sleeps per segment.")
    fail_at: int = Field(
        -1, description="Raise while synthesizing this segment index of a request (-1: never fail)."
    )
    trace_file: Path | None = Field(
        None, description="Append one JSON line per synthesized segment (start/end times) to this file."
    )


class ServerSettings(BaseModel):
    """The HTTP server."""

    host: str = Field("127.0.0.1", description="Address the HTTP server binds to.")
    port: int = Field(8000, ge=0, le=65535, description="Port the HTTP server listens on.")
    max_queue: int = Field(
        64, ge=0, description="Requests allowed to wait for a worker; beyond that the server answers 429."
    )
    preload_default: bool = Field(True, description="Load the default engine at startup.")
    first_audio_bound: float = Field(
        4.0,
        ge=0.0,
        description="Admission by capacity: a new stream whose first audio is estimated to take longer than "
        "this many seconds (the engine's measured speed, the streams already playing, the workers) is "
        "answered 429 with Retry-After at once instead of slowing every listener (0: admit all).",
    )
    header_timeout: float = Field(
        10.0,
        ge=0.0,
        description="Seconds a client may take to send a request's headers, from connecting (or from the "
        "first byte of a following request); then 408 and the connection is closed (0: no limit).",
    )
    max_header_bytes: int = Field(
        65_536, ge=4096, description="Most bytes of one request's headers; beyond: 431, connection closed."
    )


class TextSettings(BaseModel):
    """Text preparation before segmentation."""

    normalize: bool = Field(
        True, description="Rewrite numbers, dates, units... into words for English (per-request override)."
    )
    lexicon_file: Path | None = Field(
        None, description="User pronunciation lexicon (JSON); defaults to DATA_DIR/lexicon.json."
    )
    max_word_chars: int = Field(
        100,
        ge=10,
        description="Longest run of characters without a space one segment may hold; a longer one is split "
        "into pieces of this length (an 80 KB 'word' never reaches the phonemizer).",
    )
    max_break_seconds: float = Field(
        30.0, gt=0.0, description="Longest SSML <break>; a longer one is shortened to this."
    )
    max_pause_seconds: float = Field(
        120.0, gt=0.0, description="Most seconds of SSML pauses one request may ask for in all; beyond: 422."
    )
    max_ssml_depth: int = Field(
        32, ge=2, description="Deepest SSML element nesting; beyond: 422 invalid_text."
    )


class PostprocessSettings(BaseModel):
    """The mastering of long-form jobs (and, with ``master_files``, every file): loudness, trim, pauses."""

    target_lufs: float = Field(-18.0, le=0.0, description="Integrated loudness target (LUFS).")
    true_peak_db: float = Field(-1.0, le=0.0, description="True-peak ceiling (dBTP).")
    trim_db: float = Field(-50.0, le=0.0, description="Level below which leading/trailing audio is trimmed.")
    sentence_pause: float = Field(0.25, ge=0.0, description="Seconds of silence between chunks.")
    paragraph_pause: float = Field(0.6, ge=0.0, description="Seconds of silence between paragraphs.")
    crossfade: float = Field(0.01, ge=0.0, description="Seconds of fade at each chunk edge (no clicks).")
    master_files: bool = Field(
        False,
        description="Master short files too (chunks, trim, loudness, pauses), so a text sounds the same "
        "either side of longform.threshold_chars; off: short files keep the engine's level and timing.",
    )


class LongformSettings(BaseModel):
    """Non-streamed long jobs: chunking, parallelism and Whisper validation."""

    threshold_chars: int = Field(
        2000, ge=0, description="Files (non-streamed requests) at least this long run as long-form jobs."
    )
    max_chars: int = Field(1_000_000, ge=1, description="Longest text (characters) of one long-form job.")
    chunk_chars: int = Field(400, ge=50, description="Target characters per chunk (within one paragraph).")
    validate_threshold: float = Field(
        0.35, ge=0.0, description="Chunks whose Whisper WER exceeds this are re-synthesized."
    )
    validate_retries: int = Field(2, ge=0, description="Re-synthesis attempts per failed chunk.")
    fallback_engine: str | None = Field(
        "piper", description="Engine for retries when the request's engine is not stochastic."
    )


class ConfigFileError(SettingsError):
    """``POLYVOX_CONFIG`` names a file that is not there: an error, never silently no file."""


class CacheSettings(BaseModel):
    """Content-addressed cache of synthesized chunks (long-form jobs and audiobooks)."""

    enabled: bool = Field(True, description="Keep synthesized chunks on disk and reuse them.")
    max_bytes: int = Field(512 * 1024 * 1024, ge=0, description="Size cap; least recently used evicted.")
    directory: Path | None = Field(None, description="Where chunks are kept; defaults to DATA_DIR/cache.")


class Settings(BaseSettings):
    """Polyvox settings."""

    model_config = SettingsConfigDict(
        env_prefix="POLYVOX_", env_nested_delimiter="__", extra="ignore", validate_default=True
    )

    data_dir: Path = Field(
        default_factory=_default_data_dir, description="Where Polyvox keeps caches and stored voices."
    )
    voices_dir: Path | None = Field(
        None,
        description="Extra voice files (piper *.onnx + *.onnx.json, kokoro .npz/.npy/.bin); "
        "defaults to DATA_DIR/voices.",
    )
    max_text_length: int = Field(100_000, ge=1, description="Longest text (characters) one request may send.")
    openai_voices: dict[str, str] = Field(
        default_factory=dict,
        description="OpenAI voice names (or any alias) mapped to 'engine/voice' (or a voice of the default "
        "engine). OpenAI names not listed speak with a voice of the default engine chosen by gender, a "
        "different one per name where the engine has several (polyvox.openai_names).",
    )
    engines: EngineSettings = Field(default_factory=EngineSettings)
    tone: ToneSettings = Field(default_factory=ToneSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    limits: LimitSettings = Field(default_factory=LimitSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    text: TextSettings = Field(default_factory=TextSettings)
    postprocess: PostprocessSettings = Field(default_factory=PostprocessSettings)
    longform: LongformSettings = Field(default_factory=LongformSettings)
    cache: CacheSettings = Field(default_factory=CacheSettings)
    wyoming: WyomingSettings = Field(default_factory=WyomingSettings)
    monitor: MonitorSettings = Field(default_factory=MonitorSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    realtime: RealtimeSettings = Field(default_factory=RealtimeSettings)
    voices: VoiceLibrarySettings = Field(default_factory=VoiceLibrarySettings)
    ray: RaySettings = Field(default_factory=RaySettings)
    asr: AsrSettings = Field(default_factory=AsrSettings)
    dialogue: DialogueSettings = Field(default_factory=DialogueSettings)

    @property
    def resolved_voices_dir(self) -> Path:
        return self.voices_dir or self.data_dir / "voices"

    @property
    def resolved_asr_models_dir(self) -> Path:
        """The local Whisper models' folder: ``asr.models_dir`` or ``DATA_DIR/models/whisper``."""
        return self.asr.models_dir or self.data_dir / "models" / "whisper"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get("POLYVOX_CONFIG")
        if config_file:
            if not Path(config_file).is_file():
                raise ConfigFileError(f"POLYVOX_CONFIG names {config_file!r}, which is not a file")
            try:  # the source reads the file now
                sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=config_file))
            except (yaml.YAMLError, ValueError, OSError) as exc:  # bad YAML, not a mapping, unreadable
                reason = " ".join(str(exc).split())
                raise ConfigFileError(f"{config_file} is not a readable YAML mapping: {reason}") from exc
        return tuple(sources)


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
