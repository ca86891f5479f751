"""Engines in worker processes (``engines.isolation``): crash and memory isolation, other interpreters.

An engine whose isolation is ``process`` is replaced in the registry by a :class:`WorkerEngine` proxy.
Constructing the proxy builds the real engine class locally too, for its voice list only (constructing
loads no model). ``load()`` starts ``python -m polyvox.runners.worker`` (``engines.interpreters`` names
another Python per engine) and waits for the engine to load there; ``unload()`` ends the process, so the
model's memory returns to the system. A watchdog thread kills a worker whose RSS passes
``engines.worker_memory_limit``; a dead worker fails its calls in flight with ``engine_failed`` and the
registry starts a fresh one on the next use.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import IO, TYPE_CHECKING, Any, ClassVar, cast

import msgpack
import structlog

from polyvox.audio.chunk import AudioChunk
from polyvox.engines.base import Engine, EngineFactory, EngineInfo, SynthesisParams, Voice
from polyvox.engines.onnx import cores_per_call
from polyvox.errors import EngineFailedError, PolyvoxError
from polyvox.runners import wire
from polyvox.runners.segment import RawSegment, SegmentCall

if TYPE_CHECKING:
    from polyvox.config import Settings

log = structlog.get_logger(__name__)

Message = dict[str, Any]
_WATCH_SECONDS = 0.2
_EXIT_GRACE = 5.0


def process_rss(pid: int) -> int:
    """Resident set size of process ``pid`` (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/statm", encoding="ascii") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


class WorkerProcess:
    """One running worker: its pipes, the calls waiting for answers, and its memory watchdog."""

    def __init__(self, engine: str, settings: Settings) -> None:
        self.engine = engine
        python = settings.engines.interpreters.get(engine, sys.executable)
        self._limit = settings.engines.worker_memory_limit
        # The worker's math libraries (torch, OpenBLAS, any OpenMP) get the threads an engine call gets
        # in the server (cores / engines.workers), unless the user chose: their default, one thread per
        # core for each concurrent call, made calls on a busy machine spin and stall on each other.
        threads = {"OMP_NUM_THREADS": str(cores_per_call(settings))}
        self._process = subprocess.Popen(
            [python, "-m", "polyvox.runners.worker"],
            env=threads | dict(os.environ),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            bufsize=0,  # unbuffered: the reader gets each answer as soon as it is written
            start_new_session=True,  # a Ctrl-C for the server is the server's to pass on
        )
        self.pid = self._process.pid
        self._stdin = cast(IO[bytes], self._process.stdin)
        self._ids = itertools.count(1)
        self._calls: dict[int, Callable[[Message], None]] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._closed = False
        """Set (under the lock) once the reader has seen the worker end: no call may wait after that."""
        self.death: str | None = None
        """Why the worker ended unexpectedly (signal, exit code, memory limit), once it has."""
        self._killed_for: str | None = None
        threading.Thread(target=self._read, name=f"worker-{engine}-read", daemon=True).start()
        if self._limit:
            threading.Thread(target=self._watch, name=f"worker-{engine}-watch", daemon=True).start()

    @property
    def alive(self) -> bool:
        return self.death is None and self._process.poll() is None

    def rss(self) -> int:
        return process_rss(self.pid) if self.alive else 0

    # -- calls ---------------------------------------------------------------------------------------
    def call(self, message: Message, on_message: Callable[[Message], None]) -> int:
        """Send a call; every answer to it (chunks, then done or error) goes to ``on_message``."""
        call_id = next(self._ids)
        with self._lock:
            if self._closed or not self.alive:
                raise self._failure()
            self._calls[call_id] = on_message
            try:
                self._stdin.write(msgpack.packb({**message, "id": call_id}, use_bin_type=True))
                self._stdin.flush()
            except OSError:
                self._calls.pop(call_id, None)
                raise self._failure() from None
        return call_id

    def forget(self, call_id: int) -> None:
        self._calls.pop(call_id, None)

    def cancel(self, call_id: int) -> None:
        """Ask the worker to stop a call before its next chunk; its answers are dropped from now on."""
        self.forget(call_id)
        with self._lock:
            if self.alive:
                try:
                    self._stdin.write(msgpack.packb({"op": "cancel", "id": call_id}, use_bin_type=True))
                    self._stdin.flush()
                except OSError:
                    pass

    def call_blocking(self, message: Message, timeout: float | None = None) -> Message:
        """Send a call and wait for its ``done`` (raises its error, or ``engine_failed`` on timeout)."""
        answers: queue.Queue[Message] = queue.Queue()
        call_id = self.call(message, answers.put)
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            while True:
                remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
                try:
                    answer = answers.get(timeout=remaining)
                except queue.Empty:
                    raise EngineFailedError(
                        f"engine {self.engine!r} worker gave no answer within {timeout} s"
                    ) from None
                if answer["op"] == "done":
                    return answer
                if answer["op"] != "chunk":
                    raise self.error_of(answer)
        finally:
            self.forget(call_id)

    def error_of(self, answer: Message) -> PolyvoxError:
        return self._failure() if answer["op"] == "died" else wire.error_from_wire(answer)

    def _failure(self) -> EngineFailedError:
        return EngineFailedError(f"engine {self.engine!r} worker {self.death or 'is not running'}")

    # -- lifetime ------------------------------------------------------------------------------------
    def _read(self) -> None:
        stdout = cast(IO[bytes], self._process.stdout)
        for message in msgpack.Unpacker(stdout, raw=False):
            handler = self._calls.get(int(message.get("id", 0)))
            if handler is not None:
                handler(message)
        returncode = self._process.wait()
        if not self._stopping.is_set():
            self.death = self._killed_for or _describe_exit(returncode)
            log.error("engine_worker_died", engine=self.engine, pid=self.pid, reason=self.death)
        with self._lock:
            self._closed = True
            handlers = list(self._calls.values())
            self._calls.clear()
        for handler in handlers:
            handler({"op": "died"})

    def _watch(self) -> None:
        while not self._stopping.wait(_WATCH_SECONDS) and self._process.poll() is None:
            rss = process_rss(self.pid)
            if rss > self._limit:
                self._killed_for = (
                    f"was killed: its memory ({rss // 2**20} MiB) passed engines.worker_memory_limit "
                    f"({self._limit // 2**20} MiB)"
                )
                log.error("engine_worker_memory_limit", engine=self.engine, pid=self.pid, rss=rss)
                self.kill()
                return

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)

    def stop(self) -> None:
        """Ask the worker to unload and exit; kill it if it does not within a few seconds."""
        was_alive = self.alive
        self._stopping.set()  # from here on the worker's end is expected, not a death
        if was_alive:
            with contextlib.suppress(PolyvoxError):
                self.call_blocking({"op": "exit"}, timeout=_EXIT_GRACE)
        try:
            self._process.wait(timeout=_EXIT_GRACE)
        except subprocess.TimeoutExpired:
            self.kill()
            self._process.wait()
        with self._lock:
            self._stdin.close()


