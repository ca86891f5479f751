"""Engine lifetime: lazy load, sharing, TTL unload, default switching, plugin discovery."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

import pytest
from tests.conftest import make_settings

from polyvox.engines.base import EngineFactory, EngineInfo
from polyvox.engines.piper import PiperEngine
from polyvox.engines.tone import ToneEngine
from polyvox.errors import EngineNotFoundError, VoiceNotFoundError
from polyvox.request import SynthesisRequest
from polyvox.service import Polyvox


async def _speak(polyvox: Polyvox, engine: str = "tone", **extra: float) -> str:
    stream = await polyvox.synthesizer.open(SynthesisRequest(text="one. two.", engine=engine, extra=extra))
    async with stream:
        async for _ in stream:
            pass
    return stream.engine_name


async def _wait_for(predicate: Callable[[], bool], limit: float = 10.0) -> None:
    deadline = time.monotonic() + limit
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


async def test_engines_load_lazily_and_are_shared(tmp_path: Path) -> None:
    async with Polyvox(make_settings(tmp_path, engines={"default": "tone"})) as polyvox:
        registry = polyvox.registry
        assert not registry.status("tone").loaded
        await asyncio.gather(*(_speak(polyvox) for _ in range(5)))
        status = registry.status("tone")
        assert status.loaded and status.load_count == 1 and status.users == 0


async def test_ttl_zero_unloads_right_after_use(tmp_path: Path) -> None:
    async with Polyvox(make_settings(tmp_path, engines={"default": "tone", "ttl": 0})) as polyvox:
        await _speak(polyvox)
        await polyvox.registry.idle()
        status = polyvox.registry.status("tone")
        assert (status.loaded, status.load_count, status.unload_count) == (False, 1, 1)
        await _speak(polyvox)  # loads again on next use
        await polyvox.registry.idle()
        assert polyvox.registry.status("tone").load_count == 2


async def test_ttl_seconds_unloads_after_idle_period(tmp_path: Path) -> None:
    async with Polyvox(make_settings(tmp_path, engines={"default": "tone", "ttl": 1})) as polyvox:
        await _speak(polyvox)
        released = asyncio.get_running_loop().time()
        assert polyvox.registry.status("tone").loaded
        # Idle, it is unloaded by a timer set for engines.ttl after its last use (the schedule, read, not
        # the wall clock measured), and then it is.
        timer = polyvox.registry._states["tone"].unload_timer
        assert timer is not None and timer.when() - released == pytest.approx(1.0, abs=0.05)
        await _wait_for(lambda: polyvox.registry.status("tone").unload_count == 1)
        assert not polyvox.registry.status("tone").loaded


async def test_ttl_minus_one_never_unloads(tmp_path: Path) -> None:
    async with Polyvox(make_settings(tmp_path, engines={"default": "tone", "ttl": -1})) as polyvox:
        await _speak(polyvox)
        await polyvox.registry.idle()
        assert polyvox.registry.status("tone").unload_count == 0
        assert polyvox.registry.status("tone").loaded


async def test_engine_in_use_is_not_unloaded(tmp_path: Path) -> None:
    async with Polyvox(make_settings(tmp_path, engines={"default": "tone"})) as polyvox:
        request = SynthesisRequest(text="one. two. three.", extra={"delay": 0.05})
        stream = await polyvox.synthesizer.open(request)
        async with stream:
            assert await polyvox.registry.unload("tone") is False
        assert await polyvox.registry.unload("tone") is True


async def test_default_switch_does_not_disturb_synthesis_in_flight(tmp_path: Path) -> None:
    async with Polyvox(make_settings(tmp_path, engines={"default": "tone", "ttl": 0})) as polyvox:
        text = " ".join(f"Sentence {i}." for i in range(6))
        stream = await polyvox.synthesizer.open(SynthesisRequest(text=text, extra={"delay": 0.05}))
        await polyvox.registry.switch_default("espeak")
        async with stream:
            chunks = [chunk async for chunk in stream]
        assert stream.engine_name == "tone" and len(chunks) == 6
        assert polyvox.registry.default == "espeak"
        assert await _speak(polyvox, engine=polyvox.registry.default) == "espeak"
        await polyvox.registry.idle()
        assert not polyvox.registry.status("tone").loaded  # released with ttl 0 once its stream ended


async def test_unknown_engine_and_voice_are_errors(tmp_path: Path) -> None:
    async with Polyvox(make_settings(tmp_path)) as polyvox:
        with pytest.raises(EngineNotFoundError) as engine_error:
            polyvox.registry.info("nope")
        assert engine_error.value.param == "engine"
        with pytest.raises(VoiceNotFoundError) as voice_error:
            polyvox.registry.resolve_voice("tone", "nope")
        assert voice_error.value.param == "voice"


def test_test_engine_hidden_unless_enabled(tmp_path: Path) -> None:
    hidden = Polyvox(make_settings(tmp_path, engines={"enable_test_engines": False}))
    shown = Polyvox(make_settings(tmp_path))
    try:
        assert "tone" not in hidden.registry.names()
        assert {"piper", "kokoro", "espeak", "tone"} <= set(shown.registry.names())
    finally:
        hidden.executor.shutdown()
        shown.executor.shutdown()


class ToneNamedPiper(PiperEngine):
    """A real engine that happens to be called "tone"."""

    info: ClassVar[EngineInfo] = dataclasses.replace(PiperEngine.info, name="tone")


class Beep(ToneEngine):
    """The test engine under another name."""

    info: ClassVar[EngineInfo] = dataclasses.replace(ToneEngine.info, name="beep")


def test_test_engines_are_those_that_declare_it(tmp_path: Path) -> None:
    """Hidden is what ``EngineInfo.for_tests`` says, not the name: the tone engine listed as "beep" is
    hidden, and a real engine called "tone" is listed."""
    factories: dict[str, EngineFactory] = {"beep": Beep, "tone": ToneNamedPiper}
    settings = make_settings(tmp_path, engines={"enable_test_engines": False, "default": "tone"})
    polyvox = Polyvox(settings, factories)
    try:
        assert polyvox.registry.names() == ["tone"]
        assert polyvox.registry.names(include_hidden=True) == ["beep", "tone"]
    finally:
        polyvox.executor.shutdown()


PLUGIN_MODULE = '''
from polyvox.engines.base import EngineInfo
from polyvox.engines.tone import ToneEngine


class EchoEngine(ToneEngine):
    """A third-party engine: the tone engine under another name."""

    info = EngineInfo(name="echo", label="Echo", description="A plugin found through its entry point.",
                      languages=("en-us",), sample_rate=16000)
'''


def test_plugin_registered_through_entry_point_is_found(tmp_path: Path) -> None:
    """A package that declares a ``polyvox.engines`` entry point appears without touching Polyvox."""
    site = tmp_path / "site"
    (site / "polyvox_echo").mkdir(parents=True)
    (site / "polyvox_echo" / "__init__.py").write_text(PLUGIN_MODULE)
    dist = site / "polyvox_echo-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: polyvox-echo\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[polyvox.engines]\necho = polyvox_echo:EchoEngine\n")
    env = {**os.environ, "PYTHONPATH": str(site), "POLYVOX_DATA_DIR": str(tmp_path / "data")}
    listing = subprocess.run(
        [sys.executable, "-m", "polyvox.cli", "engines"], env=env, capture_output=True, text=True, timeout=60
    )
    assert listing.returncode == 0, listing.stderr
    assert "echo" in listing.stdout and "Echo" in listing.stdout
    spoken = subprocess.run(
        [
            sys.executable,
            "-m",
            "polyvox.cli",
            "say",
            "hello plugin",
            "-e",
            "echo",
            "-o",
            str(tmp_path / "e.wav"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert spoken.returncode == 0, spoken.stderr
    assert (tmp_path / "e.wav").stat().st_size > 44
