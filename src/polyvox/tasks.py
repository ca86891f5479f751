"""Stopping a task we own without swallowing our own cancellation.

``task.cancel(); with suppress(BaseException): await task`` also swallows the ``CancelledError`` meant for
the *caller* (a client that left, a server shutting down), so the caller carries on as if nothing happened.
:func:`cancel_and_wait` collects the task's own end (its cancellation or its failure, which its owner has
already reported) and lets the caller's cancellation through.
"""

from __future__ import annotations

import asyncio
from typing import Any


async def cancel_and_wait(task: asyncio.Future[Any]) -> None:
    """Cancel ``task`` and wait for it to end; re-raise only a cancellation of the task that waits."""
    if task.done():
        if not task.cancelled():
            task.exception()  # retrieved: asyncio logs no "exception was never retrieved"
        return
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise  # the waiter itself is being cancelled: that is not ours to swallow
    except Exception:
        pass
