"""Where a neural engine's weights live and whether the folder holds what the engine needs.

Nothing is ever downloaded: each engine reads a folder the user filled, ``DATA_DIR/models/<engine>/`` unless
``engines.model_dirs`` names another. An engine whose folder lacks a required file is still listed (state
``needs_weights``, with the folder and the missing files) and answers requests with 503
``engine_unavailable``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from polyvox.config import Settings

MODELS_FOLDER = "models"


@dataclass(frozen=True, slots=True)
class WeightsSpec:
    """The files one engine reads from its folder (names relative to it)."""

    required: tuple[str, ...]
    optional: tuple[str, ...] = ()
    source: str = ""
    """Where users get the files, in words (shown with the missing files)."""
    one_of: tuple[tuple[str, ...], ...] = ()
    """Groups of alternatives (``("ve.pt", "ve.safetensors")``): one file of each group is required; a group
    with none is reported missing as ``"ve.pt or ve.safetensors"``."""


@dataclass(frozen=True, slots=True)
class WeightsStatus:
    """What an engine's folder holds now (checked on every listing and before every load)."""

    engine: str
    folder: Path
    missing: tuple[str, ...]
    source: str = ""

    @property
    def ready(self) -> bool:
        return not self.missing

    @property
    def state(self) -> str:
        """``ready`` or ``needs_weights`` (as ``/v1/engines`` reports it)."""
        return "ready" if self.ready else "needs_weights"

    @property
    def message(self) -> str:
        """Why the engine cannot run, for people (the body of the 503)."""
        if self.ready:
            return f"engine {self.engine!r} has its weights in {self.folder}"
        where = f" ({self.source})" if self.source else ""
        return (
            f"engine {self.engine!r} needs its weights: put {', '.join(self.missing)} in {self.folder}"
            f"{where}, or name the folder that holds them in engines.model_dirs "
            f'(POLYVOX_ENGINES__MODEL_DIRS=\'{{"{self.engine}": "/path"}}\')'
        )


def model_dir(settings: Settings, engine: str) -> Path:
    """The folder ``engine`` reads: ``engines.model_dirs[engine]`` or ``DATA_DIR/models/<engine>/``."""
    configured = settings.engines.model_dirs.get(engine)
    return Path(configured).expanduser() if configured else settings.data_dir / MODELS_FOLDER / engine


def missing_files(folder: Path, names: tuple[str, ...]) -> tuple[str, ...]:
    """The names in ``names`` that are not a non-empty file in ``folder``."""
    missing = []
    for name in names:
        path = folder / name
        try:
            if not path.is_file() or path.stat().st_size == 0:
                missing.append(name)
        except OSError:
            missing.append(name)
    return tuple(missing)


def check_weights(settings: Settings, engine: str, spec: WeightsSpec) -> WeightsStatus:
    """The status of ``engine``'s folder against ``spec``."""
    folder = model_dir(settings, engine)
    missing = missing_files(folder, spec.required)
    for group in spec.one_of:
        if len(missing_files(folder, group)) == len(group):
            missing += (" or ".join(group),)
    return WeightsStatus(engine, folder, missing, spec.source)


def first_present(folder: Path, names: tuple[str, ...]) -> Path:
    """The first of ``names`` that is a non-empty file in ``folder`` (one of a ``one_of`` group)."""
    absent = set(missing_files(folder, names))
    return next((folder / name for name in names if name not in absent), folder / names[0])
