"""The file watcher (partial lines, rotation, truncation, deletion, bad bytes), queue and CLI runner."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from tests.conftest import make_settings

from polyvox.config import MonitorSettings
from polyvox.monitor.cli import run_monitor_cli
from polyvox.monitor.manager import PathNotAllowedError, resolve_allowed
from polyvox.monitor.speaker import Monitor, MonitorConfig
from polyvox.monitor.watcher import FileWatcher, LineSplitter, WatchStats
from polyvox.service import Polyvox

TIMEOUT = 5.0


class Follower:
    """Runs a watcher in a task and collects its lines."""

    def __init__(self, watcher: FileWatcher) -> None:
        self.watcher = watcher
        self.lines: list[str] = []
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        async for line in self.watcher.lines():
            self.lines.append(line)

    async def until(self, check: Callable[[], bool]) -> None:
        async with asyncio.timeout(TIMEOUT):
            while not check():  # noqa: ASYNC110 (a counter another task updates)
                await asyncio.sleep(0.02)

    async def wait_lines(self, count: int) -> list[str]:
        await self.until(lambda: len(self.lines) >= count)
        return self.lines

    async def stop(self) -> None:
        self.watcher.stop()
        async with asyncio.timeout(TIMEOUT):
            await self._task


@contextlib.asynccontextmanager
async def follow(path: Path, **options: object) -> AsyncIterator[Follower]:
    follower = Follower(FileWatcher(path, poll_interval=0.2, **options))  # type: ignore[arg-type]
    await follower.until(lambda: follower.watcher.stats.state in ("watching", "waiting"))
    try:
        yield follower
    finally:
        await follower.stop()


def append(path: Path, data: bytes) -> None:
    with open(path, "ab") as handle:
        handle.write(data)


# -- the splitter, without a file ----------------------------------------------------------------------
def test_splitter_waits_for_the_newline() -> None:
    splitter = LineSplitter(WatchStats())
    assert splitter.feed(b"hel") == []
    assert splitter.feed(b"lo\r\nwor") == ["hello"]
    assert splitter.feed(b"ld\n\n") == ["world", ""]
    assert splitter.flush() == []


def test_splitter_replaces_and_counts_undecodable_bytes() -> None:
    stats = WatchStats()
    splitter = LineSplitter(stats)
    # A UTF-8 character split across two reads is not an error.
    assert splitter.feed(b"caf" + b"\xc3") == []
    assert splitter.feed(b"\xa9\nbad \xff\xfe\n") == ["café", "bad \ufffd\ufffd"]
    assert stats.undecodable_lines == 1


def test_splitter_cuts_overlong_lines() -> None:
    splitter = LineSplitter(WatchStats(), max_line_bytes=64)
    assert splitter.feed(b"x" * 150) == ["x" * 64, "x" * 64]
    assert splitter.feed(b"\n") == ["x" * 22]


def test_paths_outside_the_allowed_roots_are_refused(tmp_path: Path) -> None:
    root = tmp_path / "logs"
    root.mkdir()
    (tmp_path / "secret").write_text("x")
    (root / "link").symlink_to(tmp_path / "secret")
    assert resolve_allowed(str(root / "chat.log"), [root]) == (root / "chat.log").resolve()
    for bad in (str(tmp_path / "secret"), str(root / ".." / "secret"), str(root / "link")):
        with pytest.raises(PathNotAllowedError):
            resolve_allowed(bad, [root])
    with pytest.raises(PathNotAllowedError):
        resolve_allowed(str(root / "chat.log"), [])


# -- the watcher, on real files --------------------------------------------------------------------------
async def test_reads_appended_lines_and_waits_for_partial_ones(tmp_path: Path) -> None:
    log = tmp_path / "chat.log"
    log.write_bytes(b"old line\nold partial")
    async with follow(log) as follower:
        appended = b" still old\nfirst\nsec"
        append(log, appended)
        assert await follower.wait_lines(1) == ["first"]
        # Every appended byte was read and every line read was handed over: "sec" waits for its newline.
        stats = follower.watcher.stats
        await follower.until(
            lambda: stats.bytes_read == len(appended) and len(follower.lines) == stats.lines_read
        )
        assert follower.lines == ["first"]
        append(log, b"ond\n")
        assert await follower.wait_lines(2) == ["first", "second"]


async def test_from_start_reads_the_whole_file(tmp_path: Path) -> None:
    log = tmp_path / "chat.log"
    log.write_bytes(b"one\ntwo\n")
    async with follow(log, from_start=True) as follower:
        assert await follower.wait_lines(2) == ["one", "two"]


async def test_rotation_reads_the_old_file_to_its_end_then_the_new_one(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(b"")
    async with follow(log) as follower:
        append(log, b"a\n")
        await follower.wait_lines(1)
        # Written, rotated and replaced between two polls: nothing may be lost.
        append(log, b"b\nc")
        os.rename(log, tmp_path / "app.log.1")
        append(tmp_path / "app.log.1", b"\n")
        log.write_bytes(b"d\ne\n")
        assert await follower.wait_lines(5) == ["a", "b", "c", "d", "e"]
        assert follower.watcher.stats.rotations == 1


async def test_truncation_restarts_at_the_beginning(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(b"")
    async with follow(log) as follower:
        append(log, b"one\ntwo\n")
        await follower.wait_lines(2)
        log.write_bytes(b"")  # truncated...
        append(log, b"three, a line longer than the old content\n")  # ...and past its old size at once
        await follower.wait_lines(3)
        append(log, b"four\n")
        await follower.wait_lines(4)
        assert follower.lines == ["one", "two", "three, a line longer than the old content", "four"]
        assert follower.watcher.stats.truncations == 1


async def test_deletion_and_recreation(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    async with follow(log) as follower:
        assert follower.watcher.stats.state == "waiting"
        log.write_bytes(b"born\n")
        await follower.wait_lines(1)
        append(log, b"last words")
        log.unlink()
        await follower.until(lambda: follower.watcher.stats.state == "waiting")
        log.write_bytes(b"again\n")
        assert await follower.wait_lines(3) == ["born", "last words", "again"]
        assert follower.watcher.stats.deletions == 1


# -- the monitor's queue and the CLI runner, with the tone engine ------------------------------------------
async def test_full_queue_drops_the_oldest_lines(tone_polyvox: Polyvox, tmp_path: Path) -> None:
    log = tmp_path / "fast.log"
    log.write_bytes(b"")
    settings = MonitorSettings(queue_size=2)
    monitor = Monitor("m", MonitorConfig(path=log), tone_polyvox.synthesizer, settings)
    monitor.start()
    try:
        async with asyncio.timeout(TIMEOUT):  # the file is open: what is appended now is read
            while monitor.status()["state"] != "watching":  # noqa: ASYNC110 (the watcher's own state)
                await asyncio.sleep(0.02)
        append(log, b"".join(f"line {i}\n".encode() for i in range(10)))
        async with asyncio.timeout(TIMEOUT):
            while monitor.status()["lines_spoken"] + monitor.status()["dropped"] < 10:  # noqa: ASYNC110
                await asyncio.sleep(0.02)
        status = monitor.status()
        # All ten arrive in one read: the queue keeps the newest two.
        assert (status["lines_spoken"], status["dropped"], status["queue_length"]) == (2, 8, 0)
        assert status["recent"] == ["line 8", "line 9"]
    finally:
        await monitor.stop()


async def test_cli_runner_writes_one_wav_per_line(tmp_path: Path, trace_file: Path) -> None:
    log = tmp_path / "chat.log"
    log.write_text("first\n\nsecond line\n")
    settings = make_settings(tmp_path, engines={"default": "tone"})
    echoed: list[str] = []
    spoken = await asyncio.wait_for(
        run_monitor_cli(
            log, tmp_path / "out", settings=settings, from_start=True, max_lines=2, echo=echoed.append
        ),
        timeout=TIMEOUT * 2,
    )
    assert spoken == 2
    files = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert files == ["000001.wav", "000002.wav"]
    assert (tmp_path / "out" / "000002.wav").stat().st_size == 44 + 2 * 3200 * 2
    assert echoed[-1].endswith("second line")
