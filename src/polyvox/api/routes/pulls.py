"""Weight downloads over HTTP: ``POST /v1/models/{engine}/pull`` starts one, ``GET`` the same path follows it.

The pull itself runs in a process of its own (:mod:`polyvox.engines.neural.pulls`); the engine's state in
``/v1/engines`` is ``downloading`` meanwhile, with the bytes done and the total, then ``ready``.
"""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter
from pydantic import BaseModel, Field

from polyvox.api.deps import RegistryDep
from polyvox.api.routes.common import VALIDATION_RESPONSE, check_engine
from polyvox.api.schemas import DownloadOut, ErrorResponse
from polyvox.errors import NotFoundError

router = APIRouter(tags=["Engines"], responses=VALIDATION_RESPONSE)

_ERRORS: dict[int | str, dict[str, object]] = {
    404: {"model": ErrorResponse, "description": "Unknown engine, or one without published weights."},
    422: {"model": ErrorResponse, "description": "`license_not_accepted`: its licence restricts use."},
}


class PullRequest(BaseModel):
    """What a pull needs from the user."""

    accept_license: bool = Field(
        False,
        description="Accept the weights' licence (required where it restricts use, e.g. XTTS v2's CPML).",
    )


class PullOut(BaseModel):
    """An engine's state and its download."""

    engine: str = Field(..., description="The engine.")
    state: str = Field(..., description="The engine's state (`downloading` while the pull runs).")
    download: DownloadOut | None = Field(None, description="The pull, running or last ended.")


def _answer(registry: RegistryDep, engine: str) -> PullOut:
    ready = registry.readiness(engine)
    download = DownloadOut(**asdict(ready.download)) if ready.download is not None else None
    return PullOut(engine=engine, state=ready.state, download=download)


@router.post(
    "/v1/models/{engine}/pull",
    summary="Download an engine's weights",
    status_code=202,
    response_model=PullOut,
    responses=_ERRORS,
)
async def start_pull(engine: str, registry: RegistryDep, body: PullRequest | None = None) -> PullOut:
    """Fetch the engine's published weights into its folder (the pinned files only, verified, resumable);
    answers at once. Asking again while it runs answers the same pull."""
    check_engine(registry, engine)
    await registry.pulls.start(engine, accept_licence=bool(body and body.accept_license))
    return _answer(registry, engine)


@router.get(
    "/v1/models/{engine}/pull",
    summary="Follow an engine's download",
    response_model=PullOut,
    responses=_ERRORS,
)
async def pull_status(engine: str, registry: RegistryDep) -> PullOut:
    """The engine's state and its download (404 when none was started since the server started)."""
    check_engine(registry, engine)
    if registry.pulls.job(engine) is None:
        raise NotFoundError(f"no download of {engine!r} since the server started", param="engine")
    return _answer(registry, engine)
