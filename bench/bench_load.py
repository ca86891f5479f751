"""Load: N concurrent streaming clients for S seconds against a fresh server (tone engine by default).

Reports requests, errors, p50/p95 latency and the server's RSS before and after (growth should stay <= 5 %
over 1,000 requests). The warm-up runs at full concurrency, so the "before" RSS already holds what N
streams in flight need (engine arenas, buffers) and the growth measures leaks, not the first peak.
``python bench/bench_load.py --clients 32 --seconds 60 [--engine piper] [--warmup 15]``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.e2e.conftest import run_server

TEXT = "The quick brown fox jumps over the lazy dog. It was a bright cold day in April."


async def client(url: str, engine: str, deadline: float, latencies: list[float], errors: list[str]) -> None:
    body = {"text": TEXT, "engine": engine, "format": "pcm", "stream": True}
    async with httpx.AsyncClient(timeout=60) as http:
        while time.monotonic() < deadline:
            started = time.perf_counter()
            try:
                async with http.stream("POST", f"{url}/v1/synthesize", json=body) as response:
                    async for _ in response.aiter_bytes():
                        pass
                    if response.status_code != 200:
                        errors.append(str(response.status_code))
                        continue
            except httpx.HTTPError as exc:
                errors.append(type(exc).__name__)
                continue
            latencies.append(time.perf_counter() - started)


async def run(url: str, clients: int, seconds: float, engine: str) -> tuple[list[float], list[str]]:
    latencies: list[float] = []
    errors: list[str] = []
    deadline = time.monotonic() + seconds
    await asyncio.gather(*(client(url, engine, deadline, latencies, errors) for _ in range(clients)))
    return latencies, errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--engine", default="tone")
    parser.add_argument("--warmup", type=float, default=15.0, help="seconds at full concurrency first")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {"POLYVOX_ENGINES__DEFAULT": args.engine, "POLYVOX_SERVER__MAX_QUEUE": str(args.clients * 2)}
        with run_server(Path(tmp), **env) as server:
            process = psutil.Process(server.process.pid)
            asyncio.run(run(server.url, args.clients, args.warmup, args.engine))  # warm up
            rss_before = process.memory_info().rss
            latencies, errors = asyncio.run(run(server.url, args.clients, args.seconds, args.engine))
            rss_after = process.memory_info().rss
    ok = len(latencies)
    p50 = statistics.median(latencies) if latencies else float("nan")
    p95 = statistics.quantiles(latencies, n=20)[18] if len(latencies) >= 20 else float("nan")
    growth = (rss_after - rss_before) / rss_before * 100
    print(f"engine={args.engine} clients={args.clients} seconds={args.seconds} cpus={os.cpu_count()}")
    print(f"requests ok={ok} errors={len(errors)} {sorted(set(errors))}")
    print(f"latency p50={p50:.3f}s p95={p95:.3f}s throughput={ok / args.seconds:.1f}/s")
    before, after = rss_before / 2**20, rss_after / 2**20
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"server rss before={before:.1f} MiB after={after:.1f} MiB growth={growth:+.2f}% ({ok} requests)")
    print(f"load average at the end: {load}")


if __name__ == "__main__":
    main()
