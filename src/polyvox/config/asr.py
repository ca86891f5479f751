"""Settings of speech recognition (``POLYVOX_ASR__*``): which back end, its models, and upload bounds."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field


class OpenAIAsrSettings(BaseModel):
    """An OpenAI-compatible ``/audio/transcriptions`` endpoint (vLLM serving Voxtral, speaches, OpenAI)."""

    base_url: str = Field(
        "http://127.0.0.1:8001/v1", description="Base URL; '/audio/transcriptions' is appended to it."
    )
    model: str = Field("whisper-1", description="Model name sent with every request.")
    api_key: str | None = Field(None, description="Sent as 'Authorization: Bearer ...' when set.")
    timeout: float = Field(60.0, gt=0, description="Seconds one transcription request may take.")
    word_timestamps: bool = Field(
        True,
        description="Ask for verbose_json with word timestamps when a caller needs words (captions); turn "
        "off for servers that only answer 'json' (word times then come out empty).",
    )


class AsrSettings(BaseModel):
    """Speech recognition for /v1/audio/transcriptions, /v1/ws/converse, long-form validation and captions."""

    backend: str = Field(
        "whisper", description="ASR back end (entry point in 'polyvox.asr'): 'whisper' (local) or 'openai'."
    )
    model: str = Field(
        "tiny.en",
        description="Local Whisper model used when a request names none (or names 'whisper-1'): 'tiny.en' "
        "(bundled) or the name of a folder in models_dir.",
    )
    models_dir: Path | None = Field(
        None,
        description="Folder of extra CTranslate2 Whisper models, one sub-folder each (holding model.bin), "
        "filled by the user; never downloaded. Defaults to DATA_DIR/models/whisper.",
    )
    threads: int = Field(1, ge=0, description="CPU threads per Whisper model (0: CTranslate2 decides).")
    beam_size: int = Field(5, ge=1, le=16, description="Whisper beam width.")
    max_concurrent: int = Field(
        1, ge=1, description="Transcriptions running at once (each holds a thread and `threads` cores)."
    )
    max_queue: int = Field(
        8, ge=0, description="Transcriptions that may wait for a slot; beyond that: 429 busy."
    )
    max_upload_bytes: int = Field(
        25 * 1024 * 1024,
        ge=1024,
        description="Largest /v1/audio/transcriptions upload (bytes; limits.max_body_bytes also applies).",
    )
    max_seconds: float = Field(
        600.0, gt=0, description="Longest audio /v1/audio/transcriptions accepts (seconds); above: 413."
    )
    openai: OpenAIAsrSettings = Field(default_factory=OpenAIAsrSettings)
