"""Single process versus Ray Serve on one machine: time to first audio and throughput, piper.

Local: Polyvox with 2 worker threads. Ray: a private Ray (2 CPUs, 200 MB object store, no dashboard) with
2 piper replicas of 1 CPU and 1 inference thread each. Both use one onnxruntime thread per engine call, so
the same cores do the same work; the difference is what Ray adds (a handle call, pickled samples through
the object store, the router) per segment.

    python bench/bench_ray.py [--repeats 10] [--rounds 2] [--concurrency 4]   (needs polyvox[ray])
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import PARAGRAPH, SHORT, now
from polyvox.config import RaySettings, Settings
from polyvox.request import SynthesisRequest
from polyvox.service import Polyvox


async def first_audio(polyvox: Polyvox) -> float:
    """Seconds from request to the first chunk (one sentence), warm engine."""
    started = now()
    stream = await polyvox.synthesizer.open(SynthesisRequest(text=SHORT))
    first = now() - started
    await stream.aclose()
    return first


async def throughput(polyvox: Polyvox, concurrency: int) -> float:
    """Audio seconds per wall second with ``concurrency`` paragraph requests at once."""
    started = now()
    results = await asyncio.gather(
        *(polyvox.synthesizer.synthesize(SynthesisRequest(text=PARAGRAPH)) for _ in range(concurrency))
    )
    audio = sum(chunk.seconds for _, chunks in results for chunk in chunks)
    return audio / (now() - started)


async def compare(local: Settings, remote: Settings, args: argparse.Namespace) -> dict[str, Any]:
    """Both services at once, measured in alternation, so a busy machine slows both alike."""
    firsts: dict[str, list[float]] = {"local": [], "ray": []}
    rates: dict[str, list[float]] = {"local": [], "ray": []}
    async with Polyvox(local) as one, Polyvox(remote) as many:
        services = {"local": one, "ray": many}
        for polyvox in services.values():
            await polyvox.registry.load("piper")
            for _ in range(4):  # warm every replica / worker
                await polyvox.synthesizer.synthesize(SynthesisRequest(text=SHORT))
        for _ in range(args.repeats):
            for mode, polyvox in services.items():
                firsts[mode].append(await first_audio(polyvox))
        for _ in range(args.rounds):
            for mode, polyvox in services.items():
                rates[mode].append(await throughput(polyvox, args.concurrency))
        served = dict(getattr(many.runner, "served", {}))
    result: dict[str, Any] = {m: (statistics.median(firsts[m]), statistics.median(rates[m])) for m in firsts}
    result["served"] = served
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2, help="throughput runs per mode")
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    data = Path(tempfile.mkdtemp(prefix="polyvox-bench-ray-"))
    engines = {"workers": 2, "onnx_threads": 1, "ttl": -1}
    local = Settings(data_dir=data, engines=engines)

    import ray
    from ray import serve

    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=200 * 1024 * 1024, log_to_driver=False)
    try:
        remote = local.model_copy(
            update={"ray": RaySettings(address="auto", num_replicas=2, num_cpus=1, workers=1)}
        )
        result = asyncio.run(compare(local, remote, args))
    finally:
        serve.shutdown()  # type: ignore[no-untyped-call]
        ray.shutdown()

    print(f"piper: {args.repeats} first-audio runs (one sentence) and {args.rounds} x {args.concurrency} ")
    print("concurrent paragraphs per mode, alternating between modes; medians")
    print(f"{'mode':<28}{'first audio ms':>16}{'audio s / s':>14}")
    for label, mode in (("local, 2 worker threads", "local"), ("Ray Serve, 2 replicas", "ray")):
        first, rate = result[mode]
        print(f"{label:<28}{first * 1000:>16.1f}{rate:>14.2f}")
    overhead = (result["ray"][0] - result["local"][0]) * 1000
    print(f"first-audio overhead: {overhead:+.1f} ms (target <= +30 ms)")
    print(f"throughput ratio Ray/local: {result['ray'][1] / result['local'][1]:.2f}")
    print(f"segments per replica: {result['served']}")


if __name__ == "__main__":
    main()
