"""Shared texts and timing helpers for the benchmarks."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

SHORT = "The quick brown fox jumps over the lazy dog. It was a sunny morning. Everyone was happy."
PARAGRAPH = (
    "Speech synthesis has come a long way in the last few years. Early systems stitched together "
    "recorded fragments of speech, and the joins were easy to hear. Modern neural models learn the "
    "sound of a voice from hours of recordings and produce audio that flows naturally from one word to "
    "the next. A small model can now run faster than real time on an ordinary laptop processor, which "
    "means a home server can read articles, announce events and answer questions without sending a "
    "single word to the cloud. The remaining challenges are latency, memory and the care needed to "
    "read numbers, names and abbreviations correctly. This benchmark measures how much a server adds "
    "on top of the raw engine."
)
TEXTS = {"3 sentences": SHORT, "paragraph": PARAGRAPH}


@dataclass
class Timing:
    first: float
    total: float
    cpu: float = 0.0
    """CPU seconds this process spent (all threads): steadier than wall time on a busy machine."""


def median_timing(run: Callable[[], Timing], repeats: int) -> Timing:
    runs = []
    for _ in range(repeats):
        cpu_start = time.process_time()
        timing = run()
        timing.cpu = time.process_time() - cpu_start
        runs.append(timing)
    return Timing(
        statistics.median(r.first for r in runs),
        statistics.median(r.total for r in runs),
        statistics.median(r.cpu for r in runs),
    )


def now() -> float:
    return time.perf_counter()
