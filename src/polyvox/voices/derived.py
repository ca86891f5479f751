"""Bounds for the voices derived from references sent with requests (``ref-<hash>``, issue 30).

``/api/v1/tts`` stores every distinct ``reference_audio`` / ``reference_audio_url`` as a library voice so a
resend reuses it; any client could grow the library without end. :class:`ReferencePolicy` keeps at most
``voices.reference_max_count`` of them and ``voices.reference_max_bytes`` bytes, none unused for longer than
``voices.reference_max_age`` seconds: the least recently used go first. A voice a request holds (``pinned``)
or an active stream speaks (``in_use``) is never removed mid-request. Voices added with ``POST /v1/voices``
carry no ``derived`` mark and are never touched, whatever their name.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import structlog

from polyvox.config.voices import VoiceLibrarySettings
from polyvox.errors import VoiceNotFoundError
from polyvox.voices.library import META_FILE, REFERENCE_FILE, VoiceLibrary

log = structlog.get_logger(__name__)

PREFIX = "ref-"
DERIVED = {"derived": "reference"}
"""The mark (in ``LibraryVoice.extra``) of a voice stored from a request's reference."""


@dataclass(frozen=True, slots=True)
class _Entry:
    voice_id: str
    last_used: float
    size: int


class ReferencePolicy:
    """Count, size and age bounds for the derived voices of one library. Thread-safe."""

    def __init__(self, library: VoiceLibrary, settings: VoiceLibrarySettings) -> None:
        self.library = library
        self.settings = settings
        self.in_use: Callable[[], set[str]] = set
        """Library voice ids that active streams speak (set by the synthesizer)."""
        self._pins: Counter[str] = Counter()
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def pinned(self, voice_id: str) -> Iterator[None]:
        """Hold ``voice_id`` for a request: it is not removed until the block ends."""
        with self._lock:
            self._pins[voice_id] += 1
        try:
            yield
        finally:
            with self._lock:
                self._pins[voice_id] -= 1
                if self._pins[voice_id] <= 0:
                    del self._pins[voice_id]

    def touch(self, voice_id: str) -> None:
        """Mark ``voice_id`` used now (its reference file's modification time is its last use)."""
        with contextlib.suppress(OSError, VoiceNotFoundError):
            os.utime(self.library.path(voice_id) / REFERENCE_FILE)

    def _entries(self) -> list[_Entry]:
        """The derived voices, least recently used first."""
        root = self.library.root
        if not root.is_dir():
            return []
        found: list[_Entry] = []
        for folder in root.iterdir():
            if not folder.name.startswith(PREFIX):
                continue
            with contextlib.suppress(OSError, VoiceNotFoundError):
                if self.library.get(folder.name).extra.get("derived") != DERIVED["derived"]:
                    continue  # a user's own voice that happens to be named ref-...
                reference = (folder / REFERENCE_FILE).stat()
                size = reference.st_size + (folder / META_FILE).stat().st_size
                found.append(_Entry(folder.name, reference.st_mtime, size))
        return sorted(found, key=lambda e: e.last_used)

    def enforce(self, now: float | None = None) -> list[str]:
        """Remove the least recently used derived voices until every bound holds; returns their ids.

        Blocking (reads the library folder): run it in a thread.
        """
        s = self.settings
        now = time.time() if now is None else now
        entries = self._entries()
        count, size = len(entries), sum(e.size for e in entries)
        busy = self.in_use()
        removed: list[str] = []
        for entry in entries:
            too_many = bool(s.reference_max_count) and count > s.reference_max_count
            too_big = bool(s.reference_max_bytes) and size > s.reference_max_bytes
            too_old = bool(s.reference_max_age) and now - entry.last_used > s.reference_max_age
            if not (too_many or too_big or too_old):
                continue
            with self._lock:  # a request pinning it now waits, then finds it gone and stores it again
                if entry.voice_id in self._pins or entry.voice_id in busy:
                    continue
                with contextlib.suppress(VoiceNotFoundError):
                    self.library.delete(entry.voice_id)
            count, size = count - 1, size - entry.size
            removed.append(entry.voice_id)
        if removed:
            log.info("reference_voices_removed", voices=removed, kept=count)
        return removed
