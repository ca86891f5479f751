"""Follow a text file the way ``tail -F`` does, yielding each complete line once.

* Partial lines: bytes after the last newline wait in a buffer until their newline arrives (a line longer
  than ``max_line_bytes`` is cut and yielded in pieces).
* Rotation (``mv app.log app.log.1`` then a new ``app.log``): the old file stays open and is read to its
  end first, then the new file is read from its start. A partial last line of the old file is yielded.
* Deletion: the open file is read to its end, then the watcher waits for the path to appear again and reads
  the new file from its start.
* Truncation (``copytruncate``, ``> app.log``): noticed when the file is shorter than what was read, or when
  the last bytes read are no longer where they were (truncated, then appended past the old length before the
  next poll); reading restarts at offset 0. Lines written before the
  truncation and not yet read are gone with it; a buffered partial line is dropped.
* Undecodable bytes: decoded as UTF-8 with U+FFFD replacements; lines containing any are counted.

Changes are noticed through ``watchfiles`` (inotify, FSEvents, ...) on the parent directory, plus a poll
every ``poll_interval`` seconds in case an event is missed (network file systems).
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import anyio
from watchfiles import Change, awatch

_READ_SIZE = 64 * 1024
_TAIL_BYTES = 64
_POLL_BYTES = 4 * 1024 * 1024
"""Most bytes read per poll: a monitor started at the start of a 300 MB file reads it in steps."""
_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


class WatchRefusedError(Exception):
    """The watched path became something that may not be read (a symlink, a FIFO, outside the roots)."""


def _under(path: Path, roots: Sequence[Path]) -> bool:
    return any(path == root or root in path.parents for root in roots)


@dataclass(slots=True)
class WatchStats:
    """What a watcher has seen so far."""

    state: str = "starting"
    """``starting``, ``watching``, ``waiting`` (the file does not exist) or ``stopped``."""
    lines_read: int = 0
    bytes_read: int = 0
    undecodable_lines: int = 0
    rotations: int = 0
    truncations: int = 0
    deletions: int = 0


class LineSplitter:
    """Turns a byte stream into decoded lines, keeping the unfinished last line back."""

    def __init__(self, stats: WatchStats, max_line_bytes: int = 16_384) -> None:
        self._stats = stats
        self._max = max_line_bytes
        self._buffer = bytearray()
        self.skip_to_newline = False
        """Drop bytes up to the first newline (when starting in the middle of a line)."""

    def _decode(self, raw: bytes) -> str:
        raw = raw.removesuffix(b"\r")
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            self._stats.undecodable_lines += 1
            return raw.decode("utf-8", errors="replace")

    def feed(self, data: bytes) -> list[str]:
        """The lines that ``data`` completes."""
        if self.skip_to_newline:
            newline = data.find(b"\n")
            if newline < 0:
                return []
            data, self.skip_to_newline = data[newline + 1 :], False
        self._buffer += data
        lines: list[str] = []
        while True:
            newline = self._buffer.find(b"\n")
            if newline < 0 or newline > self._max:
                if len(self._buffer) <= self._max:
                    break
                newline = self._max
                piece, self._buffer = bytes(self._buffer[:newline]), self._buffer[newline:]
            else:
                piece, self._buffer = bytes(self._buffer[:newline]), self._buffer[newline + 1 :]
            lines.append(self._decode(piece))
        return lines

    def flush(self) -> list[str]:
        """The buffered partial line, as a line (the file it came from will not grow any more)."""
        piece, self._buffer = bytes(self._buffer), bytearray()
        return [self._decode(piece)] if piece else []

    def discard(self) -> None:
        """Forget the buffered partial line (its file was truncated)."""
        self._buffer.clear()
        self.skip_to_newline = False


class FileWatcher:
    """Yields the lines appended to ``path`` (or all of them with ``from_start``) until :meth:`stop`."""

    def __init__(
        self,
        path: Path,
        *,
        from_start: bool = False,
        max_line_bytes: int = 16_384,
        poll_interval: float = 0.5,
        roots: Sequence[Path] = (),
    ) -> None:
        self.path = path
        self._roots = [root.expanduser().resolve() for root in roots]
        """Every (re)open is re-checked against these (empty: no check, for callers that vetted ``path``)."""
        self._more = False
        self.stats = WatchStats()
        self._splitter = LineSplitter(self.stats, max_line_bytes)
        self._from_start = from_start
        self._poll_ms = max(50, int(poll_interval * 1000))
        self._file: BinaryIO | None = None
        self._inode: tuple[int, int] | None = None
        self._tail = b""
        self._stop = anyio.Event()

    def stop(self) -> None:
        """End :meth:`lines` within one poll interval."""
        self._stop.set()

    # -- file handling (in a worker thread: reads grow with the file) ------------------------------------
    def _open(self, first: bool) -> bool:
        """Open the path again, re-checked: never through a symlink (``O_NOFOLLOW``), never a FIFO or device
        (non-blocking open, then ``fstat``), never outside the roots (its directory resolved again)."""
        if self._roots and not _under(self.path.parent.resolve(), self._roots):
            raise WatchRefusedError(f"{self.path.parent} now resolves outside the allowed roots")
        try:
            fd = os.open(self.path, _OPEN_FLAGS)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise WatchRefusedError(f"{self.path} became a symbolic link; it is not followed") from None
            if exc.errno in (errno.ENOENT, errno.EISDIR, errno.EACCES, errno.EPERM, errno.ENXIO):
                self.stats.state = "waiting"
                return False
            raise
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            os.close(fd)
            raise WatchRefusedError(f"{self.path} is not a regular file")
        os.set_blocking(fd, True)
        handle = os.fdopen(fd, "rb")
        self._file, self._inode, self._tail = handle, (info.st_dev, info.st_ino), b""
        if first and not self._from_start and info.st_size:
            handle.seek(info.st_size - 1)
            self._splitter.skip_to_newline = handle.read(1) != b"\n"
        self.stats.state = "watching"
        return True

    def _close(self) -> None:
        if self._file is not None:
            self._file.close()
        self._file, self._inode = None, None

    def _read_available(self, limit: int | None = _POLL_BYTES) -> list[str]:
        assert self._file is not None
        lines: list[str] = []
        read = 0
        self._more = False
        while data := self._file.read(_READ_SIZE):
            self.stats.bytes_read += len(data)
            self._tail = (self._tail + data)[-_TAIL_BYTES:]
            lines += self._splitter.feed(data)
            read += len(data)
            if limit is not None and read >= limit:
                self._more = True  # the rest on the next poll, which comes at once
                break
        return lines

    def _truncated(self, size: int) -> bool:
        assert self._file is not None
        offset = self._file.tell()
        if size < offset:
            return True
        tail = self._tail
        return bool(tail) and os.pread(self._file.fileno(), len(tail), offset - len(tail)) != tail

    def _poll(self) -> list[str]:
        """Everything new since the last poll, handling rotation, deletion and truncation."""
        if self._file is None and not self._open(first=False):
            return []
        assert self._file is not None
        try:
            info = os.stat(self.path)
            current: tuple[int, int] | None = (info.st_dev, info.st_ino)
        except FileNotFoundError:
            info, current = None, None
        lines: list[str] = []
        if current != self._inode:  # rotated away or deleted: finish the old file first
            lines += self._read_available(None) + self._splitter.flush()
            self._close()
            if current is None:
                self.stats.deletions += 1
            else:
                self.stats.rotations += 1
            if self._open(first=False):
                lines += self._read_available()
        elif info is not None and self._truncated(info.st_size):
            self.stats.truncations += 1
            self._splitter.discard()
            self._file.seek(0)
            self._tail = b""
            lines += self._read_available()
        else:
            lines += self._read_available()
        self.stats.lines_read += len(lines)
        return lines

    async def _polled(self) -> AsyncIterator[str]:
        """Every line there is now, read in a worker thread, step by step."""
        while True:
            for line in await anyio.to_thread.run_sync(self._poll):
                yield line
            if not self._more:
                return

    async def lines(self) -> AsyncIterator[str]:
        """Complete lines in file order, without their line ending.

        Raises :class:`WatchRefusedError` once the path may no longer be read."""
        await anyio.to_thread.run_sync(self._open, True)
        try:
            async for line in self._polled():
                yield line
            name = self.path.name

            def relevant(_change: Change, changed: str) -> bool:
                return os.path.basename(changed) == name

            async for _changes in awatch(
                self.path.parent,
                watch_filter=relevant,
                debounce=50,
                step=10,
                stop_event=self._stop,
                rust_timeout=self._poll_ms,
                yield_on_timeout=True,
                recursive=False,
            ):
                async for line in self._polled():
                    yield line
        finally:
            self._close()
            self.stats.state = "stopped"
