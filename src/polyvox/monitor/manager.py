"""The running monitors of one process, each with its own id, and the checks done before one starts."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from polyvox.config import MonitorSettings
from polyvox.errors import BusyError, InvalidParameterError, NotFoundError, PolyvoxError
from polyvox.monitor.speaker import Monitor, MonitorConfig, Sink
from polyvox.synthesis import Synthesizer


class PathNotAllowedError(PolyvoxError):
    """The path is outside every configured allowed root."""

    status = 403
    code = "path_not_allowed"


class MonitorNotFoundError(NotFoundError):
    code = "monitor_not_found"


class TooManyMonitorsError(BusyError):
    code = "too_many_monitors"


def _is_under(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def resolve_allowed(raw: str, roots: list[Path]) -> Path:
    """The absolute, symlink-free path of ``raw`` if it lies under one of ``roots``; else 403."""
    if not raw or "\x00" in raw:
        raise InvalidParameterError("path is empty or invalid", param="path")
    path = Path(raw).expanduser()
    if not path.is_absolute():
        raise InvalidParameterError(f"path must be absolute, got {raw!r}", param="path")
    resolved = path.resolve()
    allowed = [root.expanduser().resolve() for root in roots]
    if not any(_is_under(resolved, root) for root in allowed):
        # The roots are not named: they would tell any caller where the server's files are.
        where = "" if allowed else "; none are configured (POLYVOX_MONITOR__ALLOWED_ROOTS)"
        raise PathNotAllowedError(f"{raw!r} is outside the allowed roots{where}", param="path")
    return resolved


def check_target(path: Path) -> None:
    """A file may be watched when it is a regular file or does not exist yet in an existing directory."""
    if path.is_dir():
        raise InvalidParameterError(f"{str(path)!r} is a directory; name a file", param="path")
    if path.exists() and not path.is_file():  # a FIFO or device would block the reader forever
        raise InvalidParameterError(f"{str(path)!r} is not a regular file", param="path")
    if not path.parent.is_dir():
        raise InvalidParameterError(f"directory {str(path.parent)!r} does not exist", param="path")


class MonitorManager:
    """Starts, finds, retargets and stops monitors."""

    def __init__(self, synthesizer: Synthesizer, settings: MonitorSettings) -> None:
        self.synthesizer = synthesizer
        self.settings = settings
        self._monitors: dict[str, Monitor] = {}

    def validate_speech(self, engine: str | None, voice: str | None, language: str | None) -> None:
        """Raise the synthesizer's own error (engine_not_found, voice_not_found, ...) before starting."""
        self.synthesizer.resolve(engine, voice, language)

    def start(self, config: MonitorConfig, sink: Sink | None = None) -> Monitor:
        running = [m for m in self._monitors.values() if not m.stopped]
        if len(running) >= self.settings.max_monitors:
            raise TooManyMonitorsError(f"{len(running)} monitors are running; stop one first")
        check_target(config.path)
        self.validate_speech(config.engine, config.voice, config.language)
        monitor = Monitor(uuid.uuid4().hex[:12], config, self.synthesizer, self.settings, sink)
        self._monitors[monitor.id] = monitor
        monitor.start()
        return monitor

    def get(self, monitor_id: str) -> Monitor:
        monitor = self._monitors.get(monitor_id)
        if monitor is None:
            raise MonitorNotFoundError(f"no monitor {monitor_id!r}", param="id")
        return monitor

    def selected(self, monitor_id: str | None) -> list[Monitor]:
        """One monitor by id, or every running one when no id is given."""
        if monitor_id:
            return [self.get(monitor_id)]
        return [m for m in self._monitors.values() if not m.stopped]

    async def stop(self, monitor_id: str | None = None) -> list[str]:
        """Stop one monitor (or all); stopped monitors are forgotten. Returns the ids stopped."""
        chosen = self.selected(monitor_id)
        for monitor in chosen:
            await monitor.stop()
            self._monitors.pop(monitor.id, None)
        return [m.id for m in chosen]

    def status(self) -> dict[str, Any]:
        return {
            "allowed_roots_count": len(self.settings.allowed_roots),  # how many, not where
            "default_engine": self.synthesizer.registry.default,
            "monitors": [m.status() for m in self._monitors.values()],
        }

    async def aclose(self) -> None:
        for monitor in list(self._monitors.values()):
            await monitor.stop()
        self._monitors.clear()
