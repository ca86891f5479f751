"""Bounded directories: cleanup by age, count and size; warnings at 80 %; full disks leave no partial file."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from polyvox.api.ops.storage import Storage, StorageFullError, Usage
from polyvox.config import StorageSettings
from polyvox.errors import InvalidParameterError

NOW = 1_000_000.0


def make(tmp_path: Path, **bounds: float) -> Storage:
    storage = Storage(StorageSettings(**bounds), tmp_path)  # type: ignore[arg-type]
    storage.ensure()
    return storage


def put(storage: Storage, name: str, size: int, age: float, kind: str = "output") -> Path:
    path = storage.dirs[kind] / name
    path.write_bytes(b"x" * size)
    os.utime(path, (NOW - age, NOW - age))
    return path


def names(storage: Storage, kind: str = "output") -> set[str]:
    return {p.name for p in storage.dirs[kind].iterdir()}


def test_cleanup_by_age(tmp_path: Path) -> None:
    storage = make(tmp_path, max_age=100)
    put(storage, "old", 10, age=200)
    put(storage, "new", 10, age=50)
    put(storage, "old-cache", 10, age=500, kind="cache")
    assert storage.cleanup(now=NOW) == 2
    assert names(storage) == {"new"} and names(storage, "cache") == set()


def test_cleanup_by_count_removes_oldest_first(tmp_path: Path) -> None:
    storage = make(tmp_path, max_files=2, max_age=0)
    for i, age in enumerate((40, 30, 20, 10)):
        put(storage, f"f{i}", 1, age=age)
    assert storage.cleanup(now=NOW) == 2
    assert names(storage) == {"f2", "f3"}


def test_cleanup_by_size(tmp_path: Path) -> None:
    storage = make(tmp_path, max_bytes=250, max_age=0)
    for i, age in enumerate((40, 30, 20)):
        put(storage, f"f{i}", 100, age=age)
    storage.cleanup(now=NOW)
    assert names(storage) == {"f1", "f2"}
    assert storage.usage("output").bytes == 200


def test_warnings_at_80_percent(tmp_path: Path) -> None:
    storage = make(tmp_path, max_bytes=1000, max_files=10)
    put(storage, "a", 700, age=0)
    storage.cleanup(now=NOW)
    assert storage.warnings() == []
    put(storage, "b", 100, age=0)
    assert storage.warnings() == []  # the tally: files written behind its back count from the next sweep
    storage.cleanup(now=NOW)
    assert storage.warnings() == ["output directory at 80% of its 1000 bytes limit"]


def test_write_is_atomic_and_bounded(tmp_path: Path) -> None:
    storage = make(tmp_path, max_bytes=1000)
    path = storage.write("ok.wav", [b"a" * 300, b"b" * 300])
    assert path.read_bytes() == b"a" * 300 + b"b" * 300
    with pytest.raises(StorageFullError, match="byte limit"):
        storage.write("big.wav", [b"c" * 600, b"d" * 600])  # 1200 > 1000 by itself
    assert names(storage) == {"ok.wav"}  # no partial file, no leftover .part
    with pytest.raises(InvalidParameterError):
        storage.write("../escape.wav", [b"x"])


@pytest.fixture
def tiny_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs, where this test may mount one (root in a container that allows it)."""
    mount_point = tmp_path / "tmpfs"
    mount_point.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount_point)],
        capture_output=True,
        check=False,
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.decode().strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=False)


def test_disk_full_gives_a_clear_error_and_no_partial_file(tiny_tmpfs: Path, tmp_path: Path) -> None:
    settings = StorageSettings(output_dir=tiny_tmpfs, max_bytes=0)  # no byte bound: the disk is the limit
    storage = Storage(settings, tmp_path)
    with pytest.raises(StorageFullError, match="no space left"):
        storage.write("huge.wav", (b"z" * 16384 for _ in range(16)))
    assert list(tiny_tmpfs.iterdir()) == []
    assert storage.write("small.wav", [b"ok"]).read_bytes() == b"ok"


def test_writes_evict_the_oldest_to_stay_within_bounds(tmp_path: Path) -> None:
    storage = make(tmp_path, max_files=3, max_bytes=1000)
    put(storage, "before", 100, age=10)
    storage.cleanup(now=NOW)  # the sweep at start seeds the tally
    for i in range(5):
        storage.write(f"w{i}.wav", [b"x" * 100])
    assert names(storage) == {"w2.wav", "w3.wav", "w4.wav"}
    storage.write("big.wav", [b"y" * 950])  # room for 950 bytes: every older file goes
    assert names(storage) == {"big.wav"}
    assert storage.usage("output") == Usage(files=1, bytes=950)
