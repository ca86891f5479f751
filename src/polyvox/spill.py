"""Audio parked on disk: long-form jobs must not hold a book's samples in anonymous memory.

A spilled array is a read-only ``numpy.memmap`` of an already unlinked file in the bounded temp directory
(``storage.temp_dir``): nothing is left behind however the job ends, the kernel can drop its pages under
memory pressure (they are file-backed), and callers keep using it as the array it was.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from polyvox.audio.chunk import FloatArray

_ITEM = np.dtype(np.float32).itemsize


def spill(samples: FloatArray, directory: Path) -> FloatArray:
    """``samples`` written to an unlinked file and mapped back read-only (empty arrays stay as they are)."""
    if len(samples) == 0:
        return samples
    directory.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix="spill-", suffix=".f32", dir=directory)
    with os.fdopen(fd, "wb+") as handle:
        os.unlink(name)
        np.ascontiguousarray(samples, dtype=np.float32).tofile(handle)
        handle.flush()
        mapped: FloatArray = np.memmap(handle, dtype=np.float32, mode="r", shape=(len(samples),))
    return mapped


def disk_array(length: int, directory: Path) -> FloatArray:
    """A zeroed, writable float32 array of ``length`` backed by an unlinked (sparse) file."""
    if length == 0:
        return np.zeros(0, dtype=np.float32)
    directory.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix="join-", suffix=".f32", dir=directory)
    with os.fdopen(fd, "wb+") as handle:
        os.unlink(name)
        handle.truncate(length * _ITEM)
        mapped: FloatArray = np.memmap(handle, dtype=np.float32, mode="r+", shape=(length,))
    return mapped
