"""The server's pulls: each one a ``python -m polyvox.engines.neural.pull`` process, followed line by line.

A pull runs in a process of its own so it never touches the event loop or the serving process's offline
switches, and so it can be stopped at once (the process is killed; its staged files stay for the next pull to
resume). While it runs the engine's state is ``downloading`` with the bytes done and the total; a failed
pull leaves the engine ``needs_weights`` and its error in ``last_pull_error``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from dataclasses import dataclass

import structlog

from polyvox.engines.neural.pull import check_licence, require_source
from polyvox.engines.neural.runtime import OFFLINE_SWITCHES

log = structlog.get_logger(__name__)


@dataclass(slots=True)
class PullJob:
    """One pull as the server sees it."""

    engine: str
    done_bytes: int = 0
    total_bytes: int = 0
    file: str = ""
    running: bool = True
    error: str | None = None


class PullManager:
    """At most one pull per engine; ``start`` twice gives the pull already running."""

    def __init__(self) -> None:
        self._jobs: dict[str, PullJob] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._processes: dict[str, asyncio.subprocess.Process] = {}

    def job(self, engine: str) -> PullJob | None:
        return self._jobs.get(engine)

    def running(self, engine: str) -> PullJob | None:
        job = self._jobs.get(engine)
        return job if job is not None and job.running else None

    async def start(self, engine: str, *, accept_licence: bool) -> PullJob:
        """Start pulling ``engine``'s weights (404 without a source, 422 without the licence accepted)."""
        source = require_source(engine)
        check_licence(source, accept_licence)
        if (running := self.running(engine)) is not None:
            return running
        env = {k: v for k, v in os.environ.items() if k not in OFFLINE_SWITCHES}
        command = [sys.executable, "-m", "polyvox.engines.neural.pull", engine]
        process = await asyncio.create_subprocess_exec(
            *command,
            *(["--accept-license"] if accept_licence else []),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            env=env,
        )
        job = PullJob(engine, total_bytes=source.size_bytes)
        self._jobs[engine], self._processes[engine] = job, process
        self._tasks[engine] = asyncio.get_running_loop().create_task(self._follow(job, process))
        log.info("pull_started", engine=engine)
        return job

    async def _follow(self, job: PullJob, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        try:
            async for raw in process.stdout:
                with contextlib.suppress(ValueError):
                    self._apply(job, json.loads(raw))
            await process.wait()
            if process.returncode != 0 and job.error is None:
                job.error = f"the pull ended with status {process.returncode}"
        finally:
            job.running = False
            log.info("pull_ended", engine=job.engine, error=job.error)

    @staticmethod
    def _apply(job: PullJob, message: dict[str, object]) -> None:
        progress, error = message.get("progress"), message.get("error")
        if isinstance(progress, dict):
            job.done_bytes = int(progress.get("done_bytes", 0))
            job.total_bytes = int(progress.get("total_bytes", 0)) or job.total_bytes
            job.file = str(progress.get("file", ""))
        elif isinstance(error, dict):
            job.error = str(error.get("message", "the pull failed"))
        elif "done" in message:
            job.done_bytes = job.total_bytes

    async def aclose(self) -> None:
        """Stop every running pull (server shutdown); what they staged stays for the next pull to resume."""
        for engine, process in self._processes.items():
            if process.returncode is None:
                process.kill()
            task = self._tasks.get(engine)
            if task is not None:
                with contextlib.suppress(Exception):
                    await task
