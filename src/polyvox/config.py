"""Settings in one typed place.

Every field can be set from the environment (prefix ``POLYVOX_``, nested groups joined with ``__``, e.g.
``POLYVOX_ENGINES__TTL=0``) or from a YAML file named by ``POLYVOX_CONFIG``. The environment wins over
the file.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)


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
        default_factory=lambda: os.cpu_count() or 1,
        ge=1,
        description="Threads that run blocking inference; bounds concurrent synthesis.",
    )
    onnx_threads: int = Field(
        0,
        ge=0,
        description="onnxruntime intra-op threads per engine session (0: the engine's own choice: "
        "1 for piper, onnxruntime's default for kokoro).",
    )
    enable_test_engines: bool = Field(
        False, description="List the deterministic 'tone' test engine alongside the real ones."
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
        default_factory=lambda: dict.fromkeys(
            ("alloy", "ash", "ballad", "coral", "echo", "fable", "onyx", "nova", "sage", "shimmer", "verse"),
            "piper/joe",
        ),
        description="OpenAI voice names mapped to 'engine/voice' (or a voice of the default engine).",
    )
    engines: EngineSettings = Field(default_factory=EngineSettings)
    tone: ToneSettings = Field(default_factory=ToneSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)

    @property
    def resolved_voices_dir(self) -> Path:
        return self.voices_dir or self.data_dir / "voices"

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
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=config_file))
        return tuple(sources)


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
