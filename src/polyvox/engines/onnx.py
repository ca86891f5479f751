"""onnxruntime sessions for the engines that run ONNX models (piper, Kokoro).

The worker pool runs ``engines.workers`` engine calls at once (by default half the cores); each session's
intra-op threads are the cores divided by the workers (at least one: two by default), so the workers
together never ask for more threads than there are cores, and one call still computes on two cores.
onnxruntime's own default is one thread per core for every session, which oversubscribes the cores as
soon as two calls run together (issue 17: the first sentence of one stream waited behind the second of
another). ``engines.onnx_threads`` overrides the choice.

Each run gives its arena back when it ends (``memory.enable_memory_arena_shrinkage``, issue 24): the CPU
arena grows to the largest run ever made and kept it, so one long segment (a 2,600-digit number read digit by
digit, 20 s of audio in one run) left the server +300 MB per engine session for good. Turning the arena off
instead returns memory to malloc a tensor at a time, which kept more (glibc fragmentation) and made Kokoro's
peak twice as high; shrinking keeps the arena within a run and costs no measurable speed on piper.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import onnxruntime

    from polyvox.config import Settings


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, which containers and taskset narrow)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def cores_per_call(settings: Settings) -> int:
    """The cores one engine call may compute on: the cores divided by ``engines.workers``, at least 1."""
    return max(1, usable_cores() // settings.engines.workers)


def intra_op_threads(settings: Settings) -> int:
    """Threads one engine session computes with: ``engines.onnx_threads``, else :func:`cores_per_call`."""
    chosen = settings.engines.onnx_threads
    return chosen if chosen > 0 else cores_per_call(settings)


def cpu_session(model: Path, settings: Settings) -> onnxruntime.InferenceSession:
    """A CPU inference session for ``model`` with the thread count above."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = intra_op_threads(settings)
    options.inter_op_num_threads = 1
    session: onnxruntime.InferenceSession = _shrinking_session()(
        str(model), sess_options=options, providers=["CPUExecutionProvider"]
    )
    return session


@functools.cache
def _shrinking_session() -> type[onnxruntime.InferenceSession]:
    """An ``InferenceSession`` whose runs shrink the CPU arena when they end (unless given their own options).

    A subclass, not a wrapper: piper and kokoro_onnx call ``session.run(None, feed)`` and read its
    attributes; defined on first use so importing this module does not import onnxruntime.
    """
    import onnxruntime

    shrink = onnxruntime.RunOptions()
    shrink.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")

    class ShrinkingSession(onnxruntime.InferenceSession):  # type: ignore[misc]  # onnxruntime is untyped
        def run(self, output_names: Any, input_feed: Any, run_options: Any = None) -> Any:
            return super().run(output_names, input_feed, run_options or shrink)

    return ShrinkingSession
