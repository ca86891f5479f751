"""First audio of one sentence, part by part against segment-joined, in the same run (issue #15).

    python bench/bench_parts.py [--engine xtts] [--tiny] [--isolation thread|process] [--repeats 5]

Each request is opened on the same server objects twice: once read part by part (what every HTTP and
Wyoming client gets now: the stream's first part) and once read with ``SynthesisStream.by_segment`` (the
sentence's parts joined: what clients got before parts flowed through). ``--tiny`` builds the tests' tiny
random XTTS checkpoint (``tests/neural_weights.py``) into a temporary data dir; its audio is noise, but its
``inference_stream`` yields several parts per sentence as the real model does.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from polyvox.config import Settings
from polyvox.request import SynthesisRequest
from polyvox.service import Polyvox

REPO = Path(__file__).resolve().parents[1]
SENTENCE = "Hello there, this is a somewhat longer test sentence for the first audio."


async def first_part(polyvox: Polyvox, request: SynthesisRequest) -> tuple[float, int]:
    started = time.perf_counter()
    stream = await polyvox.synthesizer.open(request)  # primed: returns with the first part in hand
    first = time.perf_counter() - started
    parts = 1 + len([chunk async for chunk in stream][1:])
    return first, parts


async def first_segment(polyvox: Polyvox, request: SynthesisRequest) -> float:
    started = time.perf_counter()
    stream = await polyvox.synthesizer.open(request)
    async with stream:
        async for _ in stream.by_segment():
            return time.perf_counter() - started
    raise RuntimeError("no audio")


async def measure(settings: Settings, engine: str, repeats: int) -> dict[str, float]:
    async with Polyvox(settings) as polyvox:
        await polyvox.registry.load(engine)

        def request(seed: int) -> SynthesisRequest:
            return SynthesisRequest(text=SENTENCE, engine=engine, extra={"seed": seed})

        await first_segment(polyvox, request(0))  # warm-up
        parts_firsts: list[float] = []
        joined_firsts: list[float] = []
        counts: list[int] = []
        for seed in range(1, repeats + 1):
            first, count = await first_part(polyvox, request(seed))
            parts_firsts.append(first)
            counts.append(count)
            joined_firsts.append(await first_segment(polyvox, request(seed)))
    return {
        "first_part_s": statistics.median(parts_firsts),
        "first_segment_s": statistics.median(joined_firsts),
        "parts_per_sentence": statistics.median(counts),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--engine", default="xtts")
    parser.add_argument("--tiny", action="store_true", help="the tests' tiny random XTTS checkpoint")
    parser.add_argument("--isolation", choices=("thread", "process"), default="thread")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-parts-") as scratch:
        overrides: dict[str, object] = {"engines": {"isolation": {args.engine: args.isolation}}}
        if args.tiny:
            overrides["data_dir"] = Path(scratch)
        settings = Settings(**overrides)  # type: ignore[arg-type]
        if args.tiny:
            sys.path.insert(0, str(REPO))
            from tests import neural_weights

            neural_weights.build_xtts(settings.data_dir / "models" / "xtts")
        figures = asyncio.run(measure(settings, args.engine, args.repeats))
    print("| engine | isolation | first part (s) | first whole sentence (s) | parts per sentence |")
    print("|---|---|---|---|---|")
    print(
        f"| {args.engine} | {args.isolation} | {figures['first_part_s']:.3f} | "
        f"{figures['first_segment_s']:.3f} | {figures['parts_per_sentence']:g} |"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
