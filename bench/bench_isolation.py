"""Piper in the server's worker pool versus piper in a worker process, side by side in one run.

Two real servers (``python -m polyvox.api.server``) on free ports, the same settings except
``engines.isolation``. Requests alternate between them (after one warm-up each): the time to the first
streamed byte of one sentence and of a paragraph, and the paragraph's whole-stream time per audio second
(throughput). Memory: the server's RSS and the worker's RSS with piper loaded, then both after
``POST /v1/engines/piper/unload`` (what was returned to the system).

    python bench/bench_isolation.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import PARAGRAPH

SENTENCE = "The quick brown fox jumps over the lazy dog."
MODES = ("thread", "process")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def server(mode: str, data_dir: str) -> Iterator[tuple[str, int]]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("POLYVOX_")}
    env |= {
        "POLYVOX_DATA_DIR": data_dir,
        "POLYVOX_ENGINES__TTL": "-1",
        "POLYVOX_ENGINES__ISOLATION": json.dumps({"piper": mode}),
    }
    command = [sys.executable, "-m", "polyvox.api.server", "--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None and time.monotonic() < deadline, "server did not start"
            try:
                if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        yield url, process.pid
    finally:
        process.terminate()
        process.wait(timeout=30)


def stream(url: str, text: str) -> tuple[float, float, float]:
    """(first byte seconds, whole stream seconds, audio seconds) of one streamed PCM request."""
    body = {"text": text, "engine": "piper", "stream": True, "format": "pcm"}
    started = time.perf_counter()
    first: float | None = None
    size = 0
    with httpx.stream("POST", f"{url}/v1/synthesize", json=body, timeout=120) as response:
        response.raise_for_status()
        for piece in response.iter_raw():
            first = first if first is not None else time.perf_counter() - started
            size += len(piece)
    return first or 0.0, time.perf_counter() - started, size / 2 / 22050


def median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def rss_mb(pid: int | None) -> float:
    if pid is None:
        return 0.0
    try:
        return float(psutil.Process(pid).memory_info().rss) / 2**20
    except psutil.NoSuchProcess:
        return 0.0


def memory(url: str, pid: int) -> tuple[float, float, int | None]:
    status = httpx.get(f"{url}/v1/engines/piper").json()
    return rss_mb(pid), status["worker_rss"] / 2**20, status["pid"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, server("thread", tmp) as a, server("process", tmp) as b:
        servers = dict(zip(MODES, (a, b), strict=True))
        figures: dict[str, dict[str, list[float]]] = {
            m: {"sentence": [], "paragraph": [], "rtf": []} for m in MODES
        }
        for url, _ in servers.values():  # warm-up
            stream(url, SENTENCE)
            stream(url, PARAGRAPH)
        for _ in range(args.repeats):
            for mode, (url, _) in servers.items():
                figures[mode]["sentence"].append(stream(url, SENTENCE)[0])
                first, total, audio = stream(url, PARAGRAPH)
                figures[mode]["paragraph"].append(first)
                figures[mode]["rtf"].append(total / audio)
        print(f"piper, {args.repeats} alternating repeats, medians (s; rtf = stream s / audio s)")
        print(f"{'':10} {'sentence 1st byte':>18} {'paragraph 1st byte':>19} {'paragraph rtf':>14}")
        medians = {m: {k: median(v) for k, v in figures[m].items()} for m in MODES}
        for mode in MODES:
            m = medians[mode]
            print(f"{mode:10} {m['sentence']:18.3f} {m['paragraph']:19.3f} {m['rtf']:14.3f}")
        t, p = medians["thread"], medians["process"]
        print(
            f"{'ratio':10} {p['sentence'] / t['sentence']:18.2f} {p['paragraph'] / t['paragraph']:19.2f} "
            f"{p['rtf'] / t['rtf']:14.2f}   (process / thread; target first audio <= 1.05)"
        )
        print("\nmemory (MiB)       server  worker  | after unload: server  worker  returned")
        for mode, (url, pid) in servers.items():
            server_before, worker_before, worker_pid = memory(url, pid)
            assert httpx.post(f"{url}/v1/engines/piper/unload").status_code == 200
            server_after, worker_after = rss_mb(pid), rss_mb(worker_pid)
            returned = server_before + worker_before - server_after - worker_after
            print(
                f"{mode:14} {server_before:10.0f} {worker_before:7.0f}  |"
                f" {server_after:20.0f} {worker_after:7.0f} {returned:9.0f}"
            )
        print("target: server RSS with piper in a worker <= 150 MiB")


if __name__ == "__main__":
    main()
