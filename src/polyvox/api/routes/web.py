"""The web page (``/``, and ``/ui`` sends there), the OBS audio source (``/obs``) and their static files,
shipped as package data."""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter
from starlette.responses import RedirectResponse, Response

from polyvox.errors import NotFoundError

router = APIRouter(include_in_schema=False)

_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}
FILES = frozenset(
    {
        "index.html",
        "main.js",
        "api.js",
        "store.js",
        "dom.js",
        "app.js",
        "download.js",
        "monitor.js",
        "voices.js",
        "voices-record-blend.js",
        "dialogue.js",
        "pcm_player.js",
        "style.css",
        "obs.html",
        "obs.js",
    }
)
"""The only names served: nothing else under the package can be reached."""


def _file(name: str) -> Response:
    if name not in FILES:
        raise NotFoundError(f"no file {name!r}", param="name")
    data = (resources.files("polyvox") / "web" / name).read_bytes()
    media_type = _TYPES[name[name.rindex(".") :]]
    headers = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
    return Response(data, media_type=media_type, headers=headers)


@router.get("/")
async def index() -> Response:
    """The web page."""
    return _file("index.html")


@router.get("/obs")
async def obs() -> Response:
    """The OBS browser source: plays a monitor's spoken lines."""
    return _file("obs.html")


@router.get("/web/{name}")
async def static(name: str) -> Response:
    return _file(name)


@router.get("/ui")
async def ui() -> RedirectResponse:
    return RedirectResponse("/", status_code=307)
