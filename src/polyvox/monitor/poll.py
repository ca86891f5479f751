"""The polling monitor's reader: the lines of a file after the first ``seen``, bounded, without re-reading.

A client polls with the number of lines it has seen (``last_line_count``) and gets the next lines and the
new count. Lines are what ``\\n`` ends, plus a last unterminated piece (it counts once: bytes appended to it
later are skipped with it, as before). Every answer is bounded: at most ``line_bytes`` of one line (a longer
one is cut and reported), at most ``answer_bytes`` in all, and at most ``scan_bytes`` read from the file; the
rest comes with the next poll (``more``).

Where a read ended is remembered by :class:`LineIndex` as a :class:`Cursor` (line count, byte offset), per
file (device and inode), so the next poll seeks instead of counting lines from the start. A cursor is only
trusted while the bytes before its offset are still the ones seen there (a truncated or rewritten file
starts over from its first byte).
"""

from __future__ import annotations

import bisect
import collections
import os
import stat
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from polyvox.errors import InvalidParameterError

_CHUNK = 64 * 1024
_TAIL = 32
"""Bytes kept before a cursor's offset to check that the file there is still the same."""


@dataclass(frozen=True, slots=True, order=True)
class Cursor:
    """A place in a file: ``line`` lines have begun before ``offset``; ``inside``: the last one goes on."""

    line: int
    offset: int
    inside: bool = False
    tail: bytes = b""


START = Cursor(0, 0)


@dataclass(frozen=True, slots=True)
class Limits:
    most_lines: int
    line_bytes: int
    answer_bytes: int
    scan_bytes: int


@dataclass(slots=True)
class Page:
    """One answer: the lines after ``seen``, which were cut, the count to send next time."""

    lines: list[str] = field(default_factory=list)
    cut: list[int] = field(default_factory=list)
    """Line numbers (1-based, in the file) of lines cut to ``line_bytes``."""
    line_count: int = 0
    more: bool = False
    """The answer stopped at a bound before the end of the file: poll again at once for the rest."""


def _decode(raw: bytes | bytearray) -> str:
    return bytes(raw).removesuffix(b"\r").decode("utf-8", errors="replace")


class _Scan:
    """Reads forward from a cursor in chunks, never holding more than a chunk and one (cut) line."""

    def __init__(self, handle: BinaryIO, cursor: Cursor, budget: int) -> None:
        self.handle = handle
        self.line, self.inside = cursor.line, cursor.inside
        self.base = cursor.offset  # the file offset of data[0]
        self.data, self.pos = b"", 0
        self.budget = budget
        self.exhausted = False
        """Stopped by the budget, not by the end of the file."""
        handle.seek(cursor.offset)

    @property
    def offset(self) -> int:
        return self.base + self.pos

    def fill(self) -> bool:
        """Data at ``pos``; False at the end of the file or of the budget."""
        if self.pos < len(self.data):
            return True
        if self.budget <= 0:
            self.exhausted = True
            return False
        self.base += len(self.data)
        self.data, self.pos = self.handle.read(min(_CHUNK, self.budget)), 0
        self.budget -= len(self.data)
        return bool(self.data)

    def finish_line(self) -> bool:
        """Skip the rest of the line begun; False if the data ran out first (still inside it)."""
        while self.inside and self.fill():
            newline = self.data.find(b"\n", self.pos)
            if newline >= 0:
                self.pos, self.inside = newline + 1, False
            else:
                self.pos = len(self.data)
        return not self.inside

    def skip_to(self, seen: int) -> None:
        """Skip lines until ``seen`` have begun and the next one starts here (or the data runs out)."""
        while self.finish_line() and self.line < seen and self.fill():
            wanted = seen - self.line
            newlines = self.data.count(b"\n", self.pos)
            if newlines < wanted:
                self.line += newlines
                self.pos = len(self.data)
                if self.data[-1:] != b"\n":  # a line begun in this chunk goes on in the next
                    self.line, self.inside = self.line + 1, True
                continue
            for _ in range(wanted):
                self.pos = self.data.index(b"\n", self.pos) + 1
            self.line = seen

    def take_line(self, line_bytes: int) -> tuple[bytearray, bool]:
        """The line starting here (at most ``line_bytes`` + 1 of it kept) and whether it ended."""
        self.line, self.inside = self.line + 1, True
        kept = bytearray()
        while len(kept) <= line_bytes and self.fill():
            newline = self.data.find(b"\n", self.pos)
            end = len(self.data) if newline < 0 else newline
            kept += self.data[self.pos : min(end, self.pos + line_bytes + 1 - len(kept))]
            if newline >= 0:
                self.pos, self.inside = newline + 1, False
                return kept, True
            self.pos = end
        return kept, False

    def cursor(self, at: tuple[int, int] | None = None) -> Cursor:
        """Here (or at ``(line, offset)``, a line's start), with the bytes just before it."""
        line, offset, inside = (self.line, self.offset, self.inside) if at is None else (*at, False)
        tail = os.pread(self.handle.fileno(), min(_TAIL, offset), offset - min(_TAIL, offset))
        return Cursor(line, offset, inside, tail)


