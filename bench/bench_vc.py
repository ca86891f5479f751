"""Voice-conversion benchmark: WORLD conversion real-time factor on 60 s of speech, and peak memory.

    python bench/bench_vc.py [--seconds 60]

Synthesizes ~60 s of piper (joe) speech and a Kokoro (jf_alpha) reference, then times the WORLD converter
over the whole input (chunked, as /v1/vc streams it). Target: RTF <= 0.15 on 2 cores.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

from polyvox.audio.dsp import resample
from polyvox.config import Settings
from polyvox.engines.base import SynthesisParams
from polyvox.engines.kokoro import KokoroEngine
from polyvox.engines.piper import PiperEngine
from polyvox.voices.decode import LIBRARY_RATE
from polyvox.voices.library import VoiceLibrary
from polyvox.voices.world import WorldConverter

PARAGRAPH = (
    "The weather is nice today, and we are going to the park with our friends. "
    "After lunch we will read a good book together, and then walk back home before dinner. "
)


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=60.0, help="seconds of speech to convert")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), engines={"onnx_threads": 2})
        piper, kokoro = PiperEngine(settings), KokoroEngine(settings)
        joe = next(v for v in piper.voices() if v.id == "joe")
        pieces: list[np.ndarray] = []
        while sum(len(p) for p in pieces) < args.seconds * 22050:
            pieces += [c.samples for c in piper.synthesize(PARAGRAPH, joe, SynthesisParams())]
        source = resample(np.concatenate(pieces)[: int(args.seconds * 22050)], 22050, LIBRARY_RATE)
        alpha = next(v for v in kokoro.voices() if v.id == "jf_alpha")
        ref = [c.samples for c in kokoro.synthesize(PARAGRAPH, alpha, SynthesisParams(language="en-us"))]
        library = VoiceLibrary(Path(tmp) / "library")
        target = library.add("alpha", np.concatenate(ref), language="en-us")
        kokoro.unload()
        piper.unload()

        before = _rss_mb()
        session = WorldConverter(settings).open(target, library.reference("alpha"))
        tracemalloc.start()  # numpy buffers are traced: the converter's own peak
        started = time.perf_counter()
        first: float | None = None
        produced = 0
        for piece in session.convert(source, LIBRARY_RATE):
            first = first if first is not None else time.perf_counter() - started
            produced += len(piece)
        elapsed = time.perf_counter() - started
        _, traced_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        seconds = len(source) / LIBRARY_RATE
        print(f"input {seconds:.1f} s, output {produced / LIBRARY_RATE:.1f} s")
        rtf = elapsed / seconds
        print(f"WORLD VC: {elapsed:.2f} s, RTF {rtf:.3f} (target <= 0.15), first chunk {first:.2f} s")
        print(
            f"converter peak allocations {traced_peak / 2**20:.0f} MB (chunked: independent of input length)"
        )
        print(f"peak RSS {_rss_mb():.0f} MB (before conversion {before:.0f} MB; includes the engines' run)")


if __name__ == "__main__":
    main()
