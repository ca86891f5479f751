"""``polyvox audiobook`` end to end in subprocesses: EPUB → M4B/MP3 with chapters, resume, a real voice."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
from ebooklib import epub
from tests.conftest import whisper

from polyvox.audiobook.m4b import read_chapters
from polyvox.stt.metrics import word_error_rate

CHAPTERS = [
    ("The Garden", ["The garden was quiet this morning and the birds were singing."]),
    (
        "The River",
        [
            "We walked along the river after lunch.",
            "The water was cold and very clear today.",
            "A small boat drifted slowly past the old bridge.",
        ],
    ),
    ("The Market", ["The market was busy with people buying fresh bread."]),
]
CHAPTER_PAUSE = 2.0
WORD = 0.2  # the tone engine: 150 ms tone + 50 ms gap per word
TRAILING_GAP = 0.05  # trimmed from the end of every chunk


def build_epub(path: Path) -> None:
    """A three-chapter EPUB with a navigation page (which is no chapter)."""
    book = epub.EpubBook()
    book.set_identifier("polyvox-test-book")
    book.set_title("A Small Test Book")
    book.set_language("en")
    book.add_author("Test Author")
    items = []
    for index, (title, paragraphs) in enumerate(CHAPTERS, start=1):
        item = epub.EpubHtml(title=title, file_name=f"chap_{index}.xhtml", lang="en")
        item.content = f"<h1>{title}</h1>" + "".join(f"<p>{p}</p>" for p in paragraphs)
        book.add_item(item)
        items.append(item)
    book.toc = items
    book.add_item(epub.EpubNcx())
    book.add_item(epub.EpubNav())
    book.spine = ["nav", *items]
    epub.write_epub(str(path), book)


def polyvox(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "polyvox.cli", *args], env=env, capture_output=True, text=True, timeout=240
    )


def tone_env(directory: Path, **extra: str) -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("POLYVOX_")}
    return environment | {
        "POLYVOX_DATA_DIR": str(directory / "data"),
        "POLYVOX_ENGINES__ENABLE_TEST_ENGINES": "true",
        "POLYVOX_ENGINES__WORKERS": "2",
        "POLYVOX_TONE__TRACE_FILE": str(directory / "trace.jsonl"),
        **extra,
    }


def trace(directory: Path) -> list[dict[str, object]]:
    path = directory / "trace.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    return [json.loads(line) for line in lines if line.strip()]


def decode(path: Path) -> tuple[np.ndarray, int]:
    with av.open(io.BytesIO(path.read_bytes()), mode="r") as container:
        stream = container.streams.audio[0]
        frames = [f.to_ndarray().reshape(-1) for f in container.decode(stream)]
        rate = stream.rate
    samples = np.concatenate(frames)
    if samples.dtype == np.int16:  # WAV decodes to s16
        return samples.astype(np.float32) / 32768.0, rate
    return samples.astype(np.float32), rate


def chapter_seconds(title: str, paragraphs: list[str]) -> float:
    """Tone-engine length of a chapter: title chunk + one chunk per paragraph, 0.6 s between paragraphs."""
    chunks = [f"{title}.", *paragraphs]
    return sum(len(c.split()) * WORD - TRAILING_GAP for c in chunks) + 0.6 * (len(chunks) - 1)


@pytest.fixture
def book(tmp_path: Path) -> Path:
    path = tmp_path / "book.epub"
    build_epub(path)
    return path


def test_epub_to_m4b_has_three_chapter_marks(tmp_path: Path, book: Path) -> None:
    out = tmp_path / "book.m4b"
    done = polyvox("audiobook", str(book), "-o", str(out), "-e", "tone", env=tone_env(tmp_path))
    assert done.returncode == 0, done.stderr
    marks = read_chapters(out)
    assert [m.title for m in marks] == [title for title, _ in CHAPTERS]
    assert marks[0].start == 0
    for index, (mark, (title, paragraphs)) in enumerate(zip(marks, CHAPTERS, strict=True)):
        expected = chapter_seconds(title, paragraphs) + (CHAPTER_PAUSE if index < 2 else 0)
        assert mark.end - mark.start == pytest.approx(expected, abs=0.03 * 4), mark
        if index:
            assert mark.start == pytest.approx(marks[index - 1].end, abs=0.002)
    samples, rate = decode(out)
    # AAC adds ~one frame of priming/padding; the chapters cover the whole file.
    assert len(samples) / rate == pytest.approx(marks[-1].end, abs=0.15)
    assert "3 chapters" in done.stderr and "ETA" in done.stderr and "RTF" in done.stderr


def test_mp3_output_carries_id3_chapters(tmp_path: Path, book: Path) -> None:
    out = tmp_path / "book.mp3"
    done = polyvox("audiobook", str(book), "-o", str(out), "-e", "tone", env=tone_env(tmp_path))
    assert done.returncode == 0, done.stderr
    marks = read_chapters(out)
    assert [m.title for m in marks] == [title for title, _ in CHAPTERS]
    assert marks[1].start == pytest.approx(marks[0].end) and marks[2].end > marks[2].start > 0


def test_interrupted_book_resumes_without_resynthesizing(tmp_path: Path, book: Path) -> None:
    run_dir, clean_dir = tmp_path / "run", tmp_path / "clean"
    out, reference = run_dir / "book.m4b", clean_dir / "book.m4b"
    run_dir.mkdir()
    clean_dir.mkdir()
    total_chunks = sum(1 + len(paragraphs) for _, paragraphs in CHAPTERS)
    # First run: the engine fails at chunk 2 of every chapter, which only "The River" has.
    failed = polyvox(
        "audiobook", str(book), "-o", str(out), "-e", "tone", env=tone_env(run_dir, POLYVOX_TONE__FAIL_AT="2")
    )
    assert failed.returncode == 2, failed.stderr
    assert "told to fail" in failed.stderr and "rerun the same command to resume" in failed.stderr
    assert not out.exists()
    cached = len(list((run_dir / "data" / "cache" / "chunks").glob("*/*.npy")))
    assert cached >= 2  # at least the first chapter was finished and kept
    first_run = len(trace(run_dir))

    resumed = polyvox("audiobook", str(book), "-o", str(out), "-e", "tone", env=tone_env(run_dir))
    assert resumed.returncode == 0, resumed.stderr
    # Only the chunks that were not cached were synthesized again.
    assert len(trace(run_dir)) - first_run == total_chunks - cached
    assert f"{cached} of {total_chunks} chunks from the cache" in resumed.stderr

    clean = polyvox("audiobook", str(book), "-o", str(reference), "-e", "tone", env=tone_env(clean_dir))
    assert clean.returncode == 0, clean.stderr
    assert len(trace(clean_dir)) == total_chunks
    np.testing.assert_array_equal(decode(out)[0], decode(reference)[0])
    assert read_chapters(out) == read_chapters(reference)


@pytest.mark.slow
def test_piper_reads_a_chapter_into_a_folder(tmp_path: Path, book: Path) -> None:
    folder = tmp_path / "chapters"
    environment = tone_env(tmp_path, POLYVOX_ENGINES__ONNX_THREADS="1")
    done = polyvox("audiobook", str(book), "-o", str(folder), "-f", "wav", env=environment)
    assert done.returncode == 0, done.stderr
    files = sorted(folder.iterdir())
    assert [f.name for f in files] == ["01 - The Garden.wav", "02 - The River.wav", "03 - The Market.wav"]
    samples, rate = decode(files[1])
    title, paragraphs = CHAPTERS[1]
    reference = " ".join([title, *paragraphs])
    heard = whisper().transcribe(samples, rate).text
    assert word_error_rate(reference, heard) <= 0.10, heard
    words = len(reference.split())
    assert words / 5.0 < len(samples) / rate < words / 1.2  # a plausible speaking rate