def _collect(scan: _Scan, seen: int, limits: Limits) -> tuple[Page, Cursor]:
    page = Page(line_count=seen)
    scan.skip_to(seen)
    if scan.line < seen or scan.inside:  # the file has fewer lines, or the budget ran out on the way
        page.more = scan.exhausted
        return page, scan.cursor()
    size = 0
    while len(page.lines) < limits.most_lines and scan.fill():
        start = (scan.line, scan.offset)
        kept, ended = scan.take_line(limits.line_bytes)
        cut = len(kept) > limits.line_bytes
        short_of_budget = not ended and not cut and scan.exhausted  # the rest of this line: next time
        if short_of_budget or (page.lines and size + len(kept) > limits.answer_bytes):
            page.line_count, page.more = start[0], True
            return page, scan.cursor(start)
        page.lines.append(_decode(kept[: limits.line_bytes]))
        size += len(kept)
        if cut:
            page.cut.append(scan.line)
            scan.finish_line()
    page.line_count = scan.line
    page.more = scan.exhausted or len(page.lines) >= limits.most_lines
    return page, scan.cursor()


class LineIndex:
    """Cursors of the files polled lately (``files`` of them, ``per_file`` cursors each), thread-safe."""

    def __init__(self, files: int = 256, per_file: int = 16) -> None:
        self._files: collections.OrderedDict[tuple[int, int], list[Cursor]] = collections.OrderedDict()
        self._most_files, self._per_file = files, per_file
        self._lock = threading.Lock()

    def read(self, path: Path, seen: int, limits: Limits) -> Page:
        """The page after ``seen`` lines of ``path`` (blocking: call it in a worker thread)."""
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)  # a FIFO must not block the open
        with os.fdopen(fd, "rb") as handle:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise InvalidParameterError(f"{str(path)!r} is not a regular file", param="file_path")
            os.set_blocking(fd, True)
            key = (info.st_dev, info.st_ino)
            start = self._nearest(key, handle, info.st_size, seen)
            budget = max(limits.scan_bytes, limits.line_bytes + 2)  # room for one whole line: progress
            page, end = _collect(_Scan(handle, start, budget), seen, limits)
        self._remember(key, end)
        return page

    def _nearest(self, key: tuple[int, int], handle: BinaryIO, size: int, seen: int) -> Cursor:
        """The last remembered cursor at or before line ``seen`` that still matches the file."""
        with self._lock:
            cursors = list(self._files.get(key, ()))
        at = bisect.bisect_right([c.line for c in cursors], seen)
        for cursor in reversed(cursors[:at]):
            before = os.pread(handle.fileno(), len(cursor.tail), cursor.offset - len(cursor.tail))
            if cursor.offset <= size and before == cursor.tail:
                return cursor
            with self._lock:  # rewritten or truncated: nothing remembered of it holds
                self._files.pop(key, None)
            break
        return START

    def _remember(self, key: tuple[int, int], cursor: Cursor) -> None:
        with self._lock:
            cursors = [c for c in self._files.pop(key, []) if c.line != cursor.line]
            bisect.insort(cursors, cursor)
            if len(cursors) > self._per_file:  # keep the newest places (clients poll forward)
                cursors = cursors[-self._per_file :]
            self._files[key] = cursors
            while len(self._files) > self._most_files:
                self._files.popitem(last=False)
