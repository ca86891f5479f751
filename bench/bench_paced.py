"""Paced listeners: N clients that play what they receive in real time with a 2 s player buffer.

    python bench/bench_paced.py [--listeners 4 8 12 16 32] [--before /path/to/old/.venv/bin/python]

Each listener arrives at a random moment within 2 s, streams a paragraph from ``/v1/synthesize`` (piper, raw
PCM) and reads it as a player would: it keeps at most 2 s of audio ahead of playback (it stops reading when
the buffer is full) and playback starts with the first audio. Per N it reports first audio p50/p95 against an
idle request's, underrun seconds (how long a playing listener's buffer was empty, summed over listeners, and
how many listeners had any) and 429 refusals (admission by capacity). Each server configuration runs in the
same invocation: the server as configured by default (half the cores as workers, cores / workers
onnxruntime threads each), a worker per core with one thread each, a worker per core with a thread per core
each (onnxruntime's own default: oversubscribed), and, with ``--before``, the server of an older checkout
(its interpreter) for a before/after comparison.

It also reports the quiet paragraph first byte against raw piper's first sentence in this process (with
onnxruntime's default threads, and with the server's thread count).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_http import free_port, raw_piper_runner, wait_until
from common import PARAGRAPH, median_timing, now

RATE = 22050
BYTES_PER_SECOND = RATE * 2
BUFFER_SECONDS = 2.0
ARRIVAL_SECONDS = 2.0


@dataclass
class Listened:
    status: int
    first_audio: float = 0.0
    underrun: float = 0.0
    audio: float = 0.0


@contextmanager
def polyvox(python: str, env: dict[str, str]) -> Iterator[str]:
    port = free_port()
    with tempfile.TemporaryDirectory() as data:
        environment = {k: v for k, v in os.environ.items() if not k.startswith("POLYVOX_")}
        environment |= {"POLYVOX_DATA_DIR": data, "POLYVOX_SERVER__MAX_QUEUE": "256", **env}
        command = [python, "-m", "polyvox.api.server", "--host", "127.0.0.1", "--port", str(port)]
        quiet = subprocess.DEVNULL
        process = subprocess.Popen(command, env=environment, stdout=quiet, stderr=quiet)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_until(f"{url}/ready", 180)
            yield url
        finally:
            process.terminate()
            process.wait(timeout=30)


async def listen(http: httpx.AsyncClient, url: str, text: str, delay: float) -> Listened:
    """One listener: arrive after ``delay``, play in real time with a 2 s buffer, measure."""
    await asyncio.sleep(delay)
    body = {"text": text, "engine": "piper", "format": "pcm", "stream": True, "sample_rate": RATE}
    started = now()
    async with http.stream("POST", f"{url}/v1/synthesize", json=body) as response:
        if response.status_code != 200:
            await response.aread()
            return Listened(response.status_code)
        result = Listened(200)
        runs_out: float | None = None  # when the buffered audio is played out, if nothing more comes
        async for data in response.aiter_raw():
            arrived = now()
            seconds = len(data) / BYTES_PER_SECOND
            if runs_out is None:
                result.first_audio = arrived - started
                runs_out = arrived
            elif arrived > runs_out:
                result.underrun += arrived - runs_out
                runs_out = arrived
            runs_out += seconds
            result.audio += seconds
            ahead = runs_out - now()
            if ahead > BUFFER_SECONDS:  # the player's buffer is full: read again when there is room
                await asyncio.sleep(ahead - BUFFER_SECONDS)
        return result


async def crowd(url: str, text: str, listeners: int, seed: int) -> list[Listened]:
    arrivals = random.Random(seed)
    limits = httpx.Limits(max_connections=listeners + 4)
    async with httpx.AsyncClient(timeout=300, limits=limits) as http:
        return await asyncio.gather(
            *(listen(http, url, text, arrivals.uniform(0, ARRIVAL_SECONDS)) for _ in range(listeners))
        )


def quantile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def first_byte(url: str, text: str) -> float:
    body = {"text": text, "engine": "piper", "format": "pcm", "stream": True, "sample_rate": RATE}
    started = now()
    first = None
    with httpx.stream("POST", f"{url}/v1/synthesize", json=body, timeout=120) as response:
        for _ in response.iter_raw():
            first = first or now() - started
    assert first is not None, f"no audio: {response.status_code}"
    return first


def run_config(
    name: str, python: str, env: dict[str, str], text: str, counts: list[int], repeats: int
) -> None:
    with polyvox(python, env) as url:
        for _ in range(3):  # warm up: the voice, the resampler, the first connections
            first_byte(url, text)
        idle = statistics.median(first_byte(url, text) for _ in range(repeats))
        sentence = text.split(". ")[0] + "."
        idle_sentence = statistics.median(first_byte(url, sentence) for _ in range(repeats))
        print(f"\n## {name}")
        print(f"idle first audio: paragraph {idle:.3f} s, its first sentence alone {idle_sentence:.3f} s")
        print("| listeners | admitted | 429 | first audio p50 | p95 | p95 / idle | underrun s (listeners) |")
        print("|---|---|---|---|---|---|---|")
        for count in counts:
            results = asyncio.run(crowd(url, text, count, seed=count))
            played = [r for r in results if r.status == 200]
            refused = sum(r.status == 429 for r in results)
            other = sorted({r.status for r in results} - {200, 429})
            firsts = [r.first_audio for r in played]
            p50, p95 = quantile(firsts, 0.5), quantile(firsts, 0.95)
            under = sum(r.underrun for r in played)
            with_underrun = sum(r.underrun > 0.02 for r in played)
            extra = f" other statuses {other}" if other else ""
            print(
                f"| {count} | {len(played)} | {refused} | {p50:.3f} | {p95:.3f} | {p95 / idle:.2f} | "
                f"{under:.2f} ({with_underrun}){extra} |"
            )
    return None


def raw_first_sentence(text: str, threads: int, repeats: int) -> float:
    run, _voice = raw_piper_runner(threads)
    sentence = text.split(". ")[0] + "."
    run(sentence)
    return median_timing(lambda: run(sentence), repeats).first


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--listeners", type=int, nargs="+", default=[4, 8, 12, 16, 32])
    parser.add_argument("--sentences", type=int, default=4, help="sentences of the benchmark paragraph")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--before", help="interpreter of an older checkout's venv, run as 'before'")
    parser.add_argument(
        "--default-only", action="store_true", help="only the default layout (and --before): a shorter run"
    )
    args = parser.parse_args()
    text = ". ".join(PARAGRAPH.split(". ")[: args.sentences]) + "."
    cores = len(os.sched_getaffinity(0))
    print(f"cores={cores} text={len(text)} chars, {len(text.split())} words; buffer {BUFFER_SECONDS} s")
    raw_default = raw_first_sentence(text, 0, args.repeats)
    raw_one = raw_first_sentence(text, 1, args.repeats)
    print(f"raw piper first sentence: onnxruntime's threads {raw_default:.3f} s, 1 thread {raw_one:.3f} s")
    configs = [
        ("polyvox: default (half the cores as workers, cores / workers threads each)", sys.executable, {}),
        (
            "polyvox: a worker per core, one thread each",
            sys.executable,
            {"POLYVOX_ENGINES__WORKERS": str(cores), "POLYVOX_ENGINES__ONNX_THREADS": "1"},
        ),
        (
            "polyvox: a worker per core, a thread per core each (oversubscribed: onnxruntime's own default)",
            sys.executable,
            {"POLYVOX_ENGINES__WORKERS": str(cores), "POLYVOX_ENGINES__ONNX_THREADS": str(cores)},
        ),
    ]
    if args.default_only:
        configs = configs[:1]
    if args.before:
        configs.insert(0, ("before (older checkout, its defaults)", args.before, {}))
    for name, python, env in configs:
        run_config(name, python, env, text, args.listeners, args.repeats)
    print(f"\nload average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
