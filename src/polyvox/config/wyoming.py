"""Settings of the Wyoming front door (``POLYVOX_WYOMING__*``)."""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import BaseModel, Field, field_validator


def check_uri(uri: str) -> str:
    """``uri`` if Wyoming can listen there: ``tcp://HOST:PORT``, ``unix://PATH``, ``stdio://``."""
    parts = urlsplit(uri)
    if parts.scheme == "stdio" or (parts.scheme == "unix" and (parts.netloc or parts.path)):
        return uri
    if parts.scheme == "tcp":
        try:
            port = parts.port
        except ValueError:  # not a number, or out of range
            port = None
        if port is not None:
            return uri
    raise ValueError(f"{uri!r} is not tcp://HOST:PORT or unix://PATH")


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

    @field_validator("uri")
    @classmethod
    def _listenable(cls, uri: str | None) -> str | None:
        return None if uri is None else check_uri(uri)
