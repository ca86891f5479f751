"""The polling monitor's reader (``polyvox.monitor.poll``) against a plain model of a file's lines."""

from __future__ import annotations

import random
from pathlib import Path

from polyvox.monitor.poll import Limits, LineIndex


def _model(data: bytes, line_bytes: int) -> tuple[list[str], list[int]]:
    """The file's lines as ``str.splitlines`` on ``\\n`` sees them, each cut to ``line_bytes``."""
    raw = data.split(b"\n")
    if raw and raw[-1] == b"":
        raw.pop()
    lines = [r[:line_bytes].removesuffix(b"\r").decode("utf-8", "replace") for r in raw]
    return lines, [i + 1 for i, r in enumerate(raw) if len(r) > line_bytes]


def _poll_all(
    index: LineIndex, path: Path, limits: Limits, seen: int = 0
) -> tuple[list[str], list[int], int]:
    lines: list[str] = []
    cut: list[int] = []
    for _ in range(10_000):
        page = index.read(path, seen, limits)
        assert page.line_count >= seen
        lines += page.lines
        cut += page.cut
        seen = page.line_count
        if not page.more:
            return lines, cut, seen
    raise AssertionError("never reached the end")


def test_random_files_read_in_bounded_pages_match_the_model(tmp_path: Path) -> None:
    rng = random.Random(30)
    path = tmp_path / "chat.log"
    for _ in range(60):
        parts = [
            rng.choice([b"", b"hi", b"x" * rng.randint(1, 300), b"a\r", "é".encode() * 40]) for _ in range(40)
        ]
        data = b"\n".join(parts) + rng.choice([b"", b"\n"])
        path.write_bytes(data)
        limits = Limits(
            most_lines=rng.randint(1, 7),
            line_bytes=rng.randint(1, 120),
            answer_bytes=rng.randint(1, 400),
            scan_bytes=rng.randint(1, 500),
        )
        index = LineIndex()
        expected, expected_cut = _model(data, limits.line_bytes)
        assert _poll_all(index, path, limits) == (expected, expected_cut, len(expected))
        # A fresh index (no cursor) and one asked from the middle agree with the model too.
        middle = len(expected) // 2
        lines, cut, count = _poll_all(LineIndex(), path, limits, middle)
        assert (lines, count) == (expected[middle:], len(expected))
        assert cut == [n for n in expected_cut if n > middle]


def test_appended_lines_are_read_from_where_the_last_read_ended(tmp_path: Path) -> None:
    path = tmp_path / "chat.log"
    path.write_bytes(b"one\ntwo\nthr")
    index, limits = LineIndex(), Limits(100, 100, 10_000, 10_000)
    first = index.read(path, 0, limits)
    assert (first.lines, first.line_count) == (["one", "two", "thr"], 3)
    with path.open("ab") as handle:
        handle.write(b"ee\nfour\n")
    # The unterminated "thr" was counted: its rest is skipped, as before; only "four" is new.
    later = index.read(path, 3, limits)
    assert (later.lines, later.line_count, later.more) == (["four"], 4, False)
    path.write_bytes(b"new\nfile\n")  # rewritten in place: counted from the start again
    again = index.read(path, 1, limits)
    assert (again.lines, again.line_count) == (["file"], 2)
