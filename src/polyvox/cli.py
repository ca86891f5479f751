"""The ``polyvox`` command: speak text to a file, list engines and voices, run the server."""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from polyvox import cli_services
from polyvox.audio.encode import (
    AudioFormat,
    encode_file,
    encode_stream,
    encoded_rate,
    format_from_filename,
    parse_format,
    validate_output,
)
from polyvox.audiobook import cli as audiobook_cli
from polyvox.config import Settings, get_settings
from polyvox.errors import PolyvoxError
from polyvox.logs import configure_logging
from polyvox.ops.cli_config import config_app
from polyvox.request import MIN_RATE, SynthesisRequest
from polyvox.service import Polyvox

if TYPE_CHECKING:
    from polyvox.longform import LongformResult

app = typer.Typer(help="Polyvox: a self-hosted speech server with many engines.", no_args_is_help=True)
out = Console()
err = Console(stderr=True)


def _fail(error: PolyvoxError) -> typer.Exit:
    param = f" ({error.param})" if error.param else ""
    err.print(
        f"[bold red]error[/] {escape(f'[{error.code}]{param}: {error.message}')}",
        highlight=False,
        soft_wrap=True,
    )
    return typer.Exit(code=2)


@app.callback()
def main(
    log_level: Annotated[
        str, typer.Option(help="debug, info, warning or error (to standard error).")
    ] = "warning",
) -> None:
    """Polyvox: a self-hosted speech server with many engines."""
    configure_logging(log_level)


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

    validate_output(fmt, request.sample_rate or MIN_RATE, bit_depth)
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
    settings: Settings, request: SynthesisRequest, fmt: AudioFormat, bit_depth: int, output: str
) -> None:
    validate_output(fmt, request.sample_rate or MIN_RATE, bit_depth)
    async with Polyvox(settings) as polyvox:
        stream = await polyvox.synthesizer.open(request, rate_for=lambda rate: encoded_rate(fmt, rate))
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


