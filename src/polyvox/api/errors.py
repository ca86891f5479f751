"""One error shape for every route: ``{"error": {"code", "message", "param", "type"}}`` with its status.

``PolyvoxError`` subclasses carry their own code and status; FastAPI's request validation errors become
``invalid_parameter`` (422) naming the offending field; unknown routes and methods keep their status with a
machine code; anything unexpected is a logged ``internal_error`` (500) that never leaks a traceback.
"""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from polyvox.errors import BusyError, EngineUnavailableError, PolyvoxError

log = structlog.get_logger(__name__)

_HTTP_CODES = {
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media",
}


class EngineInUseError(PolyvoxError):
    """The engine cannot be unloaded while requests use it."""

    status = 409
    code = "engine_in_use"


def error_body(code: str, message: str, param: str | None = None, status: int = 400) -> dict[str, Any]:
    """The OpenAI-style error body."""
    return {
        "error": {
            "code": code,
            "message": message,
            "param": param,
            "type": "invalid_request_error" if status < 500 else "server_error",
        }
    }


def polyvox_error_response(exc: PolyvoxError) -> JSONResponse:
    """The JSON response for a Polyvox error, with ``Retry-After`` when the server is busy, and
    ``x-should-retry: false`` when an engine cannot speak until someone acts (OpenAI's SDKs retry a 503
    unless told not to)."""
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, BusyError) else None
    if isinstance(exc, EngineUnavailableError):
        headers = {"x-should-retry": "false"}
    return JSONResponse(exc.to_dict(), status_code=exc.status, headers=headers)


def _param_of(loc: tuple[Any, ...] | list[Any]) -> str | None:
    """The field a validation error is about: the last named part of its location (``("body", "speed")``)."""
    names = [str(part) for part in loc if isinstance(part, str) and part not in ("body", "query", "path")]
    return ".".join(names) if names else None


def validation_error_response(exc: RequestValidationError) -> JSONResponse:
    """A FastAPI/pydantic validation failure as ``invalid_parameter`` naming the first bad field."""
    errors = list(exc.errors())
    first = errors[0] if errors else {}
    param = _param_of(first.get("loc", ()))
    message = str(first.get("msg", "invalid request"))
    if first.get("type") == "json_invalid":
        param, message = (
            "body",
            f"request body is not valid JSON: {first.get('ctx', {}).get('error', message)}",
        )
    elif first.get("type") == "missing":
        message = f"{param} is required"
    elif param:
        message = f"{param}: {message}"
    return JSONResponse(error_body("invalid_parameter", message, param, 422), status_code=422)


async def _handle_polyvox(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, PolyvoxError)
    if exc.status >= 500:
        log.error("request_failed", path=request.url.path, code=exc.code, error=exc.message)
    return polyvox_error_response(exc)


async def _handle_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return validation_error_response(exc)


async def _handle_http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    message = str(exc.detail) if exc.detail else code.replace("_", " ")
    if exc.status_code == 404 and exc.detail == "Not Found":
        message = f"no route {request.method} {request.url.path}"
    return JSONResponse(
        error_body(code, message, None, exc.status_code), status_code=exc.status_code, headers=exc.headers
    )


async def _handle_unexpected(request: Request, exc: Exception) -> JSONResponse:
    # The type only: an exception's repr can hold the request text (UnicodeEncodeError holds its whole input).
    log.exception("unhandled_error", path=request.url.path, error=type(exc).__name__)
    return JSONResponse(error_body("internal_error", "internal server error", None, 500), status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers; starlette finds them through the exception class hierarchy."""
    app.add_exception_handler(PolyvoxError, _handle_polyvox)
    app.add_exception_handler(RequestValidationError, _handle_validation)
    app.add_exception_handler(StarletteHTTPException, _handle_http)
    app.add_exception_handler(Exception, _handle_unexpected)
