"""onnxruntime sessions for the engines that run ONNX models (piper, Kokoro).

The worker pool runs ``engines.workers`` engine calls at once (by default half the cores); each session's
intra-op threads are the cores divided by the workers (at least one: two by default), so the workers
together never ask for more threads than there are cores, and one call still computes on two cores.
onnxruntime's own default is one thread per core for every session, which oversubscribes the cores as
soon as two calls run together (issue 17: the first sentence of one stream waited behind the second of
another). ``engines.onnx_threads`` overrides the choice.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import onnxruntime

    from polyvox.config import Settings


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, which containers and taskset narrow)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def intra_op_threads(settings: Settings) -> int:
    """Threads one engine session computes with: ``engines.onnx_threads``, else cores / workers."""
    chosen = settings.engines.onnx_threads
    return chosen if chosen > 0 else max(1, usable_cores() // settings.engines.workers)


def cpu_session(model: Path, settings: Settings) -> onnxruntime.InferenceSession:
    """A CPU inference session for ``model`` with the thread count above."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = intra_op_threads(settings)
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(str(model), sess_options=options, providers=["CPUExecutionProvider"])
