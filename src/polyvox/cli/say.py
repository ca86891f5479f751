"""``polyvox say``: speak text into an audio file or standard output (a long text into a file runs as a
long-form job, with captions when asked)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from polyvox.audio.encode import encode_file, encode_stream
from polyvox.audio.formats import (
    AudioFormat,
    encoded_rate,
    format_from_filename,
    parse_format,
    supported_formats,
    validate_output,
)
from polyvox.cli.output import err, fail, pipe_closed
from polyvox.config import Settings, get_settings
from polyvox.errors import (
    InputNotReadableError,
    InvalidParameterError,
    OutputFolderMissingError,
    OutputIsTerminalError,
    OutputNotWritableError,
    PolyvoxError,
)
from polyvox.request import MIN_RATE, SynthesisRequest
from polyvox.service import Polyvox
from polyvox.stream_mode import StreamMode

if TYPE_CHECKING:
    from polyvox.longform import LongformResult


async def _long_job(
    settings: Settings, request: SynthesisRequest, fmt: AudioFormat, captions: bool
) -> LongformResult:
    """A long-form job (parallel chunks, loudness), with Whisper-timed words when ``captions``."""
    from polyvox.longform import synthesize_long

    async with Polyvox(settings) as polyvox:
        return await synthesize_long(
            polyvox.synthesizer, request, captions=captions, rate_for=lambda rate: encoded_rate(fmt, rate)
        )


def _say_long(
    request: SynthesisRequest, fmt: AudioFormat, bit_depth: int, output: str, path: Path | None
) -> None:
    """Speak into ``output`` as a long-form job; with ``path``, also write captions (SRT, VTT or JSON)."""
    from polyvox import captions

    validate_output(fmt, request.sample_rate or MIN_RATE, bit_depth, exact=request.sample_rate is not None)
    result = asyncio.run(_long_job(get_settings(), request, fmt, captions=path is not None))
    encode_file([result.audio.samples], Path(output), fmt, result.audio.sample_rate, bit_depth)
    err.print(
        f"{result.engine}/{result.voice}: {result.audio.seconds:.2f} s of audio, "
        f"{len(result.chunks)} chunks in {result.wall_seconds:.2f} s",
        highlight=False,
    )
    if path is None:
        return
    suffix = path.suffix.lower()
    if suffix == ".json":
        text = json.dumps(captions.to_json(result.words), indent=1)
    else:
        text = captions.to_vtt(result.words) if suffix == ".vtt" else captions.to_srt(result.words)
    path.write_text(text, encoding="utf-8")
    err.print(f"wrote {path} ({len(result.words)} words)", highlight=False)


async def _say(
    settings: Settings,
    request: SynthesisRequest,
    fmt: AudioFormat,
    bit_depth: int,
    output: str,
    mode: StreamMode,
) -> None:
    validate_output(fmt, request.sample_rate or MIN_RATE, bit_depth, exact=request.sample_rate is not None)
    async with Polyvox(settings) as polyvox:
        stream = await polyvox.synthesizer.open(
            request, mode=mode, rate_for=lambda rate: encoded_rate(fmt, rate)
        )
        async with stream:
            if output == "-":
                # Standard output gets bytes as each sentence is ready (pipe it into a player).
                samples = (chunk.samples async for chunk in stream)
                async for piece in encode_stream(samples, fmt, stream.sample_rate, bit_depth):
                    sys.stdout.buffer.write(piece)
                    sys.stdout.buffer.flush()
            else:
                chunks = [chunk.samples async for chunk in stream]
                encode_file(chunks, Path(output), fmt, stream.sample_rate, bit_depth)
        stats = stream.stats
        err.print(
            f"{stream.engine_name}/{stream.voice.id}: {stats.audio_seconds:.2f} s of audio in "
            f"{stats.synthesis_seconds:.2f} s (RTF {stats.real_time_factor or 0:.3f})",
            highlight=False,
        )


def _check_output(output: str | None) -> str:
    """Where ``say`` writes (``-``: standard output), refused before any synthesis if it cannot be written."""
    if output is None or output == "-":
        if sys.stdout.isatty():
            raise OutputIsTerminalError(
                "refusing to write audio to a terminal; give a file with -o FILE, or pipe standard output "
                "into a player: polyvox say TEXT -o - | aplay",
                param="output",
            )
        return "-"
    target = Path(output)
    if target.is_dir():
        raise OutputNotWritableError(f"{output} is a directory; give a file name", param="output")
    folder = target.parent
    if not folder.is_dir():
        raise OutputFolderMissingError(
            f"cannot write {output}: folder {str(folder)!r} does not exist", param="output"
        )
    if not os.access(folder, os.W_OK):
        raise OutputNotWritableError(
            f"cannot write {output}: folder {str(folder)!r} is not writable", param="output"
        )
    return output


def _text_of(text: str | None, file: Path | None) -> str:
    """The words to speak: TEXT, standard input for ``-`` (as TEXT or ``--file -``), or a file's text."""
    if (text is None) == (file is None):
        raise InvalidParameterError("give TEXT or --file FILE (one of them)", param="text")
    if file is None:
        return sys.stdin.read() if text == "-" else str(text)
    if str(file) == "-":
        return sys.stdin.read()
    try:
        return file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) else "not UTF-8 text"
        raise InputNotReadableError(f"cannot read {file}: {reason or error}", param="file") from None


