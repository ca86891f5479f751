"""The voice-conversion contract and converter discovery.

A converter is registered under the ``polyvox.converters`` entry-point group (like engines under
``polyvox.engines``), so a neural converter can be added by another package without touching routes. It is
built with the process settings and opens one :class:`ConversionSession` per target voice and request; the
session converts audio piece by piece and may keep statistics between pieces.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, ClassVar, Protocol, cast, runtime_checkable

import structlog

from polyvox.audio.chunk import FloatArray
from polyvox.errors import PolyvoxError

if TYPE_CHECKING:
    from polyvox.config import Settings
    from polyvox.voices.library import LibraryVoice

log = structlog.get_logger(__name__)

ENTRY_POINT_GROUP = "polyvox.converters"
AUTO = "auto"
"""The converter setting that picks a neural converter when its weights are there (see ``automatic``)."""
_BUILTIN = {"world": "polyvox.voices.world:WorldConverter"}


@dataclass(frozen=True, slots=True)
class ConverterCapabilities:
    """What a converter can do."""

    streaming: bool = True
    """Converts chunk by chunk (bounded latency) rather than needing the whole input."""
    neural: bool = False
    """Uses learned weights (speaker identity) rather than signal processing (pitch and timbre)."""
    sample_rate: int = 24_000
    """Rate of the audio it produces."""
    min_reference_seconds: float = 1.0


@runtime_checkable
class ConversionSession(Protocol):
    """Converts one request's audio toward one target voice; blocking, called from worker threads."""

    sample_rate: int

    def convert(self, samples: FloatArray, rate: int) -> Iterator[FloatArray]:
        """Yield converted audio (at ``sample_rate``) piece by piece; pieces join without clicks."""
        ...


class Converter(Protocol):
    """A voice converter (see the module docstring)."""

    name: ClassVar[str]
    capabilities: ClassVar[ConverterCapabilities]

    def open(self, target: LibraryVoice, reference: FloatArray) -> ConversionSession:
        """A session converting toward ``target`` (its analysis and normalized reference audio)."""
        ...


class ConverterFactory(Protocol):
    name: ClassVar[str]
    capabilities: ClassVar[ConverterCapabilities]

    def __call__(self, settings: Settings) -> Converter: ...


class ConverterNotFoundError(PolyvoxError):
    status = 404
    code = "converter_not_found"


def discover_converters() -> dict[str, ConverterFactory]:
    """Every converter registered under the entry-point group (plus the built-in WORLD one)."""
    found: dict[str, ConverterFactory] = {}
    specs = dict(_BUILTIN)
    specs.update({ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)})
    for name, spec in specs.items():
        module, _, attr = spec.partition(":")
        try:
            found[name] = cast(ConverterFactory, getattr(importlib.import_module(module), attr))
        except Exception as exc:  # one broken plugin must not take the others down
            log.warning("converter_plugin_failed", converter=name, error=str(exc))
    return found


class ConverterRegistry:
    """Converters by name, built on first use and kept (they hold no per-request state)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._factories = discover_converters()
        self._instances: dict[str, Converter] = {}

    def names(self) -> list[str]:
        return sorted(self._factories)

    def automatic(self) -> str:
        """What ``auto`` means now: a neural converter whose weights are present, else WORLD."""
        for name in sorted(self._factories):
            factory = self._factories[name]
            available = getattr(factory, "available", None)
            if factory.capabilities.neural and callable(available) and available(self._settings):
                return name
        return "world"

    def get(self, name: str | None = None, *, live: bool = False) -> Converter:
        """The converter called ``name`` (default: the setting). ``live``: converting an engine's speech
        as it streams (library voices on engines that do not clone), where ``auto`` keeps WORLD's latency."""
        name = name or self._settings.voices.converter
        if name == AUTO:
            name = "world" if live else self.automatic()
        if name not in self._factories:
            raise ConverterNotFoundError(
                f"unknown converter {name!r}; available: {', '.join(self.names())}", param="converter"
            )
        if name not in self._instances:
            self._instances[name] = self._factories[name](self._settings)
        return self._instances[name]
