"""``polyvox audiobook BOOK -o OUTPUT``: a whole book to an M4B/MP3 with chapters, or to chapter files."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from polyvox.audio.formats import parse_format
from polyvox.audiobook.render import (
    RenderedBook,
    RenderOptions,
    output_format,
    render_book,
    spoken_text,
    write_book,
)
from polyvox.audiobook.sources import Book, read_book
from polyvox.config import Settings, get_settings
from polyvox.errors import PolyvoxError
from polyvox.service import Polyvox

err = Console(stderr=True)


def _fail(error: PolyvoxError, hint: str = "") -> typer.Exit:
    param = f" ({error.param})" if error.param else ""
    err.print(f"[bold red]error[/] {escape(f'[{error.code}]{param}: {error.message}')}{hint}", soft_wrap=True)
    return typer.Exit(code=2)


def _clock(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


async def _run(settings: Settings, book: Book, options: RenderOptions, output: Path, folder_fmt: str) -> None:
    kind, fmt = output_format(output, parse_format(folder_fmt, "format"))
    total = float(sum(len(spoken_text(c)) for c in book.chapters))
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("audio {task.fields[audio]}"),
        TextColumn("RTF {task.fields[rtf]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    async with Polyvox(settings) as polyvox:
        with Progress(*columns, console=err, transient=False) as bar:
            task = bar.add_task(book.title[:40], total=total, audio="0:00:00", rtf="-")
            started = asyncio.get_running_loop().time()
            audio = 0.0

            def advance(chars: float, seconds: float) -> None:
                nonlocal audio
                audio += seconds
                wall = asyncio.get_running_loop().time() - started
                # Wall-clock RTF: what the listener cares about (all workers together).
                rtf = f"{wall / audio:.3f}" if audio else "-"
                bar.update(task, advance=chars, audio=_clock(audio), rtf=rtf)

            rendered = await render_book(polyvox.synthesizer, book, options, fmt, advance)
            bar.update(task, completed=total)
    paths = await asyncio.to_thread(write_book, rendered, output, kind, fmt, options.chapter_pause)
    _report(rendered, paths)


def _report(rendered: RenderedBook, paths: list[Path]) -> None:
    wall = rendered.wall_seconds
    err.print(
        f"{len(rendered.chapters)} chapters, {_clock(rendered.audio_seconds)} of audio in {wall:.1f} s "
        f"(RTF {wall / max(rendered.audio_seconds, 1e-9):.3f}); "
        f"{rendered.cached_chunks} of {rendered.chunks} chunks from the cache",
        highlight=False,
    )
    for path in paths:
        err.print(f"wrote {escape(str(path))}", highlight=False)


def audiobook(
    book: Annotated[Path, typer.Argument(help="The book: .epub, .md or .txt.")],
    output: Annotated[
        Path,
        typer.Option("--output", "-o", help="book.m4b or book.mp3 (one file, chapters marked), or a folder."),
    ],
    engine: Annotated[str | None, typer.Option("--engine", "-e", help="Engine name.")] = None,
    voice: Annotated[str | None, typer.Option("--voice", "-v", help="Voice id of the engine.")] = None,
    language: Annotated[str | None, typer.Option("--language", "-l", help="Language code.")] = None,
    speaker: Annotated[str | None, typer.Option(help="Speaker of a multi-speaker voice.")] = None,
    speed: Annotated[float, typer.Option(help="Speaking speed, 0.25 to 4.0.")] = 1.0,
    format: Annotated[
        str, typer.Option("--format", "-f", help="Chapter file format when OUTPUT is a folder.")
    ] = "mp3",
    workers: Annotated[
        int | None, typer.Option(min=1, help="Parallel synthesis workers (default: engines.workers).")
    ] = None,
    validate: Annotated[
        bool, typer.Option(help="Check every chunk with Whisper and re-synthesize bad ones.")
    ] = False,
    chapter_pause: Annotated[float, typer.Option(min=0.0, help="Seconds of silence between chapters.")] = 2.0,
    normalize: Annotated[
        bool, typer.Option("--normalize/--no-normalize", help="Read numbers, dates, units as words.")
    ] = True,
) -> None:
    """Read a whole BOOK into an audiobook; rerun the same command to resume after an interruption."""
    settings = get_settings()
    if workers is not None:
        settings = settings.model_copy(
            update={"engines": settings.engines.model_copy(update={"workers": workers})}
        )
    if not settings.cache.enabled:
        err.print("[yellow]the chunk cache is disabled: an interrupted book will start over[/]")
    options = RenderOptions(
        engine=engine,
        voice=voice,
        language=language,
        speaker=speaker,
        speed=speed,
        normalize=normalize,
        validate=validate,
        chapter_pause=chapter_pause,
    )
    resume = " (finished chunks are cached: rerun the same command to resume)"
    try:
        parsed = read_book(book)
        err.print(f"{escape(parsed.title)}: {len(parsed.chapters)} chapters", highlight=False)
        asyncio.run(_run(settings, parsed, options, output, format))
    except PolyvoxError as error:
        raise _fail(error, resume if error.param not in ("book", "output", "format") else "") from None
    except KeyboardInterrupt:
        err.print(f"interrupted{resume}")
        raise typer.Exit(code=130) from None
