"""Whether an engine can speak here, and the one next step when it cannot.

An engine is in one of these states, reported the same way by every door (``/v1/engines``, ``polyvox
engines``, the page, Wyoming's ``installed``, the lists that feed clients):

* ``needs_package``: a Python package of its extra is not installed (checked without importing it);
* ``needs_weights``: its folder lacks files (:mod:`polyvox.engines.neural.weights`);
* ``downloading``: a pull is fetching them (:mod:`polyvox.engines.neural.pulls`);
* ``failed``: its last load or synthesis failed (``last_error``); it is reloaded on its next use;
* ``ready``: it can speak (loaded or not).

An engine that needs a package or weights answers requests with 503 ``engine_unavailable`` (never 500, never
counted against its health) before anything is loaded.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, cast

from polyvox.engines.neural.sources import source_of

if TYPE_CHECKING:
    from polyvox.config import Settings
    from polyvox.engines.base import EngineFactory
    from polyvox.engines.neural.pulls import PullJob
    from polyvox.engines.neural.weights import WeightsStatus

State = Literal["needs_package", "needs_weights", "downloading", "failed", "ready"]
UNAVAILABLE: frozenset[str] = frozenset({"needs_package", "needs_weights", "downloading"})
"""States in which the engine cannot speak until someone acts."""


@dataclass(frozen=True, slots=True)
class PackageSpec:
    """The importable modules an engine needs, and the extra of Polyvox that installs them."""

    modules: tuple[str, ...]
    extra: str

    @property
    def install_command(self) -> str:
        """What a user types in the project's folder to install the extra (see the README's Engines)."""
        return f"make engine E={self.extra}"


@dataclass(frozen=True, slots=True)
class PackageStatus:
    """Which of an engine's modules are missing now."""

    engine: str
    spec: PackageSpec
    missing: tuple[str, ...]

    @property
    def ready(self) -> bool:
        return not self.missing

    @property
    def message(self) -> str:
        return (
            f"engine {self.engine!r} needs the Python packages of the {self.spec.extra!r} extra "
            f"(missing: {', '.join(self.missing)}): install them with `{self.spec.install_command}`"
        )


_FOUND: set[str] = set()
"""Modules found once: an installed package does not vanish while serving, so they are not looked up again
(every listing and health check asks; a missing one is looked up each time, so installing it is seen)."""


def module_missing(name: str) -> bool:
    """Whether the top-level module ``name`` cannot be found (found, not imported: torch stays unloaded)."""
    if name in _FOUND:
        return False
    try:
        missing = importlib.util.find_spec(name) is None
    except (ImportError, ValueError):  # a module blocked in sys.modules, or a broken install
        return True
    if not missing:
        _FOUND.add(name)
    return missing


def package_status(engine: str, factory: EngineFactory) -> PackageStatus | None:
    """The package check of engines that declare ``requires`` (a :class:`PackageSpec`), else None."""
    spec = getattr(factory, "requires", None)
    if not isinstance(spec, PackageSpec):
        return None
    return PackageStatus(engine, spec, tuple(m for m in spec.modules if module_missing(m)))


def weights_status(factory: EngineFactory, settings: Settings) -> WeightsStatus | None:
    """The weights check of engines that declare one (``weights_status(settings)``), else None."""
    check = getattr(factory, "weights_status", None)
    return cast("WeightsStatus", check(settings)) if callable(check) else None


@dataclass(frozen=True, slots=True)
class Readiness:
    """An engine's state, why, and what to do about it."""

    state: State
    message: str = ""
    next_step: str = ""
    packages: PackageStatus | None = None
    weights: WeightsStatus | None = None
    download: PullJob | None = None
    """The engine's pull, running or last ended (its ``error`` when it failed)."""

    @property
    def can_speak(self) -> bool:
        return self.state not in UNAVAILABLE


def readiness(
    engine: str,
    factory: EngineFactory,
    settings: Settings,
    *,
    healthy: bool = True,
    last_error: str | None = None,
    download: PullJob | None = None,
) -> Readiness:
    """The engine's one state: a missing package first (nothing else can be checked without it), then
    missing weights (``downloading`` while a pull runs), then a failure recorded by the registry."""
    packages = package_status(engine, factory)
    weights = weights_status(factory, settings)
    if packages is not None and not packages.ready:
        step = packages.spec.install_command
        return Readiness("needs_package", packages.message, step, packages, weights, download)
    if weights is not None and not weights.ready:
        if download is not None and download.running:
            message = f"engine {engine!r} is downloading its weights"
            return Readiness("downloading", message, "wait for the download", packages, weights, download)
        step = f"put {', '.join(weights.missing)} in {weights.folder}"
        if source_of(engine) is not None:
            step = f"polyvox models pull {engine} (or {step})"
        if download is not None and download.error:
            step += f"; the last pull failed: {download.error}"
        return Readiness("needs_weights", weights.message, step, packages, weights, download)
    if not healthy:
        step = "retry: it is reloaded on its next use"
        return Readiness("failed", last_error or "", step, packages, weights, download)
    return Readiness("ready", packages=packages, weights=weights, download=download)
