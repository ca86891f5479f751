"""A local server that speaks the part of Hugging Face's download protocol ``huggingface_hub`` uses.

``HEAD``/``GET /{org}/{repo}/resolve/{revision}/{path}`` answer with the headers the hub sends
(``X-Repo-Commit``; ``ETag``, the SHA-256 of the content as for LFS files; ``Content-Length``) and honour
``Range`` (resumed downloads). Files are registered per repository and revision. For tests it can hold a
download after its first bytes until released (to watch a pull in progress, or to kill it there), serve
altered bytes under the true hash (a corrupt transfer), and require a token (a gated repository). Every
request is recorded.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

CHUNK = 64 * 1024


@dataclass
class Hold:
    """Stop a download of ``path`` after ``after`` bytes until ``release`` is set."""

    path: str
    after: int
    reached: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)


@dataclass
class Hub:
    """The files served, the faults asked for, and what was requested."""

    files: dict[tuple[str, str, str], bytes] = field(default_factory=dict)
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)
    """(method, path, Range header) of every request."""
    corrupt: set[str] = field(default_factory=set)
    gated: dict[str, str] = field(default_factory=dict)
    """Repository -> the token it needs."""
    hold: Hold | None = None
    url: str = ""

    def add(self, repo: str, revision: str, path: str, content: bytes) -> None:
        self.files[(repo, revision, path)] = content

    def downloads(self, path: str) -> list[str | None]:
        """The Range headers of the GETs of files whose path ends with ``path``."""
        return [rng for method, url, rng in self.requests if method == "GET" and url.endswith(path)]


def _commit(revision: str) -> str:
    return revision if len(revision) == 40 else hashlib.sha1(revision.encode()).hexdigest()


def app_for(hub: Hub) -> Starlette:
    async def resolve(request: Request) -> Response:
        params = request.path_params
        repo, revision, path = f"{params['org']}/{params['repo']}", params["revision"], params["path"]
        hub.requests.append((request.method, request.url.path, request.headers.get("range")))
        token = hub.gated.get(repo)
        if token is not None and request.headers.get("authorization") != f"Bearer {token}":
            return Response(status_code=401, headers={"X-Error-Code": "GatedRepo"})
        content = hub.files.get((repo, revision, path))
        if content is None:
            return Response(status_code=404, headers={"X-Error-Code": "EntryNotFound"})
        headers = {
            "X-Repo-Commit": _commit(revision),
            "ETag": f'"{hashlib.sha256(content).hexdigest()}"',
            "Accept-Ranges": "bytes",
        }
        if request.method == "HEAD":
            return Response(headers={**headers, "Content-Length": str(len(content))})
        body = bytes(b ^ 0xFF for b in content[:16]) + content[16:] if path in hub.corrupt else content
        start = 0
        ranged = request.headers.get("range", "")
        if ranged.startswith("bytes="):
            start = int(ranged.removeprefix("bytes=").split("-", 1)[0] or 0)
        status = 206 if start else 200
        if start:
            headers["Content-Range"] = f"bytes {start}-{len(body) - 1}/{len(body)}"
        headers["Content-Length"] = str(len(body) - start)
        return StreamingResponse(_stream(hub, path, body, start), status_code=status, headers=headers)

    return Starlette(
        routes=[Route("/{org}/{repo}/resolve/{revision}/{path:path}", resolve, methods=["GET", "HEAD"])]
    )


async def _stream(hub: Hub, path: str, body: bytes, start: int) -> AsyncIterator[bytes]:
    import anyio

    sent = start
    while sent < len(body):
        hold = hub.hold
        if hold is not None and hold.path == path and sent >= hold.after and not hold.release.is_set():
            hold.reached.set()
            await anyio.to_thread.run_sync(hold.release.wait)
        piece = body[sent : sent + CHUNK]
        sent += len(piece)
        yield piece


@contextmanager
def serve_hub(hub: Hub, port: int) -> Iterator[Hub]:
    """Serve ``hub`` on 127.0.0.1:``port`` in a thread for the ``with`` block."""
    server = uvicorn.Server(uvicorn.Config(app_for(hub), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the hub server did not start")
        threading.Event().wait(0.02)
    hub.url = f"http://127.0.0.1:{port}"
    try:
        yield hub
    finally:
        if hub.hold is not None:
            hub.hold.release.set()
        server.should_exit = True
        thread.join(timeout=10)