def _describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = str(-returncode)
        return f"died of signal {name}"
    return f"exited with status {returncode}"


class WorkerEngine:
    """Stands in the registry for an engine that runs in a worker process (see the module docstring)."""

    info: ClassVar[EngineInfo]
    factory: ClassVar[EngineFactory]
    runs_in: ClassVar[str] = "process"

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._local: Engine = self.factory(settings)  # voices only; constructing loads no model
        self.worker: WorkerProcess | None = None
        self.load_rtf: float | None = None
        """The real-time factor the worker measured on its self-test at load."""
        self._start_lock = threading.Lock()

    # -- the Engine protocol -------------------------------------------------------------------------
    def load(self) -> None:
        with self._start_lock:
            if self.worker is not None and self.worker.alive:
                return
            worker = WorkerProcess(self.info.name, self._settings)
            timeout = self._settings.limits.engine_load_timeout or None
            message = {
                "op": "load",
                "engine": self.info.name,
                "settings": self._settings.model_dump(mode="json"),
            }
            try:
                answer = worker.call_blocking(message, timeout=timeout)
            except BaseException:
                worker.kill()
                worker.stop()
                raise
            self.worker, self.load_rtf = worker, answer.get("rtf")
            log.info("engine_worker_started", engine=self.info.name, pid=worker.pid, rss=answer.get("rss"))

    def unload(self) -> None:
        with self._start_lock:
            worker, self.worker = self.worker, None
        if worker is not None:
            worker.stop()
            log.info("engine_worker_stopped", engine=self.info.name, pid=worker.pid)

    def voices(self) -> list[Voice]:
        return self._local.voices()

    def default_voice(self) -> str:
        return self._local.default_voice()

    def synthesize(self, text: str, voice: Voice, params: SynthesisParams) -> Iterator[AudioChunk]:
        """Blocking, for callers outside the segment runner (chunks are collected, then yielded)."""
        worker = self._running()
        answers: queue.Queue[Message] = queue.Queue()
        call_id = worker.call(_synth_message(text, voice, params), answers.put)
        try:
            while (answer := answers.get())["op"] == "chunk":
                yield wire.chunk_from_wire(answer)
            if answer["op"] != "done":
                raise worker.error_of(answer)
        finally:
            worker.cancel(call_id)

    # -- the segment runner's call -------------------------------------------------------------------
    async def run(self, call: SegmentCall) -> RawSegment:
        """One segment in the worker, its chunks joined."""
        return RawSegment.joined([part async for part in self.parts(call)], self.info.sample_rate)

    async def parts(self, call: SegmentCall) -> AsyncIterator[RawSegment]:
        """One segment in the worker, chunk by chunk as the worker sends them; cancelling or closing the
        iteration stops the worker before its next chunk."""
        worker = self._running()
        loop = asyncio.get_running_loop()
        answers: asyncio.Queue[Message] = asyncio.Queue()

        def deliver(message: Message) -> None:
            with contextlib.suppress(RuntimeError):  # the loop closed (server shutdown): nobody waits
                loop.call_soon_threadsafe(answers.put_nowait, message)

        call_id = worker.call(_synth_message(call.text, call.voice, call.params), deliver)
        try:
            while (answer := await answers.get())["op"] == "chunk":
                chunk = wire.chunk_from_wire(answer)
                yield RawSegment(chunk.samples, chunk.sample_rate, float(answer.get("seconds", 0.0)))
        except BaseException:
            worker.cancel(call_id)
            raise
        worker.forget(call_id)
        if answer["op"] != "done":
            raise worker.error_of(answer)

    def process_status(self) -> tuple[int, int] | None:
        """The worker's pid and RSS now, or None when none runs."""
        worker = self.worker
        return (worker.pid, worker.rss()) if worker is not None and worker.alive else None

    def _running(self) -> WorkerProcess:
        worker = self.worker
        if worker is None:
            raise EngineFailedError(f"engine {self.info.name!r} has no worker process (not loaded)")
        if not worker.alive:
            raise worker.error_of({"op": "died"})
        return worker


