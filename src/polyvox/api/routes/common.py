"""Helpers the speech routes share."""

from __future__ import annotations

import re
from collections.abc import Iterable

from polyvox.api.schemas import ErrorResponse
from polyvox.engines.registry import EngineRegistry
from polyvox.errors import EngineNotFoundError


def _error(description: str) -> dict[str, object]:
    return {"model": ErrorResponse, "description": description}


ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    404: _error("Unknown engine or voice (`engine_not_found`, `voice_not_found`)."),
    413: _error("Text over `max_text_length` (`text_too_long`) or body too large (`payload_too_large`)."),
    415: _error("Wrong Content-Type (`unsupported_media`)."),
    422: _error(
        "Bad parameter (`invalid_parameter`, `empty_text`, `unsupported_format`, `language_not_supported`)."
    ),
    429: _error("Every worker busy and the queue full (`busy`); see Retry-After."),
    500: _error("The engine failed before any audio was produced (`engine_failed`)."),
}

VALIDATION_RESPONSE: dict[int | str, dict[str, object]] = {
    422: {"model": ErrorResponse, "description": "Bad parameter (`invalid_parameter`)."}
}
"""Documents our error body for 422 instead of FastAPI's default validation schema."""


def check_engine(registry: EngineRegistry, name: str, param: str = "engine") -> str:
    """``name`` if it is a listed engine; hidden test engines count as unknown unless enabled."""
    if name not in registry.names():
        known = ", ".join(registry.names())
        raise EngineNotFoundError(f"unknown engine {name!r}; available: {known}", param=param)
    return name


_FIELD_NAME = re.compile(r"[A-Za-z0-9_.\-]{1,64}")


def ignored_header(names: Iterable[str]) -> str:
    """``X-Polyvox-Ignored``: the ignored field names, those that are no plain identifier only counted (a
    header carries neither newlines nor arbitrary Unicode)."""
    names = list(names)
    plain = [name for name in names if _FIELD_NAME.fullmatch(name)]
    others = len(names) - len(plain)
    return ", ".join([*plain, *([f"{others} unnamed field(s)"] if others else [])])
