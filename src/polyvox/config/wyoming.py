"""Settings of the Wyoming front door (``POLYVOX_WYOMING__*``)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class WyomingSettings(BaseModel):
    """The Wyoming server (Home Assistant's voice protocol)."""

    uri: str | None = Field(
        None,
        description="Where the Wyoming server listens: tcp://HOST:PORT (e.g. tcp://0.0.0.0:10200) or "
        "unix://PATH; None keeps it off.",
    )
    zeroconf: bool = Field(
        False, description="Announce the server over mDNS (_wyoming._tcp) so Home Assistant discovers it."
    )
    zeroconf_name: str = Field("polyvox", min_length=1, description="Service name announced over zeroconf.")
    max_event_bytes: int = Field(
        1024 * 1024,
        ge=1024,
        description="Largest data or payload one event may declare (bytes); above: one error event "
        "(`payload_too_large`) and the connection is closed.",
    )
    samples_per_chunk: int = Field(
        1024, ge=64, le=65536, description="Samples per audio-chunk event (wyoming-piper sends 1024)."
    )
