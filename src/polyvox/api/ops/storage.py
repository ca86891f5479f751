"""Bounded output, temp and cache directories: cleanup by age, count and size, and safe writes.

Each directory keeps at most ``storage.max_files`` files and ``storage.max_bytes`` bytes, and no file older
than ``storage.max_age`` seconds. A :class:`Storage` keeps a running tally of each directory (its files,
oldest first, and their total size): a sweep at start and every ``storage.cleanup_interval`` seconds scans the
directories (files past the age go first, then the oldest until both bounds hold) and resets the tally;
between sweeps it follows the writes and evictions, so neither a write nor ``/health`` walks a directory.
``/health`` lists a warning for each directory at ``storage.warn_ratio`` (80 %) of a bound.

:meth:`Storage.write` writes a file the safe way: into a hidden ``.part`` file, then renamed into place,
after evicting the oldest files as a cache does until the new one fits both bounds. A file larger than the
byte bound by itself, or one that meets a full disk (``ENOSPC``), removes its partial file and raises
``StorageFullError`` (507): no half-written file is ever left in the output directory. The temp and cache
directories are written by others (spill files, the chunk cache): their tally is the last sweep's.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from polyvox.config import StorageSettings
from polyvox.errors import InvalidParameterError, PolyvoxError

log = structlog.get_logger(__name__)

KINDS = ("output", "temp", "cache")
PART_GRACE = 3600.0
"""Seconds a ``.part`` file may be a write in progress; older ones were left by a crash and are swept."""


class StorageFullError(PolyvoxError):
    """A write would exceed a storage bound, or the disk is full."""

    status = 507
    code = "storage_full"


@dataclass(frozen=True, slots=True)
class Usage:
    """What one directory holds."""

    files: int
    bytes: int


@dataclass(slots=True)
class _Tally:
    """One directory's files, oldest first (relative path: modification time, size), and their size."""

    files: OrderedDict[str, tuple[float, int]] = field(default_factory=OrderedDict)
    bytes: int = 0

    def add(self, name: str, mtime: float, size: int) -> None:
        self.drop(name)
        self.files[name] = (mtime, size)
        self.bytes += size

    def drop(self, name: str) -> None:
        old = self.files.pop(name, None)
        if old is not None:
            self.bytes -= old[1]


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
    """The bounded directories of one Polyvox process. Thread-safe: writes run in worker threads."""

    def __init__(self, settings: StorageSettings, data_dir: Path) -> None:
        self.settings = settings
        self.dirs = {
            "output": settings.output_dir or data_dir / "output",
            "temp": settings.temp_dir or data_dir / "tmp",
            "cache": settings.cache_dir or data_dir / "cache",
        }
        self._tallies = {kind: _Tally() for kind in KINDS}
        self._lock = threading.Lock()

    def ensure(self) -> None:
        for directory in self.dirs.values():
            directory.mkdir(parents=True, exist_ok=True)

    def usage(self, kind: str) -> Usage:
        """The tally (no directory walk): as of the last sweep, plus this process's writes since."""
        tally = self._tallies[kind]
        return Usage(files=len(tally.files), bytes=tally.bytes)

    def cleanup(self, now: float | None = None) -> int:
        """Sweep every directory: rescan it, apply age, count and size bounds, reset its tally; returns the
        number of files removed."""
        now = time.time() if now is None else now
        return sum(self._sweep(kind, now) for kind in KINDS)

    def _sweep(self, kind: str, now: float) -> int:
        directory = self.dirs[kind]
        started = time.time()
        scanned = sorted(_files(directory), key=lambda item: item[1].st_mtime)  # oldest first
        fresh = _Tally()
        for path, info in scanned:
            if path.name.endswith(".part") and started - info.st_mtime < PART_GRACE:
                continue  # a write in progress: counted once it is renamed into place
            fresh.add(str(path.relative_to(directory)), info.st_mtime, info.st_size)
        removed = 0
        with self._lock:
            for name, (mtime, size) in self._tallies[kind].files.items():
                if mtime >= started and name not in fresh.files:  # written while the scan ran
                    fresh.add(name, mtime, size)
            self._tallies[kind] = fresh
            max_age = self.settings.max_age
            while max_age and fresh.files and now - next(iter(fresh.files.values()))[0] > max_age:
                removed += self._evict_oldest(kind)
            removed += self._make_room(kind, 0)
        if removed:
            log.info("storage_cleaned", directory=str(directory), removed=removed)
        return removed

    def _evict_oldest(self, kind: str) -> int:
        tally = self._tallies[kind]
        name, (_, size) = tally.files.popitem(last=False)
        tally.bytes -= size
        return _unlink(self.dirs[kind] / name)

    def _make_room(self, kind: str, size: int, files: int = 0) -> int:
        """Evict the oldest files until ``files`` more files of ``size`` bytes fit (lock held)."""
        s, tally = self.settings, self._tallies[kind]
        removed = 0
        while tally.files and (
            (s.max_files and len(tally.files) + files > s.max_files)
            or (s.max_bytes and tally.bytes + size > s.max_bytes)
        ):
            removed += self._evict_oldest(kind)
        return removed

    def warnings(self) -> list[str]:
        """One line per directory at or above ``warn_ratio`` of its file or byte bound (from the tally)."""
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
        """Write ``parts`` to ``kind``/``name`` through a temp file, evicting the oldest files to make room;
        never leaves a partial file behind."""
        target = self.dirs[kind] / name
        if target.resolve().parent != self.dirs[kind].resolve():
            raise InvalidParameterError(f"invalid file name {name!r}", param="name")
        self.ensure()
        bound = self.settings.max_bytes or None
        temp = target.with_name(f".{uuid.uuid4().hex}.part")  # same directory: the rename is atomic
        written = 0
        try:
            with open(temp, "wb") as handle:
                for part in parts:
                    written += len(part)
                    if bound is not None and written > bound:
                        raise StorageFullError(
                            f"{name!r} alone would exceed the {kind} directory's {bound} byte limit"
                        )
                    handle.write(part)
                handle.flush()
                os.fsync(handle.fileno())
            with self._lock:
                self._tallies[kind].drop(name)
                evicted = self._make_room(kind, written, files=1)
                os.replace(temp, target)
                self._tallies[kind].add(name, time.time(), written)
        except OSError as exc:
            _unlink(temp)
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise StorageFullError(f"no space left on device writing {name!r}") from exc
            raise
        except BaseException:
            _unlink(temp)
            raise
        if evicted:
            log.debug("storage_evicted", directory=kind, removed=evicted)
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
