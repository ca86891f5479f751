"""A real Polyvox HTTP server in a subprocess, for end-to-end tests over sockets.

The server is started with ``python -m polyvox.api.server --host 127.0.0.1 --port N`` (the same
``serve(settings)`` the ``polyvox serve`` command calls), configured only through ``POLYVOX_*`` environment
variables, and is considered up once ``GET /ready`` answers 200.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.e2e.memory import MemoryLimit

STARTUP_TIMEOUT = 90.0


@dataclass
class Server:
    """A running server: where it listens and what it writes."""

    url: str
    port: int
    trace_file: Path
    log_file: Path
    process: subprocess.Popen[bytes]
    memory: MemoryLimit | None = None
    """The memory cap it runs under, if any."""

    def trace(self, request_id: str | None = None) -> list[dict[str, Any]]:
        """The tone engine's trace records (of one request when ``request_id`` is given)."""
        if not self.trace_file.exists():
            return []
        records = [json.loads(line) for line in self.trace_file.read_text().splitlines() if line.strip()]
        return [r for r in records if request_id is None or r["request_id"] == request_id]

    def log(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""

    def wait_for_log(self, *needles: str, within: float = 30.0) -> str:
        """The server log once it holds every needle (lines are written as things happen, not at once)."""
        deadline = time.monotonic() + within
        while not all(needle in (text := self.log()) for needle in needles):
            assert time.monotonic() < deadline, f"never logged {needles}: {text[-3000:]}"
            time.sleep(0.05)
        return text


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_ready(server: Server) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"server exited with {server.process.returncode}:\n{server.log()}")
        try:
            if httpx.get(f"{server.url}/ready", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server not ready after {STARTUP_TIMEOUT} s:\n{server.log()}")


@contextmanager
def run_server(directory: Path, **env: str) -> Iterator[Server]:
    """Start a server with a private data dir, the tone engine enabled and a trace file; stop it after."""
    with run_limited_server(directory, None, **env) as server:
        yield server


@contextmanager
def run_limited_server(directory: Path, memory_limit: int | None, **env: str) -> Iterator[Server]:
    """:func:`run_server` under a memory cap of ``memory_limit`` bytes (see :mod:`tests.e2e.memory`)."""
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    trace_file = directory / "tone-trace.jsonl"
    log_file = directory / "server.log"
    environment = {k: v for k, v in os.environ.items() if not k.startswith("POLYVOX_")}
    environment |= {
        "POLYVOX_DATA_DIR": str(directory / "data"),
        "POLYVOX_ENGINES__ENABLE_TEST_ENGINES": "true",
        "POLYVOX_ENGINES__WORKERS": "2",  # the suite's concurrency tests were written for two workers
        "POLYVOX_ENGINES__ONNX_THREADS": "2",
        # Admission by capacity follows this machine's measured speed: only its own tests turn it on.
        "POLYVOX_SERVER__FIRST_AUDIO_BOUND": "0",
        "POLYVOX_TONE__TRACE_FILE": str(trace_file),
        **env,
    }
    command = [sys.executable, "-m", "polyvox.api.server", "--host", "127.0.0.1", "--port", str(port)]
    limit = MemoryLimit(memory_limit) if memory_limit else None
    with open(log_file, "wb") as log:
        process = subprocess.Popen(
            command,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=limit.preexec() if limit else None,
        )
    server = Server(f"http://127.0.0.1:{port}", port, trace_file, log_file, process, limit)
    try:
        _wait_ready(server)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if limit is not None:
            limit.close()


def blocking_modules(directory: Path, *modules: str) -> dict[str, str]:
    """Environment for a server in which ``import MODULE`` fails for each of ``modules``, as where that
    package is not installed: a ``sitecustomize`` on ``PYTHONPATH`` marks them absent in ``sys.modules``."""
    site = directory / f"without-{'-'.join(modules)}"
    site.mkdir(parents=True, exist_ok=True)
    lines = ["import sys", "", *(f"sys.modules[{m!r}] = None  # type: ignore" for m in modules)]
    (site / "sitecustomize.py").write_text("\n".join(lines) + "\n")
    path = os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH", "")) if p)
    return {"PYTHONPATH": path}


def without_pkg_resources(directory: Path) -> dict[str, str]:
    """A server environment without ``pkg_resources``, as in a venv with setuptools 81+ (which removed it) or
    none (3.12+ venvs)."""
    return blocking_modules(directory, "pkg_resources")


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One shared server for the session: piper as the default engine, tone visible.

    Piper renders without its sampled noise here (``engines.parameters``), so what Whisper tiny hears of the
    doors' audio is the same each run: in one CI run it heard a noisy "The lights" as "polite" (WER 0.3).
    The noise itself is tested where it matters (tests/integration/test_engine_piper.py)."""
    quiet = json.dumps({"piper": {"noise_scale": 0.0, "noise_w": 0.0}})
    with run_server(tmp_path_factory.mktemp("server"), POLYVOX_ENGINES__PARAMETERS=quiet) as running:
        yield running
    # Nothing a test did may have crashed the process.
    assert running.process.returncode in (0, -15), running.log()


@contextmanager
def run_monitor_site(base: Path) -> Iterator[tuple[Server, Path]]:
    """A tone-engine server whose one allowed monitor root is ``base/logs``."""
    logs = base / "logs"
    logs.mkdir()
    roots = json.dumps([str(logs)])
    with run_server(
        base / "server", POLYVOX_ENGINES__DEFAULT="tone", POLYVOX_MONITOR__ALLOWED_ROOTS=roots
    ) as srv:
        yield srv, logs
