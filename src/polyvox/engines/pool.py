"""The worker pool the engines' blocking calls run on, seen from the event loop.

The pool is the service's (polyvox.service: a :class:`~polyvox.runners.deadline_pool.DeadlinePool` that runs
the earliest deadline first); any ``Executor`` does, and one without ``submit_due`` runs calls in the order
they came.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from concurrent.futures import Executor


class WorkerPool:
    """Runs blocking calls (engine loads, syntheses, Whisper) off the event loop, on ``executor``."""

    def __init__(self, executor: Executor) -> None:
        self.executor = executor

    async def run_blocking(self, func: Callable[..., Any], *args: Any) -> Any:
        """Run a blocking call on the pool, never on the event loop."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, func, *args)

    async def run_due(self, due: float | None, func: Callable[..., Any], *args: Any) -> Any:
        """``run_blocking`` with a deadline, when the pool orders by deadline (else in arrival order)."""
        submit_due = getattr(self.executor, "submit_due", None)
        if due is None or submit_due is None:
            return await self.run_blocking(func, *args)
        return await asyncio.wrap_future(submit_due(due, func, *args))
