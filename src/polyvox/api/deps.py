"""Dependencies shared by the routes: the service objects, request ids and request-body checks."""

from __future__ import annotations

import re
import uuid
from typing import Annotated

from fastapi import Depends, Request

from polyvox.config import Settings
from polyvox.engines.registry import EngineRegistry
from polyvox.errors import PayloadTooLargeError, UnsupportedMediaError
from polyvox.service import Polyvox
from polyvox.synthesis import Synthesizer

JSON_TYPES = frozenset({"application/json"})
FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_BODY_OVERHEAD = 64 * 1024


def get_service(request: Request) -> Polyvox:
    """The process's :class:`Polyvox`, built by the app's lifespan."""
    service: Polyvox = request.app.state.polyvox
    return service


def get_settings(request: Request) -> Settings:
    return get_service(request).settings


def get_registry(request: Request) -> EngineRegistry:
    return get_service(request).registry


def get_synthesizer(request: Request) -> Synthesizer:
    return get_service(request).synthesizer


def request_id(request: Request) -> str:
    """The client's ``X-Request-ID`` when it is a sane token, else a fresh one."""
    given = request.headers.get("x-request-id", "")
    return given if _REQUEST_ID.match(given) else uuid.uuid4().hex


def media_type(request: Request) -> str:
    """The request's content type without parameters, lower case ("" when absent)."""
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def limit_body(request: Request) -> None:
    """Refuse bodies far larger than the longest allowed text before reading them (413)."""
    _refuse_over(request, get_settings(request).max_text_length)


def limit_long_body(request: Request) -> None:
    """:func:`limit_body` for routes that run long-form jobs: texts up to ``longform.max_chars``."""
    settings = get_settings(request)
    _refuse_over(request, max(settings.max_text_length, settings.longform.max_chars))


def _refuse_over(request: Request, max_chars: int) -> None:
    limit = max_chars * 4 + _BODY_OVERHEAD  # up to 4 UTF-8 bytes a character, plus the other fields
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise PayloadTooLargeError(f"request body of {length} bytes exceeds {limit} bytes", param="body")


def require_json(request: Request) -> None:
    """415 for anything but a JSON body."""
    kind = media_type(request)
    if kind not in JSON_TYPES:
        raise UnsupportedMediaError(
            f"expected Content-Type application/json, got {kind or 'none'!r}", param="content-type"
        )


def require_json_or_form(request: Request) -> str:
    """415 unless the body is JSON, URL-encoded or multipart form data; returns the media type."""
    kind = media_type(request)
    if kind not in JSON_TYPES | FORM_TYPES:
        raise UnsupportedMediaError(
            "expected Content-Type application/json, application/x-www-form-urlencoded or "
            f"multipart/form-data, got {kind or 'none'!r}",
            param="content-type",
        )
    return kind


ServiceDep = Annotated[Polyvox, Depends(get_service)]
RegistryDep = Annotated[EngineRegistry, Depends(get_registry)]
SynthesizerDep = Annotated[Synthesizer, Depends(get_synthesizer)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
RequestIdDep = Annotated[str, Depends(request_id)]
