"""Fixtures shared by every test layer."""

from __future__ import annotations

import asyncio
import functools
import json
import math
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import httpx._transports.default
import pytest

from polyvox.config import Settings
from polyvox.service import Polyvox
from polyvox.stream import SynthesisStream
from polyvox.stt.transcriber import Transcriber

# -- the suite's HTTP clients share one TLS context ---------------------------------------------------
# Every ``httpx.get``/``post`` builds a client, and every client a TLS context that parses the CA bundle again
# (23 ms idle, ~40 ms on a busy machine), even for the plain-http servers the tests start: in a module that
# asks a server for each of its hundred voices, that was 40 % of the test process's CPU. Tests share one
# context, as a long-lived client does; what the servers and real clients do is unchanged.
_SHARED_TLS = httpx.create_ssl_context()
_create_tls = httpx._transports.default.create_ssl_context  # type: ignore[attr-defined]


def _shared_tls(verify: Any = True, cert: Any = None, trust_env: bool = True) -> Any:
    if verify is True and cert is None and trust_env:
        return _SHARED_TLS
    return _create_tls(verify=verify, cert=cert, trust_env=trust_env)


httpx._transports.default.create_ssl_context = _shared_tls  # type: ignore[attr-defined]


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    """Settings isolated in a temporary data directory, with the test engine visible."""
    engines = {"enable_test_engines": True, "ttl": -1, "workers": 2, **overrides.pop("engines", {})}
    return Settings(data_dir=tmp_path / "data", engines=engines, **overrides)


def read_trace(path: Path) -> list[dict[str, Any]]:
    """The tone engine's trace: one record per synthesized segment."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


DRAIN_TIMEOUT = 30.0


async def pool_drained(polyvox: Polyvox) -> None:
    """Return once every engine call submitted to the worker pool so far has finished.

    One call per worker, due after everything queued, each waiting for the others: they can only all run
    at once when no worker is busy with anything submitted before them. Tests wait on this, not on a sleep,
    before asserting that nothing more happened.
    """
    workers = polyvox.settings.engines.workers
    barrier = threading.Barrier(workers, timeout=DRAIN_TIMEOUT)
    calls = [polyvox.executor.submit_due(math.inf, barrier.wait) for _ in range(workers)]
    await asyncio.wait_for(asyncio.gather(*map(asyncio.wrap_future, calls)), DRAIN_TIMEOUT)


def stream_tasks() -> list[asyncio.Task[Any]]:
    """Tasks of this loop running a synthesis stream's own code (its segment producer).

    None may outlive the stream's close: with the pool drained too, nothing is left that could synthesize
    another segment, so the trace read then is final.
    """
    return [task for task in asyncio.all_tasks() if _runs_for_stream(task)]


def _runs_for_stream(task: asyncio.Task[Any]) -> bool:
    frame = getattr(task.get_coro(), "cr_frame", None)  # None once the coroutine has finished
    return frame is not None and isinstance(frame.f_locals.get("self"), SynthesisStream)


@functools.cache
def whisper() -> Transcriber:
    """Whisper tiny.en, one per test process (loaded on first use): every test that listens shares it."""
    return Transcriber(threads=2)


@pytest.fixture(scope="session")
def transcriber() -> Transcriber:
    return whisper()


@pytest.fixture
def trace_file(tmp_path: Path) -> Path:
    return tmp_path / "tone-trace.jsonl"


@pytest.fixture
async def tone_polyvox(tmp_path: Path, trace_file: Path) -> AsyncIterator[Polyvox]:
    """A Polyvox whose default engine is the deterministic tone engine."""
    settings = make_settings(tmp_path, engines={"default": "tone"}, tone={"trace_file": trace_file})
    async with Polyvox(settings) as polyvox:
        yield polyvox


# -- balancing the two xdist workers --------------------------------------------------------------------
MODULE_SECONDS: dict[str, float] = {
    "tests/e2e/test_neural_engines.py": 170,
    "tests/e2e/test_cloning_engines.py": 150,
    "tests/e2e/test_models_pull.py": 135,
    "tests/integration/test_longform_million.py": 130,
    "tests/integration/test_longform.py": 85,
    "tests/e2e/test_web_voices.py": 77,
    "tests/e2e/test_hostile.py": 76,
    "tests/integration/test_engine_contract.py": 70,
    "tests/e2e/test_ray.py": 66,
    "tests/e2e/test_cli.py": 60,
    "tests/e2e/test_dialogue.py": 55,
    "tests/e2e/test_ops_schema.py": 60,
    "tests/e2e/test_clients.py": 45,
    "tests/e2e/test_openai_voices.py": 45,
    "tests/e2e/test_translations.py": 45,
    "tests/e2e/test_seed_shapes.py": 45,
    "tests/integration/test_engine_kokoro.py": 43,
    "tests/integration/test_world_vc.py": 40,
    "tests/e2e/test_conformance_edges.py": 40,
    "tests/e2e/test_workers.py": 15,
    "tests/e2e/test_ws_converse.py": 35,
    "tests/e2e/test_realtime_openai.py": 35,
    "tests/integration/test_phrase_seam.py": 60,
    "tests/e2e/test_part_streaming.py": 30,
    "tests/e2e/test_voices_api.py": 27,
}
"""Seconds per test module: the wall time of ``pytest MODULE --durations=0`` alone on the two-core machine
while others worked on it (load 4-8), the neural checkpoints cached; measured for the costliest ones
(issue 28), the rest as before. Modules are handed to the workers costliest first, so neither is left with
one long module at the end; one not listed counts as cheap and goes after them, in collection order."""


@pytest.hookimpl(trylast=True)  # after pytest's own reordering by fixture parameters (kept within a module)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Costliest modules first; with ``--dist loadfile --no-loadscope-reorder`` xdist keeps this order."""

    def cost(index_item: tuple[int, pytest.Item]) -> tuple[float, int]:
        index, item = index_item
        return (-MODULE_SECONDS.get(item.nodeid.split("::")[0], 0.0), index)

    items[:] = [item for _, item in sorted(enumerate(items), key=cost)]
