"""Every OpenAI-route format for one paragraph of piper speech, beside raw piper in-process, in one run.

    python bench/bench_formats.py [--repeats 3]

Per format: time to the first audio byte and to the last, and the body size, against raw piper synthesizing
the same text in this process. pcm is resampled to OpenAI's 24 kHz and the G.711 formats to 8 kHz, so the
table shows what those conversions cost next to inference.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_http import free_port, raw_piper_runner, server
from common import PARAGRAPH, Timing, median_timing, now

FORMATS = ("pcm", "wav", "mp3", "opus", "aac", "flac", "ulaw", "alaw", "wav_ulaw")


def first_and_size(url: str, fmt: str) -> tuple[Timing, int]:
    start = now()
    first = None
    size = 0
    body = {"model": "tts-1", "voice": "alloy", "input": PARAGRAPH, "response_format": fmt}
    with httpx.stream("POST", url, json=body, timeout=120) as response:
        response.raise_for_status()
        for piece in response.iter_bytes():
            first = first or now() - start
            size += len(piece)
    return Timing(first or 0.0, now() - start), size


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    raw, _voice = raw_piper_runner()
    raw(PARAGRAPH)  # warm up
    raw_timing = median_timing(lambda: raw(PARAGRAPH), args.repeats)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("POLYVOX_")}
    env["POLYVOX_DATA_DIR"] = tempfile.mkdtemp(prefix="polyvox-bench-")
    base = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "polyvox.api.server", "--host", "127.0.0.1", "--port", str(port)]
    with server(command, f"{base}/ready", env):
        url = f"{base}/v1/audio/speech"
        first_and_size(url, "pcm")  # warm up
        print(f"{'path':<22}{'first byte s':>14}{'total s':>10}{'bytes':>10}")
        print(f"{'raw piper (in-proc)':<22}{raw_timing.first:>14.3f}{raw_timing.total:>10.3f}{'-':>10}")
        for fmt in FORMATS:
            sizes: list[int] = []

            def run(fmt: str = fmt, sizes: list[int] = sizes) -> Timing:
                timing, size = first_and_size(url, fmt)
                sizes.append(size)
                return timing

            timing = median_timing(run, args.repeats)
            print(f"{'openai ' + fmt:<22}{timing.first:>14.3f}{timing.total:>10.3f}{sizes[-1]:>10}")


if __name__ == "__main__":
    main()
