"""Chapter marks: one M4B (AAC in MP4) with chapters through PyAV, or ID3 chapter frames on an MP3.

The MP4 muxer writes the chapter list handed to ``set_chapters`` as a QuickTime chapter track plus a Nero
``chpl`` atom, which is what Apple Books, VLC, mpv and ffprobe read. MP3 chapters are ID3v2 ``CHAP``
frames under one ordered ``CTOC`` (the ID3 chapter addendum), written with mutagen.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from polyvox.audio.chunk import FloatArray
from polyvox.audio.encode import encode_file
from polyvox.audio.formats import AudioFormat, encoded_rate

_BLOCK = 1 << 16  # samples per frame handed to the encoder; PyAV re-chunks to AAC's 1024 itself
AAC_BIT_RATE = 64_000
"""Mono speech at 64 kb/s AAC-LC is transparent enough for narration."""


@dataclass(frozen=True, slots=True)
class ChapterMark:
    """Where one chapter starts and ends in the whole file, in seconds."""

    title: str
    start: float
    end: float


def _id3() -> Any:
    """mutagen.id3, typed loosely: mutagen ships no type hints."""
    return importlib.import_module("mutagen.id3")


@contextlib.contextmanager
def _atomic(path: Path) -> Any:
    """A temporary name next to ``path``, renamed into place only when the block succeeds."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_m4b(
    path: Path,
    pieces: Iterable[FloatArray],
    sample_rate: int,
    marks: Sequence[ChapterMark],
    metadata: dict[str, str] | None = None,
) -> None:
    """Encode mono float32 ``pieces`` at ``sample_rate`` as AAC in MP4 with ``marks`` as chapters."""
    rate = encoded_rate(AudioFormat.AAC, sample_rate)
    if rate != sample_rate:
        raise ValueError(f"AAC cannot carry {sample_rate} Hz; resample first")
    with _atomic(path) as tmp:
        container: Any = av.open(str(tmp), mode="w", format="mp4")
        try:
            for key, value in (metadata or {}).items():
                container.metadata[key] = value
            stream = container.add_stream("aac", rate=rate, layout="mono")
            stream.bit_rate = AAC_BIT_RATE
            # Millisecond chapter times: what the chpl atom stores anyway.
            base = Fraction(1, 1000)
            container.set_chapters(
                [
                    {
                        "id": index + 1,
                        "start": round(mark.start * 1000),
                        "end": round(mark.end * 1000),
                        "time_base": base,
                        "metadata": {"title": mark.title},
                    }
                    for index, mark in enumerate(marks)
                ]
            )
            pts = 0
            for piece in pieces:
                for offset in range(0, len(piece), _BLOCK):
                    block = np.ascontiguousarray(piece[offset : offset + _BLOCK], dtype=np.float32)
                    frame = av.AudioFrame.from_ndarray(block.reshape(1, -1), format="flt", layout="mono")
                    frame.sample_rate = rate
                    frame.pts = pts
                    pts += len(block)
                    for packet in stream.encode(frame):
                        container.mux(packet)
            for packet in stream.encode(None):
                container.mux(packet)
        finally:
            container.close()


def write_mp3(
    path: Path,
    pieces: Iterable[FloatArray],
    sample_rate: int,
    marks: Sequence[ChapterMark],
    metadata: dict[str, str] | None = None,
) -> None:
    """Encode an MP3 and add ID3 chapter frames (CTOC + one CHAP per mark) and title/artist tags."""
    id3 = _id3()
    CHAP, CTOC, ID3, TIT2, TPE1, CTOCFlags = id3.CHAP, id3.CTOC, id3.ID3, id3.TIT2, id3.TPE1, id3.CTOCFlags
    with _atomic(path) as tmp:
        encode_file(pieces, tmp, AudioFormat.MP3, sample_rate)
        tags = ID3()
        ids = [f"ch{index}" for index in range(len(marks))]
        tags.add(CTOC(element_id="toc", flags=CTOCFlags.TOP_LEVEL | CTOCFlags.ORDERED, child_element_ids=ids))
        for element_id, mark in zip(ids, marks, strict=True):
            tags.add(
                CHAP(
                    element_id=element_id,
                    start_time=round(mark.start * 1000),
                    end_time=round(mark.end * 1000),
                    sub_frames=[TIT2(encoding=3, text=[mark.title])],
                )
            )
        meta = metadata or {}
        if "title" in meta:
            tags.add(TIT2(encoding=3, text=[meta["title"]]))
        if "artist" in meta:
            tags.add(TPE1(encoding=3, text=[meta["artist"]]))
        tags.save(str(tmp))


def read_chapters(path: Path) -> list[ChapterMark]:
    """The chapter marks of an M4B/MP4 (via PyAV) or MP3 (via mutagen's ID3 CHAP frames)."""
    if path.suffix.lower() == ".mp3":
        tags = _id3().ID3(str(path))
        frames = sorted(tags.getall("CHAP"), key=lambda f: f.start_time)
        return [
            ChapterMark(
                str(f.sub_frames["TIT2"].text[0]) if "TIT2" in f.sub_frames else "",
                f.start_time / 1000,
                f.end_time / 1000,
            )
            for f in frames
        ]
    with av.open(str(path)) as container:
        chapters = container.chapters()
    return [
        ChapterMark(
            str(c["metadata"].get("title", "")),
            float(c["start"] * (c["time_base"] or 1)),
            float(c["end"] * (c["time_base"] or 1)),
        )
        for c in chapters
    ]
