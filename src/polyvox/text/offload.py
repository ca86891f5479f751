"""A thread pool of its own for text preparation (SSML parsing, normalization, sentence splitting).

Preparing an 80 KB text takes seconds of CPU. It must not run on the event loop, and it must not fill the
event loop's default executor either: ``/health`` and every other short ``asyncio.to_thread`` call would
queue behind it. Long preparations queue here, behind each other, instead.
"""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

_POOL = ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 1), thread_name_prefix="polyvox-text")


async def run_text_work(function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """``function(*args, **kwargs)`` in the text pool, awaited."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_POOL, functools.partial(function, *args, **kwargs))
