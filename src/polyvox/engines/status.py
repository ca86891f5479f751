"""What the registry knows of each engine: its book-keeping (``EngineState``) and the snapshot listings and
health checks read (``EngineStatus``)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from polyvox.engines.base import Engine, EngineFactory, EngineInfo
from polyvox.engines.readiness import Readiness

if TYPE_CHECKING:
    from polyvox.engines.neural.weights import WeightsStatus


@dataclass
class EngineState:
    """Book-keeping for one engine: its instance, users and measured figures."""

    factory: EngineFactory
    instance: Engine | None = None
    loaded: bool = False
    users: int = 0
    load_count: int = 0
    unload_count: int = 0
    rss_added: int = 0
    load_seconds: float = 0.0
    rtf: float | None = None
    """Measured real-time factor (synthesis seconds / audio seconds): self-test, then a running average."""
    spoken_seconds: float = 0.0
    spoken_chars: float = 0.0
    """Audio seconds (at speed 1) and characters of its segments, each earlier one weighing 0.9 of the next:
    their ratio is its voices' reading rate, weighted by characters (a short phrase is mostly the engine's
    edge silence); admission prices a segment's work with it."""
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    unload_timer: asyncio.TimerHandle | None = None
    healthy: bool = True
    """False after the engine failed; it is reloaded on its next use (polyvox.runners.isolation)."""
    last_error: str | None = None
    failures: int = 0
    retries: int = 0

    @property
    def reading(self) -> float | None:
        """Measured audio seconds per character at speed 1 (None until it has spoken)."""
        return self.spoken_seconds / self.spoken_chars if self.spoken_chars > 0 else None


@runtime_checkable
class RunsElsewhere(Protocol):
    """An engine proxy whose model lives in another process (polyvox.runners.process)."""

    load_rtf: float | None
    """The real-time factor measured where the engine runs, at load."""

    def process_status(self) -> tuple[int, int] | None:
        """That process's pid and RSS now, or None when none runs."""
        ...


@dataclass(frozen=True, slots=True)
class EngineStatus:
    """A snapshot of one engine for listings and health checks."""

    info: EngineInfo
    loaded: bool
    users: int
    load_count: int
    unload_count: int
    rss_added: int
    load_seconds: float
    rtf: float | None
    healthy: bool = True
    last_error: str | None = None
    failures: int = 0
    retries: int = 0
    weights: WeightsStatus | None = None
    """For engines that load weights from a folder (polyvox.engines.neural): what that folder holds."""
    pid: int | None = None
    """The engine's worker process (``process`` isolation), when one runs."""
    worker_rss: int = 0
    """Resident memory (bytes) of that worker process now."""
    isolation: str = "thread"
    """Where the engine runs: ``thread`` or ``process`` (a factory's ``runs_in`` says which)."""
    readiness: Readiness = field(default_factory=lambda: Readiness("ready"))
    """The engine's one state (``needs_package``, ``needs_weights``, ``failed``, ``ready``) and next step."""

    @property
    def state(self) -> str:
        return self.readiness.state
