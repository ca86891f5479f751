"""Optional API keys, checked by an ASGI middleware so every HTTP and WebSocket route is covered.

Keys come from ``auth.api_keys`` and ``auth.keys_file`` (one per line). With no key configured auth is off.
A client sends ``Authorization: Bearer KEY``; WebSocket clients that cannot set headers (browsers) may send
``?api_key=KEY`` instead. Keys are compared with :func:`hmac.compare_digest` against every configured key, so
the time taken does not tell how much of a key matched. Paths in ``auth.open_paths`` (health, readiness,
metrics, the API docs and the static web page by default) stay open.

A refused HTTP request gets 401 with the usual error body and ``WWW-Authenticate: Bearer``; a refused
WebSocket handshake gets an HTTP 401 denial response where the server supports it (uvicorn does), else the
handshake is closed with code 1008 (policy violation).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from urllib.parse import parse_qs

import structlog
from starlette.types import ASGIApp, Receive, Scope, Send

from polyvox.config import AuthSettings
from polyvox.errors import UnauthorizedError

log = structlog.get_logger(__name__)

KEY_ID_STATE = "api_key_id"
"""``scope["state"]`` entry with a short hash of the accepted key (for per-key rate limits and logs)."""


def load_keys(settings: AuthSettings) -> list[str]:
    """The configured keys: settings first, then the keys file."""
    keys = [k.strip() for k in settings.api_keys if k.strip()]
    if settings.keys_file is not None:
        text = Path(settings.keys_file).read_text(encoding="utf-8")
        keys += [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
    return keys


def key_id(key: str) -> str:
    """A short, non-reversible name for a key."""
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def is_open(path: str, open_paths: list[str]) -> bool:
    """Whether ``path`` is served without a key (entries ending in ``/`` other than ``/`` are prefixes)."""
    for entry in open_paths:
        if path == entry or (len(entry) > 1 and entry.endswith("/") and path.startswith(entry)):
            return True
    return False


def presented_key(scope: Scope) -> str | None:
    """The key a request presents: the Bearer token, or ``api_key`` in a WebSocket's query string."""
    for name, value in scope.get("headers", []):
        if name.lower() == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return str(token.strip())
    if scope["type"] == "websocket":
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        values = query.get("api_key")
        if values:
            return str(values[0])
    return None


def matching_key(given: str, keys: list[str]) -> str | None:
    """The configured key equal to ``given``; compares against all of them in constant time each."""
    found: str | None = None
    for key in keys:
        if hmac.compare_digest(given.encode(), key.encode()):
            found = key
    return found


class AuthMiddleware:
    """Refuses requests without a valid key, unless auth is off or the path is open."""

    def __init__(self, app: ASGIApp, settings: AuthSettings) -> None:
        self.app = app
        self.open_paths = list(settings.open_paths)
        self.keys = load_keys(settings)

    @property
    def enabled(self) -> bool:
        return bool(self.keys)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.keys or scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "http" and scope.get("method") == "OPTIONS":
            await self.app(scope, receive, send)  # CORS preflight carries no credentials
            return
        if is_open(scope["path"], self.open_paths):
            await self.app(scope, receive, send)
            return
        given = presented_key(scope)
        key = matching_key(given, self.keys) if given is not None else None
        if key is None:
            log.info(
                "unauthorized", path=scope["path"], reason="missing key" if given is None else "wrong key"
            )
            await deny(scope, send, 401, UnauthorizedError("a valid API key is required").to_dict(), {})
            return
        scope.setdefault("state", {})[KEY_ID_STATE] = key_id(key)
        await self.app(scope, receive, send)


async def deny(
    scope: Scope, send: Send, status: int, body: dict[str, object], headers: dict[str, str]
) -> None:
    """Answer with a JSON error: an HTTP response, or a WebSocket denial response (close 1008 fallback)."""
    payload = json.dumps(body).encode()
    raw_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    if status == 401:
        raw_headers.append((b"www-authenticate", b"Bearer"))
    raw_headers += [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": status, "headers": raw_headers})
        await send({"type": "http.response.body", "body": payload})
    elif "websocket.http.response" in scope.get("extensions", {}):
        await send({"type": "websocket.http.response.start", "status": status, "headers": raw_headers})
        await send({"type": "websocket.http.response.body", "body": payload})
    else:
        await send({"type": "websocket.close", "code": 1008, "reason": str(status)})
