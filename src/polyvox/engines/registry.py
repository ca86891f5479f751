"""Engine discovery and lifetime.

Engines come from the ``polyvox.engines`` entry-point group, so a third-party package adds one without
touching Polyvox. Each engine is loaded lazily on first use, shared by every concurrent user through a
reference count, and unloaded after it has been idle for ``engines.ttl`` seconds (-1 never, 0 right away).
Switching the default engine never disturbs a synthesis in flight: a lease keeps its engine loaded.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, cast

import structlog

from polyvox.engines.base import Engine, EngineFactory, EngineInfo, SynthesisParams, Voice
from polyvox.engines.memory import release_memory, rss_bytes
from polyvox.engines.neural.pulls import PullManager
from polyvox.engines.pool import WorkerPool
from polyvox.engines.readiness import Readiness, readiness
from polyvox.engines.status import EngineState, EngineStatus, RunsElsewhere
from polyvox.errors import (
    EngineFailedError,
    EngineNotFoundError,
    EngineUnavailableError,
    PolyvoxError,
    VoiceNotFoundError,
)

if TYPE_CHECKING:
    from concurrent.futures import Executor

    from polyvox.config import Settings

log = structlog.get_logger(__name__)

ENTRY_POINT_GROUP = "polyvox.engines"
SELF_TEST_TEXT = "The quick brown fox jumps over the lazy dog."
MIN_READING_CHARS = 12
"""Shorter segments say little of a voice's reading rate: the engine's silence at their edges dominates."""


def self_test(engine: Engine) -> float | None:
    """Synthesize one short sentence to measure this host's real-time factor (warms the model too)."""
    if engine.info.for_tests or "en-us" not in engine.info.languages:
        return None
    if not engine.voices():  # speaks library voices only (XTTS without speakers_xtts.pth)
        return None
    default = engine.default_voice()
    voice = next(v for v in engine.voices() if v.id == default)
    started = time.perf_counter()
    audio = sum(c.seconds for c in engine.synthesize(SELF_TEST_TEXT, voice, SynthesisParams()))
    return (time.perf_counter() - started) / audio if audio > 0 else None


def discover_factories() -> dict[str, EngineFactory]:
    """Every engine class registered under the entry-point group, by name."""
    found: dict[str, EngineFactory] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            found[ep.name] = cast(EngineFactory, ep.load())
        except Exception as exc:  # one broken plugin must not take the others down
            log.warning("engine_plugin_failed", engine=ep.name, error=str(exc))
    return found


