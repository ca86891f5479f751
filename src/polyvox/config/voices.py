"""Settings of the voice library, voice conversion and URL fetching (``POLYVOX_VOICES__*``)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class VoiceLibrarySettings(BaseModel):
    """Stored voices, reference uploads, voice conversion and the SSRF-safe URL fetcher."""

    max_upload_bytes: int = Field(
        20 * 1024 * 1024, ge=1024, description="Largest reference or conversion upload (bytes); above: 413."
    )
    max_reference_seconds: float = Field(
        60.0, gt=0, description="Longest reference recording accepted (seconds, after trimming); above: 413."
    )
    min_reference_seconds: float = Field(
        1.0, ge=0, description="Shortest reference recording accepted (seconds of speech)."
    )
    reference_max_count: int = Field(
        100,
        ge=0,
        description="Most voices `ref-<hash>` kept from references sent with requests (`/api/v1/tts` "
        "`reference_audio`, `reference_audio_url`); the least recently used go first (0: unlimited).",
    )
    reference_max_bytes: int = Field(
        500 * 1024 * 1024, ge=0, description="Most bytes those reference voices may hold (0: unlimited)."
    )
    reference_max_age: float = Field(
        30 * 86400.0,
        ge=0.0,
        description="Seconds a reference voice is kept after its last use (0: forever). Voices added with "
        "`POST /v1/voices` are never removed by these bounds.",
    )
    max_convert_seconds: float = Field(
        600.0, gt=0, description="Longest input /v1/vc converts (seconds); above: 413."
    )
    max_upload_rate: int = Field(
        192_000,
        ge=8000,
        description="Highest sample rate an uploaded recording may declare (Hz); above: 422 before decoding.",
    )
    converter: str = Field(
        "auto",
        description="Converter (entry point in polyvox.converters) to use; 'auto': a neural one whose "
        "weights are present (chatterbox, with s3gen.safetensors in its model folder), else 'world'.",
    )
    fetch_timeout: float = Field(
        15.0, gt=0, description="Seconds a URL fetch may take in all (redirects too)."
    )
    fetch_max_bytes: int = Field(
        20 * 1024 * 1024, ge=1024, description="Largest body a URL fetch reads (bytes); above: 413."
    )
    max_redirects: int = Field(3, ge=0, le=10, description="Redirects a URL fetch follows (each re-checked).")
    url_allow_hosts: list[str] = Field(
        default_factory=list,
        description="If set, only these hosts may be fetched ('example.com', '*.example.com').",
    )
    url_deny_hosts: list[str] = Field(
        default_factory=list, description="Hosts never fetched ('example.com', '*.example.com')."
    )
    url_allow_networks: list[str] = Field(
        default_factory=list,
        description="CIDR networks fetched even though private/loopback (e.g. a LAN media server).",
    )
    url_deny_networks: list[str] = Field(
        default_factory=list, description="CIDR networks never fetched, on top of the built-in refusals."
    )
