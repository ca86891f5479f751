"""An engine worker process: ``python -m polyvox.runners.worker`` (started by polyvox.runners.process).

The worker builds one engine from its entry-point name and the server's settings, loads it, and answers
calls read from stdin (see polyvox.runners.wire). Each ``synth`` runs in a thread of its own pool and
sends the engine's chunks back one by one as they are produced; a ``cancel`` stops it before its next
chunk. The engine writes whatever it prints to stderr: fd 1 is kept for the protocol alone.
"""

from __future__ import annotations

import functools
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import entry_points
from typing import Any, BinaryIO, cast

import msgpack
import structlog

from polyvox.config import Settings
from polyvox.engines.base import Engine, EngineFactory
from polyvox.engines.memory import release_memory, rss_bytes
from polyvox.engines.registry import ENTRY_POINT_GROUP, self_test
from polyvox.errors import EngineNotFoundError, PolyvoxError
from polyvox.runners import wire
from polyvox.runners.isolation import RETRIES

log = structlog.get_logger(__name__)


def build_engine(name: str, settings: Settings) -> Engine:
    """The engine registered as ``name`` (only that entry point is imported)."""
    found = list(entry_points(group=ENTRY_POINT_GROUP, name=name))
    if not found:
        raise EngineNotFoundError(f"no engine {name!r} is installed for {sys.executable}")
    factory = cast(EngineFactory, found[0].load())
    return factory(settings)


class Worker:
    """Answers one server's calls for one engine."""

    def __init__(self, engine: Engine, settings: Settings, out: BinaryIO) -> None:
        self._engine = engine
        self._out = out
        self._write_lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=settings.engines.workers + 1, thread_name_prefix="worker")
        self._cancelled: dict[int, threading.Event] = {}
        self._busy = 0

    def send(self, message: dict[str, Any]) -> None:
        data = msgpack.packb(message, use_bin_type=True)
        with self._write_lock:
            self._out.write(data)
            self._out.flush()

    def _answer(self, call_id: int, work: Callable[[], dict[str, Any]]) -> bool:
        """Run ``work`` and send its result or its error; returns whether it succeeded."""
        try:
            result = work()
        except BaseException as exc:
            self.send(wire.error_to_wire(call_id, exc))
            return False
        self.send({"op": "done", "id": call_id, **result})
        return True

    def load(self) -> dict[str, Any]:
        started = time.perf_counter()
        self._engine.load()
        rtf = self_test(self._engine)
        return {"rtf": rtf, "seconds": time.perf_counter() - started, "rss": rss_bytes(), "pid": os.getpid()}

    def synth(self, call_id: int, message: dict[str, Any]) -> dict[str, Any]:
        voice = wire.voice_from_wire(message["voice"])
        params = wire.params_from_wire(message["params"])
        cancelled = self._cancelled[call_id]
        attempt, sent = 0, 0
        started = time.perf_counter()
        self._busy += 1
        try:
            while True:
                try:
                    last = time.perf_counter()
                    for chunk in self._engine.synthesize(message["text"], voice, params):
                        if cancelled.is_set():
                            return {"cancelled": True, "seconds": time.perf_counter() - started}
                        now = time.perf_counter()
                        self.send(wire.chunk_to_wire(call_id, chunk, now - last))
                        last, sent = now, sent + 1
                    return {"seconds": time.perf_counter() - started, "rss": rss_bytes()}
                except PolyvoxError:
                    raise
                except Exception as exc:  # polyvox.runners.isolation's policy: one retry if nothing was sent
                    if sent or attempt >= RETRIES:
                        raise
                    attempt += 1
                    log.warning("engine_retry", engine=self._engine.info.name, error=repr(exc))
        finally:
            self._busy -= 1
            self._cancelled.pop(call_id, None)

    def status(self) -> dict[str, Any]:
        return {"rss": rss_bytes(), "pid": os.getpid(), "busy": self._busy}

    def unload(self) -> dict[str, Any]:
        self._engine.unload()
        release_memory()
        return {"rss": rss_bytes()}

    def serve(self, incoming: Iterator[dict[str, Any]]) -> None:
        """Answer calls until ``exit`` or until the server closes stdin."""
        for message in incoming:
            op, call_id = message.get("op"), int(message.get("id", 0))
            if op == "synth":
                self._cancelled[call_id] = threading.Event()
                self._pool.submit(self._answer, call_id, functools.partial(self.synth, call_id, message))
            elif op == "cancel":
                event = self._cancelled.get(call_id)
                if event is not None:
                    event.set()
            elif op == "status":
                self._answer(call_id, self.status)
            elif op == "exit":
                for event in list(self._cancelled.values()):
                    event.set()
                self._pool.shutdown(wait=True)
                self._answer(call_id, self.unload)
                return


def main() -> None:
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # an engine's prints must not corrupt the protocol
    # Unbuffered: a buffered read would wait for a full buffer instead of returning the call that came.
    stdin = os.fdopen(0, "rb", buffering=0)
    incoming: Iterator[dict[str, Any]] = msgpack.Unpacker(stdin, raw=False)
    first = next(incoming, None)  # ``load``: which engine, with which settings
    if first is None:
        return
    call_id = int(first["id"])
    try:
        settings = Settings(**first["settings"])
        worker = Worker(build_engine(first["engine"], settings), settings, out)
    except BaseException as exc:
        out.write(msgpack.packb(wire.error_to_wire(call_id, exc), use_bin_type=True))
        out.flush()
        return
    if worker._answer(call_id, worker.load):
        worker.serve(incoming)


if __name__ == "__main__":
    main()
