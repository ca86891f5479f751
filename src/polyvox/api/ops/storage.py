"""Bounded output, temp and cache directories: cleanup by age, count and size, and safe writes.

Each directory keeps at most ``storage.max_files`` files and ``storage.max_bytes`` bytes, and no file older
than ``storage.max_age`` seconds. Cleanup runs at start and every ``storage.cleanup_interval`` seconds:
files past the age go first, then the oldest until both bounds hold. ``/health`` lists a warning for each
directory at ``storage.warn_ratio`` (80 %) of a bound.

:meth:`Storage.write` writes a file the safe way: into a hidden ``.part`` file, then renamed into place.
A write that would pass the byte bound, or that meets a full disk (``ENOSPC``), removes its partial file and
raises ``StorageFullError`` (507): no half-written file is ever left in the output directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import structlog

from polyvox.config import StorageSettings
from polyvox.errors import InvalidParameterError, PolyvoxError

log = structlog.get_logger(__name__)

KINDS = ("output", "temp", "cache")


class StorageFullError(PolyvoxError):
    """A write would exceed a storage bound, or the disk is full."""

    status = 507
    code = "storage_full"


@dataclass(frozen=True, slots=True)
class Usage:
    """What one directory holds."""

    files: int
    bytes: int


def _files(directory: Path) -> list[tuple[Path, os.stat_result]]:
    found: list[tuple[Path, os.stat_result]] = []
    if not directory.is_dir():
        return found
    for path in directory.rglob("*"):
        with contextlib.suppress(OSError):
            info = path.lstat()
            if path.is_file() and not path.is_symlink():
                found.append((path, info))
    return found


class Storage:
    """The bounded directories of one Polyvox process."""

    def __init__(self, settings: StorageSettings, data_dir: Path) -> None:
        self.settings = settings
        self.dirs = {
            "output": settings.output_dir or data_dir / "output",
            "temp": settings.temp_dir or data_dir / "tmp",
            "cache": settings.cache_dir or data_dir / "cache",
        }

    def ensure(self) -> None:
        for directory in self.dirs.values():
            directory.mkdir(parents=True, exist_ok=True)

    def usage(self, kind: str) -> Usage:
        files = _files(self.dirs[kind])
        return Usage(files=len(files), bytes=sum(info.st_size for _, info in files))

    def cleanup(self, now: float | None = None) -> int:
        """Apply age, count and size bounds to every directory; returns the number of files removed."""
        now = time.time() if now is None else now
        return sum(self._cleanup_dir(directory, now) for directory in self.dirs.values())

    def _cleanup_dir(self, directory: Path, now: float) -> int:
        s = self.settings
        files = sorted(_files(directory), key=lambda item: item[1].st_mtime)  # oldest first
        keep: list[tuple[Path, os.stat_result]] = []
        removed = 0
        for path, info in files:
            if s.max_age and now - info.st_mtime > s.max_age:
                removed += _unlink(path)
            else:
                keep.append((path, info))
        total = sum(info.st_size for _, info in keep)
        while keep and ((s.max_files and len(keep) > s.max_files) or (s.max_bytes and total > s.max_bytes)):
            path, info = keep.pop(0)
            total -= info.st_size
            removed += _unlink(path)
        if removed:
            log.info("storage_cleaned", directory=str(directory), removed=removed)
        return removed

    def warnings(self) -> list[str]:
        """One line per directory at or above ``warn_ratio`` of its file or byte bound."""
        s = self.settings
        found: list[str] = []
        for kind in KINDS:
            used = self.usage(kind)
            for amount, bound, unit in (
                (used.bytes, s.max_bytes, "bytes"),
                (used.files, s.max_files, "files"),
            ):
                if bound and amount >= s.warn_ratio * bound:
                    found.append(f"{kind} directory at {amount * 100 // bound}% of its {bound} {unit} limit")
        return found

    def write(self, name: str, parts: Iterable[bytes], kind: str = "output") -> Path:
        """Write ``parts`` to ``kind``/``name`` through a temp file; never leaves a partial file behind."""
        target = self.dirs[kind] / name
        if target.resolve().parent != self.dirs[kind].resolve():
            raise InvalidParameterError(f"invalid file name {name!r}", param="name")
        self.ensure()
        room = self.settings.max_bytes - self.usage(kind).bytes if self.settings.max_bytes else None
        temp = target.with_name(f".{uuid.uuid4().hex}.part")  # same directory: the rename is atomic
        written = 0
        try:
            with open(temp, "wb") as handle:
                for part in parts:
                    written += len(part)
                    if room is not None and written > room:
                        raise StorageFullError(
                            f"writing {name!r} would exceed the {kind} directory's {self.settings.max_bytes} "
                            "byte limit"
                        )
                    handle.write(part)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, target)
        except OSError as exc:
            _unlink(temp)
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise StorageFullError(f"no space left on device writing {name!r}") from exc
            raise
        except BaseException:
            _unlink(temp)
            raise
        return target

    async def run_schedule(self) -> None:
        """Clean up every ``cleanup_interval`` seconds until cancelled."""
        interval = self.settings.cleanup_interval
        if not interval:
            return
        while True:
            await asyncio.sleep(interval)
            try:
                await asyncio.to_thread(self.cleanup)
            except Exception as exc:  # a cleanup failure must not end the schedule
                log.warning("storage_cleanup_failed", error=repr(exc))


def _unlink(path: Path) -> int:
    try:
        path.unlink()
    except FileNotFoundError:
        return 0
    except OSError as exc:
        log.warning("storage_unlink_failed", path=str(path), error=repr(exc))
        return 0
    return 1
