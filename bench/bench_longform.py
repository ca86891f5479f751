"""Long-form jobs: a 1,000,000-character text (tone engine) and the cost of Whisper-timed captions (piper).

Part 1 sends a million characters of plain sentences to the native API in this process (ASGI transport) with
the tone engine, so the figure is the pipeline itself: chunking, post-processing, joining and encoding nine
hours of audio. It prints the wall time and the process's peak RSS (server and client together; the client
holds the 567 MB body once).

Part 2 runs the same piper text as a long-form job without and with captions, and raw piper on one thread
over the same chunks: captions cost one Whisper pass over the finished audio.

Part 3 asks the native API for short piper files (under ``longform.threshold_chars``, so chunk after chunk)
and prints the median wall time and the file's loudness: what mastering every file costs.

    python bench/bench_longform.py [--chars 1000000] [--words 400] [--short-words 60] [--only short]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

from polyvox.api.app import create_app
from polyvox.config import Settings
from polyvox.engines.base import SynthesisParams
from polyvox.longform import synthesize_long
from polyvox.request import SynthesisRequest
from polyvox.service import Polyvox
from polyvox.text.chunks import chunk_text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.integration.test_longform import generated_text


async def million(chars: int, data_dir: Path) -> None:
    text = generated_text(chars // 5)[0][:chars]
    settings = Settings(
        data_dir=data_dir,
        engines={"enable_test_engines": True, "workers": 2},
        server={"preload_default": False},
        cache={"enabled": False},
    )
    app = create_app(settings)
    payload = {"text": text, "engine": "tone", "format": "pcm", "sample_rate": 8000, "normalize": False}
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://b", timeout=None) as client,
    ):
        started = time.perf_counter()
        reply = await client.post("/v1/synthesize", json=payload)
        wall = time.perf_counter() - started
    reply.raise_for_status()
    hours = float(reply.headers["X-Audio-Seconds"]) / 3600
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"tone, {len(text):,} characters: {reply.headers['X-Chunks']} chunks, {hours:.2f} h of audio")
    engine = float(reply.headers["X-Synthesis-Seconds"])
    print(f"  wall {wall:.1f} s, engine {engine:.1f} s, peak RSS {peak:.0f} MB")


async def captions_cost(words: int, data_dir: Path) -> None:
    text = generated_text(words, seed=3)[0]
    settings = Settings(data_dir=data_dir, engines={"workers": 2}, cache={"enabled": False})
    async with Polyvox(settings) as polyvox:
        synthesizer = polyvox.synthesizer
        request = SynthesisRequest(text=text, normalize=False)
        await synthesize_long(synthesizer, SynthesisRequest(text="Warm up.", normalize=False), captions=True)
        plain = await synthesize_long(synthesizer, request)
        captioned = await synthesize_long(synthesizer, request, captions=True)
        async with synthesizer.registry.acquire("piper") as engine:
            voice = next(v for v in engine.voices() if v.id == engine.default_voice())
            started = time.perf_counter()
            for chunk in chunk_text(text, "en-us", settings.longform.chunk_chars):
                list(engine.synthesize(chunk.text, voice, SynthesisParams()))
            raw = time.perf_counter() - started
    audio = plain.audio.seconds
    extra = captioned.wall_seconds - plain.wall_seconds
    print(f"piper, {words} words ({audio:.0f} s of audio), 2 workers:")
    print(f"  raw piper over the same chunks, one after another: {raw:.2f} s")
    print(f"  long-form job: {plain.wall_seconds:.2f} s; with captions: {captioned.wall_seconds:.2f} s")
    share = extra / plain.wall_seconds
    print(f"  captions add {extra:.2f} s ({share:.0%} of the job, RTF {extra / audio:.3f})")


async def short_files(words: int, data_dir: Path, runs: int = 7) -> None:
    text = generated_text(words, seed=5)[0]
    settings = Settings(data_dir=data_dir, engines={"workers": 2}, cache={"enabled": False})
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    walls: list[float] = []
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://b", timeout=None) as client,
    ):
        await client.post("/v1/synthesize", json={"text": "Warm up the engine.", "format": "pcm"})
        for _ in range(runs):
            started = time.perf_counter()
            reply = await client.post("/v1/synthesize", json={"text": text, "format": "pcm"})
            walls.append(time.perf_counter() - started)
            reply.raise_for_status()
    from polyvox.postprocess import loudness  # pyloudnorm: only for this figure

    rate = int(reply.headers["X-Sample-Rate"])
    samples = np.frombuffer(reply.content, dtype="<i2").astype(np.float32) / 32768.0
    level = loudness(samples, rate)
    audio = len(samples) / rate
    print(f"piper, short file ({len(text)} characters, {audio:.1f} s of audio), median of {runs}:")
    print(f"  wall {statistics.median(walls):.3f} s (min {min(walls):.3f}); loudness {level:.1f} LUFS")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chars", type=int, default=1_000_000)
    parser.add_argument("--words", type=int, default=400)
    parser.add_argument("--short-words", type=int, default=60)
    parser.add_argument("--only", choices=["short"], default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(short_files(args.short_words, Path(tmp) / "short"))
        if args.only == "short":
            return
        asyncio.run(captions_cost(args.words, Path(tmp) / "captions"))
        asyncio.run(million(args.chars, Path(tmp) / "million"))


if __name__ == "__main__":
    main()
