"""Structured logging to standard error (standard output may carry audio: ``polyvox say -o -``).

Exceptions are rendered as plain tracebacks without local variables: structlog's default console renderer
uses rich (or better-exceptions) with every frame's locals, which put request headers (API keys) and request
texts into the log, hundreds of kilobytes per error, rendered on the event loop.

No secret reaches a log line: every line, structlog's and the standard library's (uvicorn's included: its
WebSocket lines carry the query string, ``?api_key=...``), is redacted once rendered, the traceback with it.
Redaction masks the values of credential-like query parameters and URL passwords, ``Bearer``/``Basic``
tokens, and every configured secret (:func:`register_secrets`) wherever it appears.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

import structlog

REDACTED = "***"
SECRET_SETTING = re.compile(r"(?:^|_)(?:key|keys|token|secret|password|passwd)$", re.IGNORECASE)
"""A setting whose name matches this holds a secret (``api_key``, ``api_keys``; not ``keys_file``)."""
MIN_SECRET_CHARS = 6
"""Shorter configured secrets are not masked literally (they would mask ordinary words); the patterns
still mask them in query strings and Authorization headers."""
HANDLER_NAME = "polyvox"

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # ?api_key=..., &access_token=..., ;password=... (up to the next separator or quote)
    (
        re.compile(
            r"(?P<keep>[?&;][\w.%-]*(?:key|token|secret|passw|pwd|auth|signature|credential)[\w.%-]*=)"
            r"[^&;\s\"'#<>]+",
            re.IGNORECASE,
        ),
        rf"\g<keep>{REDACTED}",
    ),
    # scheme://user:password@host
    (
        re.compile(r"(?P<keep>\b[a-z][a-z0-9+.-]*://[^/\s:@\"']*:)[^@\s/\"']+@", re.IGNORECASE),
        rf"\g<keep>{REDACTED}@",
    ),
    # Bearer <token> (in header dumps, reprs and messages alike)
    (re.compile(r"(?P<keep>\bbearer\s+)[A-Za-z0-9._~+/=-]+", re.IGNORECASE), rf"\g<keep>{REDACTED}"),
    # Authorization: Basic <credentials> (only as a header: "basic" alone is an ordinary word)
    (
        re.compile(
            r"(?P<keep>\bauthorization\b['\"]?\s*[:=,]\s*b?['\"]?(?:basic|digest|token)\s+)[^\s'\",}]+",
            re.IGNORECASE,
        ),
        rf"\g<keep>{REDACTED}",
    ),
)

_lock = threading.Lock()
_secrets: tuple[str, ...] = ()


def register_secrets(secrets: Iterable[str | None]) -> None:
    """Mask these values (API keys, upstream keys) in every log line from now on, as given and URL-quoted."""
    global _secrets
    forms = {form for s in secrets if s and len(s.strip()) >= MIN_SECRET_CHARS for form in _forms(s.strip())}
    with _lock:
        _secrets = tuple(sorted(set(_secrets) | forms, key=len, reverse=True))


def _forms(secret: str) -> tuple[str, ...]:
    return (secret, quote(secret, safe=""), quote(secret, safe="/"))


def redact(text: str) -> str:
    """``text`` with every secret masked (see the module's docstring)."""
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def redact_settings(data: Any) -> Any:
    """Plain settings data (``model_dump(mode="json")``) with every credential-named value masked."""
    if isinstance(data, dict):
        return {
            key: _masked(value) if SECRET_SETTING.search(str(key)) else redact_settings(value)
            for key, value in data.items()
        }
    if isinstance(data, list):
        return [redact_settings(item) for item in data]
    return data


def _masked(value: Any) -> Any:
    if isinstance(value, list):
        return [REDACTED for _ in value]
    if isinstance(value, str) and value:
        return REDACTED
    return value  # None, a number, a flag: nothing secret to hide


class RedactingFormatter(logging.Formatter):
    """The standard formatter, its whole output (message, arguments, traceback) redacted."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def _redact_rendered(logger: Any, method: str, rendered: Any) -> str:
    """structlog's last processor: the line the renderer before it made, redacted."""
    return redact(str(rendered))


def configure_logging(level: str = "info", *, json: bool = False, secrets: Iterable[str | None] = ()) -> None:
    """Route structlog and the standard library's logging to stderr at ``level``, redacted.

    uvicorn's loggers are left unconfigured by the server (``log_config=None``), so they reach the root
    handler installed here and its redaction.
    """
    register_secrets(secrets)
    numeric = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    processors: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso"),
    ]
    if json:
        processors += [structlog.processors.format_exc_info, structlog.processors.JSONRenderer()]
    else:
        processors.append(
            structlog.dev.ConsoleRenderer(colors=False, exception_formatter=structlog.dev.plain_traceback)
        )
    processors.append(_redact_rendered)
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(HANDLER_NAME)
    handler.setFormatter(RedactingFormatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=numeric, handlers=[handler])  # a no-op where the root already has handlers
