"""cancel_and_wait: the task's own end is collected, the waiter's own cancellation is not swallowed."""

from __future__ import annotations

import asyncio

import pytest

from polyvox.tasks import cancel_and_wait


async def test_the_tasks_cancellation_and_failure_end_with_it() -> None:
    sleeper = asyncio.ensure_future(asyncio.sleep(60))
    await cancel_and_wait(sleeper)
    assert sleeper.cancelled()

    async def fails_when_cancelled() -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            raise RuntimeError("cleanup failed") from None

    failing = asyncio.ensure_future(fails_when_cancelled())
    await asyncio.sleep(0)  # let it start
    await cancel_and_wait(failing)
    assert isinstance(failing.exception(), RuntimeError)
    await cancel_and_wait(failing)  # already done: nothing to do


async def test_the_waiters_own_cancellation_goes_through() -> None:
    cancelled_once = asyncio.Event()
    release = asyncio.Event()

    async def slow_to_stop() -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled_once.set()
            await release.wait()  # takes its time to clean up
            raise

    owned = asyncio.ensure_future(slow_to_stop())
    await asyncio.sleep(0)
    waiter = asyncio.ensure_future(cancel_and_wait(owned))
    await cancelled_once.wait()  # the waiter is now waiting for the owned task to end
    waiter.cancel()  # e.g. the client left while the stream was closing
    with pytest.raises(asyncio.CancelledError):
        await waiter
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await owned