def say(
    text: Annotated[
        str | None,
        typer.Argument(
            help="Text to speak, or '-' to read it from standard input. A file's text: --file FILE.",
            show_default=False,
        ),
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option(
            "--file", help="Speak the text of this UTF-8 file ('-': standard input) instead of TEXT."
        ),
    ] = None,
    output: Annotated[
        str | None, typer.Option("--output", "-o", help="Output file ('-' for standard output).")
    ] = None,
    format: Annotated[
        str | None,
        typer.Option(
            "--format",
            "-f",
            help=f"{', '.join(supported_formats())} (default: from -o; wav to standard output).",
        ),
    ] = None,
    engine: Annotated[str | None, typer.Option("--engine", "-e", help="Engine name.")] = None,
    voice: Annotated[str | None, typer.Option("--voice", "-v", help="Voice id of the engine.")] = None,
    language: Annotated[
        str | None, typer.Option("--language", "-l", help="Language code, e.g. en-us, ja.")
    ] = None,
    speaker: Annotated[str | None, typer.Option(help="Speaker of a multi-speaker voice.")] = None,
    speed: Annotated[float, typer.Option(help="Speaking speed, 0.25 to 4.0.")] = 1.0,
    volume: Annotated[float, typer.Option(help="Linear volume, 0.0 to 4.0.")] = 1.0,
    sample_rate: Annotated[int | None, typer.Option("--sample-rate", "-r", help="Output rate in Hz.")] = None,
    bit_depth: Annotated[int, typer.Option(help="16 or 24 (24 for wav, pcm and flac).")] = 16,
    captions: Annotated[
        Path | None, typer.Option(help="Also write word captions (.srt, .vtt or .json) to this file.")
    ] = None,
    normalize: Annotated[
        bool, typer.Option("--normalize/--no-normalize", help="Read numbers, dates, units as words.")
    ] = True,
) -> None:
    """Speak TEXT (or the text of --file FILE) into an audio file or standard output."""
    try:
        text = _text_of(text, file)
        output = _check_output(output)
        if format is not None:
            fmt = parse_format(format, "format")
        elif output == "-":
            fmt = AudioFormat.WAV
        else:
            fmt = format_from_filename(output)
        request = SynthesisRequest(
            text=text,
            engine=engine,
            voice=voice,
            language=language,
            speaker=speaker,
            speed=speed,
            volume=volume,
            sample_rate=sample_rate,
            normalize=normalize,
        )
        settings = get_settings()
        if captions is not None and output == "-":
            raise InvalidParameterError("--captions needs an output file (-o FILE)", param="captions")
        threshold = settings.longform.threshold_chars
        mode = StreamMode.choose(text, threshold, streamed=output == "-", captions=captions is not None)
        if mode is StreamMode.LONGFORM:
            # Into a file, a long text runs as a long-form job: parallel chunks, up to longform.max_chars.
            _say_long(request, fmt, bit_depth, output, captions)
        else:
            asyncio.run(_say(settings, request, fmt, bit_depth, output, mode))
    except PolyvoxError as error:
        raise fail(error) from None
    except BrokenPipeError:  # the player or `head` stopped reading: quiet, like any Unix tool
        raise pipe_closed() from None
    except OSError as error:  # the output vanished or filled up while writing
        raise fail(
            OutputNotWritableError(f"cannot write {output}: {error.strerror or error}", param="output")
        ) from None
    if output != "-":
        err.print(f"wrote {output}", highlight=False)
