"""The worker-process runner in one process's view: real worker processes of the tone engine (cheap), the
typed errors they send back, load timeout, TTL unload and ``engines.interpreters``."""

from __future__ import annotations

import asyncio
import os
import stat
import sys
from pathlib import Path

import pytest
from tests.conftest import make_settings

from polyvox.engines.base import SynthesisParams
from polyvox.errors import EngineFailedError, InvalidParameterError
from polyvox.request import SynthesisRequest
from polyvox.runners import wire
from polyvox.runners.process import WorkerEngine
from polyvox.service import Polyvox


def tone_in_a_worker(tmp_path: Path, **engines: object) -> Polyvox:
    settings = make_settings(
        tmp_path,
        engines={"default": "tone", "enable_test_engines": True, "isolation": {"tone": "process"}, **engines},
    )
    return Polyvox(settings)


def test_errors_keep_their_type_and_param_on_the_wire() -> None:
    error = wire.error_from_wire(wire.error_to_wire(7, InvalidParameterError("bad", param="delay")))
    assert type(error) is InvalidParameterError and error.param == "delay" and error.status == 422
    odd = wire.error_from_wire(wire.error_to_wire(7, ZeroDivisionError("boom")))
    assert type(odd) is EngineFailedError and "ZeroDivisionError" in odd.message
    forged = wire.error_from_wire({"type": "os:system", "message": "x", "param": None})
    assert type(forged) is EngineFailedError  # only PolyvoxError classes are built from the wire


async def test_a_client_error_raised_in_the_worker_stays_a_client_error(tmp_path: Path) -> None:
    async with tone_in_a_worker(tmp_path) as polyvox:
        bad = {"delay": "soon"}
        # The pipeline refuses it before any worker starts (declared ranges are checked up front) ...
        with pytest.raises(InvalidParameterError):
            await polyvox.synthesizer.synthesize(SynthesisRequest("One. Two.", engine="tone", extra=bad))
        assert polyvox.registry.status("tone").pid is None
        # ... and when the engine itself raises it in its worker, it crosses the pipe with its type and param.
        async with polyvox.registry.acquire("tone") as engine:
            voice = engine.voices()[0]
            with pytest.raises(InvalidParameterError) as caught:
                await asyncio.to_thread(
                    lambda: list(engine.synthesize("One.", voice, SynthesisParams(extra=bad)))
                )
        assert caught.value.param == "delay"
        status = polyvox.registry.status("tone")
        assert status.healthy and status.pid is not None and status.pid != os.getpid()
        _, chunks = await polyvox.synthesizer.synthesize(SynthesisRequest("One two. Three.", engine="tone"))
        assert [round(c.seconds, 3) for c in chunks] == [0.4, 0.2]


async def test_ttl_zero_ends_the_worker_after_use(tmp_path: Path) -> None:
    async with tone_in_a_worker(tmp_path, ttl=0) as polyvox:
        await polyvox.synthesizer.synthesize(SynthesisRequest("One.", engine="tone"))
        await polyvox.registry.idle()
        status = polyvox.registry.status("tone")
        assert not status.loaded and status.pid is None and status.unload_count == 1


async def test_load_timeout_kills_the_worker(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path,
        engines={"default": "tone", "enable_test_engines": True, "isolation": {"tone": "process"}},
        limits={"engine_load_timeout": 0.001},
    )
    async with Polyvox(settings) as polyvox:
        with pytest.raises(EngineFailedError, match="within"):
            await polyvox.registry.load("tone")
        assert polyvox.registry.status("tone").pid is None


async def test_interpreter_setting_runs_the_worker_with_that_python(tmp_path: Path) -> None:
    marker = tmp_path / "started-by-wrapper"
    wrapper = tmp_path / "python-wrapper"
    wrapper.write_text(f'#!/bin/sh\ntouch "{marker}"\nexec "{sys.executable}" "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC)
    async with tone_in_a_worker(tmp_path, interpreters={"tone": str(wrapper)}) as polyvox:
        _, chunks = await polyvox.synthesizer.synthesize(SynthesisRequest("One.", engine="tone"))
        assert chunks and marker.exists()
        assert isinstance(polyvox.registry.instance("tone"), WorkerEngine)