class EngineRegistry:
    """Loads, shares and unloads engines; their blocking calls run on ``pool``."""

    def __init__(
        self,
        settings: Settings,
        executor: Executor,
        factories: dict[str, EngineFactory] | None = None,
    ) -> None:
        self._settings = settings
        self.pool = WorkerPool(executor)
        """Where the engines' blocking calls run (load, synthesize, unload), never on the event loop."""
        found = factories if factories is not None else discover_factories()
        self._states = {name: EngineState(factory=f) for name, f in sorted(found.items())}
        self._default = settings.engines.default
        self._background: set[asyncio.Task[bool]] = set()
        self.pulls = PullManager()
        """The server's weight downloads (``POST /v1/models/{engine}/pull``)."""
        self.info(self._default)  # an unknown default engine is a configuration error

    # -- discovery ---------------------------------------------------------------------------------
    def names(self, *, include_hidden: bool = False) -> list[str]:
        """Engine names to list; test engines only when enabled in settings."""
        show_test = include_hidden or self._settings.engines.enable_test_engines
        return [n for n, state in self._states.items() if show_test or not state.factory.info.for_tests]

    def speaking_names(self) -> list[str]:
        """The listed engines that can speak now (not waiting for a package or weights): what the lists
        that feed clients offer (``/v1/models``, ``/v1/audio/models``, voices)."""
        return [name for name in self.names() if self.readiness(name).can_speak]

    def _state(self, name: str) -> EngineState:
        try:
            return self._states[name]
        except KeyError:
            known = ", ".join(self.names())
            raise EngineNotFoundError(
                f"unknown engine {name!r}; available: {known}", param="engine"
            ) from None

    def info(self, name: str) -> EngineInfo:
        return self._state(name).factory.info

    def instance(self, name: str) -> Engine:
        """The engine object (constructed on demand; constructing loads no model)."""
        state = self._state(name)
        if state.instance is None:
            state.instance = state.factory(self._settings)
        return state.instance

    def rtf(self, name: str) -> float | None:
        """The engine's measured real-time factor (None until it has run)."""
        return self._state(name).rtf

    def reading(self, name: str) -> float | None:
        """The engine's measured audio seconds per character at speed 1 (None until it has spoken)."""
        return self._state(name).reading

    def status(self, name: str) -> EngineStatus:
        s = self._state(name)
        elsewhere = s.instance.process_status() if isinstance(s.instance, RunsElsewhere) else None
        ready = self.readiness(name)
        return EngineStatus(
            info=s.factory.info,
            loaded=s.loaded,
            users=s.users,
            load_count=s.load_count,
            unload_count=s.unload_count,
            rss_added=s.rss_added if s.loaded else 0,
            load_seconds=s.load_seconds,
            rtf=s.rtf,
            healthy=s.healthy,
            last_error=s.last_error,
            failures=s.failures,
            retries=s.retries,
            weights=ready.weights,
            pid=elsewhere[0] if elsewhere else None,
            worker_rss=elsewhere[1] if elsewhere else 0,
            isolation=str(getattr(s.factory, "runs_in", "thread")),
            readiness=ready,
        )

    def readiness(self, name: str) -> Readiness:
        """The engine's state now (packages and folder are checked on every call: they change on disk)."""
        s = self._state(name)
        return readiness(
            name,
            s.factory,
            self._settings,
            healthy=s.healthy,
            last_error=s.last_error,
            download=self.pulls.job(name),
        )

    # -- isolation (called from worker threads; plain assignments only) ---------------------------
    def mark_unhealthy(self, name: str, error: str) -> None:
        """Record a failure; the engine is reloaded on its next use once nobody else holds it."""
        state = self._state(name)
        state.healthy = False
        state.last_error = error
        state.failures += 1
        log.warning("engine_unhealthy", engine=name, error=error)

    def note_retry(self, name: str) -> None:
        self._state(name).retries += 1

    def check_available(self, name: str) -> None:
        """``EngineUnavailableError`` (503) when the engine needs a package or weights before it can speak."""
        ready = self.readiness(name)
        if not ready.can_speak:
            raise EngineUnavailableError(ready.message)

    def voices(self, name: str) -> list[Voice]:
        """The engine's voices; none while it cannot speak (nothing is constructed or started for it)."""
        if not self.readiness(name).can_speak:
            return []
        return self.instance(name).voices()

    def find_voice(self, name: str, voice_id: str | None) -> Voice | None:
        """The engine's voice with this id (or its default), None when it has no such voice."""
        self.check_available(name)  # an engine without its package or weights has no voice at all
        wanted = self._wanted_voice(name, voice_id)
        voices = self.instance(name).voices()
        for voice in voices:
            if voice.id == wanted:
                return voice
        for voice in voices:  # ids are case-insensitive for people typing them
            if voice.id.lower() == wanted.lower():
                return voice
        return None

    def resolve_voice(self, name: str, voice_id: str | None) -> Voice:
        """The engine's voice with this id (or its default); unknown ids are an error, never a fallback."""
        voice = self.find_voice(name, voice_id)
        if voice is None:
            sample = ", ".join(v.id for v in self.voices(name)[:20])
            wanted = self._wanted_voice(name, voice_id)
            raise VoiceNotFoundError(
                f"engine {name!r} has no voice {wanted!r}; try one of: {sample}", param="voice"
            )
        return voice

    def _wanted_voice(self, name: str, voice_id: str | None) -> str:
        """``voice_id``, or the engine's configured or own default voice when it is None or empty."""
        configured = self._settings.engines.default_voices.get(name)
        return voice_id or configured or self.instance(name).default_voice()

    # -- default engine ----------------------------------------------------------------------------
    @property
    def default(self) -> str:
        return self._default

    async def switch_default(self, name: str, *, load: bool = True) -> None:
        """Make ``name`` the default; loads it first so the switch never makes a request wait."""
        self.info(name)
        if load:
            await self.load(name)
        previous, self._default = self._default, name
        log.info("default_engine_switched", previous=previous, current=name)
        if previous != name:
            self._schedule_unload(previous, self._states[previous])

    # -- lifetime ----------------------------------------------------------------------------------
    @staticmethod
    async def _off_pool(func: Callable[..., Any], *args: Any) -> Any:
        """Loads, self-tests and unloads run in a thread of their own, never on the worker pool: a load
        (seconds) must not hold a worker that a listener's first segment is due on."""
        return await asyncio.to_thread(func, *args)

    async def load(self, name: str) -> None:
        state = self._state(name)
        async with state.lock:
            if state.loaded and not state.healthy and state.users <= 1:
                await self._drop(name, state, reason="reload_unhealthy")
            if state.loaded:
                return
            self.check_available(name)
            engine = self.instance(name)
            before = rss_bytes()
            started = time.perf_counter()
            timeout = self._settings.limits.engine_load_timeout
            try:
                await asyncio.wait_for(self._off_pool(engine.load), timeout or None)
            except TimeoutError:
                state.instance = None  # the load may still finish in its thread: forget that object
                raise EngineFailedError(f"engine {name!r} did not load within {timeout} s") from None
            except PolyvoxError:  # the engine's own verdict (engine_unavailable: unreadable weights)
                await self._off_pool(engine.unload)
                raise
            except Exception as exc:
                await self._off_pool(engine.unload)
                raise EngineFailedError(f"engine {name!r} failed to load: {exc}") from exc
            try:
                rtf = await self._off_pool(self._self_test, engine)
            except Exception as exc:
                await self._off_pool(engine.unload)
                raise EngineFailedError(f"engine {name!r} failed to load: {exc}") from exc
            state.load_seconds = time.perf_counter() - started
            state.rss_added = max(0, rss_bytes() - before)
            state.rtf = rtf
            state.loaded = True
            state.healthy = True
            state.load_count += 1
            log.info("engine_loaded", engine=name, seconds=round(state.load_seconds, 3), rtf=rtf)

    @staticmethod
    def _self_test(engine: Engine) -> float | None:
        """The engine's real-time factor: measured by its worker at load, else by a self-test here."""
        if isinstance(engine, RunsElsewhere):
            return engine.load_rtf
        return self_test(engine)

    async def unload(self, name: str) -> bool:
        """Unload now if nobody uses the engine; returns whether it was unloaded."""
        state = self._state(name)
        async with state.lock:
            if not state.loaded or state.users > 0:
                return False
            await self._drop(name, state)
            return True

    async def _drop(
        self, name: str, state: EngineState, reason: str = "engine_unloaded", *, release: bool = True
    ) -> None:
        """Unload and forget the instance (the caller holds ``state.lock``); ``release``: collect garbage
        and trim the heap after it, so the unload shows in RSS."""
        self._cancel_timer(state)
        engine = self.instance(name)
        await self._off_pool(engine.unload)
        # Drop the instance too: whatever it still references is freed with it.
        state.instance = None
        state.loaded = False
        state.unload_count += 1
        if release and not isinstance(engine, RunsElsewhere):  # a worker's memory left with its process
            await self._off_pool(release_memory)
        log.info(reason, engine=name)

    def record(
        self, name: str, synthesis_seconds: float, audio_seconds: float, chars: int = 0, speed: float = 1.0
    ) -> None:
        """Fold one measured segment into the engine's running real-time factor and, for a segment of
        ``chars`` characters (at least :data:`MIN_READING_CHARS`) rendered at ``speed``, into its reading
        rate."""
        if audio_seconds <= 0:
            return
        state = self._state(name)
        rtf = synthesis_seconds / audio_seconds
        state.rtf = rtf if state.rtf is None else 0.9 * state.rtf + 0.1 * rtf
        if chars >= MIN_READING_CHARS:
            state.spoken_seconds = 0.9 * state.spoken_seconds + audio_seconds * speed
            state.spoken_chars = 0.9 * state.spoken_chars + chars

    @asynccontextmanager
    async def acquire(self, name: str) -> AsyncIterator[Engine]:
        """Use an engine: loads it if needed and keeps it loaded until the block exits."""
        state = self._state(name)
        self._cancel_timer(state)
        state.users += 1
        try:
            await self.load(name)
            yield self.instance(name)
        finally:
            state.users -= 1
            self._schedule_unload(name, state)

    def _schedule_unload(self, name: str, state: EngineState) -> None:
        ttl = self._settings.engines.ttl
        if ttl < 0 or state.users > 0 or not state.loaded:
            return
        self._cancel_timer(state)
        loop = asyncio.get_running_loop()
        if ttl == 0:
            self._unload_in_background(name)
        else:
            state.unload_timer = loop.call_later(ttl, self._unload_in_background, name)

    def _unload_in_background(self, name: str) -> None:
        task = asyncio.get_running_loop().create_task(self.unload(name))
        # Keep a reference until it finishes; the loop only holds tasks weakly.
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    @staticmethod
    def _cancel_timer(state: EngineState) -> None:
        if state.unload_timer is not None:
            state.unload_timer.cancel()
            state.unload_timer = None

    async def idle(self) -> None:
        """Wait until background unloads have finished (tests observe counts, not sleeps)."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)

    async def aclose(self) -> None:
        """Unload every engine and stop pulls (server shutdown)."""
        await self.pulls.aclose()
        await self.idle()
        # No garbage collection and heap trim after each engine here (up to 100 ms each in a large
        # process): the memory goes back with the process that is ending.
        for name, state in self._states.items():
            self._cancel_timer(state)
            async with state.lock:
                if state.loaded and state.users == 0:
                    await self._drop(name, state, release=False)
