"""Content-addressed cache of synthesized chunks on disk, with a size cap and least-recently-used eviction.

A chunk's key is the SHA-256 of everything that decides its samples (engine, voice, parameters, output rate,
the exact text the engine reads), so a hit is always the same audio and entries never need invalidating.
Audiobooks rely on it to resume: chunks finished before an interruption are found again, not re-synthesized.
Recency is the file's mtime, touched on every hit (atime is often disabled on servers).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from polyvox.audio.chunk import FloatArray


def chunk_key(parts: Mapping[str, Any]) -> str:
    """The hex SHA-256 of ``parts`` as canonical JSON (sorted keys, no whitespace)."""
    blob = json.dumps(parts, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class ChunkCache:
    """Float32 chunks stored as ``.npy`` files under ``directory/ab/abcdef....npy``; safe across threads."""

    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.hits = 0
        self.misses = 0
        self._lock = threading.Lock()
        self._size: int | None = None  # computed on first write

    def _path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.npy"

    def get(self, key: str) -> FloatArray | None:
        """The cached samples for ``key``, or None; a hit makes the entry most recently used."""
        path = self._path(key)
        try:
            samples: FloatArray = np.load(path, allow_pickle=False)
            os.utime(path)
        except (OSError, ValueError):  # missing, or half-written by a killed process
            with self._lock:
                self.misses += 1
            return None
        with self._lock:
            self.hits += 1
        return samples.astype(np.float32, copy=False)

    def put(self, key: str, samples: FloatArray) -> None:
        """Store ``samples`` (atomically: readers see the whole file or none), then evict beyond the cap."""
        if self.max_bytes <= 0:
            return
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.stem}.{threading.get_ident()}.tmp")
        with open(tmp, "wb") as handle:
            np.save(handle, np.asarray(samples, dtype=np.float32), allow_pickle=False)
        os.replace(tmp, path)
        with self._lock:
            if self._size is None:
                self._size = self._scan_size()
            else:
                self._size += path.stat().st_size
            if self._size > self.max_bytes:
                self._evict()

    def _entries(self) -> list[Path]:
        return list(self.directory.glob("*/*.npy")) if self.directory.is_dir() else []

    def _scan_size(self) -> int:
        return sum(p.stat().st_size for p in self._entries())

    def _evict(self) -> None:
        # Oldest first, down to 90% of the cap so we do not evict again on the very next write.
        entries = []
        for path in self._entries():
            try:
                stat = path.stat()
            except OSError:
                continue
            entries.append((stat.st_mtime, stat.st_size, path))
        entries.sort()
        size = sum(e[1] for e in entries)
        for _, length, path in entries:
            if size <= self.max_bytes * 0.9:
                break
            path.unlink(missing_ok=True)
            size -= length
        self._size = size

    @property
    def size(self) -> int:
        """Bytes on disk now."""
        with self._lock:
            self._size = self._scan_size()
            return self._size
