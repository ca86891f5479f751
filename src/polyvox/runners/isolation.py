"""Engine isolation: one retry for transient failures, and a failing engine is marked for reload.

Policy (runs in the worker thread, around one segment's engine call):

* a :class:`PolyvoxError` the engine raises on purpose is not retried; an ``EngineFailedError`` marks the
  engine unhealthy (it is reloaded on its next use once nobody else holds it), client errors do not;
* any other exception is unexpected and taken as possibly transient: the call is retried once; if the retry
  fails too, the engine is marked unhealthy and the request fails with ``engine_failed``.

A call is retried only while none of its audio has gone out (polyvox.runners.runner), so a listener never
hears a part twice.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

import structlog

from polyvox.errors import EngineFailedError, PolyvoxError

log = structlog.get_logger(__name__)

T = TypeVar("T")

RETRIES = 1
"""Extra attempts after an unexpected engine exception."""


class HealthBook(Protocol):
    """What :func:`run_isolated` needs from the engine registry."""

    def mark_unhealthy(self, name: str, error: str) -> None: ...

    def note_retry(self, name: str) -> None: ...


def run_isolated(book: HealthBook, engine: str, call: Callable[[], T]) -> T:
    """Run one engine call with the policy above."""
    attempt = 0
    while True:
        try:
            return call()
        except EngineFailedError as exc:
            book.mark_unhealthy(engine, exc.message)
            raise
        except PolyvoxError:
            raise
        except Exception as exc:
            if attempt < RETRIES:
                attempt += 1
                book.note_retry(engine)
                log.warning("engine_retry", engine=engine, attempt=attempt, error=_brief(exc))
                continue
            book.mark_unhealthy(engine, _brief(exc))
            raise EngineFailedError(f"engine {engine!r} failed: {exc}") from exc


def _brief(exc: Exception) -> str:
    """An exception for the log and engine health: its type and the start of its message, never its repr
    (which can hold the whole request text)."""
    return f"{type(exc).__name__}: {str(exc)[:200]}"