@app.command()
def say(
    text: Annotated[str, typer.Argument(help="Text to speak, or '-' to read it from standard input.")],
    output: Annotated[
        str | None, typer.Option("--output", "-o", help="Output file ('-' for standard output).")
    ] = None,
    format: Annotated[
        str | None,
        typer.Option("--format", "-f", help="wav, pcm, mp3, opus, aac or flac (default: from -o)."),
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
    """Speak TEXT into an audio file."""
    if text == "-":
        text = sys.stdin.read()
    try:
        if output is None:
            if sys.stdout.isatty():
                raise PolyvoxError(
                    "give an output file with -o FILE (or -o - for standard output)", param="output"
                )
            output = "-"
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
            raise PolyvoxError("--captions needs an output file (-o FILE)", param="captions")
        if captions is not None or (output != "-" and len(text) >= settings.longform.threshold_chars):
            # Into a file, a long text runs as a long-form job: parallel chunks, up to longform.max_chars.
            _say_long(request, fmt, bit_depth, output, captions)
        else:
            asyncio.run(_say(settings, request, fmt, bit_depth, output))
    except PolyvoxError as error:
        raise _fail(error) from None
    if output != "-":
        err.print(f"wrote {output}", highlight=False)


@app.command()
def engines() -> None:
    """List the engines this installation has."""
    settings = get_settings()
    polyvox = Polyvox(settings)
    try:
        table = Table("engine", "label", "languages", "rate", "capabilities", "default")
        for name in polyvox.registry.names():
            info = polyvox.registry.info(name)
            caps = ", ".join(k for k, v in asdict(info.capabilities).items() if v)
            langs = ", ".join(info.languages[:6]) + (" …" if len(info.languages) > 6 else "")
            is_default = "yes" if name == polyvox.registry.default else ""
            table.add_row(name, info.label, langs, str(info.sample_rate), caps, is_default)
        out.print(table)
    finally:
        polyvox.executor.shutdown()


@app.command()
def voices(
    engine: Annotated[str | None, typer.Option("--engine", "-e", help="Only this engine's voices.")] = None,
    language: Annotated[
        str | None, typer.Option("--language", "-l", help="Only voices of this language.")
    ] = None,
) -> None:
    """List voices, of every engine or of one."""
    settings = get_settings()
    polyvox = Polyvox(settings)
    try:
        names = [engine] if engine else polyvox.registry.names()
        table = Table("engine", "voice", "name", "language", "gender", "speakers")
        for name in names:
            for voice in polyvox.registry.voices(name):
                if language and not voice.language.lower().startswith(language.lower()):
                    continue
                speakers = ", ".join(voice.speakers[:4]) + (" …" if len(voice.speakers) > 4 else "")
                table.add_row(name, voice.id, voice.name, voice.language, voice.gender or "", speakers)
        out.print(table)
    except PolyvoxError as error:
        raise _fail(error) from None
    finally:
        polyvox.executor.shutdown()


@app.command()
def doctor(
    engine: Annotated[str, typer.Argument(help="Engine to check (xtts, pocket, chatterbox...).")],
    voice: Annotated[
        str | None, typer.Option("--voice", "-v", help="Library voice to clone (default: piper's reference).")
    ] = None,
    reference: Annotated[
        Path | None, typer.Option(help="Reference recording to clone instead of a library voice.")
    ] = None,
    transcript: Annotated[str, typer.Option(help="What the --reference recording says.")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Load ENGINE from its weights folder and measure it: load time, first audio, RTF, Whisper WER and
    speaker similarity to the reference."""
    from polyvox.doctor import diagnose

    try:
        report = diagnose(get_settings(), engine, voice_id=voice, reference=reference, transcript=transcript)
    except PolyvoxError as exc:
        raise _fail(exc) from None
    if as_json:
        out.print_json(json.dumps(report.as_dict()))
    else:
        _print_doctor(report.as_dict())
    if report.error:
        raise typer.Exit(code=1)


def _print_doctor(report: dict[str, object]) -> None:
    table = Table(title=f"polyvox doctor {report['engine']}", show_header=False)
    for key in ("state", "folder", "missing", "device", "load_seconds", "voice", "first_audio_seconds", "rtf",
                "wer", "similarity", "error"):  # fmt: skip
        value = report.get(key)
        if value not in (None, [], ""):
            shown = f"{value:.3f}" if isinstance(value, float) else str(value)
            table.add_row(key, escape(shown))
    out.print(table)


@app.command()
def serve(
    host: Annotated[
        str | None, typer.Option(help="Address to bind (default from settings: 127.0.0.1).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (default from settings: 8000).")] = None,
    wyoming: Annotated[
        str | None, typer.Option(help="Also serve Wyoming (Home Assistant) here, e.g. tcp://0.0.0.0:10200.")
    ] = None,
    zeroconf: Annotated[bool, typer.Option(help="Announce the Wyoming server over mDNS.")] = False,
    ray: Annotated[
        str | None,
        typer.Option(
            help="Run engines on Ray Serve: 'auto', a cluster address, or 'local' (needs polyvox[ray])."
        ),
    ] = None,
) -> None:
    """Run the HTTP server (and, with --wyoming, a Wyoming server beside it)."""
    from polyvox.api.server import serve as run_server

    configure_logging("info")
    settings = get_settings()
    updates = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    if updates:
        settings = settings.model_copy(update={"server": settings.server.model_copy(update=updates)})
    if wyoming or zeroconf:
        group = settings.wyoming.model_copy(
            update={"uri": wyoming or settings.wyoming.uri, "zeroconf": zeroconf}
        )
        settings = settings.model_copy(update={"wyoming": group})
    if ray:
        settings = settings.model_copy(update={"ray": settings.ray.model_copy(update={"address": ray})})
    run_server(settings)


app.command()(cli_services.wyoming)
app.command()(cli_services.monitor)
app.command()(audiobook_cli.audiobook)


app.add_typer(config_app, name="config")


if __name__ == "__main__":
    app()
