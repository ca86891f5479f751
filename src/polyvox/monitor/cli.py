"""``polyvox monitor FILE``: speak a file's new lines locally, writing one WAV file per line.

The local CLI is not limited by ``monitor.allowed_roots`` (the user names the file on their own machine);
the same watcher, queue and drop policy as the server's monitors apply.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from polyvox.config import Settings
from polyvox.monitor.manager import check_target
from polyvox.monitor.speaker import Mode, Monitor, MonitorConfig, SpokenLine
from polyvox.service import Polyvox


def _prepare(path: Path, output: Path) -> Path:
    resolved = path.expanduser().resolve()
    check_target(resolved)
    output.mkdir(parents=True, exist_ok=True)
    return resolved


async def run_monitor_cli(
    path: Path,
    output: Path,
    *,
    settings: Settings,
    engine: str | None = None,
    voice: str | None = None,
    language: str | None = None,
    mode: Mode = "lines",
    from_start: bool = False,
    speed: float = 1.0,
    max_lines: int | None = None,
    echo: Callable[[str], None] = print,
) -> int:
    """Watch ``path`` and write ``output/000001.wav``, ``000002.wav``... until interrupted.

    Stops by itself after ``max_lines`` spoken lines when given. Returns the number of lines spoken.
    Errors before watching starts (unknown engine or voice, a directory as ``path``) raise ``PolyvoxError``.
    """
    path = await asyncio.to_thread(_prepare, path, output)
    done = asyncio.Event()
    spoken = 0

    async def write(line: SpokenLine) -> None:
        nonlocal spoken
        target = output / f"{line.seq:06d}.wav"
        await asyncio.to_thread(target.write_bytes, line.wav)
        spoken += 1
        echo(f"{target.name}  {line.seconds:6.2f} s  {line.text}")
        if max_lines is not None and spoken >= max_lines:
            done.set()

    config = MonitorConfig(
        path=path,
        engine=engine,
        voice=voice,
        language=language,
        mode=mode,
        from_start=from_start,
        speed=speed,
    )
    async with Polyvox(settings) as service:
        service.synthesizer.resolve(engine, voice, language)
        monitor = Monitor("cli", config, service.synthesizer, settings.monitor, sink=write)
        monitor.start()
        echo(f"watching {path} (Ctrl-C to stop); audio goes to {output}")
        try:
            await done.wait()
        finally:
            await monitor.stop()
    return spoken
