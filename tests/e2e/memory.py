"""Run a test server under a memory limit, and read its memory figures.

A regression that makes one request allocate without bound must fail the test that sent it, not take the
(shared) machine down. Where the cgroup v1 memory controller is writable (root in CI and here) the server
runs in a group of its own whose resident memory is capped, so the kernel kills only the server; elsewhere
its address space is capped with ``RLIMIT_AS`` (generously: onnxruntime reserves far more than it touches),
so a runaway allocation fails with ``MemoryError`` instead.
"""

from __future__ import annotations

import contextlib
import os
import resource
import uuid
from collections.abc import Callable
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup/memory")
ADDRESS_SPACE_FACTOR = 4
"""RLIMIT_AS fallback: the address space allowed is this many times the resident limit."""


class MemoryLimit:
    """A cap on one process's memory, applied in the child between fork and exec (``preexec``)."""

    def __init__(self, limit_bytes: int) -> None:
        self.limit_bytes = limit_bytes
        self.group = _make_group(limit_bytes)

    @property
    def kind(self) -> str:
        return "cgroup" if self.group is not None else "rlimit"

    def preexec(self) -> Callable[[], None]:
        group, limit = self.group, self.limit_bytes

        def apply() -> None:  # runs in the child: only async-signal-safe-ish work
            if group is not None:
                (group / "cgroup.procs").write_text(str(os.getpid()))
            else:
                cap = limit * ADDRESS_SPACE_FACTOR
                resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

        return apply

    def oom_killed(self) -> bool:
        """Whether the kernel killed a process of the group for memory."""
        if self.group is None:
            return False
        with contextlib.suppress(OSError):
            for line in (self.group / "memory.oom_control").read_text().splitlines():
                if line.startswith("oom_kill "):
                    return int(line.split()[1]) > 0
        return False

    def peak_bytes(self) -> int | None:
        """The group's peak memory use (resident and page cache), readable after the process died."""
        if self.group is None:
            return None
        try:
            return int((self.group / "memory.max_usage_in_bytes").read_text())
        except (OSError, ValueError):
            return None

    def close(self) -> None:
        if self.group is not None:
            with contextlib.suppress(OSError):
                self.group.rmdir()


def _make_group(limit_bytes: int) -> Path | None:
    if os.environ.get("POLYVOX_TEST_NO_CGROUP") or not os.access(CGROUP_ROOT, os.W_OK):
        return None
    group = CGROUP_ROOT / f"polyvox-test-{uuid.uuid4().hex[:8]}"
    try:
        group.mkdir()
        (group / "memory.limit_in_bytes").write_text(str(limit_bytes))
        with contextlib.suppress(OSError):  # no swap accounting on some kernels
            (group / "memory.memsw.limit_in_bytes").write_text(str(limit_bytes))
    except OSError:
        with contextlib.suppress(OSError):
            group.rmdir()
        return None
    return group


def rss_bytes(pid: int) -> tuple[int, int]:
    """The process's resident memory now and its peak (``VmRSS``, ``VmHWM``), in bytes."""
    figures = {"VmRSS": 0, "VmHWM": 0}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in figures:
                figures[key] = int(value.split()[0]) * 1024
    return figures["VmRSS"], figures["VmHWM"]
