"""A thread pool of its own for text preparation (SSML parsing, normalization, sentence splitting).

Preparing an 80 KB text takes seconds of CPU. It must not run on the event loop, and it must not fill the
event loop's default executor either: ``/health`` and every other short ``asyncio.to_thread`` call would
queue behind it. Long preparations queue here, behind each other, instead.

Long-form planning (up to 1,000,000 characters) has a lane of its own, one thread, and runs there in steps
(:func:`run_steps`): jobs take turns step by step, a short request's text work never waits behind them, and
a job whose client left stops at the next step instead of planning to the end.
"""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

_POOL = ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 1), thread_name_prefix="polyvox-text")
_LANE = ThreadPoolExecutor(max_workers=1, thread_name_prefix="polyvox-plan")
_END = object()


async def run_text_work(function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """``function(*args, **kwargs)`` in the text pool, awaited."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_POOL, functools.partial(function, *args, **kwargs))


async def run_steps(steps: Iterator[object], *, lane: bool = True) -> int:
    """Run ``steps`` to its end one step at a time, each a job of its own in the long-form lane (``lane``)
    or the text pool; returns the number of steps. Cancelling the caller stops it before the next step."""
    loop = asyncio.get_running_loop()
    executor = _LANE if lane else _POOL
    done = 0
    while await loop.run_in_executor(executor, next, steps, _END) is not _END:
        done += 1
    return done
