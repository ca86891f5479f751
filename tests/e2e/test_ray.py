"""Scale-out on Ray Serve: a local Ray started by the test, 2 piper replicas, the HTTP API in front.

The app (``create_app``) runs under uvicorn on a free port in this process, so the test can read which
replica rendered each segment (``RayRunner.served``). Skipped when ``polyvox[ray]`` is not installed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import uvicorn
from tests.conftest import make_settings
from tests.e2e.conftest import free_port

from polyvox.api.app import create_app
from polyvox.errors import BusyError
from polyvox.stt.metrics import word_error_rate
from polyvox.stt.transcriber import Transcriber

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore::FutureWarning"),
    pytest.mark.filterwarnings("ignore::UserWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]

TEXT = "The quick brown fox jumps over the lazy dog. Every sentence is spoken by a worker in the cluster."
LONG = " ".join(f"This is sentence number {n} of a longer story." for n in range(1, 13))


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[Any]:
    """A small private Ray: 2 CPUs, 200 MB object store, no dashboard."""
    import ray
    from ray import serve

    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=200 * 1024 * 1024, log_to_driver=False)
    try:
        yield ray
    finally:
        serve.shutdown()
        ray.shutdown()


@pytest.fixture(scope="module")
def app_server(ray_cluster: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    """The HTTP API with engines on 2 Ray replicas of piper; yields its URL and the Ray runner."""
    settings = make_settings(
        tmp_path_factory.mktemp("ray"),
        engines={"default": "piper", "ttl": 60},
        ray={"address": "auto", "num_replicas": 2, "num_cpus": 0.5, "request_timeout": 30},
    )
    app = create_app(settings)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while not server.started or httpx.get(f"{url}/ready", timeout=5).status_code != 200:
        assert time.monotonic() < deadline and thread.is_alive(), "server did not start"
        time.sleep(0.1)
    try:
        yield url, app.state.polyvox.runner
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def speak(url: str, text: str, timeout: float = 60) -> tuple[np.ndarray[Any, Any], int]:
    """Stream raw PCM from the native route; returns the samples and their rate."""
    body = {"text": text, "stream": True, "format": "pcm"}
    with httpx.stream("POST", f"{url}/v1/synthesize", json=body, timeout=timeout) as response:
        assert response.status_code == 200, response.read()
        rate = int(response.headers["X-Sample-Rate"])
        data = b"".join(response.iter_bytes())
    return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0, rate


def test_http_streams_speech_from_replicas(app_server: tuple[str, Any], transcriber: Transcriber) -> None:
    url, runner = app_server
    before = sum(runner.served.values())
    samples, rate = speak(url, TEXT)
    assert sum(runner.served.values()) - before == 2  # two sentences, each rendered on a replica
    heard = transcriber.transcribe(samples, rate).text
    assert word_error_rate(TEXT, heard) <= 0.10, heard


def test_concurrent_requests_spread_over_both_replicas(app_server: tuple[str, Any]) -> None:
    url, runner = app_server
    before = Counter(runner.served)
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: speak(url, TEXT), range(8)))
    assert all(len(samples) > rate for samples, rate in results)
    per_replica = Counter(runner.served)
    per_replica.subtract(before)
    counts = {replica: n for replica, n in per_replica.items() if n > 0}
    print("segments per replica:", counts)
    # 8 requests x 2 segments; a segment re-sent after a slow call may be counted on both replicas.
    assert 16 <= sum(counts.values()) <= 18, counts
    assert len(counts) == 2, counts


def test_replica_killed_mid_stream_then_next_request_succeeds(app_server: tuple[str, Any]) -> None:
    url, runner = app_server
    alive = set(runner.served)
    victim = runner.pids[max(alive, key=lambda r: runner.served[r])]
    body = {"text": LONG, "stream": True, "format": "pcm"}
    received = 0
    completed = False
    try:
        # A hang is a read that waits 60 s for the next bytes: httpx raises ReadTimeout and the test fails.
        # The stream's total time is not asserted: on a busy machine it took 64.6 s in a CI run (28x its
        # time alone) while bytes kept coming.
        with httpx.stream("POST", f"{url}/v1/synthesize", json=body, timeout=60) as response:
            assert response.status_code == 200
            for piece in response.iter_bytes():
                if received == 0:
                    os.kill(victim, signal.SIGKILL)
                received += len(piece)
            completed = True
    except httpx.RemoteProtocolError:  # the documented in-band end: a truncated chunked body
        pass
    seconds = received / 2 / 22050
    if completed:  # every segment came back (the dead replica's one was re-sent to the other)
        assert seconds > 12 * 1.5, seconds
    samples, rate = speak(url, TEXT)
    assert len(samples) / rate > 2.0


def test_back_pressure_becomes_busy(ray_cluster: Any, tmp_path: Path) -> None:
    from ray.serve.exceptions import BackPressureError

    from polyvox.runners.ray_runner import RayRunner

    runner = RayRunner(make_settings(tmp_path, ray={"address": "auto"}), {})
    with pytest.raises(BusyError) as caught:
        runner._check("piper", BackPressureError(num_queued_requests=5, max_queued_requests=4), 0)
    assert caught.value.status == 429 and caught.value.retry_after >= 1


def test_without_ray_nothing_imports_ray(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import asyncio, sys
        from polyvox.config import Settings
        from polyvox.service import Polyvox
        from polyvox.request import SynthesisRequest

        async def main():
            settings = Settings(data_dir={str(tmp_path)!r}, engines={{"enable_test_engines": True}})
            async with Polyvox(settings) as polyvox:
                _, chunks = await polyvox.synthesizer.synthesize(SynthesisRequest("One. Two.", engine="tone"))
                assert chunks
        asyncio.run(main())
        assert "ray" not in sys.modules, "ray was imported"
        print("ok")
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("POLYVOX_")}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0 and "ok" in done.stdout, done.stderr