def _synth_message(text: str, voice: Voice, params: SynthesisParams) -> Message:
    return {
        "op": "synth",
        "text": text,
        "voice": wire.voice_to_wire(voice),
        "params": wire.params_to_wire(params),
    }


def in_worker_process(factory: EngineFactory) -> EngineFactory:
    """A proxy class for ``factory``'s engine that runs it in a worker process."""
    name = factory.info.name
    namespace: dict[str, object] = {"info": factory.info, "factory": factory}
    weights_check = getattr(factory, "weights_status", None)
    if callable(weights_check):  # the registry asks before starting a worker whether the weights are there
        namespace["weights_status"] = weights_check
    if hasattr(factory, "requires"):  # ... and whether the packages are
        namespace["requires"] = factory.requires
    proxy = type(f"Worker{name.title()}Engine", (WorkerEngine,), namespace)
    return cast(EngineFactory, proxy)


def isolation_of(settings: Settings, info: EngineInfo) -> str:
    """``thread`` or ``process``: the ``engines.isolation`` setting, else the engine's own default."""
    return settings.engines.isolation.get(info.name, info.isolation)


def isolate(settings: Settings, factories: dict[str, EngineFactory]) -> dict[str, EngineFactory]:
    """The factories with every process-isolated engine replaced by its worker proxy."""
    return {
        name: in_worker_process(f) if isolation_of(settings, f.info) == "process" else f
        for name, f in factories.items()
    }
